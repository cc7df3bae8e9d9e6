/**
 * Space-Saving against exact frequencies: on Zipf-like streams it finds the true heavy hitters, every
 * counter satisfies count − error ≤ true ≤ count with error ≤ N/capacity, and every value occurring
 * more than N/capacity times is monitored — for one summary and for summaries of partitions merged in
 * any order. Also on adversarial (uniform, sorted) streams, where it is weakest.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpaceSaving, type TopKEntry, topK } from '../../../src/dsl/aggregators/index.js';
import { chunk, expectInvalid, hex, mergeTree, rng, zipfStream } from './harness.js';

function exactCounts(stream: readonly (string | number)[]): Map<string | number, number> {
  const m = new Map<string | number, number>();
  for (const v of stream) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/** Checks the Space-Saving invariants of `acc` against the exact counts of the `n` inputs. */
function checkGuarantees(acc: SpaceSaving<string | number>, truth: Map<string | number, number>, n: number, capacity: number): void {
  const bound = n / capacity;
  const entries = acc.entries();
  expect(entries.length).toBeLessThanOrEqual(capacity);
  const monitored = new Set<string | number>();
  for (const e of entries) {
    const t = truth.get(e.value) ?? 0;
    monitored.add(e.value);
    expect(e.count - e.error).toBeLessThanOrEqual(t);
    expect(t).toBeLessThanOrEqual(e.count);
    expect(e.error).toBeLessThanOrEqual(bound);
  }
  expect(acc.floor()).toBeLessThanOrEqual(bound);
  for (const [v, t] of truth) {
    if (t > bound) expect(monitored.has(v), `value ${v} occurs ${t} > N/capacity = ${bound} times but is not monitored`).toBe(true);
    if (!monitored.has(v)) expect(t).toBeLessThanOrEqual(acc.floor());
  }
}

function trueTop(truth: Map<string | number, number>, k: number): [string | number, number][] {
  return [...truth].sort((a, b) => b[1] - a[1] || (String(a[0]) < String(b[0]) ? -1 : 1)).slice(0, k);
}

describe('topK on Zipf-like streams', () => {
  const N = 100_000;
  const stream = zipfStream(N, 10_000, 1.1, 42);
  const truth = exactCounts(stream);

  it('finds the true top 10 in order, with counts within the stated error', () => {
    const capacity = 1000;
    const agg = topK((v: string) => v, 10, { capacity });
    let acc = agg.create();
    for (const v of stream) acc = agg.add(acc, v);
    const expected = trueTop(truth, 10);
    const result = agg.result(acc);
    expect(result.map((e) => e.value)).toEqual(expected.map(([v]) => v));
    // The summary certifies this order itself: each reported lower bound beats the next upper bound.
    const all = acc.entries();
    for (let i = 0; i < 10; i++) expect(all[i]!.count - all[i]!.error).toBeGreaterThan(all[i + 1]!.count);
    for (const e of result) {
      const t = truth.get(e.value)!;
      expect(e.count).toBeGreaterThanOrEqual(t);
      expect(e.count - e.error).toBeLessThanOrEqual(t);
      expect(e.error).toBeLessThanOrEqual(agg.maxError(acc));
    }
    expect(agg.maxError(acc)).toBeLessThanOrEqual(N / capacity);
    checkGuarantees(acc, truth, N, capacity);
  });

  it('keeps the guarantees for summaries of 8 partitions merged in several orders and trees', () => {
    const capacity = 500;
    const agg = topK((v: string) => v, 10, { capacity });
    const next = rng(5);
    const parts: SpaceSaving<string>[] = Array.from({ length: 8 }, () => agg.create());
    for (const v of stream) {
      const p = Math.floor(next() * 8);
      parts[p] = agg.add(parts[p]!, v);
    }
    const encodedParts = parts.map((p) => agg.encode(p));
    const results: string[] = [];
    for (const seed of [1, 2, 3, 99]) {
      const merged = mergeTree(agg, encodedParts.map((b) => agg.decode(b)), seed) as SpaceSaving<string>;
      checkGuarantees(merged, truth, N, capacity);
      expect(merged.total).toBe(N);
      results.push(JSON.stringify(agg.result(merged).slice(0, 5).map((e) => e.value)));
    }
    // The top 5 are far apart: every merge tree agrees on them, and they are the true top 5.
    expect(new Set(results).size).toBe(1);
    expect(JSON.parse(results[0]!)).toEqual(trueTop(truth, 5).map(([v]) => v));
  });

  it('with a small capacity the heavy hitters are still found', () => {
    const capacity = 50;
    const agg = topK((v: string) => v, 3, { capacity });
    let acc = agg.create();
    for (const v of stream) acc = agg.add(acc, v);
    checkGuarantees(acc, truth, N, capacity);
    expect(agg.result(acc).map((e) => e.value)).toEqual(trueTop(truth, 3).map(([v]) => v));
  });
});

describe('topK under random chunking and merge trees', () => {
  it('every merge tree of every chunking keeps the Space-Saving guarantees', () => {
    const valueArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 }), fc.constantFrom('a', 'b', 'c', 'd', 'e'));
    fc.assert(
      fc.property(fc.array(valueArb, { maxLength: 300 }), fc.array(fc.nat(), { maxLength: 12 }), fc.nat(), fc.integer({ min: 1, max: 12 }), (stream, cuts, seed, capacity) => {
        const agg = topK((v: string | number) => v, 1, { capacity });
        const parts = chunk(stream, cuts).map((xs) => xs.reduce((acc, v) => agg.add(acc, v), agg.create()));
        const merged = mergeTree(agg, parts, seed) as SpaceSaving<string | number>;
        expect(merged.total).toBe(stream.length);
        checkGuarantees(merged, exactCounts(stream), stream.length, capacity);
      }),
      { numRuns: 500 },
    );
  });
});

describe('topK on adversarial streams', () => {
  it.each([
    ['uniform over 5000 values', Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 5000)],
    ['sorted runs', Array.from({ length: 50_000 }, (_, i) => Math.floor(i / 10))],
    ['one heavy value among unique ones', Array.from({ length: 50_000 }, (_, i) => (i % 3 === 0 ? -1 : i))],
  ])('%s: invariants hold', (_name, stream) => {
    const capacity = 100;
    const agg = topK((v: number) => v, 5, { capacity });
    let acc = agg.create();
    for (const v of stream) acc = agg.add(acc, v);
    checkGuarantees(acc as SpaceSaving<string | number>, exactCounts(stream), stream.length, capacity);
  });

  it('finds the single heavy value among unique ones', () => {
    const agg = topK(1, { capacity: 20 });
    let acc = agg.create();
    for (let i = 0; i < 30_000; i++) acc = agg.add(acc, i % 3 === 0 ? 'heavy' : `u${i}`);
    const [top] = agg.result(acc) as TopKEntry<string>[];
    expect(top!.value).toBe('heavy');
    expect(top!.count - top!.error).toBeLessThanOrEqual(10_000);
    expect(top!.count).toBeGreaterThanOrEqual(10_000);
  });
});

describe('topK semantics', () => {
  it('is exact within capacity, sorted by count then value', () => {
    const agg = topK(3, { capacity: 10 });
    let acc = agg.create();
    for (const v of ['b', 'a', 2, 'a', 'b', 1, 'c', 2, null, undefined, -0, 0]) acc = agg.add(acc, v);
    expect(agg.result(acc)).toEqual([
      { value: 0, count: 2, error: 0 },
      { value: 2, count: 2, error: 0 },
      { value: 'a', count: 2, error: 0 },
    ]);
    expect(Object.is(agg.result(acc)[0]!.value, 0)).toBe(true);
  });

  it('evicts by count then by value, so equal inputs in any order give equal states', () => {
    const agg = topK((v: string) => v, 2, { capacity: 3 });
    const build = (xs: string[]) => xs.reduce((acc, v) => agg.add(acc, v), agg.create());
    // Same multiset of counters before the newcomer, different arrival order: same eviction.
    const a = build(['x', 'y', 'z', 'w']);
    const b = build(['z', 'y', 'x', 'w']);
    expect(hex(agg.encode(a))).toBe(hex(agg.encode(b)));
    expect(agg.result(a).map((e) => e.value)).toEqual(['w', 'x']);
  });

  it('rejects bad arguments and values with coded errors', () => {
    expectInvalid(() => topK(0));
    expectInvalid(() => topK(2.5));
    expectInvalid(() => topK((v: string) => v, 10, { capacity: 5 }));
    expectInvalid(() => topK((v: string) => v, 10, { capacity: 2 ** 21 }));
    expectInvalid(() => topK(3).add(topK(3).create(), { a: 1 } as unknown as string));
    expectInvalid(() => new SpaceSaving(4).merge(new SpaceSaving(5)));
  });
});
