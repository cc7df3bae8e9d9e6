import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { EmitMode, KeyValue, Plan, PlanAggregator, PlanNode, TopicFormat, WindowSpec } from '../plan/plan.js';
import { QUALITY_ACTIONS, type QualityAction, type QualityCheck } from '../plan/quality-check.js';
import { type AggregatorSpec, type ViewDefinition, type ViewKind, viewTopic } from '../plan/view-update.js';
import { specOf } from './aggregators/spec.js';
import { type Aggregator, type AnyAggregator, type OutputOf, aggregate as combine, isAggregator } from './aggregators/index.js';

/** Options every operator takes: its stable name (the key for its state, checkpoints and metrics). */
export interface OperatorOptions {
  readonly name?: string;
}

/** One window's aggregate for one key, as window operators emit it. */
export interface WindowResult<K extends KeyValue, R> {
  readonly key: K;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly value: R;
  /** False for an early result (emit mode `updates`); true once the watermark passed the window's end. */
  readonly final: boolean;
  /** Session windows only: this window was merged into another; readers should delete it (value is null). */
  readonly retracted?: true;
}

/**
 * The mutable graph behind a pipeline's immutable stream values. Streams share it: branching a stream
 * (using it twice) adds two children to the same node.
 */
export class PlanGraph {
  readonly nodes: PlanNode[] = [];
  private readonly counters = new Map<string, number>();

  constructor(readonly pipeline: string) {}

  /** A stable default name: `<kind>-<n>`, numbered per kind in definition order (as Kafka Streams does). */
  autoName(kind: string): string {
    const n = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, n);
    return `${kind}-${n}`;
  }

  add<N extends PlanNode>(node: N): N {
    if (this.nodes.some((n) => n.name === node.name)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `pipeline '${this.pipeline}' already has an operator named '${node.name}'`);
    }
    this.nodes.push(node);
    return node;
  }

  toPlan(): Plan {
    return { pipeline: this.pipeline, nodes: [...this.nodes] };
  }
}

/**
 * A stream of values of type T, in event time. Immutable: each method returns a new stream.
 *
 * @example
 * ```ts
 * p.source<Order>('orders', { eventTime: (o) => o.ts })
 *   .filter((o) => o.status === 'paid')
 *   .map((o) => ({ customer: o.customerId, amount: o.amount }))
 *   .toTopic('paid-orders');
 * ```
 */
export class Stream<T> {
  constructor(
    protected readonly graph: PlanGraph,
    /** The node producing this stream. */
    readonly nodeName: string,
  ) {}

  /** Keeps the values for which `predicate` is true. */
  filter<S extends T>(predicate: (value: T) => value is S, options?: OperatorOptions): Stream<S>;
  filter(predicate: (value: T) => boolean, options?: OperatorOptions): Stream<T>;
  filter(predicate: (value: T) => boolean, options: OperatorOptions = {}): Stream<T> {
    const name = options.name ?? this.graph.autoName('filter');
    this.graph.add({ kind: 'filter', name, input: this.nodeName, fn: predicate as (v: unknown) => boolean });
    return new Stream<T>(this.graph, name);
  }

  /** Transforms each value (enrichment, projection). Keeps its event time. */
  map<U>(fn: (value: T) => U, options: OperatorOptions = {}): Stream<U> {
    const name = options.name ?? this.graph.autoName('map');
    this.graph.add({ kind: 'map', name, input: this.nodeName, fn: fn as (v: unknown) => unknown });
    return new Stream<U>(this.graph, name);
  }

  /** Turns each value into zero or more values, all with the input's event time. */
  flatMap<U>(fn: (value: T) => Iterable<U>, options: OperatorOptions = {}): Stream<U> {
    const name = options.name ?? this.graph.autoName('flatMap');
    this.graph.add({ kind: 'flatMap', name, input: this.nodeName, fn: fn as (v: unknown) => Iterable<unknown> });
    return new Stream<U>(this.graph, name);
  }

  /**
   * Groups the stream by a key: the values of one key go to one task, in order (a repartition, as
   * Kafka Streams does through an internal topic when several workers run).
   */
  keyBy<K extends KeyValue>(keyOf: (value: T) => K, options: OperatorOptions = {}): KeyedStream<K, T> {
    const name = options.name ?? this.graph.autoName('keyBy');
    this.graph.add({ kind: 'keyBy', name, input: this.nodeName, fn: keyOf as (v: unknown) => KeyValue });
    return new KeyedStream<K, T>(this.graph, name);
  }

  /** Interleaves this stream with others of the same type; the watermark is the minimum of all inputs. */
  merge(others: readonly Stream<T>[], options: OperatorOptions = {}): Stream<T> {
    for (const o of others) {
      if (o.graph !== this.graph) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'cannot merge streams of different pipelines');
    }
    const name = options.name ?? this.graph.autoName('merge');
    this.graph.add({ kind: 'merge', name, inputs: [this.nodeName, ...others.map((o) => o.nodeName)] });
    return new Stream<T>(this.graph, name);
  }

  /**
   * Splits the stream by predicates: value goes to the first branch whose predicate holds; values matching
   * none go to `otherwise` (side outputs, as Flink's).
   */
  branch<const B extends Record<string, (value: T) => boolean>>(branches: B, options: OperatorOptions = {}): { [P in keyof B]: Stream<T> } & { otherwise: Stream<T> } {
    const base = options.name ?? this.graph.autoName('branch');
    const out: Record<string, Stream<T>> = {};
    const previous: ((value: T) => boolean)[] = [];
    for (const [label, predicate] of Object.entries(branches)) {
      const earlier = [...previous];
      out[label] = this.filter((v) => predicate(v) && !earlier.some((p) => p(v)), { name: `${base}.${label}` });
      previous.push(predicate);
    }
    out.otherwise = this.filter((v) => !previous.some((p) => p(v)), { name: `${base}.otherwise` });
    return out as { [P in keyof B]: Stream<T> } & { otherwise: Stream<T> };
  }

  /**
   * Enriches each value with the table row of its key, as of the value's event time (inner: values without
   * a row are dropped; see `leftJoin`).
   *
   * @example
   * ```ts
   * clicks.join(campaigns, { key: (c) => c.adId }, (click, campaign) => ({ ...click, campaign: campaign.name }))
   * ```
   */
  join<K extends KeyValue, V, R>(table: Table<K, V>, on: { key: (value: T) => K }, join: (value: T, row: V) => R, options: OperatorOptions = {}): Stream<R> {
    return this.tableJoin(table, on.key, join as (value: T, row: V | null) => R, 'inner', options);
  }

  /** Like `join`, but values without a row are kept, with `row` null. */
  leftJoin<K extends KeyValue, V, R>(table: Table<K, V>, on: { key: (value: T) => K }, join: (value: T, row: V | null) => R, options: OperatorOptions = {}): Stream<R> {
    return this.tableJoin(table, on.key, join, 'left', options);
  }

  private tableJoin<K extends KeyValue, V, R>(table: Table<K, V>, key: (value: T) => K, join: (value: T, row: V | null) => R, type: 'inner' | 'left', options: OperatorOptions): Stream<R> {
    const name = options.name ?? this.graph.autoName(type === 'inner' ? 'join' : 'leftJoin');
    this.graph.add({
      kind: 'tableJoin',
      name,
      input: this.nodeName,
      table: table.nodeName,
      key: key as (v: unknown) => KeyValue,
      join: join as (v: unknown, row: unknown) => unknown,
      type,
      historyRetentionMs: table.historyRetentionMs,
    });
    return new Stream<R>(this.graph, name);
  }

  /**
   * Writes the values to a log topic (created if missing), JSON by default. Keyed streams write their
   * key as the record key; the record timestamp is the event time.
   */
  toTopic(topic: string, options: OperatorOptions & { format?: TopicFormat; partitions?: number } = {}): void {
    const name = options.name ?? this.graph.autoName('toTopic');
    this.graph.add({ kind: 'topicSink', name, input: this.nodeName, topic, format: options.format ?? 'json', partitions: options.partitions ?? 1 });
  }

  /**
   * A data-quality check on this stream (make checks with `checks.*`; see docs/quality.md). Records that
   * pass flow on unchanged. A failing record, by `action`: `dlq` (default) goes to the dead-letter topic
   * with its original bytes, the check's name, this stage and the reason; `warn` only counts it and flows
   * on; `fail` stops the pipeline with FRESHET_QUALITY_CHECK_FAILED. Window checks (volume, completeness)
   * raise metrics and events instead. `name` (default `expect-<n>`) names the check in metrics and headers.
   *
   * @example
   * ```ts
   * p.source<Order>('orders', { eventTime: 'ts' })
   *   .expect(checks.notNull('id', 'customer'), { name: 'ids-present' })
   *   .expect(checks.range('total', { min: 0 }), { name: 'total-non-negative' })
   *   .expect(checks.unique('id', { horizonMs: 3_600_000 }), { name: 'no-duplicates' })
   *   .expect(checks.volume({ windowMs: 60_000, min: 1, anomaly: true }), { name: 'orders-volume', action: 'warn' });
   * ```
   */
  expect(check: QualityCheck, options: OperatorOptions & { action?: QualityAction } = {}): Stream<T> {
    const action = options.action ?? 'dlq';
    if (!QUALITY_ACTIONS.includes(action)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `expect: action must be dlq, warn or fail, not '${String(action)}'`);
    const name = options.name ?? this.graph.autoName('expect');
    this.graph.add({ kind: 'expect', name, input: this.nodeName, check, action, stage: this.nodeName });
    return new Stream<T>(this.graph, name);
  }

  /**
   * Writes the values to a view, the serving side's read model (queried over HTTP, SQL and SSE; see
   * docs/api.md). Window results become one row per (key, window): `kv` keeps the latest per key,
   * `timeseries` one point per window, `table` a DuckDB table for SQL. Other values need a key: the
   * stream's key, or `options.key`. Updates go through the view's results topic (`freshet.view.<name>`),
   * so the query side can run in its own process and rebuild the view from the log; replays overwrite
   * rows instead of duplicating them.
   *
   * @example
   * ```ts
   * orders.keyBy((o) => o.region)
   *   .window(tumbling({ sizeMs: 60_000 }), { emit: 'updates' })
   *   .aggregate({ orders: count(), revenue: sum((o: Order) => o.amount) })
   *   .toView('revenue-per-minute', { kind: 'timeseries', retentionMs: 86_400_000 });
   * customers.toView('customer', { kind: 'kv', key: (c) => c.id });
   * ```
   */
  toView(viewName: string, options: OperatorOptions & { kind: ViewKind; key?: (value: T) => KeyValue; retentionMs?: number; partitions?: number }): void {
    if (!/^[a-zA-Z0-9._-]{1,200}$/.test(viewName)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid view name '${viewName}': use 1-200 of [a-zA-Z0-9._-]`);
    }
    if (!['kv', 'timeseries', 'table'].includes(options.kind)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `view '${viewName}': kind must be 'kv', 'timeseries' or 'table', not '${String(options.kind)}'`);
    }
    if (options.retentionMs !== undefined && !(Number.isSafeInteger(options.retentionMs) && options.retentionMs > 0)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `view '${viewName}': retentionMs must be a positive integer`);
    }
    const name = options.name ?? `toView-${viewName}`;
    const upstream = this.graph.nodes.find((n) => n.name === this.nodeName);
    const aggregator = upstream?.kind === 'windowAggregate' ? upstream.aggregator : null;
    const view: ViewDefinition = {
      name: viewName,
      kind: options.kind,
      pipeline: this.graph.pipeline,
      topic: viewTopic(viewName),
      ...(options.retentionMs !== undefined ? { retentionMs: options.retentionMs } : {}),
    };
    // Time series re-aggregate points on `step` from their accumulators: say which aggregator made them.
    const spec = aggregator !== null ? specOf(aggregator as AnyAggregator) : undefined;
    if (spec !== undefined) (view as { aggregator?: AggregatorSpec }).aggregator = spec;
    this.graph.add({
      kind: 'viewSink',
      name,
      input: this.nodeName,
      view,
      partitions: options.partitions ?? 1,
      key: (options.key as ((value: unknown) => KeyValue) | undefined) ?? null,
      aggregator,
    });
  }

  /**
   * Collects the values in memory under `sinkName`, for tests and (until views exist) for readers in the
   * same process. See `freshet/testing`.
   */
  collect(sinkName: string, options: OperatorOptions = {}): void {
    const name = options.name ?? `collect-${sinkName}`;
    this.graph.add({ kind: 'collectSink', name, input: this.nodeName, sinkName });
  }
}

/** A changelog topic read as a table (see `PipelineBuilder.table`). */
export class Table<K extends KeyValue, V> {
  declare readonly __types?: (key: K) => V;
  constructor(
    protected readonly graph: PlanGraph,
    readonly nodeName: string,
    readonly historyRetentionMs: number,
  ) {}
}

/** A stream grouped by key K: it can be windowed and aggregated per key. */
export class KeyedStream<K extends KeyValue, T> extends Stream<T> {
  /**
   * Joins with another keyed stream on the key: a value at time t meets the other stream's values of its
   * key with timestamps in [t - beforeMs, t + afterMs]. Values arriving after the watermark passed them
   * go to `lateRecords()` of the result.
   *
   * @example
   * ```ts
   * bids.intervalJoin(auctions, { beforeMs: 0, afterMs: 60_000 }, (bid, auction) => ({ ...bid, seller: auction.seller }))
   * ```
   */
  intervalJoin<U, R>(other: KeyedStream<K, U>, within: { beforeMs: number; afterMs: number }, join: (left: T, right: U) => R, options: OperatorOptions = {}): JoinedStream<R> {
    for (const [k, v] of Object.entries(within)) {
      if (!Number.isInteger(v) || v < 0) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `within.${k} must be a non-negative integer (ms), got ${v}`);
    }
    const name = options.name ?? this.graph.autoName('intervalJoin');
    this.graph.add({
      kind: 'intervalJoin',
      name,
      left: this.nodeName,
      right: other.nodeName,
      beforeMs: within.beforeMs,
      afterMs: within.afterMs,
      join: join as (l: unknown, r: unknown) => unknown,
    });
    return new JoinedStream<R>(this.graph, name);
  }

  /**
   * Defines windows over each key's values; aggregate them with `.aggregate(...)`.
   *
   * @example
   * ```ts
   * byCustomer.window(tumbling({ sizeMs: 60_000 }), { allowedLatenessMs: 5_000 }).aggregate({ n: count() })
   * ```
   */
  window(spec: WindowSpec, options: { allowedLatenessMs?: number; emit?: EmitMode } = {}): WindowedStream<K, T> {
    const allowedLatenessMs = options.allowedLatenessMs ?? 0;
    if (!Number.isInteger(allowedLatenessMs) || allowedLatenessMs < 0) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `allowedLatenessMs must be a non-negative integer, got ${allowedLatenessMs}`);
    }
    const emit = options.emit ?? 'final';
    if (emit !== 'final' && emit !== 'updates') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `emit must be 'final' or 'updates', got '${emit}'`);
    return new WindowedStream<K, T>(this.graph, this.nodeName, spec, allowedLatenessMs, emit);
  }
}

/** Windows of a keyed stream, waiting for an aggregation. */
export class WindowedStream<K extends KeyValue, T> {
  constructor(
    private readonly graph: PlanGraph,
    private readonly input: string,
    private readonly spec: WindowSpec,
    private readonly allowedLatenessMs: number,
    private readonly emit: EmitMode,
  ) {}

  /**
   * Aggregates each window with a mergeable aggregator, or with several at once (an object of them, whose
   * result is an object with the same keys).
   *
   * @example
   * ```ts
   * windowed.aggregate({ orders: count(), revenue: sum((o: Order) => o.amount) })
   * windowed.aggregate(approxDistinct((c: Click) => c.userId))
   * ```
   */
  aggregate<R>(aggregator: Aggregator<T, any, R>, options?: OperatorOptions): WindowedResults<K, T, R>;
  aggregate<S extends Record<string, Aggregator<T, any, any>>>(aggregators: S, options?: OperatorOptions): WindowedResults<K, T, { [P in keyof S]: OutputOf<S[P]> }>;
  aggregate(spec: AnyAggregator | Record<string, AnyAggregator>, options: OperatorOptions = {}): WindowedResults<K, T, unknown> {
    const aggregator = isAggregator(spec) ? spec : combine(spec as Record<string, AnyAggregator>);
    const name = options.name ?? this.graph.autoName('window');
    this.graph.add({
      kind: 'windowAggregate',
      name,
      input: this.input,
      window: this.spec,
      aggregator: aggregator as PlanAggregator,
      emit: this.emit,
      allowedLatenessMs: this.allowedLatenessMs,
    });
    return new WindowedResults<K, T, unknown>(this.graph, name);
  }
}

/** The results of a window aggregation; also gives access to the records that came too late. */
export class WindowedResults<K extends KeyValue, T, R> extends Stream<WindowResult<K, R>> {
  /** Records that arrived after their window's allowed lateness: never dropped unseen. */
  lateRecords(options: OperatorOptions = {}): Stream<T> {
    const name = options.name ?? `${this.nodeName}.late`;
    this.graph.add({ kind: 'lateOutput', name, input: this.nodeName });
    return new Stream<T>(this.graph, name);
  }
}

/** The result of an interval join; also gives access to the records that came too late to join. */
export class JoinedStream<R> extends Stream<R> {
  /** Records of either side that arrived after the watermark passed them: `{ side, value }`. */
  lateRecords(options: OperatorOptions = {}): Stream<{ side: 'left' | 'right'; value: unknown }> {
    const name = options.name ?? `${this.nodeName}.late`;
    this.graph.add({ kind: 'lateOutput', name, input: this.nodeName });
    return new Stream(this.graph, name);
  }
}
