import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { KeyValue, PipelineDefinition, TopicFormat, ValidateFn } from '../plan/plan.js';
import { type OperatorOptions, PlanGraph, Stream, Table } from './stream.js';

/** How a source finds each value's event time. */
export type EventTimeOption<T> = ((value: T) => number | string | Date) | (keyof T & string);

export interface SourceOptions<T> extends OperatorOptions {
  /** Validates (and types) each value; failures go to `<topic>.dlq` with the reason. Any Standard Schema (zod, valibot...). */
  readonly schema?: StandardSchemaV1<unknown, T>;
  /** How values are encoded in the topic. Default `json`. */
  readonly format?: TopicFormat;
  /** Event time of a value: a field name or a function (epoch ms, ISO-8601 string or Date). Default: the record timestamp. */
  readonly eventTime?: EventTimeOption<T>;
  /** How far out of order events may arrive: watermark = max event time seen - maxOutOfOrderMs. Default 0. */
  readonly maxOutOfOrderMs?: number;
  /** A partition without records for this long (processing time) stops holding the watermark back. Default 30 s. */
  readonly idleTimeoutMs?: number;
}

/** What `pipeline()` gives the definition function. */
export class PipelineBuilder {
  constructor(private readonly graph: PlanGraph) {}

  /**
   * Reads a topic as a stream of typed values.
   *
   * @example
   * ```ts
   * const orders = p.source('orders', { schema: Order, eventTime: 'ts', maxOutOfOrderMs: 5_000 });
   * ```
   */
  source<T = unknown>(topic: string, options: SourceOptions<T> = {}): Stream<T> {
    const name = options.name ?? `source-${topic}`;
    const maxOutOfOrderMs = options.maxOutOfOrderMs ?? 0;
    const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    for (const [k, v] of Object.entries({ maxOutOfOrderMs, idleTimeoutMs })) {
      if (!Number.isInteger(v) || v < 0) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${k} must be a non-negative integer (ms), got ${v}`);
    }
    this.graph.add({
      kind: 'source',
      name,
      topic,
      role: 'stream',
      tableKey: null,
      format: options.format ?? 'json',
      validate: options.schema ? standardValidator(options.schema) : null,
      eventTime: options.eventTime === undefined ? null : eventTimeFn(options.eventTime as EventTimeOption<unknown>),
      maxOutOfOrderMs,
      idleTimeoutMs,
    });
    return new Stream<T>(this.graph, name);
  }

  /**
   * Reads a topic as a table: the latest value per key (a null value deletes the key), kept with its
   * history so stream records join the version current at their event time. Tables are global: every
   * worker reads all of a table's partitions (as Kafka Streams' GlobalKTable).
   *
   * @example
   * ```ts
   * const campaigns = p.table<Campaign>('campaigns', { key: (c) => c.adId });
   * clicks.join(campaigns, { key: (c) => c.adId }, (click, campaign) => ({ ...click, campaignId: campaign.id }));
   * ```
   */
  table<V = unknown, K extends KeyValue = string>(topic: string, options: TableOptions<V, K> = {}): Table<K, V> {
    const name = options.name ?? `table-${topic}`;
    const idleTimeoutMs = options.idleTimeoutMs ?? 1_000;
    this.graph.add({
      kind: 'source',
      name,
      topic,
      role: 'table',
      tableKey: (options.key as ((value: unknown) => KeyValue) | undefined) ?? null,
      format: options.format ?? 'json',
      validate: options.schema ? standardValidator(options.schema) : null,
      eventTime: options.eventTime === undefined ? null : eventTimeFn(options.eventTime as EventTimeOption<unknown>),
      maxOutOfOrderMs: 0,
      idleTimeoutMs,
    });
    return new Table<K, V>(this.graph, name, options.historyRetentionMs ?? 86_400_000);
  }
}

export interface TableOptions<V, K extends KeyValue> extends OperatorOptions {
  /** The key of a value; default: the record key (as a string). Tombstones always use the record key. */
  readonly key?: (value: V) => K;
  readonly schema?: StandardSchemaV1<unknown, V>;
  readonly format?: TopicFormat;
  /** When each version became valid: a field or function; default the record timestamp. */
  readonly eventTime?: EventTimeOption<V>;
  /** Versions older than this behind the newest are dropped (the newest before it is kept). Default 1 day. */
  readonly historyRetentionMs?: number;
  /** Processing time without updates after which the table stops holding back watermarks. Default 1 s. */
  readonly idleTimeoutMs?: number;
}

export type { PipelineDefinition } from '../plan/plan.js';

/**
 * Defines a pipeline. Pipelines are plain TypeScript modules that export one as default.
 *
 * @example
 * ```ts
 * export default pipeline('revenue', (p) => {
 *   p.source<Order>('orders', { eventTime: 'ts' })
 *     .keyBy((o) => o.customerId)
 *     .window(tumbling({ sizeMs: 60_000 }))
 *     .aggregate(sum((o: Order) => o.amount))
 *     .toTopic('revenue-per-minute');
 * });
 * ```
 */
export function pipeline(name: string, define: (p: PipelineBuilder) => void): PipelineDefinition {
  if (!/^[a-zA-Z0-9._-]{1,100}$/.test(name)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid pipeline name '${name}': use 1-100 of [a-zA-Z0-9._-]`);
  return {
    name,
    plan() {
      const graph = new PlanGraph(name);
      define(new PipelineBuilder(graph));
      if (!graph.nodes.some((n) => n.kind === 'topicSink' || n.kind === 'viewSink' || n.kind === 'collectSink')) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `pipeline '${name}' has no sink: end a stream with toTopic(), toView() or collect()`);
      }
      return graph.toPlan();
    },
  };
}

function eventTimeFn(option: EventTimeOption<unknown>): (value: unknown) => number {
  const read =
    typeof option === 'function'
      ? option
      : (value: unknown) => (typeof value === 'object' && value !== null ? ((value as Record<string, unknown>)[option] as number | string | Date) : undefined);
  return (value) => {
    const t: unknown = read(value);
    if (typeof t === 'number') return t;
    if (typeof t === 'string') return Date.parse(t);
    if (t instanceof Date) return t.getTime();
    return Number.NaN;
  };
}

/** Wraps a Standard Schema as a synchronous validator (async schemas are refused: no promise per record). */
function standardValidator<T>(schema: StandardSchemaV1<unknown, T>): ValidateFn {
  return (value) => {
    const result = schema['~standard'].validate(value);
    if (result instanceof Promise) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'async schemas are not supported in pipelines');
    if (result.issues) {
      return { issue: result.issues.map((i) => `${i.path?.map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.') || '(root)'}: ${i.message}`).join('; ') };
    }
    return { value: result.value };
  };
}
