/**
 * What the runtime reports about a running pipeline. The runtime depends on this interface only, never
 * on prom-client: `FreshetMetrics.pipeline(name)` implements it, `noopPipelineMetrics` ignores everything.
 *
 * Hot-path contract: report once per BATCH, not per record. Get the handles (`operator`, `latency`) once
 * when the graph is compiled and keep them: a handle's methods update pre-bound series directly, with
 * no label lookup, promise or allocation.
 *
 * @example
 * ```ts
 * // at compile time, once per operator / stage
 * const pm: PipelineMetrics = options.metrics?.pipeline(plan.pipeline) ?? noopPipelineMetrics;
 * const window = pm.operator('revenue-window');
 * const ingestLatency = pm.latency('revenue-view', 'ingest');
 * const eventLatency = pm.latency('revenue-view', 'event');
 * const unregister = pm.registerLagSource(logLagSource(log, () => positions, clock));
 *
 * // per batch
 * const t0 = performance.now();
 * const out = windowOperator.process(batch);
 * window.batch(batch.length, out.length, performance.now() - t0);
 * window.watermark(windowOperator.watermarkMs);
 * if (lateCount > 0) window.lateEvents(lateCount, 'side-output');
 *
 * // when results become visible in a view, from the records' ingest and event times
 * const nowMs = clock.nowMs();
 * ingestLatency.observeSince(nowMs, ingestTimesMs, 0, n);
 * eventLatency.observeSince(nowMs, eventTimesMs, 0, n);
 * pm.viewUpdated('revenue-view', nowMs);
 *
 * // checks, dead letters and checkpoints
 * pm.qualityChecks('orders-source', 'amount-positive', passed, failed);
 * pm.deadLetters('orders-source', 'FRESHET_SCHEMA_VIOLATION', rejected);
 * pm.checkpointCompleted(durationMs, sizeBytes);
 * ```
 */
export interface PipelineMetrics {
  /** The pipeline's name: the `pipeline` label of every series reported through this object. */
  readonly pipeline: string;
  /** The handle of one operator (by its stable name). The same name returns the same handle. */
  operator(name: string): OperatorMetrics;
  /**
   * The end-to-end latency recorder of one stage (where results become visible: a view or a sink),
   * measured from the records' ingest time (`'ingest'`) or event time (`'event'`).
   */
  latency(stage: string, from: LatencyOrigin): LatencyRecorder;
  /** `count` records went to a dead-letter topic at `stage`; `reason` is a code or check name (low cardinality). */
  deadLetters(stage: string, reason: string, count: number): void;
  /** Outcomes of one data-quality check over a batch at `stage`. */
  qualityChecks(stage: string, check: string, passed: number, failed: number): void;
  /**
   * A checkpoint completed: how long it took, how many bytes it wrote, and how much of that time held
   * up processing (`syncMs`, the cut; the write goes on in the background; default: all of it).
   */
  checkpointCompleted(durationMs: number, sizeBytes: number, syncMs?: number): void;
  /** A checkpoint failed after `durationMs`. */
  checkpointFailed(durationMs: number): void;
  /** A view received new results at `atMs` (its freshness is the time since, computed when scraped). */
  viewUpdated(view: string, atMs: number): void;
  /**
   * Adds a lag source, evaluated only when metrics are scraped (or alerts evaluated): consumer lag per
   * topic/partition. Returns a function that removes it (call it when the pipeline stops).
   */
  registerLagSource(source: LagSource): () => void;
}

/**
 * Per-operator handle: every method updates pre-bound series (no lookups).
 *
 * @example
 * ```ts
 * const op = pm.operator('filter-valid');
 * op.batch(4096, 4011, 0.35);
 * op.errors(2, 'FRESHET_INTERNAL');
 * ```
 */
export interface OperatorMetrics {
  /** One batch went through the operator: records in, records out, time spent (ms, fractional allowed). */
  batch(recordsIn: number, recordsOut: number, durationMs: number): void;
  /** `count` records failed in the operator with this error code (e.g. `FRESHET_INTERNAL`). */
  errors(count: number, code: string): void;
  /** `count` events arrived behind the watermark, and what happened to them. */
  lateEvents(count: number, handling: LateHandling): void;
  /** The operator's current watermark (ms since the epoch); its lag behind the clock is computed when scraped. */
  watermark(watermarkMs: number): void;
}

/** Where a late event went: within `allowedLatenessMs` it updated its window; after it, the late-data output. */
export type LateHandling = 'accepted' | 'side-output' | 'dropped';

/** Which timestamp an end-to-end latency starts from. */
export type LatencyOrigin = 'ingest' | 'event';

/**
 * Records end-to-end latencies of one stage, a batch at a time.
 *
 * @example
 * ```ts
 * pm.latency('revenue-view', 'ingest').observeSince(clock.nowMs(), ingestTimesMs, 0, n);
 * ```
 */
export interface LatencyRecorder {
  /** Latencies in ms: `valuesMs[start..end)`. */
  observe(valuesMs: ArrayLike<number>, start?: number, end?: number): void;
  /** Latencies `nowMs - startTimesMs[i]` for i in [start, end): no array of latencies to build. */
  observeSince(nowMs: number, startTimesMs: ArrayLike<number>, start?: number, end?: number): void;
}

/**
 * One partition's consumer lag, as a lag source reports it.
 *
 * @example
 * ```ts
 * const lag: PartitionLag = { topic: 'orders', partition: 3, lagRecords: 1200, lagSeconds: 4.5 };
 * ```
 */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** Records between the consumer's position and the end of the partition. */
  readonly lagRecords: number;
  /** Age of the oldest unconsumed record (0 when caught up); omit when unknown. */
  readonly lagSeconds?: number;
}

/**
 * Computes consumer lag when scraped (e.g. `logLagSource`): sync or async.
 *
 * @example
 * ```ts
 * const source: LagSource = async () => [{ topic: 'orders', partition: 0, lagRecords: await behind(0) }];
 * ```
 */
export type LagSource = () => readonly PartitionLag[] | Promise<readonly PartitionLag[]>;

const noopOperator: OperatorMetrics = {
  batch() {},
  errors() {},
  lateEvents() {},
  watermark() {},
};

const noopLatency: LatencyRecorder = {
  observe() {},
  observeSince() {},
};

/**
 * A PipelineMetrics that records nothing: the runtime's default when no metrics are configured, so the
 * runtime never checks for `undefined`.
 *
 * @example
 * ```ts
 * const pm = options.metrics?.pipeline(plan.pipeline) ?? noopPipelineMetrics;
 * pm.operator('filter-valid').batch(100, 97, 0.4); // does nothing
 * ```
 */
export const noopPipelineMetrics: PipelineMetrics = {
  pipeline: '',
  operator: () => noopOperator,
  latency: () => noopLatency,
  deadLetters() {},
  qualityChecks() {},
  checkpointCompleted() {},
  checkpointFailed() {},
  viewUpdated() {},
  registerLagSource: () => () => {},
};
