/**
 * `freshet demo`: the e-commerce demo in one process, with zero setup. It opens the embedded log in
 * --data-dir, feeds it a generated shop (page views, carts, orders, payments, with a few percent of
 * malformed and late events) at --rate events/s, runs the demo pipeline (examples/ecommerce), maintains
 * its views, and serves ingest, the views, metrics, alerts and the web dashboard over HTTP. It prints
 * the dashboard's URL, runs until SIGINT/SIGTERM, then stops everything in order and exits 0.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { PipelineDefinition } from '../../dsl/pipeline.js';
import type { EventLog } from '../../log/log.js';
import type { AlertRuleConfig } from '../../observe/alert-rules.js';
import type { PipelineRunner } from '../../runtime/pipeline-runner.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, DEFAULT_PORT, type FsyncPolicy, parseFsync, parseNonNegativeInt, parsePort, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { printErr, writeOut } from '../output.js';
import { closeInReverse, shutdownSignal } from '../signals.js';

interface DemoOptions extends CommonOptions {
  rate: number;
  port: number;
  host: string;
  seed: number;
  fsync: FsyncPolicy;
}

/** Default events per second of the demo's generator: enough to see every chart move, light on a laptop. */
export const DEFAULT_DEMO_RATE = 200;
/** Highest --rate (the generator's own bound). */
export const MAX_DEMO_RATE = 100_000;
const DEFAULT_HOST = '127.0.0.1';

/** What examples/ecommerce/index.ts exports (typed here: that module lies outside the compiled sources). */
interface DemoModule {
  readonly pipeline: PipelineDefinition;
  readonly ShopProducer: {
    start(options: { log: EventLog; ratePerS?: number; seed?: number }): Promise<{ readonly produced: number; stop(): Promise<void> }>;
  };
  readonly ShopViews: Readonly<Record<string, string>>;
  readonly DEMO_RETENTION_MS: number;
  readonly demoAlertRules: readonly AlertRuleConfig[];
}

/**
 * The demo's entry module: examples/ecommerce/index.ts, three levels up from src/cli/commands and
 * dist/cli/commands.
 *
 * @example
 * ```ts
 * demoModulePath(); // '/home/me/freshet/examples/ecommerce/index.ts'
 * ```
 */
export function demoModulePath(): string {
  return fileURLToPath(new URL('../../../examples/ecommerce/index.ts', import.meta.url));
}

/**
 * Loads the demo (TypeScript, compiled on the fly by tsx, as `freshet run` loads pipelines). Throws
 * FRESHET_INVALID_ARGUMENT when the installation has no examples/ (the npm package ships without it).
 *
 * @example
 * ```ts
 * const demo = await loadDemo();
 * const runner = await PipelineRunner.start(demo.pipeline.plan(), { log });
 * const producer = await demo.ShopProducer.start({ log, ratePerS: 500 });
 * ```
 */
export async function loadDemo(): Promise<DemoModule> {
  const file = demoModulePath();
  if (!fs.existsSync(file)) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `the demo's sources are not in this installation (${file} is missing): run it from a checkout of Freshet`);
  }
  const { tsImport } = await import('tsx/esm/api');
  const mod = (await tsImport(file, import.meta.url)) as DemoModule & { default?: DemoModule };
  // tsx may wrap a module's exports in `default` depending on how it was loaded.
  return typeof mod.ShopProducer === 'function' || typeof mod.ShopProducer === 'object' ? mod : (mod.default as DemoModule);
}

function parseRate(text: string): number {
  const n = parsePositiveInt(text);
  if (n > MAX_DEMO_RATE) throw new InvalidArgumentError(`expected at most ${MAX_DEMO_RATE} events/s.`);
  return n;
}

/**
 * The `freshet demo` command (see the file comment).
 *
 * @example
 * ```ts
 * program.addCommand(demoCommand()); // freshet demo --rate 1000 --port 8080
 * ```
 */
export function demoCommand(): Command {
  return withCommonOptions(
    new Command('demo')
      .description('run the e-commerce demo: generated events, the demo pipeline, its views and the live dashboard, in one process')
      .option('--rate <n>', 'events per second the generator writes', parseRate, DEFAULT_DEMO_RATE)
      .addOption(new Option('--port <port>', 'TCP port of the dashboard and API (0 = any free port)').env('FRESHET_PORT').default(DEFAULT_PORT).argParser(parsePort))
      .addOption(new Option('--host <host>', 'interface to listen on').env('FRESHET_HOST').default(DEFAULT_HOST))
      .option('--seed <n>', 'seed of the generator (same seed, same shop)', parseNonNegativeInt, 42)
      .option('--fsync <policy>', 'always | interval | never (a demo favours speed)', parseFsync, 'interval'),
  ).action(async (options: DemoOptions) => {
    // Loaded here, not at the top: they would slow down every other command's start.
    const [{ createServer }, { PipelineRunner: Runner }, { ViewMaintainer }, { Observability, createLogger }, { pino }, demo] = await Promise.all([
      import('../../server/server.js'),
      import('../../runtime/pipeline-runner.js'),
      import('../../serving/maintainer.js'),
      import('../../observe/index.js'),
      import('pino'),
      loadDemo(),
    ]);
    const signal = shutdownSignal();
    const closers: (() => Promise<void>)[] = [];
    let log: EventLog | undefined;
    try {
      log = await openLog({ dataDir: resolveDataDir(options), fsync: options.fsync });
      const openedLog = log;
      // Logs go to stderr (stdout carries the URL); alerts firing are logged at warn.
      const level = process.env.FRESHET_LOG_LEVEL ? undefined : 'warn';
      const logger = createLogger({ destination: pino.destination(2), ...(level !== undefined && { level }) });
      const observe = new Observability({ logger, alerts: { rules: demo.demoAlertRules, evaluationIntervalMs: 2_000 } });
      closers.push(() => observe.close());

      // The pipeline's results topics get the demo's retention, so a demo left running does not fill the disk.
      for (const view of Object.values(demo.ShopViews)) await openedLog.ensureTopic(`freshet.view.${view}`, { partitions: 1, retentionMs: demo.DEMO_RETENTION_MS });
      const producer = await demo.ShopProducer.start({ log: openedLog, ratePerS: options.rate, seed: options.seed });
      closers.push(() => producer.stop());

      // The demo's pipeline keeps open windows in memory: a restart re-reads its input (retained for an hour).
      const plan = demo.pipeline.plan();
      const runner: PipelineRunner = await Runner.start(plan, { log: openedLog, startFrom: 'earliest', metrics: observe.metrics.pipeline(plan.pipeline) });
      const running = runner.run();
      // Observed now: the pipeline may fail before the race below is set up.
      running.catch(() => {});
      closers.push(async () => {
        runner.stop();
        await running;
      });

      const maintainer = await ViewMaintainer.start({ log: openedLog, onError: (error, context) => logger.warn({ err: error, context }, 'view maintainer') });
      closers.push(() => maintainer.close());

      const server = createServer({ log: openedLog, views: maintainer, observe, pipelines: () => [runner], dashboard: true });
      closers.push(() => server.close());
      const url = await server.listen({ port: options.port, host: options.host });
      observe.start();

      await writeOut(
        `freshet demo: ${options.rate} events/s into shop.* topics, pipeline '${demo.pipeline.name}' running (data in ${resolveDataDir(options)})\n` +
          `freshet demo: dashboard at ${url}/\n`,
      );
      const stopped = await Promise.race([signal.promise, running.then(() => null)]);
      if (stopped !== null) printErr(`freshet: ${stopped}: stopping the demo`);
    } finally {
      signal.dispose();
      // Reverse order: the server stops answering, views stop following, the pipeline and then the generator stop.
      try {
        await closeInReverse(closers);
      } finally {
        await log?.close();
      }
    }
  });
}
