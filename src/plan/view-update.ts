import { pack, unpack } from 'msgpackr';

/**
 * The contract between processing and serving (CQRS): a pipeline's `.toView(name, ...)` writes
 * `ViewUpdate`s to the view's results topic (`viewTopic(name)`) and announces the view once in the
 * registry topic (`VIEW_REGISTRY_TOPIC`); the serving side follows both and maintains the view, so the
 * query side can run in its own process and rebuild any view from the log.
 *
 * Results-topic record grammar (msgpack, one map per record; the record key is the UTF-8 view key):
 *   { k: string, v: unknown, t: eventTimeMs, ws?: windowStartMs, we?: windowEndMs, f?: final, d?: 1 (delete),
 *     a?: bytes (the window's encoded accumulator) }
 * Registry record: JSON of `ViewDefinition`, record key = the view name (latest per name wins).
 */

/** How a view is shaped for its readers. */
export type ViewKind = 'kv' | 'timeseries' | 'table';

/** The topic where view definitions are announced (latest record per view name wins). */
export const VIEW_REGISTRY_TOPIC = 'freshet.views';

/** The results topic a view is fed from. */
export function viewTopic(viewName: string): string {
  return `freshet.view.${viewName}`;
}

/** A view as announced by the pipeline that feeds it. */
export interface ViewDefinition {
  readonly name: string;
  readonly kind: ViewKind;
  /** The pipeline that writes it. */
  readonly pipeline: string;
  /** Its results topic (`viewTopic(name)`). */
  readonly topic: string;
  /** Time series: points older than this (by window end) are dropped. */
  readonly retentionMs?: number;
  /**
   * The window aggregator behind the values, when the view is fed by a window aggregate: time series
   * `step` decodes each point's `acc` with it and merges (never averages averages). Absent for
   * user-defined aggregators the serving side cannot rebuild.
   */
  readonly aggregator?: AggregatorSpec;
}

/** A serialisable description of a built-in aggregator: enough to decode, merge and read its state. */
export interface AggregatorSpec {
  /** `count`, `sum`, `avg`, `hll`, ... or `composite` (then `fields`). */
  readonly kind: string;
  readonly params?: Readonly<Record<string, unknown>>;
  /** The named parts of a composite aggregator, in its field order. */
  readonly fields?: Readonly<Record<string, AggregatorSpec>>;
}

/** One upsert (or delete) of a view, keyed by (key, window): replays overwrite instead of duplicating. */
export interface ViewUpdate {
  readonly key: string;
  /** The result: a window's aggregate or the latest value for the key. */
  readonly value: unknown;
  readonly eventTimeMs: number;
  readonly windowStartMs?: number;
  readonly windowEndMs?: number;
  /** False for an early (emit mode `updates`) window result. */
  readonly final?: boolean;
  /** The (key, window) row is removed (a merged session window, or a table tombstone). */
  readonly deleted?: boolean;
  /** The window's accumulator (`aggregator.encode`), for time-series views that re-aggregate on `step`. */
  readonly acc?: Uint8Array;
}

interface WireUpdate {
  k: string;
  v: unknown;
  t: number;
  ws?: number;
  we?: number;
  f?: boolean;
  d?: 1;
  a?: Uint8Array;
}

/** Encodes one update as a results-topic record value. */
export function encodeViewUpdate(update: ViewUpdate): Buffer {
  const wire: WireUpdate = { k: update.key, v: update.value, t: update.eventTimeMs };
  if (update.windowStartMs !== undefined) wire.ws = update.windowStartMs;
  if (update.windowEndMs !== undefined) wire.we = update.windowEndMs;
  if (update.final !== undefined) wire.f = update.final;
  if (update.deleted) wire.d = 1;
  if (update.acc !== undefined) wire.a = update.acc;
  return pack(wire);
}

/** Decodes a results-topic record value written by `encodeViewUpdate`. */
export function decodeViewUpdate(bytes: Uint8Array): ViewUpdate {
  const wire = unpack(bytes) as WireUpdate;
  return {
    key: wire.k,
    value: wire.v,
    eventTimeMs: wire.t,
    ...(wire.ws !== undefined ? { windowStartMs: wire.ws } : {}),
    ...(wire.we !== undefined ? { windowEndMs: wire.we } : {}),
    ...(wire.f !== undefined ? { final: wire.f } : {}),
    ...(wire.d === 1 ? { deleted: true } : {}),
    ...(wire.a !== undefined ? { acc: wire.a } : {}),
  };
}
