/**
 * `freshet dev <pipeline-file>`: both sides in one process, for development. The pipeline runs on the
 * embedded log in --data-dir; the same process maintains its views and serves HTTP ingest, the views
 * (`/v1/views…`, SQL, SSE), `/metrics`, `/v1/alerts`, `/v1/pipelines` and the dashboard at `/`. Missing
 * source topics are created (with --partitions), and ingest creates topics on first use. In production,
 * run the sides apart: `freshet run` (processing) and `freshet serve --views` (queries).
 */
import { Command, Option } from 'commander';
import type { EventLog } from '../../log/log.js';
import type { PipelineRunner } from '../../runtime/pipeline-runner.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, DEFAULT_PORT, type FsyncPolicy, parseFsync, parsePort, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { printErr, writeOut } from '../output.js';
import { closeInReverse, shutdownSignal } from '../signals.js';
import { loadPipeline } from './run.js';

interface DevOptions extends CommonOptions {
  port: number;
  host: string;
  fsync: FsyncPolicy;
  partitions: number;
  checkpointInterval?: number;
}

export function devCommand(): Command {
  return withCommonOptions(
    new Command('dev')
      .description('run a pipeline with its views, HTTP API and dashboard in one process (development)')
      .argument('<file>', 'the pipeline module (.ts or .js)')
      .addOption(new Option('--port <port>', 'TCP port of the API and dashboard (0 = any free port)').env('FRESHET_PORT').default(DEFAULT_PORT).argParser(parsePort))
      .addOption(new Option('--host <host>', 'interface to listen on').env('FRESHET_HOST').default('127.0.0.1'))
      .option('--fsync <policy>', 'always | interval | never', parseFsync, 'interval')
      .option('--partitions <n>', 'partitions of source topics and ingest topics created on first use', parsePositiveInt, 1)
      .option('--checkpoint-interval <ms>', 'exactly-once: checkpoint every <ms> (docs/exactly-once.md)', parsePositiveInt),
  ).action(async (file: string, options: DevOptions) => {
    const definition = await loadPipeline(file);
    const [{ createServer }, { PipelineRunner: Runner }, { ViewMaintainer }, { Observability }, { FileCheckpointStorage }] = await Promise.all([
      import('../../server/server.js'),
      import('../../runtime/pipeline-runner.js'),
      import('../../serving/maintainer.js'),
      import('../../observe/index.js'),
      import('../../runtime/checkpoint-files.js'),
    ]);
    const signal = shutdownSignal();
    const closers: (() => Promise<void>)[] = [];
    let log: EventLog | undefined;
    try {
      const dataDir = resolveDataDir(options);
      log = await openLog({ dataDir, fsync: options.fsync });
      const openedLog = log;
      const plan = definition.plan();
      for (const node of plan.nodes) if (node.kind === 'source') await openedLog.ensureTopic(node.topic, { partitions: options.partitions });
      const observe = new Observability();
      closers.push(() => observe.close());
      let checkpoints;
      if (options.checkpointInterval !== undefined) {
        const storage = await FileCheckpointStorage.open(plan, { dataDir, onWarning: (m) => printErr(`freshet: warning: ${m}`) });
        closers.push(() => storage.close());
        checkpoints = { storage, intervalMs: options.checkpointInterval };
      }
      const runner: PipelineRunner = await Runner.start(plan, { log: openedLog, metrics: observe.metrics.pipeline(plan.pipeline), ...(checkpoints ? { checkpoints } : {}) });
      const running = runner.run();
      running.catch(() => {});
      closers.push(async () => {
        runner.stop();
        await running;
      });
      const maintainer = await ViewMaintainer.start({ log: openedLog, onError: (error, context) => printErr(`freshet: views: ${context}: ${(error as Error).message}`) });
      closers.push(() => maintainer.close());
      const server = createServer({ log: openedLog, autoCreateTopics: true, defaultPartitions: options.partitions, views: maintainer, observe, pipelines: () => [runner], dashboard: true });
      closers.push(() => server.close());
      const url = await server.listen({ port: options.port, host: options.host });
      observe.start();
      await writeOut(`freshet dev: pipeline '${definition.name}' running (data in ${dataDir})\nfreshet dev: API and dashboard at ${url}/\n`);
      const stopped = await Promise.race([signal.promise, running.then(() => null)]);
      if (stopped !== null) printErr(`freshet: ${stopped}: stopping`);
    } finally {
      signal.dispose();
      try {
        await closeInReverse(closers);
      } finally {
        await log?.close();
      }
    }
  });
}
