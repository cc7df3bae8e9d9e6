import { collectDefaultMetrics, Registry } from 'prom-client';
import { type Clock, systemClock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import {
  type AgeChild,
  AgeGaugeFamily,
  type CounterChild,
  CounterFamily,
  GaugeFamily,
  type GaugeChild,
  type HistogramChild,
  HistogramFamily,
  registerFamily,
} from './families.js';
import { ObserveLimits } from './limits.js';
import type {
  LagSource,
  LateHandling,
  LatencyOrigin,
  LatencyRecorder,
  OperatorMetrics,
  PartitionLag,
  PipelineMetrics,
} from './pipeline-metrics.js';

/**
 * Names of every metric family Freshet exports (see docs/observability.md for labels and meaning).
 *
 * @example
 * ```ts
 * const rule = { name: 'Lag', condition: { kind: 'threshold', metric: MetricNames.consumerLagRecords, op: '>', value: 1e4 } };
 * ```
 */
export const MetricNames = {
  recordsIn: 'freshet_operator_records_in_total',
  recordsOut: 'freshet_operator_records_out_total',
  operatorErrors: 'freshet_operator_errors_total',
  batchDuration: 'freshet_operator_batch_duration_seconds',
  lateEvents: 'freshet_late_events_total',
  watermarkLag: 'freshet_watermark_lag_seconds',
  endToEndLatency: 'freshet_end_to_end_latency_seconds',
  eventTimeLatency: 'freshet_event_time_latency_seconds',
  consumerLagRecords: 'freshet_consumer_lag_records',
  consumerLagSeconds: 'freshet_consumer_lag_seconds',
  lagSourceFailures: 'freshet_lag_source_failures_total',
  deadLetters: 'freshet_dead_letters_total',
  qualityChecks: 'freshet_quality_checks_total',
  checkpointDuration: 'freshet_checkpoint_duration_seconds',
  checkpointSyncDuration: 'freshet_checkpoint_sync_duration_seconds',
  checkpointSize: 'freshet_checkpoint_size_bytes',
  checkpoints: 'freshet_checkpoints_total',
  viewFreshness: 'freshet_view_freshness_seconds',
  ingestEvents: 'freshet_ingest_events_total',
  httpRequests: 'freshet_http_requests_total',
  httpDuration: 'freshet_http_request_duration_seconds',
  seriesOverflow: 'freshet_metric_series_overflow_total',
} as const;

/** Buckets (seconds) of the end-to-end latency histograms: 1 ms to 1 h, since event-time latency includes window sizes. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];
/** Buckets (seconds) of operator batch times: 0.1 ms to 10 s. */
export const BATCH_BUCKETS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Buckets (seconds) of HTTP request times. */
export const HTTP_BUCKETS_SECONDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Buckets (seconds) of checkpoint times. */
export const CHECKPOINT_BUCKETS_SECONDS: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Options of `new FreshetMetrics()`. */
export interface MetricsOptions {
  /** Source of "now" for ages (watermark lag, view freshness). Default the system clock. */
  readonly clock?: Clock;
  /** Also export prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). Default false. */
  readonly processMetrics?: boolean;
  /** Cardinality bound per family (default `ObserveLimits.maxSeriesPerFamily`). */
  readonly maxSeriesPerFamily?: number;
  /** Bound on one lag source's time at scrape (default `ObserveLimits.lagSourceTimeoutMs`). */
  readonly lagSourceTimeoutMs?: number;
}

interface RegisteredLagSource {
  readonly pipeline: string;
  readonly source: LagSource;
}

const MS_TO_S = 0.001;

/**
 * The metrics of one Freshet instance: a fresh prom-client `Registry` (never the global one, so two
 * instances in one process, or tests, never share series) with every family the issue lists, plus
 * per-pipeline reporters (`pipeline(name)`) for the runtime.
 *
 * @example
 * ```ts
 * const metrics = new FreshetMetrics({ processMetrics: true });
 * const pm = metrics.pipeline('revenue');          // give this to the runtime
 * pm.operator('window').batch(4096, 12, 1.8);
 * const text = await metrics.registry.metrics();   // Prometheus text, content type metrics.registry.contentType
 * ```
 */
export class FreshetMetrics {
  /** The registry `GET /metrics` serves; register more metrics on it freely. */
  readonly registry: Registry;
  readonly clock: Clock;
  /** The families, for direct use (tests, the dashboard) and for other subsystems' reporters. */
  readonly families;
  private readonly pipelines = new Map<string, PipelineReporter>();
  private readonly lagSources = new Map<number, RegisteredLagSource>();
  private nextLagSourceId = 0;
  private lagInFlight: Promise<void> | null = null;
  private readonly lagSourceTimeoutMs: number;
  private readonly ingestChildren = new Map<string, { readonly accepted: CounterChild; readonly rejected: CounterChild }>();
  private readonly httpChildren = new Map<string, { readonly count: CounterChild; readonly duration: HistogramChild }>();

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    this.clock = options.clock ?? systemClock;
    this.lagSourceTimeoutMs = options.lagSourceTimeoutMs ?? ObserveLimits.lagSourceTimeoutMs;
    const maxSeries = options.maxSeriesPerFamily ?? ObserveLimits.maxSeriesPerFamily;
    const overflow = new CounterFamily({ name: MetricNames.seriesOverflow, help: 'Label combinations collapsed into the _overflow series because a family reached its series bound.', labelNames: ['metric'] });
    const onOverflow = (family: string): void => overflow.child(family).inc();
    const common = { maxSeries, onOverflow };
    const r = this.registry;
    const po = ['pipeline', 'operator'];
    this.families = {
      recordsIn: registerFamily(r, new CounterFamily({ ...common, name: MetricNames.recordsIn, help: 'Records an operator received.', labelNames: po })),
      recordsOut: registerFamily(r, new CounterFamily({ ...common, name: MetricNames.recordsOut, help: 'Records an operator emitted.', labelNames: po })),
      operatorErrors: registerFamily(r, new CounterFamily({ ...common, name: MetricNames.operatorErrors, help: 'Records that failed in an operator, by error code.', labelNames: [...po, 'code'] })),
      batchDuration: registerFamily(
        r,
        new HistogramFamily({ ...common, name: MetricNames.batchDuration, help: 'Time an operator spent on one batch.', labelNames: po, buckets: BATCH_BUCKETS_SECONDS }),
      ),
      lateEvents: registerFamily(
        r,
        new CounterFamily({ ...common, name: MetricNames.lateEvents, help: 'Events behind the watermark: accepted (within allowed lateness), side-output or dropped.', labelNames: [...po, 'handling'] }),
      ),
      watermarkLag: registerFamily(
        r,
        new AgeGaugeFamily({ ...common, name: MetricNames.watermarkLag, help: "How far an operator's watermark is behind the clock.", labelNames: po }, this.clock),
      ),
      endToEndLatency: registerFamily(
        r,
        new HistogramFamily({
          ...common,
          name: MetricNames.endToEndLatency,
          help: 'Ingest time to result visible at a stage (view or sink).',
          labelNames: ['pipeline', 'stage'],
          buckets: LATENCY_BUCKETS_SECONDS,
        }),
      ),
      eventTimeLatency: registerFamily(
        r,
        new HistogramFamily({
          ...common,
          name: MetricNames.eventTimeLatency,
          help: 'Event time to result visible at a stage (view or sink).',
          labelNames: ['pipeline', 'stage'],
          buckets: LATENCY_BUCKETS_SECONDS,
        }),
      ),
      consumerLagRecords: registerFamily(
        r,
        new GaugeFamily({
          ...common,
          name: MetricNames.consumerLagRecords,
          help: "Records between a pipeline's position and the end of a source partition (computed when scraped).",
          labelNames: ['pipeline', 'topic', 'partition'],
          collect: () => this.collectLag(),
        }),
      ),
      consumerLagSeconds: registerFamily(
        r,
        new GaugeFamily({
          ...common,
          name: MetricNames.consumerLagSeconds,
          help: 'Age of the oldest record a pipeline has not consumed in a source partition (computed when scraped).',
          labelNames: ['pipeline', 'topic', 'partition'],
          collect: () => this.collectLag(),
        }),
      ),
      lagSourceFailures: registerFamily(
        r,
        new CounterFamily({
          ...common,
          name: MetricNames.lagSourceFailures,
          help: 'Lag sources that failed or timed out during a scrape.',
          labelNames: ['pipeline'],
          // Joins the scrape's lag run, so this scrape already counts its failures.
          collect: () => this.collectLag(),
        }),
      ),
      deadLetters: registerFamily(
        r,
        new CounterFamily({ ...common, name: MetricNames.deadLetters, help: 'Records sent to a dead-letter topic, by stage and reason (code or check).', labelNames: ['pipeline', 'stage', 'reason'] }),
      ),
      qualityChecks: registerFamily(
        r,
        new CounterFamily({ ...common, name: MetricNames.qualityChecks, help: 'Data-quality check outcomes (pass/fail) per check and stage.', labelNames: ['pipeline', 'stage', 'check', 'outcome'] }),
      ),
      checkpointDuration: registerFamily(
        r,
        new HistogramFamily({ ...common, name: MetricNames.checkpointDuration, help: 'Time a checkpoint took.', labelNames: ['pipeline'], buckets: CHECKPOINT_BUCKETS_SECONDS }),
      ),
      checkpointSyncDuration: registerFamily(
        r,
        new HistogramFamily({
          ...common,
          name: MetricNames.checkpointSyncDuration,
          help: 'Part of a checkpoint that holds up processing (the cut: flushing and encoding state); the rest is written in the background.',
          labelNames: ['pipeline'],
          buckets: CHECKPOINT_BUCKETS_SECONDS,
        }),
      ),
      checkpointSize: registerFamily(r, new GaugeFamily({ ...common, name: MetricNames.checkpointSize, help: 'Size of the last completed checkpoint.', labelNames: ['pipeline'] })),
      checkpoints: registerFamily(r, new CounterFamily({ ...common, name: MetricNames.checkpoints, help: 'Checkpoints, by outcome (completed/failed).', labelNames: ['pipeline', 'outcome'] })),
      viewFreshness: registerFamily(
        r,
        new AgeGaugeFamily({ ...common, name: MetricNames.viewFreshness, help: 'Time since a view last received results.', labelNames: ['pipeline', 'view'] }, this.clock),
      ),
      ingestEvents: registerFamily(
        r,
        new CounterFamily({ ...common, name: MetricNames.ingestEvents, help: 'Events received by HTTP ingest, by topic and outcome (accepted, rejected).', labelNames: ['topic', 'outcome'] }),
      ),
      httpRequests: registerFamily(r, new CounterFamily({ ...common, name: MetricNames.httpRequests, help: 'HTTP requests answered, by method, route and status.', labelNames: ['method', 'route', 'status'] })),
      httpDuration: registerFamily(
        r,
        new HistogramFamily({ ...common, name: MetricNames.httpDuration, help: 'HTTP request time, by method, route and status.', labelNames: ['method', 'route', 'status'], buckets: HTTP_BUCKETS_SECONDS }),
      ),
      seriesOverflow: registerFamily(r, overflow),
    };
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /** The reporter of one pipeline (created on first use, then the same object). */
  pipeline(name: string): PipelineMetrics {
    let reporter = this.pipelines.get(name);
    if (reporter === undefined) {
      reporter = new PipelineReporter(this, name);
      this.pipelines.set(name, reporter);
    }
    return reporter;
  }

  /** Flat form of `pipeline(p).operator(o).batch(...)` (one Map lookup per call: fine per batch). */
  operatorBatch(pipeline: string, operator: string, recordsIn: number, recordsOut: number, durationMs: number): void {
    this.pipeline(pipeline).operator(operator).batch(recordsIn, recordsOut, durationMs);
  }

  /** Flat form of `pipeline(p).latency(stage, from).observe(valuesMs)`. */
  observeLatencies(pipeline: string, stage: string, from: LatencyOrigin, valuesMs: ArrayLike<number>): void {
    this.pipeline(pipeline).latency(stage, from).observe(valuesMs);
  }

  /**
   * Events one ingest request stored (`accepted`) and dead-lettered (`rejected`) for `topic`: the
   * ingest stage's throughput (the Ingestor calls it once per request).
   */
  ingestEvents(topic: string, accepted: number, rejected: number): void {
    let children = this.ingestChildren.get(topic);
    if (children === undefined) {
      children = { accepted: this.families.ingestEvents.child(topic, 'accepted'), rejected: this.families.ingestEvents.child(topic, 'rejected') };
      if (this.ingestChildren.size < ObserveLimits.maxSeriesPerFamily) this.ingestChildren.set(topic, children);
    }
    children.accepted.inc(accepted);
    children.rejected.inc(rejected);
  }

  /** One answered HTTP request (the observe routes' `onResponse` hook calls it). */
  httpRequest(method: string, route: string, status: number, durationMs: number): void {
    const key = `${method} ${route} ${status}`;
    let children = this.httpChildren.get(key);
    if (children === undefined) {
      const s = String(status);
      children = { count: this.families.httpRequests.child(method, route, s), duration: this.families.httpDuration.child(method, route, s) };
      if (this.httpChildren.size < ObserveLimits.maxSeriesPerFamily) this.httpChildren.set(key, children);
    }
    children.count.inc();
    children.duration.observe(durationMs * MS_TO_S);
  }

  /** Adds a lag source for `pipeline` (see `PipelineMetrics.registerLagSource`). Returns its remover. */
  registerLagSource(pipeline: string, source: LagSource): () => void {
    const id = this.nextLagSourceId++;
    this.lagSources.set(id, { pipeline, source });
    return () => {
      this.lagSources.delete(id);
    };
  }

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  // Both lag gauges collect in the same scrape (the Registry starts every `get()` before awaiting any),
  // so the second one joins the first one's in-flight run instead of asking every source twice.
  private collectLag(): Promise<void> {
    if (this.lagInFlight !== null) return this.lagInFlight;
    const run = this.runLagSources().finally(() => {
      this.lagInFlight = null;
    });
    this.lagInFlight = run;
    return run;
  }

  private async runLagSources(): Promise<void> {
    const sources = [...this.lagSources.values()];
    const results = await Promise.all(sources.map((s) => this.callLagSource(s)));
    const records = this.families.consumerLagRecords;
    const seconds = this.families.consumerLagSeconds;
    // Rebuilt from scratch each scrape: a partition that is no longer consumed disappears.
    records.clear();
    seconds.clear();
    for (let i = 0; i < sources.length; i++) {
      const lags = results[i];
      if (lags === null || lags === undefined) continue;
      const pipeline = sources[i]!.pipeline;
      for (const lag of lags) {
        const partition = String(lag.partition);
        records.child(pipeline, lag.topic, partition).set(lag.lagRecords);
        if (lag.lagSeconds !== undefined && Number.isFinite(lag.lagSeconds)) seconds.child(pipeline, lag.topic, partition).set(lag.lagSeconds);
      }
    }
  }

  private async callLagSource(s: RegisteredLagSource): Promise<readonly PartitionLag[] | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.lagSourceTimeoutMs);
      timer.unref();
    });
    try {
      const result = await Promise.race([Promise.resolve().then(s.source), timeout]);
      if (result === null) this.families.lagSourceFailures.child(s.pipeline).inc();
      return result;
    } catch {
      this.families.lagSourceFailures.child(s.pipeline).inc();
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Series of one operator, bound once. */
class OperatorReporter implements OperatorMetrics {
  private readonly recordsIn: CounterChild;
  private readonly recordsOut: CounterChild;
  private readonly duration: HistogramChild;
  private readonly wm: AgeChild;
  private readonly errorsByCode = new Map<string, CounterChild>();
  private readonly lateByHandling = new Map<string, CounterChild>();

  constructor(
    private readonly metrics: FreshetMetrics,
    private readonly pipeline: string,
    private readonly name: string,
  ) {
    const f = metrics.families;
    this.recordsIn = f.recordsIn.child(pipeline, name);
    this.recordsOut = f.recordsOut.child(pipeline, name);
    this.duration = f.batchDuration.child(pipeline, name);
    this.wm = f.watermarkLag.child(pipeline, name);
  }

  batch(recordsIn: number, recordsOut: number, durationMs: number): void {
    this.recordsIn.inc(recordsIn);
    this.recordsOut.inc(recordsOut);
    this.duration.observe(durationMs * MS_TO_S);
  }

  errors(count: number, code: string): void {
    let child = this.errorsByCode.get(code);
    if (child === undefined) {
      child = this.metrics.families.operatorErrors.child(this.pipeline, this.name, code);
      this.errorsByCode.set(code, child);
    }
    child.inc(count);
  }

  lateEvents(count: number, handling: LateHandling): void {
    let child = this.lateByHandling.get(handling);
    if (child === undefined) {
      child = this.metrics.families.lateEvents.child(this.pipeline, this.name, handling);
      this.lateByHandling.set(handling, child);
    }
    child.inc(count);
  }

  watermark(watermarkMs: number): void {
    this.wm.set(watermarkMs);
  }
}

class LatencyReporter implements LatencyRecorder {
  constructor(private readonly histogram: HistogramChild) {}
  observe(valuesMs: ArrayLike<number>, start = 0, end = valuesMs.length): void {
    this.histogram.observeMany(valuesMs, MS_TO_S, start, end);
  }
  observeSince(nowMs: number, startTimesMs: ArrayLike<number>, start = 0, end = startTimesMs.length): void {
    this.histogram.observeAgesMany(nowMs, startTimesMs, MS_TO_S, start, end);
  }
}

/** `FreshetMetrics.pipeline(name)`: a PipelineMetrics whose children are cached per name. */
class PipelineReporter implements PipelineMetrics {
  private readonly operators = new Map<string, OperatorReporter>();
  private readonly latencies = new Map<string, LatencyReporter>();
  private readonly counters = new Map<string, CounterChild>();
  private readonly views = new Map<string, AgeChild>();
  /** Created on the first checkpoint, so pipelines without checkpoints export no checkpoint series. */
  private checkpointSeries: {
    readonly duration: HistogramChild;
    readonly syncDuration: HistogramChild;
    readonly size: GaugeChild;
    readonly completed: CounterChild;
    readonly failed: CounterChild;
  } | null = null;

  constructor(
    private readonly metrics: FreshetMetrics,
    readonly pipeline: string,
  ) {}

  operator(name: string): OperatorMetrics {
    let op = this.operators.get(name);
    if (op === undefined) {
      op = new OperatorReporter(this.metrics, this.pipeline, name);
      this.operators.set(name, op);
    }
    return op;
  }

  latency(stage: string, from: LatencyOrigin): LatencyRecorder {
    const key = `${from}\u0000${stage}`;
    let rec = this.latencies.get(key);
    if (rec === undefined) {
      const family = from === 'ingest' ? this.metrics.families.endToEndLatency : from === 'event' ? this.metrics.families.eventTimeLatency : null;
      if (family === null) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `latency origin must be 'ingest' or 'event', got '${String(from)}'`);
      rec = new LatencyReporter(family.child(this.pipeline, stage));
      this.latencies.set(key, rec);
    }
    return rec;
  }

  deadLetters(stage: string, reason: string, count: number): void {
    this.counter(`d\u0000${stage}\u0000${reason}`, () => this.metrics.families.deadLetters.child(this.pipeline, stage, reason)).inc(count);
  }

  qualityChecks(stage: string, check: string, passed: number, failed: number): void {
    const f = this.metrics.families.qualityChecks;
    if (passed > 0) this.counter(`q\u0000${stage}\u0000${check}\u0000pass`, () => f.child(this.pipeline, stage, check, 'pass')).inc(passed);
    if (failed > 0) this.counter(`q\u0000${stage}\u0000${check}\u0000fail`, () => f.child(this.pipeline, stage, check, 'fail')).inc(failed);
  }

  checkpointCompleted(durationMs: number, sizeBytes: number, syncMs = durationMs): void {
    const c = this.checkpoints();
    c.completed.inc();
    c.duration.observe(durationMs * MS_TO_S);
    c.syncDuration.observe(syncMs * MS_TO_S);
    c.size.set(sizeBytes);
  }

  checkpointFailed(durationMs: number): void {
    const c = this.checkpoints();
    c.failed.inc();
    c.duration.observe(durationMs * MS_TO_S);
  }

  private checkpoints(): NonNullable<PipelineReporter['checkpointSeries']> {
    if (this.checkpointSeries === null) {
      const f = this.metrics.families;
      this.checkpointSeries = {
        duration: f.checkpointDuration.child(this.pipeline),
        syncDuration: f.checkpointSyncDuration.child(this.pipeline),
        size: f.checkpointSize.child(this.pipeline),
        // Both outcomes start at 0, so rate() and absent-style alerts see the series from the first checkpoint.
        completed: f.checkpoints.child(this.pipeline, 'completed'),
        failed: f.checkpoints.child(this.pipeline, 'failed'),
      };
    }
    return this.checkpointSeries;
  }

  viewUpdated(view: string, atMs: number): void {
    let child = this.views.get(view);
    if (child === undefined) {
      child = this.metrics.families.viewFreshness.child(this.pipeline, view);
      this.views.set(view, child);
    }
    child.set(atMs);
  }

  registerLagSource(source: LagSource): () => void {
    return this.metrics.registerLagSource(this.pipeline, source);
  }

  private counter(key: string, make: () => CounterChild): CounterChild {
    let child = this.counters.get(key);
    if (child === undefined) {
      child = make();
      // The cache is bounded like the families behind it; past the bound the lookup just repeats.
      if (this.counters.size < ObserveLimits.maxSeriesPerFamily) this.counters.set(key, child);
    }
    return child;
  }
}
