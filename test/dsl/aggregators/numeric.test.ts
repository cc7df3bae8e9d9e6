/**
 * Exact aggregators against independent oracles: sums against BigInt arithmetic (every double is an
 * integer multiple of 2^-1074, so a BigInt sum is exact, then rounded once by hand), and the
 * documented edge semantics of count, min, max, avg, first and last.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type TimedValueAcc, avg, count, first, last, max, min, sum } from '../../../src/dsl/aggregators/index.js';
import { type Item, expectInvalid, fold } from './harness.js';

const timed = (items: readonly Item[]) => ({
  first: first().result(fold(first(), items) as TimedValueAcc<unknown>),
  last: last().result(fold(last(), items) as TimedValueAcc<unknown>),
});

/** x · 2^1074 as a BigInt (exact for every finite double). */
function scaled(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const negative = hi >>> 31 === 1;
  const exponent = (hi >>> 20) & 0x7ff;
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  const n = exponent === 0 ? fraction : ((1n << 52n) | fraction) << BigInt(exponent - 1);
  return negative ? -n : n;
}

/** T · 2^-1074 rounded to the nearest double, ties to even. */
function unscaled(t: bigint): number {
  if (t === 0n) return 0;
  const negative = t < 0n;
  let m = negative ? -t : t;
  const bits = m.toString(2).length;
  let shift = Math.max(0, bits - 53);
  if (shift > 0) {
    const rest = m & ((1n << BigInt(shift)) - 1n);
    m >>= BigInt(shift);
    const half = 1n << BigInt(shift - 1);
    if (rest > half || (rest === half && (m & 1n) === 1n)) m += 1n;
    if (m === 1n << 53n) {
      m >>= 1n;
      shift++;
    }
  }
  // m < 2^53 is exact as a double; scaling by a power of two is exact unless it overflows (then ±Inf).
  const k = shift - 1074;
  const v = k > 900 ? Number(m) * 2 ** 900 * 2 ** (k - 900) : Number(m) * 2 ** k;
  return negative ? -v : v;
}

const sumOf = (xs: readonly (number | null | undefined)[]) => {
  const agg = sum();
  let acc = agg.create();
  for (const x of xs) acc = agg.add(acc, x);
  return agg.result(acc);
};

describe('sum', () => {
  it('oracle self-check: scaled/unscaled round-trip every double', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
      expect(unscaled(scaled(x))).toBe(x === 0 ? 0 : x);
    }), { numRuns: 1000 });
  });

  it('is the exact sum of any finite doubles, correctly rounded', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 40 }), (xs) => {
        expect(sumOf(xs)).toBe(unscaled(xs.reduce((t, x) => t + scaled(x), 0n)));
      }),
      { numRuns: 1000 },
    );
  });

  it('is exact for cancellation-heavy inputs where plain addition is not', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e20, max: 1e20, noNaN: true }), { minLength: 1, maxLength: 30 }), (xs) => {
        const mirrored = [...xs, 0.1, ...xs.map((x) => -x)];
        expect(sumOf(mirrored)).toBe(0.1);
      }),
      { numRuns: 300 },
    );
    expect(sumOf([0.1, 0.2, 0.3])).toBe(0.6); // plain: 0.6000000000000001
    expect(sumOf([1e100, 1, -1e100])).toBe(1); // plain: 0
    expect(sumOf([1e308, 1e308, -1e308])).toBe(1e308); // plain: Infinity
  });

  it('is exact for integers, also past 2^53 (then correctly rounded)', () => {
    fc.assert(
      fc.property(fc.array(fc.maxSafeInteger(), { maxLength: 60 }), (xs) => {
        expect(sumOf(xs)).toBe(Number(xs.reduce((t, x) => t + BigInt(x), 0n)));
      }),
      { numRuns: 500 },
    );
  });

  it('skips null/undefined, follows IEEE for non-finite inputs, and reports +0 for zero totals', () => {
    expect(sumOf([])).toBe(0);
    expect(sumOf([null, undefined, 2])).toBe(2);
    expect(sumOf([1, Infinity])).toBe(Infinity);
    expect(sumOf([Infinity, -Infinity])).toBeNaN();
    expect(sumOf([NaN, 1])).toBeNaN();
    expect(Object.is(sumOf([-0]), 0)).toBe(true);
    expect(sumOf([1.7976931348623157e308, 1.7976931348623157e308])).toBe(Infinity);
    expect(sumOf([-1.7976931348623157e308, -1.7976931348623157e308, -1e308])).toBe(-Infinity);
  });

  it('does not allocate a new accumulator per add', () => {
    const agg = sum();
    const acc = agg.create();
    expect(agg.add(acc, 1)).toBe(acc);
    expect(agg.merge(acc, agg.create())).toBe(acc);
  });
});

describe('count, min, max, avg', () => {
  it('count() counts everything, count(f) the non-null values', () => {
    expect(fold(count(), [1, null, undefined, 'x'].map((input) => ({ input, ts: 0 })))).toBe(4);
    const c = count((o: { coupon?: string | null }) => o.coupon);
    let acc = c.create();
    for (const o of [{ coupon: 'A' }, {}, { coupon: null }, { coupon: '' }]) acc = c.add(acc, o);
    expect(c.result(acc)).toBe(2);
  });

  it('min/max match Math.min/Math.max over the non-null values, null when none', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.double(), { nil: null }), { maxLength: 30 }), (xs) => {
        const values = xs.filter((x): x is number => x !== null);
        const lo = min();
        const hi = max();
        let a = lo.create();
        let b = hi.create();
        for (const x of xs) {
          a = lo.add(a, x);
          b = hi.add(b, x);
        }
        expect(lo.result(a)).toEqual(values.length === 0 ? null : Math.min(...values) + 0);
        expect(hi.result(b)).toEqual(values.length === 0 ? null : Math.max(...values) + 0);
      }),
      { numRuns: 500 },
    );
  });

  it('avg is the exact sum over the count, null when empty', () => {
    const a = avg((o: { v: number | null }) => o.v);
    let acc = a.create();
    expect(a.result(acc)).toBeNull();
    for (const v of [1, 2, null, 4]) acc = a.add(acc, { v });
    expect(a.result(acc)).toBe(7 / 3);
    expect(fold(avg(), [0.1, 0.2, 0.3].map((input) => ({ input, ts: 0 })))).toBeDefined();
    const b = avg();
    let acc2 = b.create();
    for (const v of [0.1, 0.2, 0.3]) acc2 = b.add(acc2, v);
    expect(b.result(acc2)).toBe(0.6 / 3);
  });
});

describe('first / last', () => {
  const T = 1_700_000_000_000;

  it('keep the value of the smallest / largest event time whatever the arrival order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 30 }), fc.nat(), (times, seed) => {
        const items = times.map((t, i) => ({ input: `v${i}`, ts: T + t }));
        const order = [...items].sort((x, y) => ((x.ts * 7919 + seed) % 1009) - ((y.ts * 7919 + seed) % 1009));
        const earliest = items.reduce((a, b) => (b.ts < a.ts ? b : a));
        const latest = items.reduce((a, b) => (b.ts > a.ts ? b : a));
        expect(timed(order)).toEqual({ first: earliest.input, last: latest.input });
      }),
      { numRuns: 300 },
    );
  });

  it('break event-time ties by value, not by arrival', () => {
    const items = [
      { input: 'b', ts: T },
      { input: 'a', ts: T },
      { input: 'c', ts: T },
    ];
    for (const order of [items, [...items].reverse(), [items[1]!, items[2]!, items[0]!]]) {
      expect(timed(order)).toEqual({ first: 'a', last: 'c' });
    }
    // numbers before strings; objects after both
    const mixed = [
      { input: { z: 1 }, ts: T },
      { input: 'x', ts: T },
      { input: 5, ts: T },
    ];
    expect(timed(mixed)).toEqual({ first: 5, last: { z: 1 } });
  });

  it('skip undefined but keep null; empty gives null', () => {
    const f = first((o: { v?: string | null }) => o.v);
    let acc = f.create();
    expect(f.result(acc)).toBeNull();
    acc = f.add(acc, {}, T);
    expect(acc.has).toBe(false);
    acc = f.add(acc, { v: null }, T + 5);
    acc = f.add(acc, { v: 'later' }, T + 9);
    expect(f.result(acc)).toBeNull();
    expect(acc.has).toBe(true);
  });

  it('require a finite event time', () => {
    expectInvalid(() => first().add(first().create(), 'x'));
    expectInvalid(() => last().add(last().create(), 'x', NaN));
    expectInvalid(() => last().add(last().create(), 'x', '5' as unknown as number));
  });
});
