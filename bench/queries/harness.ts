/**
 * The harness behind `npm run bench -- nexmark` and `npm run bench -- ysb`: generates the events into an
 * embedded log (JSON and msgpack topics, plus NDJSON for the oracle), then for each query
 * - measures throughput from the log (events decoded per second per core, best and worst of `--reps`),
 *   next to the ceiling measured in the same run (raw read + decode of the same records), with CPU time
 *   and peak RSS; every measured run's output count and checksum are checked against the oracle;
 * - runs the query once more with a real topic sink and compares every output row with the oracle
 *   (order-insensitive, exact), printing the first differences and failing (exit code 1) on a mismatch;
 * - measures end-to-end latency at a fixed rate (default 100,000 events/s): a producer appends events
 *   whose event time is the wall clock into a live topic, the runner polls it, and each result's latency
 *   is (wall time when the result reaches the sink) - (the event time it stands for: the bid's time for
 *   q0-q2, the later of the pair for q3, window end - 1 for windows).
 * `--check` runs only the oracle comparison, on a small input (part of `npm test`).
 *
 * @example
 * ```ts
 * await runBenchSuite('nexmark', { query: 'q5', events: '1000000' });
 * ```
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { unpack } from 'msgpackr';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { EventLog } from '../../src/log/log.js';
import type { TopicFormat } from '../../src/plan/plan.js';
import { ParallelRunner } from '../../src/runtime/parallel/parallel-runner.js';
import { WorkerPool } from '../../src/runtime/parallel/worker-pool.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { NdjsonWriter, WRITE_CHUNK_EVENTS, topicFor, writeEvents } from '../generators/log-writer.js';
import type { LiveProducerOptions } from '../generators/live-producer.js';
import { type NexmarkConfig, NexmarkGenerator, nexmarkConfig } from '../generators/nexmark.js';
import { YsbGenerator } from '../generators/ysb.js';
import { NEXMARK_SQL, nexmarkLoadSql } from '../oracle/nexmark-sql.js';
import { type Comparison, Oracle, type OracleQuery, formatMismatch } from '../oracle/oracle.js';
import { YSB_SQL, ysbLoadSql } from '../oracle/ysb-sql.js';
import { type BenchResult, note, report } from '../report.js';
import { NEXMARK_QUERIES } from './nexmark.js';
import { type PipelineSpec, benchPipeline, benchQuery } from './pipelines.js';
import { YSB_ADS_TOPIC } from './ysb.js';

/** The two suites this harness runs. */
export type Suite = 'nexmark' | 'ysb';

/** Defaults of a full run and of `--check`. */
export const DEFAULTS = Object.freeze({
  events: 1_000_000,
  ratePerS: 100_000,
  reps: 2,
  latencySeconds: 15,
  checkEvents: 30_000,
  /** A slow event-time rate for checks, so a small input still spans many windows (30 s of event time). */
  checkRatePerS: 1_000,
});
/** Latency samples of results standing for event times in the first seconds of a run are ignored (JIT warm-up). */
const LATENCY_WARMUP_MS = 2_000;
/** Window queries' latency runs cover at least this many result periods (window closes) after warm-up. */
const LATENCY_MIN_PERIODS = 5;
/** The producer's first event is due this long after the runner is ready. */
const LATENCY_START_DELAY_MS = 20;
/** How long after its last event the producer may take to report before the run is abandoned. */
const LATENCY_END_GRACE_MS = 30_000;
/** Records read per partition per round, as the runners' default. */
const READ_BATCH = 4096;
/** Single-process runs sample RSS every this many rounds. */
const ROUNDS_PER_SAMPLE = 8;

const PIPELINES_MODULE = new URL('./pipelines.ts', import.meta.url);
const LIVE_PRODUCER = new URL('../generators/live-producer.ts', import.meta.url);

/** Parsed options of a suite run. */
export interface SuiteOptions {
  readonly queries: readonly string[];
  readonly events: number;
  readonly ratePerS: number;
  readonly workers: number;
  readonly partitions: number;
  readonly formats: readonly TopicFormat[];
  readonly reps: number;
  readonly latencySeconds: number;
  readonly seed: number;
  readonly check: boolean;
  readonly save: boolean;
}

/**
 * Turns `--query`, `--events`, `--workers`, `--check`, `--rate`... into options (see bench/README.md).
 *
 * @example
 * ```ts
 * suiteOptions('nexmark', { query: 'q5', events: '200000' }).events; // 200000
 * ```
 */
export function suiteOptions(suite: Suite, args: Record<string, string | true>): SuiteOptions {
  const check = args.check === true;
  const all = suite === 'ysb' ? ['ysb'] : Object.keys(NEXMARK_QUERIES);
  const queries = typeof args.query === 'string' ? args.query.split(',').map((q) => q.trim()) : all;
  for (const q of queries) benchQuery(q);
  const num = (name: string, fallback: number) => {
    const v = args[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${String(v)}`);
    return n;
  };
  const workers = Math.max(1, Math.floor(num('workers', 1)));
  const format = args.format;
  const formats: TopicFormat[] = format === 'json' || format === 'msgpack' ? [format] : check ? ['json'] : ['json', 'msgpack'];
  return {
    queries,
    events: Math.floor(num('events', check ? DEFAULTS.checkEvents : DEFAULTS.events)),
    ratePerS: num('rate', check ? DEFAULTS.checkRatePerS : DEFAULTS.ratePerS),
    workers,
    partitions: Math.max(1, Math.floor(num('partitions', workers))),
    formats,
    reps: Math.max(1, Math.floor(num('reps', DEFAULTS.reps))),
    latencySeconds: check ? 0 : num('latency-seconds', DEFAULTS.latencySeconds),
    seed: num('seed', 1),
    check,
    save: args.save === true || (!check && args['no-save'] !== true && typeof args.query !== 'string'),
  };
}

/** A prepared data set: the log with the events, and the oracle loaded with the same events. */
export interface Dataset {
  readonly suite: Suite;
  readonly dir: string;
  readonly log: EmbeddedLog;
  readonly oracle: Oracle;
  readonly baseTopic: string;
  readonly nexmark: NexmarkConfig;
  readonly events: number;
  readonly partitions: number;
  readonly jsonBytes: number;
  readonly msgpackBytes: number;
}

/**
 * Writes the events (and, for YSB, the ads table) and loads the oracle. Close with closeDataset.
 *
 * @example
 * ```ts
 * const ds = await prepareDataset('nexmark', { events: 30_000, ratePerS: 1_000, partitions: 1, formats: ['json'], seed: 1 });
 * try { await checkQueries(ds, ['q5'], ['json'], null); } finally { await closeDataset(ds); }
 * ```
 */
export async function prepareDataset(suite: Suite, options: Pick<SuiteOptions, 'events' | 'ratePerS' | 'partitions' | 'formats' | 'seed'>): Promise<Dataset> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `freshet-bench-${suite}-`));
  const log = await EmbeddedLog.open({ dataDir: path.join(dir, 'log'), fsync: 'never', retentionCheckIntervalMs: 0 });
  const nexmark = nexmarkConfig({ seed: options.seed, eventsPerSecond: options.ratePerS });
  const eventsPath = path.join(dir, 'events.ndjson');
  const label = options.events >= 1_000_000 ? suite : undefined;
  let written: { jsonBytes: number; msgpackBytes: number };
  const oracle = await Oracle.open();
  try {
    if (suite === 'nexmark') {
      const gen = new NexmarkGenerator(nexmark);
      written = await writeEvents({
        log,
        topic: 'nexmark',
        formats: options.formats,
        partitions: options.partitions,
        total: options.events,
        batches: gen.batches(0, options.events, WRITE_CHUNK_EVENTS),
        timeOf: (e) => e.dateTime,
        ndjsonPath: eventsPath,
        ...(label !== undefined && { progressLabel: label }),
      });
      await oracle.load(nexmarkLoadSql(eventsPath));
    } else {
      const gen = new YsbGenerator({ seed: options.seed, eventsPerSecond: options.ratePerS });
      await writeAds(log, gen, path.join(dir, 'ads.ndjson'));
      written = await writeEvents({
        log,
        topic: 'ysb',
        formats: options.formats,
        partitions: options.partitions,
        total: options.events,
        batches: gen.batches(0, options.events, WRITE_CHUNK_EVENTS),
        timeOf: (e) => e.event_time,
        ndjsonPath: eventsPath,
        ...(label !== undefined && { progressLabel: label }),
      });
      await oracle.load(ysbLoadSql(eventsPath, path.join(dir, 'ads.ndjson')));
    }
  } catch (error) {
    oracle.close();
    await log.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // The NDJSON copy is in DuckDB now; the log keeps the events.
  fs.rmSync(eventsPath, { force: true });
  return { suite, dir, log, oracle, baseTopic: suite, nexmark, events: options.events, partitions: options.partitions, ...written };
}

/** Closes the oracle and the log and removes the data set's directory. */
export async function closeDataset(ds: Dataset): Promise<void> {
  ds.oracle.close();
  await ds.log.close();
  fs.rmSync(ds.dir, { recursive: true, force: true });
}

/** The ads table: one JSON row per ad, timestamp 0 (valid for every event), and its NDJSON copy. */
async function writeAds(log: EventLog, gen: YsbGenerator, ndjsonPath: string): Promise<void> {
  await log.ensureTopic(YSB_ADS_TOPIC, { partitions: 1 });
  const ads = gen.ads();
  const out = new NdjsonWriter(ndjsonPath);
  for (const ad of ads) out.line(JSON.stringify(ad));
  out.close();
  await log.append(
    YSB_ADS_TOPIC,
    0,
    ads.map((ad) => ({ key: Buffer.from(ad.ad_id), value: Buffer.from(JSON.stringify(ad)), timestampMs: 0 })),
  );
}

function oracleQuery(name: string): OracleQuery {
  const q = name === 'ysb' ? YSB_SQL : NEXMARK_SQL[name];
  if (!q) throw new Error(`no oracle query for '${name}'`);
  return q;
}

let runCounter = 0;

function spec(ds: Dataset, query: string, format: TopicFormat, sink: PipelineSpec['sink'], topic = topicFor(ds.baseTopic, format)): PipelineSpec {
  return { query, name: `bench-${query}-${process.pid}-${++runCounter}`, topic, format, nexmark: ds.nexmark, sink };
}

/**
 * Starts a spec as a bounded run, in one process or over the pool's workers; `run()` then reads everything
 * and closes every window (and cleans up). Starting (compiling, importing the pipeline in workers) is kept
 * out of `run()`, so timing `run()` times the processing.
 */
async function startBounded(log: EventLog, s: PipelineSpec, pool: WorkerPool | null, probe: ((out: unknown) => boolean) | undefined, onRound: () => void): Promise<{ run(): Promise<void> }> {
  if (pool === null) {
    const runner = await PipelineRunner.start(benchPipeline(s, probe).plan(), { log, commitIntervalMs: Number.POSITIVE_INFINITY });
    return {
      async run() {
        // Sampling RSS costs ~0.2 ms: every few rounds is enough.
        for (let round = 0; (await runner.step()) > 0; round++) if (round % ROUNDS_PER_SAMPLE === 0) onRound();
        await runner.finish();
      },
    };
  }
  const runner = await ParallelRunner.start({ module: PIPELINES_MODULE, exportName: 'benchPipeline', args: [s] }, { log, pool, commitIntervalMs: Number.POSITIVE_INFINITY });
  return {
    async run() {
      const timer = setInterval(onRound, 20);
      try {
        await runner.finish();
      } finally {
        clearInterval(timer);
        await runner.close();
        for (const r of runner.layout.repartitions) await log.deleteTopic(r.topic);
      }
    },
  };
}

/** One measured (throughput) run. */
export interface Measured {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly rssPeakBytes: number;
  readonly rssStartBytes: number;
  /** Outputs and checksum (single process only: worker threads keep their own counters). */
  readonly outputs: number | null;
  readonly checksum: number | null;
}

/**
 * Runs the query over the whole topic once, results dropped after a counting probe.
 *
 * @example
 * ```ts
 * const m = await measureThroughput(ds, 'q5', 'json', null);
 * const perS = ds.events / (m.wallMs / 1000);
 * ```
 */
export async function measureThroughput(ds: Dataset, query: string, format: TopicFormat, pool: WorkerPool | null): Promise<Measured> {
  const q = benchQuery(query);
  let outputs = 0;
  let checksum = 0;
  const probe =
    pool === null
      ? (out: unknown): boolean => {
          outputs++;
          checksum += q.checksum(out);
          return false;
        }
      : undefined;
  (globalThis as { gc?: () => void }).gc?.();
  const rssStartBytes = process.memoryUsage.rss();
  let rssPeakBytes = rssStartBytes;
  const sample = () => {
    const rss = process.memoryUsage.rss();
    if (rss > rssPeakBytes) rssPeakBytes = rss;
  };
  const run = await startBounded(ds.log, spec(ds, query, format, { kind: 'discard' }), pool, probe, sample);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run.run();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  sample();
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, rssPeakBytes, rssStartBytes, outputs: pool === null ? outputs : null, checksum: pool === null ? checksum : null };
}

/**
 * Runs the query with a topic sink, reads the results back as rows and compares them with the oracle.
 *
 * @example
 * ```ts
 * const c = await verifyQuery(ds, 'q3', 'json', null);
 * if (!c.ok) console.error(formatMismatch(c));
 * ```
 */
export async function verifyQuery(ds: Dataset, query: string, format: TopicFormat, pool: WorkerPool | null): Promise<Comparison> {
  const q = benchQuery(query);
  const outTopic = `bench-out-${query}-${process.pid}-${++runCounter}`;
  const s = spec(ds, query, format, { kind: 'topic', topic: outTopic });
  await (await startBounded(ds.log, s, pool, undefined, () => {})).run();
  const rowsPath = path.join(ds.dir, `${outTopic}.ndjson`);
  const writer = new NdjsonWriter(rowsPath);
  try {
    const partitions = (await ds.log.describeTopic(outTopic)).partitions.length;
    for (let p = 0; p < partitions; p++) {
      let offset = await ds.log.earliestOffset(outTopic, p);
      for (;;) {
        const { batches, nextOffset } = await ds.log.read(outTopic, p, offset, { maxRecords: READ_BATCH });
        if (batches.length === 0) break;
        for (const b of batches) for (let i = 0; i < b.count; i++) writer.line(JSON.stringify(q.toRow(JSON.parse(Buffer.from(b.valueAt(i)!).toString('utf8')))));
        offset = nextOffset;
      }
    }
  } finally {
    writer.close();
  }
  try {
    return await ds.oracle.compare(oracleQuery(query), rowsPath);
  } finally {
    fs.rmSync(rowsPath, { force: true });
    await ds.log.deleteTopic(outTopic);
  }
}

/**
 * Reads every record of the events topic and decodes it, with no engine: the ceiling.
 *
 * @example
 * ```ts
 * const ceiling = await rawDecodeCeiling(ds, 'msgpack'); // events/s
 * ```
 */
export async function rawDecodeCeiling(ds: Dataset, format: TopicFormat): Promise<number> {
  const topic = topicFor(ds.baseTopic, format);
  const decoder = new TextDecoder();
  const t0 = performance.now();
  let n = 0;
  let check = 0;
  for (let p = 0; p < ds.partitions; p++) {
    let offset = 0;
    for (;;) {
      const { batches, nextOffset } = await ds.log.read(topic, p, offset, { maxRecords: READ_BATCH });
      if (batches.length === 0) break;
      for (const b of batches) {
        for (let i = 0; i < b.count; i++) {
          const bytes = b.valueAt(i)!;
          const v = (format === 'json' ? JSON.parse(decoder.decode(bytes)) : unpack(bytes)) as Record<string, unknown>;
          if (v !== null) check++;
          n++;
        }
      }
      offset = nextOffset;
    }
  }
  if (n !== ds.events || check !== n) throw new Error(`raw decode read ${n} of ${ds.events} events`);
  return n / ((performance.now() - t0) / 1000);
}

/** Latency percentiles of one run at a fixed rate. */
export interface LatencyResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samples: number;
  /** Distinct event times among the samples: how many independent result emissions (window closes) they come from. */
  readonly resultTimes: number;
  readonly produced: number;
  readonly achievedRatePerS: number;
  /** Events produced but not yet read when the run ended. */
  readonly backlog: number;
  /** Process CPU time over wall time (1.0 = one core busy). */
  readonly cpuShare: number;
}

/**
 * Latency at a fixed rate: a producer process (generators/live-producer.ts) appends the events due by
 * now (event time = wall clock) every PRODUCER_LINGER_MS into a fresh log directory; this process follows
 * that log read-only and runs the query, stepping whenever there is input and polling every ms when
 * there is none. A result's latency is the wall time it reaches the sink minus the event time it stands for.
 *
 * @example
 * ```ts
 * const lat = await measureLatency(ds, 'q7', 100_000, 60);
 * console.log(lat?.p99Ms);
 * ```
 */
export async function measureLatency(ds: Dataset, query: string, ratePerS: number, seconds: number): Promise<LatencyResult | null> {
  const q = benchQuery(query);
  const timeOf = q.latencyTimeOf;
  if (timeOf === null) return null;
  const wallNow = () => performance.timeOrigin + performance.now();
  const dataDir = path.join(ds.dir, `live-${++runCounter}`);
  const topic = `${ds.baseTopic}-live`;
  const producerOptions: LiveProducerOptions = { suite: ds.suite, dataDir, topic, ratePerS, seconds, seed: ds.nexmark.seed };
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(LIVE_PRODUCER), JSON.stringify(producerOptions)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const nextMessage = async (): Promise<Record<string, unknown>> => {
    const line = await lines.next();
    if (line.done) throw new Error(`live producer ended early (exit code ${await exited})`);
    return JSON.parse(line.value) as Record<string, unknown>;
  };
  let log: EmbeddedLog | null = null;
  try {
    await nextMessage(); // ready: topics exist
    log = await EmbeddedLog.open({ dataDir, readOnly: true, fsync: 'never', retentionCheckIntervalMs: 0 });
    const samples: number[] = [];
    const times = new Set<number>();
    let warmupEndMs = Number.POSITIVE_INFINITY;
    const probe = (out: unknown): boolean => {
      const t = timeOf(out);
      if (t >= warmupEndMs) {
        samples.push(wallNow() - t);
        times.add(t);
      }
      return false;
    };
    const s = spec(ds, query, 'json', { kind: 'discard' }, topic);
    const runner = await PipelineRunner.start(benchPipeline(s, probe).plan(), { log, commitIntervalMs: Number.POSITIVE_INFINITY });
    // The producer starts a little later, so the runner is polling when the first event is due.
    const baseTimeMs = Math.floor(wallNow()) + LATENCY_START_DELAY_MS;
    warmupEndMs = baseTimeMs + LATENCY_WARMUP_MS;
    child.stdin!.write(`${JSON.stringify({ baseTimeMs })}\n`);
    const done = nextMessage();
    let produced: number | null = null;
    void done.then((m) => {
      produced = Number(m.produced);
    }, () => {});
    const cpu0 = process.cpuUsage();
    while (produced === null) {
      if ((await runner.step()) === 0) await new Promise((r) => setTimeout(r, 1));
      if (wallNow() > baseTimeMs + seconds * 1000 + LATENCY_END_GRACE_MS) throw new Error('live producer did not finish in time');
    }
    // recordsRead also counts table rows (YSB's ads), read once at the start.
    const tableRows = ds.suite === 'ysb' ? await log.latestOffset(YSB_ADS_TOPIC, 0) : 0;
    const backlog = (produced as number) - (runner.recordsRead - tableRows);
    const cpu = process.cpuUsage(cpu0);
    const wallS = (wallNow() - baseTimeMs) / 1000;
    samples.sort((a, b) => a - b);
    const pct = (p: number) => (samples.length === 0 ? Number.NaN : samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!);
    return {
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      maxMs: samples.length === 0 ? Number.NaN : samples[samples.length - 1]!,
      samples: samples.length,
      resultTimes: times.size,
      produced: produced as number,
      achievedRatePerS: (produced as number) / seconds,
      backlog,
      cpuShare: (cpu.user + cpu.system) / 1e6 / wallS,
    };
  } finally {
    if (child.exitCode === null) child.kill();
    await exited;
    await log?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Compares every query of the suite with the oracle on one data set; returns the comparisons.
 *
 * @example
 * ```ts
 * const failed = (await checkQueries(ds, ['q0', 'q5'], ['json'], null)).filter((c) => !c.ok);
 * ```
 */
export async function checkQueries(ds: Dataset, queries: readonly string[], formats: readonly TopicFormat[], pool: WorkerPool | null): Promise<Comparison[]> {
  const out: Comparison[] = [];
  for (const query of queries) for (const format of formats) out.push(await verifyQuery(ds, query, format, pool));
  return out;
}

/**
 * The whole suite run behind `npm run bench -- nexmark|ysb`. Sets a non-zero exit code on any mismatch.
 *
 * @example
 * ```ts
 * await runBenchSuite('ysb', { check: true });
 * ```
 */
export async function runBenchSuite(suite: Suite, args: Record<string, string | true>): Promise<void> {
  const options = suiteOptions(suite, args);
  const results: BenchResult[] = [];
  const emit = (r: BenchResult) => {
    report(r);
    results.push(r.ceiling !== undefined ? { ...r, ratio: r.value / r.ceiling } : r);
  };
  const failures: string[] = [];
  const startedAt = new Date().toISOString();
  note(`${suite}: ${options.events} events at ${options.ratePerS} events/s of event time, ${options.partitions} partition(s), ${options.workers} worker(s)${options.check ? ', oracle check only' : ''}`);
  const t0 = performance.now();
  const ds = await prepareDataset(suite, options);
  note(`${suite}: data ready in ${Math.round(performance.now() - t0)} ms (${(ds.jsonBytes / ds.events).toFixed(1)} JSON bytes/event)`);
  const pool = options.workers > 1 ? await WorkerPool.start(options.workers) : null;
  const common = { events: options.events, workers: options.workers, partitions: options.partitions, event_rate_per_s: options.ratePerS };
  try {
    if (options.check) {
      for (const c of await checkQueries(ds, options.queries, options.formats, pool)) {
        emit({ bench: `${suite === 'ysb' ? 'ysb' : `nexmark.${c.query}`}.check`, metric: 'oracle_mismatched_rows', value: c.missingCount + c.unexpectedCount, unit: 'rows', query: c.query, ...common, expected_rows: c.expectedRows, actual_rows: c.actualRows, ok: c.ok });
        if (!c.ok) failures.push(formatMismatch(c));
      }
      return;
    }
    const cores = Math.min(options.workers, os.availableParallelism());
    for (const query of options.queries) {
      const bench = suite === 'ysb' ? 'ysb' : `nexmark.${query}`;
      const expected = await ds.oracle.summary(oracleQuery(query));
      for (const format of options.formats) {
        // Ceiling and measured runs alternate, so both see the same machine (load comes and goes).
        const runs: Measured[] = [];
        const ceilings: number[] = [];
        for (let rep = 0; rep < options.reps; rep++) {
          ceilings.push(await rawDecodeCeiling(ds, format));
          const m = await measureThroughput(ds, query, format, pool);
          runs.push(m);
          if (m.outputs !== null && (m.outputs !== expected.rows || m.checksum !== expected.checksum)) {
            failures.push(`${bench} (${format}, run ${rep + 1}): ${m.outputs} outputs with checksum ${m.checksum}, the oracle expects ${expected.rows} with ${expected.checksum}`);
          }
        }
        const rates = runs.map((m) => ds.events / (m.wallMs / 1000) / cores);
        const ratios = rates.map((r, i) => r / ceilings[i]!);
        const best = runs[rates.indexOf(Math.max(...rates))]!;
        emit({
          bench,
          metric: 'events_per_s_per_core',
          value: Math.max(...rates),
          unit: 'events/s',
          ceiling: Math.max(...ceilings),
          query,
          ...common,
          format,
          min: Math.round(Math.min(...rates)),
          ratio_range: [round3(Math.min(...ratios)), round3(Math.max(...ratios))],
          events_per_cpu_s: Math.round(ds.events / (best.cpuMs / 1000)),
          rss_peak_mb: Math.round(best.rssPeakBytes / 1e6),
          rss_start_mb: Math.round(best.rssStartBytes / 1e6),
          outputs: best.outputs ?? undefined,
          checked: best.outputs !== null ? 'rows+checksum' : 'none (worker threads)',
          ceiling_kind: 'raw log read + decode, one thread, alternating with the measured runs',
          load_avg_1m: Math.round(os.loadavg()[0]! * 100) / 100,
        });
      }
      const comparison = await verifyQuery(ds, query, options.formats[0]!, pool);
      emit({ bench: `${bench}.check`, metric: 'oracle_mismatched_rows', value: comparison.missingCount + comparison.unexpectedCount, unit: 'rows', query, ...common, expected_rows: comparison.expectedRows, actual_rows: comparison.actualRows, ok: comparison.ok });
      if (!comparison.ok) failures.push(formatMismatch(comparison));
      await ds.oracle.forget(oracleQuery(query));
      if (options.latencySeconds > 0) {
        // Window queries emit once per period: run long enough for several periods after warm-up.
        const period = benchQuery(query).resultPeriodMs;
        const seconds = Math.max(options.latencySeconds, Math.ceil((LATENCY_WARMUP_MS + LATENCY_MIN_PERIODS * period + 1_000) / 1000));
        const lat = await measureLatency(ds, query, options.ratePerS, seconds);
        if (lat === null) note(`${bench}: no latency run (results only at the end of a bounded run)`);
        else {
          emit({
            bench,
            metric: 'p99_ms',
            value: lat.p99Ms,
            unit: 'ms',
            query,
            workers: 1,
            rate_per_s: options.ratePerS,
            p50_ms: Math.round(lat.p50Ms * 100) / 100,
            max_ms: Math.round(lat.maxMs * 100) / 100,
            samples: lat.samples,
            achieved_rate_per_s: Math.round(lat.achievedRatePerS),
            backlog_events: lat.backlog,
            cpu_share: Math.round(lat.cpuShare * 100) / 100,
            seconds,
            result_times: lat.resultTimes,
            load_avg_1m: Math.round(os.loadavg()[0]! * 100) / 100,
          });
        }
      }
    }
  } finally {
    await pool?.close();
    await closeDataset(ds);
    if (failures.length > 0) {
      process.exitCode = 1;
      note(`\n${suite}: ${failures.length} ORACLE MISMATCH(ES)\n${failures.join('\n')}`);
    }
    if (options.save && !options.check) saveResults(suite, options, startedAt, results, failures);
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Writes a full run's results with the machine and the commit under bench/results/. */
function saveResults(suite: Suite, options: SuiteOptions, startedAt: string, results: readonly BenchResult[], failures: readonly string[]): void {
  const git = (...a: string[]) => {
    try {
      return execFileSync('git', a, { cwd: new URL('../..', import.meta.url), encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  };
  const cpus = os.cpus();
  const record = {
    suite,
    started_at: startedAt,
    options,
    commit: git('rev-parse', 'HEAD'),
    dirty: (git('status', '--porcelain') ?? '') !== '',
    machine: {
      cpu_model: cpus[0]?.model ?? 'unknown',
      cpu_mhz: cpus[0]?.speed ?? 0,
      cpus: cpus.length,
      available_parallelism: os.availableParallelism(),
      total_memory_mb: Math.round(os.totalmem() / 1e6),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.version,
      load_average: os.loadavg(),
    },
    oracle_failures: failures,
    results,
  };
  const dir = new URL('../results/', import.meta.url);
  fs.mkdirSync(dir, { recursive: true });
  const file = new URL(`${suite}-${startedAt.replace(/[:.]/g, '-')}.json`, dir);
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  note(`${suite}: results saved to ${path.relative(process.cwd(), file.pathname)}`);
}
