import { type Clock, systemClock } from '../core/clock.js';
import type { StateBackend } from '../state/state-store.js';
import type { EventLog, ProducerRecord, RecordBatchView } from '../log/log.js';
import type { Plan } from '../plan/plan.js';
import { type CompiledGraph, compile } from './compile.js';
import type { CollectedRecord } from './operators/simple-operators.js';
import type { SourceOperator } from './operators/source-operator.js';
import type { RecordHeader } from '../log/log.js';
import { type LatencyRecorder, type PipelineMetrics, noopPipelineMetrics } from '../observe/pipeline-metrics.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import {
  type CheckpointStorage,
  DeltaChainPolicy,
  MAIN_TASK,
  type RunnerCheckpoint,
  type SnapshotPiece,
  outputPositions,
  restoreOperators,
  snapshotOperators,
  stateBytes,
  truncateOutputs,
} from './checkpointing.js';
import { qualityMetricsTo } from '../quality/metrics-adapter.js';
import { PipelineStats, instrumentGraph } from './instrument.js';
import { prepareSinkTopics } from './sink-topics.js';
import { FreshetHeaders } from '../core/headers.js';
import { DeadLetterBuffer, type DeadLetterFn, decodeSourceBatches } from './source-decoder.js';

/** The stage name of ingest → outputs-flushed latencies (stats and the `ingest` latency metric). */
export const INGEST_LATENCY = 'outputs-flushed';

const utf8 = new TextDecoder();

/** The `freshet.ingest.ms` header's time, or null when the record was not ingested over HTTP. */
function ingestTimeOf(headers: readonly RecordHeader[]): number | null {
  for (const h of headers) {
    if (h.key === FreshetHeaders.INGEST_MS) {
      const ms = Number(utf8.decode(h.value));
      return Number.isFinite(ms) ? ms : null;
    }
  }
  return null;
}

/** Options of `PipelineRunner.start`; only `log` is required. */
export interface RunnerOptions {
  readonly log: EventLog;
  readonly clock?: Clock;
  /** Records read per partition per round (the batch size). Default 4096. */
  readonly maxBatchRecords?: number;
  /** Where each source partition starts: its committed offset, else the earliest (default), or the latest. */
  readonly startFrom?: 'earliest' | 'latest';
  /** ms between offset commits while running. Default 1000. */
  readonly commitIntervalMs?: number;
  /** Where operator, latency, dead-letter and lag metrics go (src/observe). Default: nowhere. */
  readonly metrics?: PipelineMetrics;
  /**
   * Exactly-once: checkpoint every `intervalMs` (default 1000) into `storage`; on start, restore the newest
   * checkpoint, truncate outputs written after it, and continue from its offsets (see docs/state.md).
   */
  readonly checkpoints?: { readonly storage: CheckpointStorage; readonly intervalMs?: number; readonly allowNonRestoredState?: boolean };
  /**
   * Where tumbling and hopping windows keep their accumulators: a state backend such as
   * `LmdbStateBackend` for more keys than the heap holds (docs/state.md). Default: on the heap. The
   * caller opens and closes it; checkpoints snapshot it (incrementally, by key) with the operators.
   */
  readonly stateBackend?: StateBackend;
}

interface SourcePartition {
  readonly source: SourceOperator;
  readonly topic: string;
  readonly partition: number;
  offset: number;
}

/**
 * Runs a pipeline in this process over every partition of its sources: pulls record batches from the log,
 * decodes and validates them (failures go to `<topic>.dlq`), pushes them through the operator graph,
 * advances watermarks, and flushes sinks at batch boundaries. Delivery is at-least-once: offsets are
 * committed (consumer group `freshet.<pipeline>`) after the outputs they led to are flushed, and, for
 * pipelines with windows or interval joins, only once every window has closed (state is not checkpointed
 * yet), so a restart re-reads rather than loses what open windows held.
 *
 * @example
 * ```ts
 * const runner = await PipelineRunner.start(myPipeline.plan(), { log });
 * await runner.runUntilCaughtUp();
 * await runner.stop();
 * ```
 */
export class PipelineRunner {
  private readonly clock: Clock;
  private readonly maxBatchRecords: number;
  private readonly group: string;
  private lastCommitMs: number;
  private stopped = false;
  private read = 0;
  /** Windows or interval joins hold records in memory (see commit()). */
  private readonly stateful: boolean;
  /** finish() closed every window. */
  private finished = false;
  private readonly deadLetters = new DeadLetterBuffer();
  private lastCheckpointId = 0;
  private lastCheckpointMs: number;
  /** The checkpoint being written in the background (see startCheckpoint), until someone awaits it. */
  private pendingWrite: Promise<void> | null = null;
  private writeInFlight = false;
  /** The last checkpoint's bytes are in files and nobody else holds them: the next cut may write over them. */
  private snapshotMemoryFree = false;
  /** When the next checkpoint may be a delta. */
  private readonly chain = new DeltaChainPolicy();
  private checkpointsCut = 0;
  private checkpointSyncMs = 0;
  /** Live counters of every operator, for `/v1/pipelines` and the dashboard. */
  readonly stats: PipelineStats;
  private readonly metrics: PipelineMetrics;
  private readonly unregisterLag: () => void;
  /** Dead letters go through here: counted, then buffered until the round flushes. */
  private readonly deadLetter: DeadLetterFn;
  /** Quality checks may dead-letter records' original bytes: source batches then carry their origins. */
  private readonly keepOrigins: boolean;
  /** Ingest times sampled from this round's input (see pushBatches). */
  private readonly roundIngestTimes: number[] = [];
  private readonly ingestLatency: LatencyRecorder;

  private constructor(
    readonly plan: Plan,
    private readonly log: EventLog,
    private readonly graph: CompiledGraph,
    private readonly partitions: SourcePartition[],
    private readonly options: RunnerOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.maxBatchRecords = options.maxBatchRecords ?? 4096;
    this.group = `freshet.${plan.pipeline}`;
    this.stateful = plan.nodes.some(
      (n) => n.kind === 'windowAggregate' || n.kind === 'intervalJoin' || (n.kind === 'expect' && ['unique', 'volume', 'completeness'].includes(n.check.kind)),
    );
    this.keepOrigins = plan.nodes.some((n) => n.kind === 'expect');
    this.lastCommitMs = this.clock.nowMs();
    this.lastCheckpointMs = this.lastCommitMs;
    this.metrics = options.metrics ?? noopPipelineMetrics;
    this.stats = new PipelineStats(plan.pipeline);
    this.ingestLatency = this.metrics.latency(INGEST_LATENCY, 'ingest');
    instrumentGraph(plan, graph.operators, this.stats, this.metrics, () => this.clock.nowMs());
    const metrics = this.metrics;
    const add = this.deadLetters.add;
    this.deadLetter = (topic, record) => {
      const code = record.headers?.find((h) => h.key === FreshetHeaders.DLQ_CODE);
      const reason = code?.value ? Buffer.from(code.value).toString() : 'unknown';
      metrics.deadLetters(topic, reason, 1);
      this.stats.countDeadLetter(topic, reason);
      add(topic, record);
    };
    this.unregisterLag = this.metrics.registerLagSource(async () =>
      Promise.all(
        this.partitions.map(async (sp) => ({ topic: sp.topic, partition: sp.partition, lagRecords: Math.max(0, (await this.log.latestOffset(sp.topic, sp.partition)) - sp.offset) })),
      ),
    );
  }

  /** Consumer lag per source partition, in records (reads the log's end offsets). */
  async lag(): Promise<{ topic: string; partition: number; records: number }[]> {
    return Promise.all(
      this.partitions.map(async (sp) => ({ topic: sp.topic, partition: sp.partition, records: Math.max(0, (await this.log.latestOffset(sp.topic, sp.partition)) - sp.offset) })),
    );
  }

  /** Compiles the plan, creates sink topics, and positions every source partition. */
  static async start(plan: Plan, options: RunnerOptions): Promise<PipelineRunner> {
    const { log } = options;
    const clock = options.clock ?? systemClock;
    const sourceTopics = new Map<string, number>();
    for (const node of plan.nodes) {
      if (node.kind === 'source') sourceTopics.set(node.topic, (await log.describeTopic(node.topic)).partitions.length);
    }
    await prepareSinkTopics(plan, log, clock.nowMs());
    // Quality checks dead-letter through the runner (bound once it exists, before any input).
    let runner: PipelineRunner | undefined;
    const graph = compile(plan, {
      partitionsOf: (t) => sourceTopics.get(t)!,
      nowMs: clock.nowMs(),
      deadLetter: (topic, record) => runner!.deadLetter(topic, record),
      qualityMetrics: qualityMetricsTo(options.metrics ?? noopPipelineMetrics),
      clock,
      ...(options.stateBackend !== undefined ? { stateBackend: options.stateBackend } : {}),
    });
    const checkpoint = options.checkpoints ? await options.checkpoints.storage.latest() : null;
    if (checkpoint !== null) {
      const saved = checkpoint.tasks.find((t) => t.taskId === MAIN_TASK)?.operators ?? new Map<string, readonly SnapshotPiece[]>();
      const backendNames = new Set(options.stateBackend?.operatorNames() ?? []);
      const operatorChains = new Map([...saved].filter(([name]) => !backendNames.has(name)));
      restoreOperators(graph.operators, operatorChains, options.checkpoints?.allowNonRestoredState);
      if (options.stateBackend !== undefined) {
        // No checkpoint id: the chain may come from a savepoint, so the next backend snapshot is full.
        const chains = new Map([...saved].filter(([name]) => backendNames.has(name)).map(([name, chain]) => [name, chain.map((p) => p.bytes)]));
        await options.stateBackend.restore(chains, { allowNonRestoredState: options.checkpoints?.allowNonRestoredState ?? false });
      }
      await truncateOutputs(log, plan, checkpoint);
    }
    const restored = new Map(checkpoint?.tasks.find((t) => t.taskId === MAIN_TASK)?.inputs.map((i) => [`${i.topic}/${i.partition}`, i.offset]));
    const committed = new Map<string, number>();
    for (const c of await log.committedOffsets(`freshet.${plan.pipeline}`)) committed.set(`${c.topic}/${c.partition}`, c.offset);
    const partitions: SourcePartition[] = [];
    // Tables first: a round applies table updates before the stream records that may join them.
    const ordered = [...graph.sources].sort((a, b) => (a.node.role === 'table' ? 0 : 1) - (b.node.role === 'table' ? 0 : 1));
    for (const source of ordered) {
      const topic = source.node.topic;
      for (let p = 0; p < source.partitions; p++) {
        // With checkpoints, every source (tables too) continues where the checkpoint's state was cut.
        // Without, tables are re-read from the start (their rows are not saved) and streams resume at
        // their committed offsets.
        const stored = checkpoint !== null ? restored.get(`${topic}/${p}`) : source.node.role === 'table' ? undefined : committed.get(`${topic}/${p}`);
        const earliest = await log.earliestOffset(topic, p);
        // A committed offset that retention has since deleted restarts at the earliest one (Kafka's
        // auto.offset.reset=earliest) rather than failing every start.
        // `startFrom: 'latest'` applies to streams; a table always needs its rows, so it starts at the earliest.
        const fromLatest = options.startFrom === 'latest' && source.node.role !== 'table';
        const offset = stored !== undefined ? Math.max(stored, earliest) : fromLatest ? await log.latestOffset(topic, p) : earliest;
        partitions.push({ source, topic, partition: p, offset });
      }
    }
    runner = new PipelineRunner(plan, log, graph, partitions, options);
    if (checkpoint !== null) runner.lastCheckpointId = checkpoint.id;
    // A first checkpoint before any input: a crash before the next one then cuts the outputs back to
    // where this run found them, instead of leaving what it wrote to be written again.
    else if (options.checkpoints !== undefined) await runner.checkpoint();
    return runner;
  }

  /**
   * Takes a checkpoint now (at a round boundary: call it between steps). `run()` takes one every
   * `checkpoints.intervalMs` and a last one when it stops. Resolves once it is durable.
   */
  async checkpoint(): Promise<RunnerCheckpoint> {
    // The caller gets the checkpoint, bytes included: the next cut must not write over them.
    const { checkpoint, durable } = await this.startCheckpoint(true);
    await durable;
    return checkpoint;
  }

  /**
   * Cuts a checkpoint: the round's outputs flushed, every operator's state encoded, synchronously; the
   * write (checksums, files, fsyncs, manifest) goes on while later rounds run (`durable`), as Flink's
   * asynchronous snapshot phase. One write at a time: this waits for the previous one, and a failed
   * write fails the run here. A crash before `durable` settles leaves the previous checkpoint, which
   * recovery uses. Deltas build on the previous checkpoint this run wrote (see `deltaBase`).
   * `handedOut`: the caller keeps the checkpoint, so the next cut must not write over its bytes.
   */
  private async startCheckpoint(handedOut = false): Promise<{ checkpoint: RunnerCheckpoint; durable: Promise<void> }> {
    const storage = this.options.checkpoints?.storage;
    if (storage === undefined) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `pipeline '${this.plan.pipeline}' runs without checkpoints`);
    await this.checkpointWritten();
    const started = performance.now();
    await this.flush();
    const deltaBase = this.deltaBase(storage);
    const id = storage.nextId();
    const reuseMemory = this.snapshotMemoryFree;
    this.snapshotMemoryFree = false;
    const operators = snapshotOperators(this.graph.operators, deltaBase, reuseMemory);
    const backend = this.options.stateBackend;
    // The backend captures its state at the call (its own chains: full or by-key deltas).
    if (backend !== undefined) {
      for (const part of (await backend.snapshot(id)).operators) {
        operators.set(part.operator, [{ type: part.type, ...(part.baseCheckpointId !== null ? { baseCheckpointId: part.baseCheckpointId } : {}), bytes: part.bytes }]);
      }
    }
    const checkpoint: RunnerCheckpoint = {
      id,
      takenAtMs: this.clock.nowMs(),
      outputs: await outputPositions(this.log, this.plan),
      tasks: [{ taskId: MAIN_TASK, inputs: this.partitions.map((sp) => ({ topic: sp.topic, partition: sp.partition, offset: sp.offset })), operators }],
    };
    this.lastCheckpointMs = checkpoint.takenAtMs;
    const syncMs = performance.now() - started;
    this.checkpointSyncMs += syncMs;
    this.checkpointsCut++;
    this.writeInFlight = true;
    const durable = storage.save(checkpoint).then(
      () => {
        this.writeInFlight = false;
        this.snapshotMemoryFree = !handedOut && storage.releasesBytes === true;
        backend?.checkpointComplete(checkpoint.id);
        this.lastCheckpointId = checkpoint.id;
        this.chain.record(checkpoint.tasks[0]!);
        this.metrics.checkpointCompleted(performance.now() - started, stateBytes(checkpoint.tasks[0]!), syncMs);
      },
      (error: unknown) => {
        this.writeInFlight = false;
        backend?.checkpointAborted(checkpoint.id);
        // The next checkpoint cannot build on this one: full snapshots again.
        this.chain.reset();
        this.metrics.checkpointFailed(performance.now() - started);
        throw error;
      },
    );
    this.pendingWrite = durable;
    // Not unhandled: checkpointWritten() (the next checkpoint, stop, finish) rethrows it.
    durable.catch(() => undefined);
    return { checkpoint, durable };
  }

  /** Waits for the checkpoint write in flight, if any; rethrows its failure. */
  private async checkpointWritten(): Promise<void> {
    const pending = this.pendingWrite;
    if (pending === null) return;
    try {
      await pending;
    } finally {
      if (this.pendingWrite === pending) this.pendingWrite = null;
    }
  }

  /** The checkpoint the next one's deltas may build on, or undefined for full snapshots. */
  private deltaBase(storage: CheckpointStorage): number | undefined {
    if (storage.supportsDeltas !== true || this.lastCheckpointId === 0 || !this.chain.allowsDelta()) return undefined;
    return this.lastCheckpointId;
  }

  /** Checkpoints this runner took (cut; written or being written), and how long their cuts held up processing in all (the writes do not). */
  get checkpointStats(): { readonly taken: number; readonly syncMs: number } {
    return { taken: this.checkpointsCut, syncMs: this.checkpointSyncMs };
  }

  /** Records read from sources since start (a round reads at most one batch per partition, then flushes). */
  get recordsRead(): number {
    return this.read;
  }

  /** Results collected by `collect(sinkName)` sinks. */
  collected(sinkName: string): readonly CollectedRecord[] {
    return this.graph.collected.get(sinkName) ?? [];
  }

  /** The current watermark of every source, by source name. */
  sourceWatermarks(): Record<string, number> {
    return Object.fromEntries(this.graph.sources.map((s) => [s.name, s.currentWatermarkMs]));
  }

  /**
   * One round: reads one batch from every source partition, processes it, then advances watermarks and
   * flushes the sinks. Returns the number of records read.
   */
  async step(): Promise<number> {
    let read = 0;
    for (const sp of this.partitions) {
      // Tables are read to their end each round (they come first), so streams join everything known.
      const isTable = sp.source.node.role === 'table';
      for (;;) {
        const { batches, nextOffset } = await this.log.read(sp.topic, sp.partition, sp.offset, { maxRecords: this.maxBatchRecords });
        if (batches.length === 0) break;
        read += nextOffset - sp.offset;
        this.pushBatches(sp, batches);
        sp.offset = nextOffset;
        if (!isTable) break;
      }
    }
    this.read += read;
    const nowMs = this.clock.nowMs();
    for (const source of this.graph.sources) {
      source.updateWatermark(nowMs);
      const counters = this.stats.operators.get(source.name);
      if (counters !== undefined) counters.watermarkMs = source.currentWatermarkMs;
    }
    this.stats.status = read > 0 ? 'running' : 'caught-up';
    await this.flush();
    if (this.roundIngestTimes.length > 0) {
      const flushedMs = this.clock.nowMs();
      this.stats.recordLatencies(INGEST_LATENCY, flushedMs, this.roundIngestTimes);
      this.ingestLatency.observeSince(flushedMs, this.roundIngestTimes);
      this.roundIngestTimes.length = 0;
    }
    const checkpoints = this.options.checkpoints;
    if (this.writeInFlight) {
      // Reads from the log may settle without a turn of the event loop, so a busy run would starve the
      // write's file callbacks: give them one turn per round while a write is in flight.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (checkpoints !== undefined && nowMs - this.lastCheckpointMs >= (checkpoints.intervalMs ?? 1000)) {
      // At most one write in flight: while the last one is still being written, process on.
      if (!this.writeInFlight) await this.startCheckpoint();
    }
    if (nowMs - this.lastCommitMs >= (this.options.commitIntervalMs ?? 1000)) await this.commit();
    return read;
  }

  /** Steps until a round reads nothing. */
  async runUntilCaughtUp(): Promise<void> {
    while ((await this.step()) > 0) {
      // keep going
    }
  }

  /** Runs until `stop()`, polling every `pollIntervalMs` when caught up; flushes and commits on the way out. */
  async run(pollIntervalMs = 50): Promise<void> {
    try {
      while (!this.stopped) {
        const read = await this.step();
        if (read === 0 && !this.stopped) await new Promise((r) => setTimeout(r, pollIntervalMs));
      }
      await this.flush();
      if (this.options.checkpoints !== undefined) await this.checkpoint();
      await this.commit();
      this.stats.status = 'stopped';
    } catch (error) {
      this.stats.status = 'failed';
      this.stats.failure = { code: (error as { code?: string }).code ?? 'FRESHET_INTERNAL', message: (error as Error).message };
      throw error;
    } finally {
      this.unregisterLag();
    }
  }

  /** Bounded runs: reads everything, then closes every window (the watermark jumps to the end). */
  async finish(): Promise<void> {
    await this.runUntilCaughtUp();
    for (const source of this.graph.sources) source.finish();
    await this.flush();
    this.finished = true;
    if (this.options.checkpoints !== undefined) await this.checkpoint();
    await this.commit();
  }

  /** Asks `run()` to return after its current round. */
  stop(): void {
    this.stopped = true;
  }

  private pushBatches(sp: SourcePartition, batches: readonly RecordBatchView[]): void {
    // End-to-end latency from ingest: one sample per read batch (its first record's ingest time, a
    // header read per batch, not per record), observed once the round's outputs are flushed.
    for (const view of batches) {
      if (view.count === 0) continue;
      const ingest = ingestTimeOf(view.headersAt(0));
      if (ingest !== null) this.roundIngestTimes.push(ingest);
    }
    const batch = decodeSourceBatches(sp.source.node, sp.partition, batches, this.deadLetter, this.keepOrigins);
    const counters = this.stats.operators.get(sp.source.name);
    if (counters !== undefined) {
      counters.recordsIn += batch.values.length;
      counters.batches++;
    }
    sp.source.pushPartition(sp.partition, batch, this.clock.nowMs());
  }

  private async flush(): Promise<void> {
    await this.options.stateBackend?.flush();
    for (const sink of this.graph.topicSinks) await sink.flush(this.log);
    await this.deadLetters.flush(this.log);
  }

  private async commit(): Promise<void> {
    this.lastCommitMs = this.clock.nowMs();
    // Until operator state is checkpointed, offsets of a stateful pipeline are committed only once every
    // window has closed (a bounded run's end): committing earlier would lose what open windows hold on a
    // restart. A restarted stateful pipeline re-reads its input instead (at-least-once).
    if (this.stateful && !this.finished) return;
    await this.log.commitOffsets(
      this.group,
      this.partitions.filter((sp) => sp.source.node.role !== 'table').map((sp) => ({ topic: sp.topic, partition: sp.partition, offset: sp.offset })),
    );
  }

}
