/**
 * The exact numeric aggregators: count, sum, min, max, avg. Their accumulators are plain numbers or
 * small mutable objects made once in `create()`; `add` allocates nothing.
 *
 * Null and undefined values (from the extractor) are skipped, as SQL's aggregates skip NULL; `count()`
 * without an extractor counts every input.
 */
import type { AccumulatorColumns } from '../../plan/plan.js';
import { type Aggregator } from './aggregator.js';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { ByteReader, ByteWriter, invalidState } from './codec.js';

/** A value an extractor of a numeric aggregator may return: null/undefined are skipped. */
export type NumericValue = number | null | undefined;

// ---------------------------------------------------------------------------------------------------
// Exact summation (Shewchuk's algorithm, as Python's math.fsum)
// ---------------------------------------------------------------------------------------------------

/**
 * Accumulator of `sum()` (and the sum inside `avg()`): an exact running sum.
 *
 * The finite inputs' exact total is `big·2^1023 + p[0] + ... + p[n-1]`: the partials `p` are doubles
 * below 2^1023 in magnitude kept by Shewchuk's algorithm (as Python's math.fsum), usually one or two, at
 * most ~40 whatever the input; `big` carries whole multiples of 2^1023 so that no step can overflow,
 * which keeps the sum exact (and order-independent) even when an intermediate total leaves the double
 * range. Non-finite inputs (±Infinity, NaN) add into `special` with IEEE semantics instead.
 *
 * Layout: one plain array of doubles, `[n, big, special, p[0], ..., p[n-1], stale...]`. One array and no
 * object around it, because window state holds millions of these: ~80 bytes each instead of ~110 for an
 * object holding a partials array (and ~250 for a small Float64Array).
 */
export type SumAcc = number[];

const N = 0;
const BIG_COUNT = 1;
const SPECIAL = 2;
/** Index of the first partial. */
const P0 = 3;

/** 2^1023: partials stay below it, so the sum of two never overflows. */
const BIG = 2 ** 1023;
/** The most partials an exact sum can need (2098 exponent bits / 53 per double, rounded up with room). */
const MAX_PARTIALS = 64;

export function createExactSum(): SumAcc {
  // Double literals, so the array starts with double elements and never changes representation; room
  // for two partials, the usual need, so most sums never grow it.
  return [0, 0, 0, 0.5, 0.5];
}

/**
 * Adds `x` exactly into `acc` (no allocation unless the array grows, which is bounded). `base`: where the
 * accumulator starts in `acc` (non-zero for sums kept in window columns); it gains at most one partial.
 */
export function exactSumAdd(acc: SumAcc | Float64Array, x: number, base = 0): void {
  if (!(Math.abs(x) < BIG)) {
    if (x - x !== 0) {
      // ±Infinity or NaN.
      acc[base + SPECIAL] = acc[base + SPECIAL]! + x;
      return;
    }
    // |x| in [2^1023, 2^1024): x ∓ 2^1023 is exact (Sterbenz).
    const sign = x > 0 ? 1 : -1;
    x -= sign * BIG;
    acc[base + BIG_COUNT] = acc[base + BIG_COUNT]! + sign;
  }
  const first = base + P0;
  const end = first + acc[base + N]!;
  let i = first;
  for (let j = first; j < end; j++) {
    let y = acc[j]!;
    if (Math.abs(x) < Math.abs(y)) {
      const t = x;
      x = y;
      y = t;
    }
    // Two-sum: hi + lo == x + y exactly; |x|, |y| < 2^1023 so hi is finite.
    let hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) acc[i++] = lo;
    if (!(Math.abs(hi) < BIG)) {
      const sign = hi > 0 ? 1 : -1;
      hi -= sign * BIG;
      acc[base + BIG_COUNT] = acc[base + BIG_COUNT]! + sign;
    }
    x = hi;
  }
  acc[i] = x; // i <= end: overwrites a stale entry or appends
  acc[base + N] = i + 1 - first;
}

// Sums in window columns (see AccumulatorColumns): `[n, big, special, p[0], ..., p[COLUMN_PARTIALS-1]]`.
// Six partials hold sums of cents or of uniform values (four to seven after hundreds of adds); a sum that
// needs more (values spanning many magnitudes) spills into an ordinary SumAcc, marked by n = SPILLED.
const COLUMN_PARTIALS = 6;
const SPILLED = -1;

function sumColumns(extract: ((input: unknown) => NumericValue) | undefined): AccumulatorColumns {
  return {
    id: `sum${COLUMN_PARTIALS}`,
    width: P0 + COLUMN_PARTIALS,
    add(store, at, input, spill) {
      const v = extract === undefined ? (input as NumericValue) : extract(input);
      if (v == null) return;
      const n = store[at + N]!;
      if (n >= 0 && n < COLUMN_PARTIALS) exactSumAdd(store, v, at);
      else exactSumAdd(n === SPILLED ? (spill.get(at) as SumAcc) : spillSum(store, at, spill), v);
    },
    toAcc: (store, at, spill) => (store[at + N] === SPILLED ? spill.get(at) : sumFromColumns(store, at)),
    fromAcc(acc, store, at, spill) {
      const sum = acc as SumAcc;
      const n = sum[N]!;
      if (n > COLUMN_PARTIALS) {
        spill.set(at, sum);
        store[at + N] = SPILLED;
        return;
      }
      for (let i = 0; i < P0 + n; i++) store[at + i] = sum[i]!;
    },
  };
}

function sumFromColumns(store: Float64Array, at: number): SumAcc {
  const acc = createExactSum();
  const n = store[at + N]!;
  for (let i = 0; i < P0 + n; i++) acc[i] = store[at + i]!;
  // Exactly the partials in use, no stale entries.
  acc.length = P0 + n;
  return acc;
}

function spillSum(store: Float64Array, at: number, spill: Map<number, unknown>): SumAcc {
  const acc = sumFromColumns(store, at);
  spill.set(at, acc);
  store[at + N] = SPILLED;
  return acc;
}

/** The number of partials in use. */
function partialCount(acc: SumAcc): number {
  return acc[N]!;
}

/** Adds `b` into `a` (exact, so the order of merges does not change the result). */
export function exactSumMerge(a: SumAcc, b: SumAcc): void {
  if (a === b) b = b.slice(0, P0 + b[N]!);
  const end = P0 + b[N]!;
  for (let j = P0; j < end; j++) exactSumAdd(a, b[j]!);
  a[BIG_COUNT] = a[BIG_COUNT]! + b[BIG_COUNT]!;
  a[SPECIAL] = a[SPECIAL]! + b[SPECIAL]!;
}

const scratch = createExactSum();

/** The exact total correctly rounded to the nearest double (ties to even); zero is always +0. */
export function exactSumResult(acc: SumAcc): number {
  if (acc[SPECIAL] !== 0) return acc[SPECIAL]!;
  const big = acc[BIG_COUNT]!;
  // Beyond 3·2^1023 + (partials < 2^1023·(1+ε)) the total is past the largest double.
  if (big >= 4) return Infinity;
  if (big <= -4) return -Infinity;
  // Re-run the partials through the algorithm into scratch: an overflow carry can leave them out of
  // order, and the final rounding needs them non-overlapping and increasing.
  scratch[N] = 0;
  scratch[BIG_COUNT] = 0;
  const end = P0 + acc[N]!;
  for (let j = P0; j < end; j++) exactSumAdd(scratch, acc[j]!);
  const carried = scratch[BIG_COUNT]! + big;
  if (carried !== 0) {
    // Fold the multiples of 2^1023 back in; if the total is outside the double range this overflows.
    const unit = carried > 0 ? BIG : -BIG;
    for (let k = Math.abs(carried); k > 0; k--) {
      const p = scratch;
      let x = unit;
      let i = P0;
      const stop = P0 + scratch[N]!;
      for (let j = P0; j < stop; j++) {
        let y = p[j]!;
        if (Math.abs(x) < Math.abs(y)) {
          const t = x;
          x = y;
          y = t;
        }
        const hi = x + y;
        if (hi - hi !== 0) return hi;
        const lo = y - (hi - x);
        if (lo !== 0) p[i++] = lo;
        x = hi;
      }
      p[i] = x; // i <= stop: overwrites a stale entry or appends
      scratch[N] = i + 1 - P0;
    }
  }
  return roundPartials(scratch, P0, P0 + scratch[N]!);
}

/** Correctly rounded sum of non-overlapping partials `p[from..to)` in increasing magnitude (fsum's last step). */
function roundPartials(p: readonly number[], from: number, to: number): number {
  let n = to;
  if (n === from) return 0;
  let hi = p[--n]!;
  let lo = 0;
  while (n > from) {
    const x = hi;
    const y = p[--n]!;
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  // Round half-even correctly when the remaining partials push the discarded half one way.
  if (n > from && ((lo < 0 && p[n - 1]! < 0) || (lo > 0 && p[n - 1]! > 0))) {
    const y = lo * 2;
    const x = hi + y;
    const yr = x - hi;
    if (y === yr) hi = x;
  }
  return hi === 0 ? 0 : hi;
}

/** sumBody := n:varuint partial:f64[n] big:varint hasSpecial:u8 (special:f64 if hasSpecial = 1) */
function writeSumBody(w: ByteWriter, acc: SumAcc): void {
  const n = acc[N]!;
  w.varuint(n);
  for (let i = 0; i < n; i++) w.f64(acc[P0 + i]!);
  w.varint(acc[BIG_COUNT]!);
  if (acc[SPECIAL] === 0) w.u8(0);
  // NaN is written as the canonical NaN: V8 may store a NaN's sign and payload in a double array or not,
  // and equal states must encode to equal bytes.
  else w.u8(1).f64(Number.isNaN(acc[SPECIAL]!) ? Number.NaN : acc[SPECIAL]!);
}

function readSumBody(r: ByteReader): SumAcc {
  const n = r.varuint();
  if (n > MAX_PARTIALS) throw r.fail(`${n} partial sums (at most ${MAX_PARTIALS})`);
  const acc = createExactSum();
  for (let i = 0; i < n; i++) {
    const v = r.f64();
    if (!(Math.abs(v) < BIG)) throw r.fail('partial sum out of range');
    // Every partial but the last is a non-zero rounding error; the last (the running total) may be 0.
    if (v === 0 && i < n - 1) throw r.fail('zero partial sum below the top');
    acc[P0 + i] = v;
  }
  acc[N] = n;
  acc[BIG_COUNT] = r.varint();
  const flag = r.u8();
  if (flag === 1) {
    const s = r.f64();
    if (Number.isFinite(s)) throw r.fail('special sum must be ±Infinity or NaN');
    acc[SPECIAL] = s;
  } else if (flag !== 0) throw r.fail(`bad special flag ${flag}`);
  return acc;
}

// ---------------------------------------------------------------------------------------------------
// count
// ---------------------------------------------------------------------------------------------------

/**
 * Counts inputs. With an extractor, counts the inputs whose extracted value is not null/undefined (as
 * SQL's `COUNT(column)`). Accumulator: a plain number. Exact up to 2^53.
 *
 * State: `01 01 count:varuint`.
 *
 * @example
 * ```ts
 * const orders = count();                                  // every input
 * const withCoupon = count((o: Order) => o.couponCode);    // inputs with a coupon
 * ```
 */
export function count(): Aggregator<unknown, number, number>;
export function count<In>(extract: (input: In) => unknown): Aggregator<In, number, number>;
export function count<In>(extract?: (input: In) => unknown): Aggregator<In, number, number> {
  const add =
    extract === undefined
      ? (acc: number) => acc + 1
      : (acc: number, input: In) => (extract(input) == null ? acc : acc + 1);
  return {
    kind: 'count',
    columns: {
      id: 'count',
      width: 1,
      add:
        extract === undefined
          ? (store, at) => {
              store[at]! += 1;
            }
          : (store, at, input) => {
              if (extract(input as In) != null) store[at]! += 1;
            },
      toAcc: (store, at) => store[at],
      fromAcc(acc, store, at) {
        store[at] = acc as number;
      },
    },
    create: () => 0,
    add,
    merge: (a, b) => a + b,
    result: (acc) => acc,
    encode: (acc) => new ByteWriter(12).header('count').varuint(acc).finish(),
    decode(bytes) {
      const r = new ByteReader(bytes, 'count').header('count');
      const n = r.varuint();
      r.end();
      return n;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// sum
// ---------------------------------------------------------------------------------------------------

/**
 * Sums numbers exactly: the result is the exact sum of the inputs correctly rounded to a double, so it
 * does not depend on input order, chunking or merge order (integer sums are exact whenever the result
 * is below 2^53 in magnitude). Costs one to a few float operations per add instead of one. Null and
 * undefined are skipped; ±Infinity and NaN follow IEEE arithmetic; an empty sum is 0.
 *
 * Accumulator: {@link SumAcc}. State: `01 02 sumBody` (see the grammar in numeric.ts).
 *
 * @example
 * ```ts
 * const revenue = sum((o: Order) => o.amount);
 * ```
 */
export function sum(): Aggregator<NumericValue, SumAcc, number>;
export function sum<In>(extract: (input: In) => NumericValue): Aggregator<In, SumAcc, number>;
export function sum<In>(extract?: (input: In) => NumericValue): Aggregator<In, SumAcc, number> {
  const add =
    extract === undefined
      ? (acc: SumAcc, input: In) => {
          const v = input as NumericValue;
          if (v != null) exactSumAdd(acc, v);
          return acc;
        }
      : (acc: SumAcc, input: In) => {
          const v = extract(input);
          if (v != null) exactSumAdd(acc, v);
          return acc;
        };
  return {
    kind: 'sum',
    columns: sumColumns(extract as ((input: unknown) => NumericValue) | undefined),
    create: createExactSum,
    add,
    merge(a, b) {
      exactSumMerge(a, b);
      return a;
    },
    result: exactSumResult,
    encode(acc) {
      const w = new ByteWriter(16 + partialCount(acc) * 8).header('sum');
      writeSumBody(w, acc);
      return w.finish();
    },
    decode(bytes) {
      const r = new ByteReader(bytes, 'sum').header('sum');
      const acc = readSumBody(r);
      r.end();
      return acc;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// min / max
// ---------------------------------------------------------------------------------------------------

/** Accumulator of `min()` / `max()`. `value` is meaningful only when `has` (NaN otherwise). */
export interface ExtremumAcc {
  has: boolean;
  value: number;
}

// min and max are written out separately, each comparison inline: a shared helper taking the value
// as an argument would be called polymorphically once both exist, and a double passed to a call that
// is not inlined is boxed (an allocation per add). Update rule (both): the first value is taken; NaN
// wins (as Math.min/Math.max; once NaN, nothing compares below or above it); -0 is stored as 0 (v + 0)
// so ties cannot depend on order.
function minFold(acc: ExtremumAcc, v: number): ExtremumAcc {
  if (!acc.has || v < acc.value || v !== v) acc.value = v + 0;
  acc.has = true;
  return acc;
}

function maxFold(acc: ExtremumAcc, v: number): ExtremumAcc {
  if (!acc.has || v > acc.value || v !== v) acc.value = v + 0;
  acc.has = true;
  return acc;
}

function extremum<In>(kind: 'min' | 'max', extract: ((input: In) => NumericValue) | undefined): Aggregator<In, ExtremumAcc, number | null> {
  let add: (acc: ExtremumAcc, input: In) => ExtremumAcc;
  if (kind === 'min') {
    add =
      extract === undefined
        ? (acc, input) => {
            const v = input as NumericValue;
            if (v != null && (!acc.has || v < acc.value || v !== v)) acc.value = v + 0;
            if (v != null) acc.has = true;
            return acc;
          }
        : (acc, input) => {
            const v = extract(input);
            if (v != null && (!acc.has || v < acc.value || v !== v)) acc.value = v + 0;
            if (v != null) acc.has = true;
            return acc;
          };
  } else {
    add =
      extract === undefined
        ? (acc, input) => {
            const v = input as NumericValue;
            if (v != null && (!acc.has || v > acc.value || v !== v)) acc.value = v + 0;
            if (v != null) acc.has = true;
            return acc;
          }
        : (acc, input) => {
            const v = extract(input);
            if (v != null && (!acc.has || v > acc.value || v !== v)) acc.value = v + 0;
            if (v != null) acc.has = true;
            return acc;
          };
  }
  const fold = kind === 'min' ? minFold : maxFold;
  return {
    kind,
    columns: extremumColumns(kind, extract as ((input: unknown) => NumericValue) | undefined),
    // value starts as a double (NaN), not 0: V8 then keeps the field unboxed and updates it in place;
    // starting from a small integer lets later doubles be stored as fresh heap numbers (an allocation per add).
    create: () => ({ has: false, value: NaN }),
    add,
    merge: (a, b) => (b.has ? fold(a, b.value) : a),
    result: (acc) => (acc.has ? acc.value : null),
    encode: (acc) => (acc.has ? new ByteWriter(11).header(kind).u8(1).f64(acc.value).finish() : new ByteWriter(3).header(kind).u8(0).finish()),
    decode(bytes) {
      const r = new ByteReader(bytes, kind).header(kind);
      const has = r.u8();
      if (has > 1) throw r.fail(`bad presence flag ${has}`);
      const acc: ExtremumAcc = { has: has === 1, value: has === 1 ? r.f64() : NaN };
      if (acc.has && Object.is(acc.value, -0)) throw r.fail('-0 is stored as 0');
      r.end();
      return acc;
    },
  };
}

/** min/max in window columns (see AccumulatorColumns): `[has, value]`, has 0 or 1. */
function extremumColumns(kind: 'min' | 'max', extract: ((input: unknown) => NumericValue) | undefined): AccumulatorColumns {
  return {
    id: kind,
    width: 2,
    add:
      kind === 'min'
        ? (store, at, input) => {
            const v = extract === undefined ? (input as NumericValue) : extract(input);
            if (v == null) return;
            if (store[at] === 0 || v < store[at + 1]! || v !== v) store[at + 1] = v + 0;
            store[at] = 1;
          }
        : (store, at, input) => {
            const v = extract === undefined ? (input as NumericValue) : extract(input);
            if (v == null) return;
            if (store[at] === 0 || v > store[at + 1]! || v !== v) store[at + 1] = v + 0;
            store[at] = 1;
          },
    toAcc: (store, at): ExtremumAcc => (store[at] === 1 ? { has: true, value: store[at + 1]! } : { has: false, value: NaN }),
    fromAcc(acc, store, at) {
      const e = acc as ExtremumAcc;
      if (!e.has) return;
      store[at] = 1;
      store[at + 1] = e.value;
    },
  };
}

/**
 * The smallest value, or null when there was none. NaN, if present, is the result (as `Math.min`);
 * -0 is reported as 0. Accumulator: {@link ExtremumAcc}. State: `01 03 has:u8 (value:f64 if has)`.
 *
 * @example
 * ```ts
 * const cheapest = min((o: Order) => o.amount);
 * ```
 */
export function min(): Aggregator<NumericValue, ExtremumAcc, number | null>;
export function min<In>(extract: (input: In) => NumericValue): Aggregator<In, ExtremumAcc, number | null>;
export function min<In>(extract?: (input: In) => NumericValue): Aggregator<In, ExtremumAcc, number | null> {
  return extremum('min', extract);
}

/**
 * The largest value, or null when there was none. NaN, if present, is the result (as `Math.max`);
 * -0 is reported as 0. Accumulator: {@link ExtremumAcc}. State: `01 04 has:u8 (value:f64 if has)`.
 *
 * @example
 * ```ts
 * const largest = max((o: Order) => o.amount);
 * ```
 */
export function max(): Aggregator<NumericValue, ExtremumAcc, number | null>;
export function max<In>(extract: (input: In) => NumericValue): Aggregator<In, ExtremumAcc, number | null>;
export function max<In>(extract?: (input: In) => NumericValue): Aggregator<In, ExtremumAcc, number | null> {
  return extremum('max', extract);
}

// ---------------------------------------------------------------------------------------------------
// avg
// ---------------------------------------------------------------------------------------------------

/** Accumulator of `avg()`: an exact sum and a count of the non-null values. */
export interface AvgAcc {
  sum: SumAcc;
  count: number;
}

/**
 * The arithmetic mean of the non-null values, or null when there were none. The sum is exact (see
 * {@link sum}), so the mean is the correctly rounded sum divided by the count: one rounding more.
 *
 * Accumulator: {@link AvgAcc}. State: `01 05 count:varuint sumBody`.
 *
 * @example
 * ```ts
 * const basket = avg((o: Order) => o.amount);
 * ```
 */
export function avg(): Aggregator<NumericValue, AvgAcc, number | null>;
export function avg<In>(extract: (input: In) => NumericValue): Aggregator<In, AvgAcc, number | null>;
export function avg<In>(extract?: (input: In) => NumericValue): Aggregator<In, AvgAcc, number | null> {
  const add =
    extract === undefined
      ? (acc: AvgAcc, input: In) => {
          const v = input as NumericValue;
          if (v != null) {
            exactSumAdd(acc.sum, v);
            acc.count++;
          }
          return acc;
        }
      : (acc: AvgAcc, input: In) => {
          const v = extract(input);
          if (v != null) {
            exactSumAdd(acc.sum, v);
            acc.count++;
          }
          return acc;
        };
  return {
    kind: 'avg',
    columns: avgColumns(extract as ((input: unknown) => NumericValue) | undefined),
    create: () => ({ sum: createExactSum(), count: 0 }),
    add,
    merge(a, b) {
      exactSumMerge(a.sum, b.sum);
      a.count += b.count;
      return a;
    },
    result: (acc) => (acc.count === 0 ? null : exactSumResult(acc.sum) / acc.count),
    encode(acc) {
      const w = new ByteWriter(24 + partialCount(acc.sum) * 8).header('avg').varuint(acc.count);
      writeSumBody(w, acc.sum);
      return w.finish();
    },
    decode(bytes) {
      const r = new ByteReader(bytes, 'avg').header('avg');
      const n = r.varuint();
      const s = readSumBody(r);
      r.end();
      if (n === 0 && (partialCount(s) > 0 || s[SPECIAL] !== 0)) throw invalidState('avg', 'a sum without values');
      return { sum: s, count: n };
    },
  };
}

/** avg in window columns: `[count, ...sum's columns]`, the sum spilling as sum's does. */
function avgColumns(extract: ((input: unknown) => NumericValue) | undefined): AccumulatorColumns {
  const sum = sumColumns(undefined);
  return {
    id: `avg(${sum.id})`,
    width: 1 + sum.width,
    add(store, at, input, spill) {
      const v = extract === undefined ? (input as NumericValue) : extract(input);
      if (v == null) return;
      store[at]! += 1;
      sum.add(store, at + 1, v, spill);
    },
    toAcc: (store, at, spill): AvgAcc => ({ sum: sum.toAcc(store, at + 1, spill) as SumAcc, count: store[at]! }),
    fromAcc(acc, store, at, spill) {
      const a = acc as AvgAcc;
      store[at] = a.count;
      sum.fromAcc(a.sum, store, at + 1, spill);
    },
  };
}
