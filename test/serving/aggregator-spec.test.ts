import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregate, approxDistinct, avg, count, defineAggregator, first, last, max, min, quantiles, sum, topK } from '../../src/dsl/aggregators/index.js';
import type { AnyAggregator } from '../../src/dsl/aggregators/aggregator.js';
import { aggregatorFromSpec, specOf } from '../../src/dsl/aggregators/spec.js';

interface E {
  x: number;
  u: string;
}

const builtins: [string, AnyAggregator][] = [
  ['count', count()],
  ['sum', sum((e: E) => e.x)],
  ['min', min((e: E) => e.x)],
  ['max', max((e: E) => e.x)],
  ['avg', avg((e: E) => e.x)],
  ['first', first((e: E) => e.u)],
  ['last', last((e: E) => e.u)],
  ['hll', approxDistinct((e: E) => e.u, { precision: 10 })],
  ['quantiles', quantiles((e: E) => e.x, { relativeAccuracy: 0.02, quantiles: [0.5, 0.99] })],
  ['topk', topK((e: E) => e.u, 3, { capacity: 16 })],
  ['composite', aggregate({ n: count(), total: sum((e: E) => e.x), users: approxDistinct((e: E) => e.u), p: quantiles((e: E) => e.x) })],
];

describe('aggregator specs', () => {
  for (const [name, agg] of builtins) {
    it(`${name}: the spec survives JSON and rebuilds an aggregator that decodes, merges and reads the same states`, () => {
      const spec = specOf(agg)!;
      expect(spec).toBeDefined();
      const rebuilt = aggregatorFromSpec(JSON.parse(JSON.stringify(spec)));
      fc.assert(
        fc.property(fc.array(fc.array(fc.record({ x: fc.integer({ min: -50, max: 50 }), u: fc.constantFrom('a', 'b', 'c', 'd'), t: fc.nat(1000) }), { maxLength: 20 }), { maxLength: 5 }), (chunks) => {
          // Partial states as windows would store them, then merged by the rebuilt aggregator.
          const states = chunks.map((events) => {
            let acc = agg.create();
            for (const e of events) acc = agg.add(acc, e, e.t);
            return agg.encode(acc);
          });
          let direct = agg.create();
          for (const events of chunks) for (const e of events) direct = agg.add(direct, e, e.t);
          let merged = rebuilt.create();
          for (const s of states) merged = rebuilt.merge(merged, rebuilt.decode(s));
          expect(rebuilt.result(merged)).toEqual(agg.result(direct));
        }),
        { numRuns: 50 },
      );
    });
  }

  it('has no spec for user-defined aggregators (or composites containing one), and refuses unknown kinds', () => {
    const custom = defineAggregator<number, number, number>({
      kind: 'acme.sum',
      create: () => 0,
      add: (a, x) => a + x,
      merge: (a, b) => a + b,
      result: (a) => a,
      encode: (a) => new Uint8Array([1, a]),
      decode: (b) => b[1]!,
    });
    expect(specOf(custom)).toBeUndefined();
    expect(specOf(aggregate({ n: count(), c: custom }))).toBeUndefined();
    expect(specOf({ ...count(), kind: 'sum' })).toBeUndefined(); // claims a built-in kind, writes another format
    expect(() => aggregatorFromSpec({ kind: 'acme.sum' })).toThrow(expect.objectContaining({ code: 'FRESHET_INVALID_ARGUMENT' }));
    expect(() => aggregatorFromSpec({ kind: 'hll' })).toThrow(/params.precision/);
  });
});
