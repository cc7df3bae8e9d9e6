/**
 * The monoid and state-format laws, checked with fast-check for every built-in aggregator:
 *   identity (create() on either side), commutativity, associativity, chunking (any split of the input,
 *   merged as any tree, equals folding it all), encode/decode round trips that continue identically,
 *   and coded rejection of truncated, extended, re-versioned, re-kinded and random bytes.
 * Exact aggregators (and the exactly-mergeable sketches HLL and DDSketch) must agree exactly; top-k is
 * exact while the distinct values fit its capacity (its bounds beyond that are in top-k.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFreshetError } from '../../../src/core/errors.js';
import {
  type AnyAggregator,
  aggregate,
  approxDistinct,
  avg,
  count,
  first,
  last,
  max,
  min,
  quantiles,
  sum,
  topK,
} from '../../../src/dsl/aggregators/index.js';
import { type Item, chunk, expectInvalid, fold, hex, mergeAll, mergeTree, tsArb } from './harness.js';

interface LawCase {
  name: string;
  agg: AnyAggregator;
  input: fc.Arbitrary<unknown>;
  /** Max inputs per generated list. */
  maxLength?: number;
  /** Encoded states must agree too (canonical formats), not only results. */
  canonical: boolean;
  /** Associativity and chunking hold exactly (false: only while the input fits, checked elsewhere). */
  associative: boolean;
}

const anyDouble = fc.double();
const nullable = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: a }, { weight: 1, arbitrary: fc.constantFrom(null, undefined) });
const moderateDouble = fc.double({ min: -1e6, max: 1e6, noNaN: true });
const timedValue = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom('a', 'b', 'ü', ''),
  fc.record({ id: fc.integer({ min: 0, max: 2 }), tag: fc.constantFrom('x', 'y') }),
  fc.constantFrom(null, true, false, 0.5, -0),
);
const distinctValue = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.integer({ min: -50, max: 50 }),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.boolean(),
  fc.constantFrom(null, undefined),
);
const quantileValue = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: -1e9, max: 1e9 }) },
  { weight: 2, arbitrary: fc.double({ min: 1e-5, max: 1e5, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 1e-310, -1e-310, Infinity, NaN, null, 1e300, -1e300) },
);
const smallKey = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('a', 'b', 'c', 'é'));
const wideKey = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.string({ maxLength: 2 }), fc.constantFrom(NaN, -0, 1.5));

interface Order {
  amount: number | null | undefined;
  user: string;
  sku: number;
}
const orderArb: fc.Arbitrary<Order> = fc.record({
  amount: nullable(fc.oneof(fc.integer({ min: -1000, max: 1000 }), moderateDouble)),
  user: fc.constantFrom('ann', 'bob', 'cy', 'dee'),
  sku: fc.integer({ min: 1, max: 4 }),
});

const cases: LawCase[] = [
  { name: 'count()', agg: count(), input: fc.anything(), canonical: true, associative: true },
  { name: 'count(f)', agg: count((x: { v: number | null }) => x.v), input: fc.record({ v: nullable(fc.integer()) }), canonical: true, associative: true },
  { name: 'sum() over all doubles', agg: sum(), input: nullable(anyDouble), canonical: false, associative: true },
  { name: 'sum() over huge doubles', agg: sum(), input: fc.double({ min: 1e306, max: 1.7976931348623157e308 }).chain((x) => fc.constantFrom(x, -x)), canonical: false, associative: true },
  { name: 'sum(f) over integers', agg: sum((x: { n: number }) => x.n), input: fc.record({ n: fc.integer() }), canonical: true, associative: true },
  { name: 'min()', agg: min(), input: nullable(anyDouble), canonical: true, associative: true },
  { name: 'max()', agg: max(), input: nullable(anyDouble), canonical: true, associative: true },
  { name: 'avg()', agg: avg(), input: nullable(anyDouble), canonical: false, associative: true },
  { name: 'first()', agg: first(), input: timedValue, canonical: true, associative: true },
  { name: 'last()', agg: last(), input: timedValue, canonical: true, associative: true },
  { name: 'first(f) by event time', agg: first((o: Order) => o.user), input: orderArb, canonical: true, associative: true },
  { name: 'approxDistinct precision 4 (dense)', agg: approxDistinct((x: unknown) => x as string, { precision: 4 }), input: distinctValue, canonical: true, associative: true },
  {
    name: 'approxDistinct precision 10 (sparse -> dense)',
    agg: approxDistinct((x: unknown) => x as string, { precision: 10 }),
    input: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.string({ maxLength: 3 })),
    maxLength: 120,
    canonical: true,
    associative: true,
  },
  { name: 'approxDistinct precision 14 (sparse)', agg: approxDistinct((x: unknown) => x as string), input: distinctValue, canonical: true, associative: true },
  { name: 'quantiles default', agg: quantiles((x: unknown) => x as number), input: quantileValue, canonical: true, associative: true },
  {
    name: 'quantiles 8 bins (collapsing)',
    agg: quantiles((x: unknown) => x as number, { relativeAccuracy: 0.05, maxBins: 8, quantiles: [0, 0.25, 0.5, 0.999, 1] }),
    input: quantileValue,
    canonical: true,
    associative: true,
  },
  { name: 'topK within capacity', agg: topK((x: unknown) => x as string, 3, { capacity: 8 }), input: nullable(smallKey), canonical: true, associative: true },
  { name: 'topK beyond capacity', agg: topK((x: unknown) => x as string, 2, { capacity: 4 }), input: wideKey, maxLength: 40, canonical: true, associative: false },
  {
    name: 'aggregate({...})',
    agg: aggregate({
      n: count(),
      total: sum((o: Order) => o.amount),
      lo: min((o: Order) => o.amount),
      mean: avg((o: Order) => o.amount),
      firstUser: first((o: Order) => o.user),
      lastUser: last((o: Order) => o.user),
      users: approxDistinct((o: Order) => o.user),
      amounts: quantiles((o: Order) => o.amount, { quantiles: [0.5, 0.99] }),
      skus: topK((o: Order) => o.sku, 2),
    }),
    input: orderArb,
    canonical: false,
    associative: true,
  },
];

const RUNS = 150;

describe.each(cases)('$name', (c) => {
  const items = fc.array(fc.record({ input: c.input, ts: tsArb }), { maxLength: c.maxLength ?? 30 }) as fc.Arbitrary<Item[]>;
  const build = (xs: Item[]) => fold(c.agg, xs);
  const same = (a: unknown, b: unknown) => {
    expect(c.agg.result(a)).toEqual(c.agg.result(b));
    if (c.canonical) expect(hex(c.agg.encode(a))).toBe(hex(c.agg.encode(b)));
  };

  it('create() is an identity on both sides', () => {
    fc.assert(
      fc.property(items, (xs) => {
        same(c.agg.merge(c.agg.create(), build(xs)), build(xs));
        same(c.agg.merge(build(xs), c.agg.create()), build(xs));
      }),
      { numRuns: RUNS },
    );
  });

  it('merge is commutative', () => {
    fc.assert(
      fc.property(items, items, (xs, ys) => {
        same(c.agg.merge(build(xs), build(ys)), c.agg.merge(build(ys), build(xs)));
      }),
      { numRuns: RUNS },
    );
  });

  const itIfAssociative = c.associative ? it : () => undefined; // top-k beyond capacity: bounds in top-k.test.ts

  itIfAssociative('merge is associative', () => {
    fc.assert(
      fc.property(items, items, items, (xs, ys, zs) => {
        same(c.agg.merge(c.agg.merge(build(xs), build(ys)), build(zs)), c.agg.merge(build(xs), c.agg.merge(build(ys), build(zs))));
      }),
      { numRuns: RUNS },
    );
  });

  itIfAssociative('any chunking merged in any tree equals folding the whole input', () => {
    fc.assert(
      fc.property(items, fc.array(fc.nat(), { maxLength: 6 }), fc.nat(), (xs, cuts, seed) => {
        const parts = chunk(xs, cuts).map(build);
        same(mergeTree(c.agg, parts, seed), build(xs));
        same(mergeAll(c.agg, chunk(xs, cuts).map(build)), build(xs));
      }),
      { numRuns: RUNS },
    );
  });

  it('merging an accumulator with itself is allowed', () => {
    fc.assert(
      fc.property(items, (xs) => {
        const a = build(xs);
        same(c.agg.merge(a, a), c.agg.merge(build(xs), build(xs)));
      }),
      { numRuns: 50 },
    );
  });

  it('decode(encode(acc)) gives the same result and state, and continues identically', () => {
    fc.assert(
      fc.property(items, items, items, (xs, ys, zs) => {
        const original = build(xs);
        const bytes = c.agg.encode(original);
        expect(bytes).toBeInstanceOf(Uint8Array);
        expect(bytes[0]).toBe(1);
        const copy = c.agg.decode(bytes);
        expect(c.agg.result(copy)).toEqual(c.agg.result(original));
        expect(hex(c.agg.encode(copy))).toBe(hex(bytes));
        // Further adds, then a merge, on both: same outcome.
        const a = c.agg.merge(fold(c.agg, ys, original), build(zs));
        const b = c.agg.merge(fold(c.agg, ys, copy), build(zs));
        expect(c.agg.result(b)).toEqual(c.agg.result(a));
        expect(hex(c.agg.encode(b))).toBe(hex(c.agg.encode(a)));
        // Decoding a copy from a Uint8Array view with an offset works too.
        const padded = new Uint8Array(bytes.length + 3);
        padded.set(bytes, 3);
        expect(hex(c.agg.encode(c.agg.decode(padded.subarray(3))))).toBe(hex(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('decode rejects truncated, extended, re-versioned and re-kinded states with a coded error', () => {
    fc.assert(
      fc.property(items, fc.integer({ min: 0, max: 255 }), (xs, extra) => {
        const bytes = c.agg.encode(build(xs));
        for (let n = 0; n < bytes.length; n++) expectInvalid(() => c.agg.decode(bytes.slice(0, n)));
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        longer[bytes.length] = extra;
        expectInvalid(() => c.agg.decode(longer));
        for (const version of [0, 2, 255]) {
          const v = bytes.slice();
          v[0] = version;
          expectInvalid(() => c.agg.decode(v));
        }
        const k = bytes.slice();
        k[1] = k[1] === 3 ? 4 : 3;
        expectInvalid(() => c.agg.decode(k));
      }),
      { numRuns: 40 },
    );
  });

  it('decode of random bytes either throws a coded error or yields a usable accumulator', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (garbage, withHeader) => {
        const input = withHeader && garbage.length >= 2 ? Uint8Array.from([1, c.agg.encode(c.agg.create())[1]!, ...garbage.subarray(2)]) : garbage;
        let acc: unknown;
        try {
          acc = c.agg.decode(input);
        } catch (e) {
          if (!isFreshetError(e, 'FRESHET_INVALID_ARGUMENT')) throw e;
          return;
        }
        // Accepted: it must behave as a state (result, re-encode, merge) without throwing.
        c.agg.result(acc);
        c.agg.decode(c.agg.encode(acc));
        c.agg.result(c.agg.merge(c.agg.create(), acc));
      }),
      { numRuns: 300 },
    );
  });
});

describe('decode input checks', () => {
  it('rejects non-Uint8Array input with a coded error', () => {
    for (const agg of [count(), sum(), approxDistinct(), quantiles(), topK(3), first()] as AnyAggregator[]) {
      expectInvalid(() => agg.decode('hello' as unknown as Uint8Array));
      expectInvalid(() => agg.decode(null as unknown as Uint8Array));
    }
  });

  it('rejects state written with other parameters', () => {
    expectInvalid(() => approxDistinct((x: string) => x, { precision: 12 }).decode(approxDistinct().encode(approxDistinct().create())));
    expectInvalid(() => quantiles((x: number) => x, { relativeAccuracy: 0.02 }).decode(quantiles().encode(quantiles().create())));
    expectInvalid(() => topK(3, { capacity: 50 }).decode(topK(3).encode(topK(3).create())));
    const ab = aggregate({ a: count(), b: sum() });
    expectInvalid(() => aggregate({ b: sum(), a: count() }).decode(ab.encode(ab.create())));
    expectInvalid(() => aggregate({ a: count() }).decode(ab.encode(ab.create())));
    expectInvalid(() => aggregate({ a: count(), b: min() }).decode(ab.encode(ab.create())));
  });

  it('rejects another aggregator kind', () => {
    expectInvalid(() => sum().decode(count().encode(5)));
    expectInvalid(() => min().decode(max().encode(max().add(max().create(), 3))));
  });
});
