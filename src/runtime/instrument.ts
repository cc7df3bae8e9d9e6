import { type Plan, inputsOf } from '../plan/plan.js';
import { type LatencyRecorder, type OperatorMetrics, type PipelineMetrics, noopPipelineMetrics } from '../observe/pipeline-metrics.js';
import type { Batch, Edge, Operator } from './batch.js';

/** Live counters of one operator (a fused chain counts as its first node's operator). */
export interface OperatorCounters {
  readonly name: string;
  readonly kind: string;
  readonly inputs: readonly string[];
  /** Sources: the topic read, and whether it is read as a stream or a table. */
  topic?: string;
  role?: 'stream' | 'table';
  recordsIn: number;
  recordsOut: number;
  batches: number;
  /** Time spent in the operator itself, its downstream excluded (ms). */
  busyMs: number;
  errors: number;
  lateRecords: number;
  watermarkMs: number;
}

/** What `PipelineStats.describe` returns (the `/v1/pipelines` items, without lag, which needs the log). */
export interface PipelineDescription {
  readonly name: string;
  readonly status: string;
  readonly failure?: { code: string; message: string };
  readonly nodes: readonly {
    readonly name: string;
    readonly kind: string;
    readonly inputs: readonly string[];
    readonly topic?: string;
    readonly role?: 'stream' | 'table';
    readonly recordsIn: number;
    readonly recordsOut: number;
    readonly recordsPerS: number;
    readonly batches: number;
    readonly busyMs: number;
    readonly errors: number;
    readonly lateRecords: number;
    readonly watermarkMs: number | null;
    readonly watermarkLagMs: number | null;
    /** Event time to result, at sinks: p50/p99 of recent results (null elsewhere or before any). */
    readonly latencyMs: { p50: number; p99: number } | null;
  }[];
  readonly deadLetters: readonly { topic: string; reason: string; count: number }[];
  /** Ingest (HTTP, `freshet.ingest.ms`) → the round's outputs flushed to their topics: p50/p99 of recent samples. */
  readonly ingestLatencyMs: { p50: number; p99: number } | null;
}

/** How many recent latencies each sink keeps for percentiles (a ring; older ones are overwritten). */
const LATENCY_RING = 4096;

/**
 * A pipeline's live statistics, kept by the runtime with plain counters (no allocation on the hot path)
 * and read by whoever asks: the `/v1/pipelines` endpoint and the dashboard read `describe()`; Prometheus
 * metrics get the same numbers per batch through `PipelineMetrics`.
 */
export class PipelineStats {
  readonly operators = new Map<string, OperatorCounters>();
  /** Recent event-time latencies (result time - event time) at each sink, in ms. */
  private readonly latencies = new Map<string, { ring: Float64Array; next: number; filled: number }>();
  status: 'starting' | 'running' | 'caught-up' | 'stopped' | 'failed' = 'starting';
  /** Set when the pipeline failed: the error's code and message. */
  failure: { code: string; message: string } | null = null;

  /** Dead letters since start, by `topic \u0000 reason code`. */
  readonly deadLetters = new Map<string, number>();
  private lastSample: { atMs: number; recordsIn: Map<string, number>; rates: Map<string, number> } | null = null;

  constructor(readonly pipeline: string) {}

  countDeadLetter(topic: string, code: string): void {
    const id = `${topic}\u0000${code}`;
    this.deadLetters.set(id, (this.deadLetters.get(id) ?? 0) + 1);
  }

  /**
   * The pipeline as the dashboard shows it: its operators with their counters, input rates (records/s
   * since the previous call at least 500 ms ago), watermark lag and sink latencies.
   */
  describe(nowMs: number): PipelineDescription {
    let sample = this.lastSample;
    if (sample === null || nowMs - sample.atMs >= 500) {
      const rates = new Map<string, number>();
      const recordsIn = new Map<string, number>();
      for (const c of this.operators.values()) {
        recordsIn.set(c.name, c.recordsIn);
        const before = sample?.recordsIn.get(c.name);
        rates.set(c.name, sample === null || before === undefined ? 0 : ((c.recordsIn - before) * 1000) / (nowMs - sample.atMs));
      }
      sample = this.lastSample = { atMs: nowMs, recordsIn, rates };
    }
    const rates = sample.rates;
    return {
      name: this.pipeline,
      status: this.status,
      ...(this.failure ? { failure: this.failure } : {}),
      nodes: [...this.operators.values()].map((c) => ({
        name: c.name,
        kind: c.kind,
        inputs: c.inputs,
        ...(c.topic !== undefined ? { topic: c.topic, role: c.role } : {}),
        recordsIn: c.recordsIn,
        recordsOut: c.recordsOut,
        recordsPerS: rates.get(c.name) ?? 0,
        batches: c.batches,
        busyMs: c.busyMs,
        errors: c.errors,
        lateRecords: c.lateRecords,
        watermarkMs: Number.isFinite(c.watermarkMs) ? c.watermarkMs : null,
        watermarkLagMs: Number.isFinite(c.watermarkMs) ? nowMs - c.watermarkMs : null,
        latencyMs: this.latencyPercentiles(c.name),
      })),
      ingestLatencyMs: this.latencyPercentiles('outputs-flushed'),
      deadLetters: [...this.deadLetters].map(([id, count]) => {
        const [topic, reason] = id.split('\u0000') as [string, string];
        return { topic, reason, count };
      }),
    };
  }

  counters(name: string, kind: string, inputs: readonly string[]): OperatorCounters {
    let c = this.operators.get(name);
    if (c === undefined) {
      c = { name, kind, inputs, recordsIn: 0, recordsOut: 0, batches: 0, busyMs: 0, errors: 0, lateRecords: 0, watermarkMs: Number.NEGATIVE_INFINITY };
      this.operators.set(name, c);
    }
    return c;
  }

  /** Records `nowMs - timestamps[i]` for a sink's batch. */
  recordLatencies(sink: string, nowMs: number, timestamps: readonly number[]): void {
    let l = this.latencies.get(sink);
    if (l === undefined) this.latencies.set(sink, (l = { ring: new Float64Array(LATENCY_RING), next: 0, filled: 0 }));
    const { ring } = l;
    let next = l.next;
    for (let i = 0; i < timestamps.length; i++) {
      ring[next] = nowMs - timestamps[i]!;
      next = next + 1 === LATENCY_RING ? 0 : next + 1;
    }
    l.next = next;
    l.filled = Math.min(LATENCY_RING, l.filled + timestamps.length);
  }

  /** p50/p99 of a sink's recent latencies, or null before any result. */
  latencyPercentiles(sink: string): { p50: number; p99: number } | null {
    const l = this.latencies.get(sink);
    if (l === undefined || l.filled === 0) return null;
    const sorted = l.ring.slice(0, l.filled).sort();
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return { p50: at(0.5), p99: at(0.99) };
  }
}

/**
 * Wraps every edge of a compiled graph so each operator's batches are counted and timed, for
 * `PipelineStats` and `PipelineMetrics`: one wrapper call and two clock reads per batch and edge, nothing
 * per record (but sinks' latencies, one subtraction per record).
 */
export function instrumentGraph(
  plan: Plan,
  operators: ReadonlyMap<string, Operator>,
  stats: PipelineStats,
  metrics: PipelineMetrics = noopPipelineMetrics,
  nowMs: () => number,
): void {
  // A fused chain runs several plan nodes in one operator: count it once, under its first node's name.
  const nameOf = new Map<Operator, string>();
  for (const node of plan.nodes) {
    const op = operators.get(node.name)!;
    if (!nameOf.has(op)) nameOf.set(op, node.name);
  }
  const countersOf = new Map<Operator, OperatorCounters>();
  const metricsOf = new Map<Operator, OperatorMetrics>();
  const sinkKinds = new Set(['topicSink', 'viewSink', 'collectSink']);
  const sinks = new Set<Operator>();
  for (const node of plan.nodes) {
    const op = operators.get(node.name)!;
    if (nameOf.get(op) !== node.name) continue;
    const counters = stats.counters(node.name, node.kind, inputsOf(node).map((i) => nameOf.get(operators.get(i)!) ?? i));
    if (node.kind === 'source') {
      counters.topic = node.topic;
      counters.role = node.role;
    }
    countersOf.set(op, counters);
    metricsOf.set(op, metrics.operator(node.name));
    if (sinkKinds.has(node.kind)) sinks.add(op);
  }
  const timer = { nestedMs: 0 };
  for (const [op, from] of countersOf) {
    const wrap = (edges: Edge[], isOutput: boolean): void => {
      for (let i = 0; i < edges.length; i++) {
        const edge = edges[i]!;
        if (edge.operator instanceof MeteredInput) continue;
        const target = edge.operator;
        const to = countersOf.get(target);
        if (to === undefined) continue;
        const latency = sinks.has(target) ? { stats, sink: to.name, recorder: metrics.latency(to.name, 'event') } : null;
        edges[i] = { operator: new MeteredInput(target, isOutput ? from : null, to, metricsOf.get(target)!, latency, timer, nowMs), input: edge.input };
      }
    };
    wrap(op.outputs, true);
    // Late outputs: their records are counted by the operator itself (lateRecordCount), not as output.
    const late = (op as { lateOutputs?: Edge[] }).lateOutputs;
    if (late !== undefined) wrap(late, false);
  }
}

/** An edge's far end, counting and timing what goes through it. */
class MeteredInput implements Operator {
  readonly outputs: Edge[] = [];

  constructor(
    private readonly target: Operator,
    /** The upstream operator's counters; null on a late-output edge (late records are not its output). */
    private readonly from: OperatorCounters | null,
    private readonly to: OperatorCounters,
    private readonly metrics: OperatorMetrics,
    private readonly latency: { stats: PipelineStats; sink: string; recorder: LatencyRecorder } | null,
    /** Shared by all wrappers: the inclusive time of pushes nested in the current one. */
    private readonly timer: { nestedMs: number },
    private readonly nowMs: () => number,
  ) {}

  get name(): string {
    return this.target.name;
  }

  push(batch: Batch, input: number): void {
    const n = batch.values.length;
    if (this.from !== null) this.from.recordsOut += n;
    const to = this.to;
    to.recordsIn += n;
    to.batches++;
    if (this.latency !== null) {
      const now = this.nowMs();
      this.latency.stats.recordLatencies(this.latency.sink, now, batch.timestamps);
      this.latency.recorder.observeSince(now, batch.timestamps, 0, n);
    }
    const outBefore = to.recordsOut;
    const target = this.target as { lateRecordCount?: number };
    const lateBefore = target.lateRecordCount;
    const saved = this.timer.nestedMs;
    this.timer.nestedMs = 0;
    const start = performance.now();
    this.target.push(batch, input);
    const inclusive = performance.now() - start;
    const self = inclusive - this.timer.nestedMs;
    this.timer.nestedMs = saved + inclusive;
    to.busyMs += self;
    this.metrics.batch(n, to.recordsOut - outBefore, self);
    if (lateBefore !== undefined && target.lateRecordCount! > lateBefore) {
      to.lateRecords += target.lateRecordCount! - lateBefore;
      this.metrics.lateEvents(target.lateRecordCount! - lateBefore, 'side-output');
    }
  }

  watermark(watermarkMs: number, input: number): void {
    this.target.watermark(watermarkMs, input);
    if (watermarkMs > this.to.watermarkMs) {
      this.to.watermarkMs = watermarkMs;
      this.metrics.watermark(watermarkMs);
    }
  }
}
