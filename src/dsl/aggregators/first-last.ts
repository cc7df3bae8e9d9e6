/**
 * first / last by event time. These are the only order-sensitive built-ins, so they order by the
 * event timestamp each input is added with (`add(acc, input, timestampMs)`), never by arrival: then
 * late or out-of-order events, parallel partials and replays all give the same answer.
 */
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { type Aggregator } from './aggregator.js';
import { ByteReader, ByteWriter } from './codec.js';
import { C1 } from 'msgpackr';
import { compareValues, valuePackr } from './value-order.js';

/** Accumulator of `first()` / `last()`: the value kept and its event time (meaningful when `has`). */
export interface TimedValueAcc<V> {
  has: boolean;
  timestampMs: number;
  value: V | undefined;
}

function timed<In, V>(kind: 'first' | 'last', extract: ((input: In) => V) | undefined): Aggregator<In, TimedValueAcc<V>, V | null> {
  const sign = kind === 'first' ? 1 : -1;
  /** Keeps (ts, v) when it sorts before the current one (first) or after it (last). */
  const offer = (acc: TimedValueAcc<V>, ts: number, v: V): TimedValueAcc<V> => {
    if (!acc.has) {
      acc.has = true;
      acc.timestampMs = ts;
      acc.value = v;
    } else if (ts !== acc.timestampMs) {
      if ((ts < acc.timestampMs ? 1 : -1) === sign) {
        acc.timestampMs = ts;
        acc.value = v;
      }
    } else if (compareValues(v, acc.value) * sign < 0) {
      // Same event time: the value order decides, so the outcome does not depend on arrival order.
      acc.value = v;
    }
    return acc;
  };
  const add = (acc: TimedValueAcc<V>, input: In, timestampMs?: number): TimedValueAcc<V> => {
    if (typeof timestampMs !== 'number' || !Number.isFinite(timestampMs)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${kind}() orders by event time: add(acc, input, timestampMs) needs a finite timestampMs, got ${String(timestampMs)}`);
    }
    let v = extract === undefined ? (input as unknown as V) : extract(input);
    if (v === undefined) return acc;
    if (v === 0) v = 0 as V; // -0 -> 0, as MessagePack stores it
    return offer(acc, timestampMs + 0, v);
  };
  return {
    kind,
    create: () => ({ has: false, timestampMs: NaN, value: undefined }), // NaN: a double field from the start (see numeric.ts)
    add,
    merge: (a, b) => (b.has ? offer(a, b.timestampMs, b.value as V) : a),
    result: (acc) => (acc.has ? (acc.value as V) : null),
    encode(acc) {
      if (!acc.has) return new ByteWriter(3).header(kind).u8(0).finish();
      return new ByteWriter(64).header(kind).u8(1).f64(acc.timestampMs).bytes(valuePackr.pack(acc.value)).finish();
    },
    decode(bytes) {
      const r = new ByteReader(bytes, kind).header(kind);
      const has = r.u8();
      if (has === 0) {
        r.end();
        return { has: false, timestampMs: NaN, value: undefined };
      }
      if (has !== 1) throw r.fail(`bad presence flag ${has}`);
      const timestampMs = r.f64();
      if (!Number.isFinite(timestampMs) || Object.is(timestampMs, -0)) throw r.fail('timestamp is not a finite number');
      const body = r.rest();
      let values: unknown[];
      try {
        values = valuePackr.unpackMultiple(body) as unknown[];
      } catch (cause) {
        throw r.fail('value is not valid MessagePack', cause);
      }
      if (values.length !== 1) throw r.fail(`expected one MessagePack value, found ${values.length}`);
      if (containsReservedByte(values[0], 0)) throw r.fail('value uses the reserved MessagePack byte 0xC1');
      return { has: true, timestampMs, value: values[0] as V };
    },
  };
}

/** True when msgpackr decoded the never-used byte 0xC1 somewhere in `v` (garbage, not our encoding). */
function containsReservedByte(v: unknown, depth: number): boolean {
  if (v === C1) return true;
  if (v === null || typeof v !== 'object' || depth > 64) return false;
  if (Array.isArray(v)) return v.some((x) => containsReservedByte(x, depth + 1));
  if (Object.getPrototypeOf(v) === Object.prototype) return Object.values(v).some((x) => containsReservedByte(x, depth + 1));
  return false;
}

/**
 * The value with the smallest event time (`timestampMs`, the third argument of `add`). Inputs with the
 * same event time are ordered by value (a fixed total order: numbers numerically, strings by code
 * unit, other values by their MessagePack bytes), so the result never depends on arrival order, and
 * merge is commutative. An extracted `undefined` is skipped (`null` is a value). Result: null when empty.
 * Values are kept by reference and stored as MessagePack: keep them plain data (numbers, strings,
 * booleans, null, arrays, plain objects, Dates); a Map comes back as an object, -0 as 0.
 *
 * Accumulator: {@link TimedValueAcc}. State: `01 06 has:u8 (timestampMs:f64 value:msgpack if has)`.
 *
 * @example
 * ```ts
 * const openingPrice = first((t: Trade) => t.price);
 * acc = openingPrice.add(acc, trade, trade.eventTimeMs);
 * ```
 */
export function first<V = unknown>(): Aggregator<NoInfer<V>, TimedValueAcc<NoInfer<V>>, NoInfer<V> | null>;
export function first<In, V>(extract: (input: In) => V): Aggregator<In, TimedValueAcc<V>, V | null>;
export function first<In, V>(extract?: (input: In) => V): Aggregator<In, TimedValueAcc<V>, V | null> {
  return timed('first', extract);
}

/**
 * The value with the largest event time (`timestampMs`, the third argument of `add`); ties are broken
 * by the same value order as {@link first} (the larger value wins). Result: null when empty.
 *
 * Accumulator: {@link TimedValueAcc}. State: `01 07 has:u8 (timestampMs:f64 value:msgpack if has)`.
 *
 * @example
 * ```ts
 * const closingPrice = last((t: Trade) => t.price);
 * ```
 */
export function last<V = unknown>(): Aggregator<NoInfer<V>, TimedValueAcc<NoInfer<V>>, NoInfer<V> | null>;
export function last<In, V>(extract: (input: In) => V): Aggregator<In, TimedValueAcc<V>, V | null>;
export function last<In, V>(extract?: (input: In) => V): Aggregator<In, TimedValueAcc<V>, V | null> {
  return timed('last', extract);
}
