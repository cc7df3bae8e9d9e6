/**
 * The public surface: the composite combinator, user-defined aggregators, and the types users see.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { FreshetError } from '../../../src/core/errors.js';
import {
  type Aggregator,
  type QuantilesResult,
  type TopKEntry,
  BUILTIN_AGGREGATOR_KINDS,
  aggregate,
  approxDistinct,
  avg,
  count,
  defineAggregator,
  first,
  isAggregator,
  last,
  max,
  min,
  quantiles,
  sum,
  topK,
} from '../../../src/dsl/aggregators/index.js';
import { expectInvalid } from './harness.js';

interface Order {
  amount: number;
  customerId: string;
  sku: string;
  eventTimeMs: number;
}

const orders: Order[] = [
  { amount: 10, customerId: 'c1', sku: 'apple', eventTimeMs: 3_000 },
  { amount: 25.5, customerId: 'c2', sku: 'pear', eventTimeMs: 1_000 },
  { amount: 4.5, customerId: 'c1', sku: 'apple', eventTimeMs: 2_000 },
];

/** Product of positive numbers via a sum of logs: a small user-defined aggregator factory. */
const productOf = <In>(extract: (input: In) => number) =>
  defineAggregator<In, { logSum: number }, number>({
    kind: 'acme.product',
    create: () => ({ logSum: 0 }),
    add: (acc, x) => {
      acc.logSum += Math.log(extract(x));
      return acc;
    },
    merge: (a, b) => {
      a.logSum += b.logSum;
      return a;
    },
    result: (acc) => Math.exp(acc.logSum),
    encode: (acc) => {
      const b = new Uint8Array(9);
      b[0] = 1;
      new DataView(b.buffer).setFloat64(1, acc.logSum, true);
      return b;
    },
    decode: (b) => {
      if (b.length !== 9 || b[0] !== 1) throw new FreshetError('FRESHET_INVALID_ARGUMENT', 'bad acme.product state');
      return { logSum: new DataView(b.buffer, b.byteOffset).getFloat64(1, true) };
    },
  });
const product = productOf((x: number) => x);

describe('aggregate({...})', () => {
  const stats = aggregate({
    orders: count(),
    revenue: sum((o: Order) => o.amount),
    cheapest: min((o: Order) => o.amount),
    dearest: max((o: Order) => o.amount),
    basket: avg((o: Order) => o.amount),
    firstSku: first((o: Order) => o.sku),
    lastSku: last((o: Order) => o.sku),
    buyers: approxDistinct((o: Order) => o.customerId),
    amounts: quantiles((o: Order) => o.amount, { quantiles: [0.5] }),
    topSkus: topK((o: Order) => o.sku, 1),
    growth: productOf((o: Order) => o.amount),
  });

  it('runs every part over the same inputs and event times, and names results by key', () => {
    let acc = stats.create();
    for (const o of orders) acc = stats.add(acc, o, o.eventTimeMs);
    const r = stats.result(acc);
    expect(r.orders).toBe(3);
    expect(r.revenue).toBe(40);
    expect(r.cheapest).toBe(4.5);
    expect(r.dearest).toBe(25.5);
    expect(r.basket).toBe(40 / 3);
    expect(r.firstSku).toBe('pear'); // event time 1000, though it arrived second
    expect(r.lastSku).toBe('apple');
    expect(r.buyers).toBe(2);
    expect(r.amounts.count).toBe(3);
    expect(r.topSkus).toEqual([{ value: 'apple', count: 2, error: 0 }]);
    expect(r.growth).toBeCloseTo(10 * 25.5 * 4.5, 9);
    expect(Object.keys(r)).toEqual(['orders', 'revenue', 'cheapest', 'dearest', 'basket', 'firstSku', 'lastSku', 'buyers', 'amounts', 'topSkus', 'growth']);
    const decoded = stats.decode(stats.encode(acc));
    expect(stats.result(decoded)).toEqual(r);
  });

  it('describes its parts in params (for plans)', () => {
    expect(stats.kind).toBe('aggregate');
    expect(stats.params).toMatchObject({ orders: { kind: 'count' }, buyers: { kind: 'hll', params: { precision: 14 } }, growth: { kind: 'acme.product' } });
  });

  it('rejects empty specs and non-aggregators', () => {
    expectInvalid(() => aggregate({}));
    expectInvalid(() => aggregate({ a: 5 as unknown as Aggregator<unknown, unknown, unknown> }));
    expectInvalid(() => aggregate(null as unknown as Record<string, never>));
  });

  it('nests', () => {
    const inner = aggregate({ n: count(), s: sum() });
    const outer = aggregate({ inner, hi: max() });
    let acc = outer.create();
    for (const v of [1, 2, 3]) acc = outer.add(acc, v);
    expect(outer.result(outer.decode(outer.encode(acc)))).toEqual({ inner: { n: 3, s: 6 }, hi: 3 });
  });
});

describe('defineAggregator', () => {
  it('returns the aggregator unchanged and usable', () => {
    let acc = product.create();
    for (const x of [2, 3, 4]) acc = product.add(acc, x);
    expect(product.result(product.decode(product.encode(acc)))).toBeCloseTo(24, 9);
    expect(isAggregator(product)).toBe(true);
  });

  it('validates kind and methods', () => {
    const base = { create: () => 0, add: (a: number) => a, merge: (a: number) => a, result: (a: number) => a, encode: () => Uint8Array.of(1), decode: () => 0 };
    expectInvalid(() => defineAggregator({ ...base, kind: '' }));
    expectInvalid(() => defineAggregator({ ...base, kind: '9lives' }));
    expectInvalid(() => defineAggregator({ ...base, kind: 'has space' }));
    expectInvalid(() => defineAggregator({ ...base, kind: 'x'.repeat(65) }));
    for (const kind of BUILTIN_AGGREGATOR_KINDS) expectInvalid(() => defineAggregator({ ...base, kind }));
    expectInvalid(() => defineAggregator({ ...base, kind: 'acme.x', merge: undefined } as unknown as Aggregator<number, number, number>));
    expectInvalid(() => defineAggregator({ ...base, kind: 'acme.x', encode: () => new Uint8Array(0) }));
    expectInvalid(() =>
      defineAggregator({
        ...base,
        kind: 'acme.x',
        decode: () => {
          throw new Error('boom');
        },
      }),
    );
    expectInvalid(() => defineAggregator(null as unknown as Aggregator<number, number, number>));
    expect(defineAggregator({ ...base, kind: 'acme.ok-1:v2_x' }).kind).toBe('acme.ok-1:v2_x');
  });

  it('isAggregator tells aggregators from other objects', () => {
    expect(isAggregator(sum())).toBe(true);
    expect(isAggregator({ kind: 'x' })).toBe(false);
    expect(isAggregator(null)).toBe(false);
  });
});

describe('types', () => {
  it('infer inputs, accumulators and results', () => {
    expectTypeOf(sum((o: Order) => o.amount)).toMatchTypeOf<Aggregator<Order, unknown, number>>();
    expectTypeOf(sum().result).returns.toEqualTypeOf<number>();
    expectTypeOf(min((o: Order) => o.amount).result).returns.toEqualTypeOf<number | null>();
    expectTypeOf(avg((o: Order) => o.amount).result).returns.toEqualTypeOf<number | null>();
    expectTypeOf(first((o: Order) => o.sku).result).returns.toEqualTypeOf<string | null>();
    expectTypeOf(approxDistinct((o: Order) => o.customerId).result).returns.toEqualTypeOf<number>();
    expectTypeOf(quantiles((o: Order) => o.amount).result).returns.toEqualTypeOf<QuantilesResult>();
    expectTypeOf(topK((o: Order) => o.sku, 3).result).returns.toEqualTypeOf<TopKEntry<string>[]>();
    const composite = aggregate({ n: count(), total: sum((o: Order) => o.amount), top: topK((o: Order) => o.sku, 3) });
    expectTypeOf(composite.result).returns.toEqualTypeOf<{ n: number; total: number; top: TopKEntry<string>[] }>();
    expectTypeOf(composite.add).parameter(1).toEqualTypeOf<Order>();
    // @ts-expect-error: the extractor must return a number
    sum((o: Order) => o.sku);
    // @ts-expect-error: top-k counts strings and numbers
    topK((o: Order) => ({ sku: o.sku }), 3);
  });
});
