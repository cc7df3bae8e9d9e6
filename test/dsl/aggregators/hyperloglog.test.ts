/**
 * HyperLogLog accuracy against exact distinct counts: single sketches within 3 standard errors at
 * 10, 1k, 100k and 1M distinct values; bias and spread over many independent sketches close to the
 * theory (mean error ~0, RMS error ~1.04/sqrt(m)); duplicates and merges do not move the estimate.
 */
import { describe, expect, it } from 'vitest';
import { HyperLogLog, approxDistinct } from '../../../src/dsl/aggregators/index.js';
import { expectInvalid, hex, rng } from './harness.js';

function sketchOf(precision: number, values: Iterable<string | number>) {
  const agg = approxDistinct((v: string | number) => v, { precision });
  let acc = agg.create();
  for (const v of values) acc = agg.add(acc, v);
  return { agg, acc };
}

function* range(n: number, prefix: string): Generator<string> {
  for (let i = 0; i < n; i++) yield `${prefix}${i}`;
}

describe('approxDistinct accuracy', () => {
  it.each([
    [10, 14],
    [1_000, 14],
    [100_000, 14],
    [1_000_000, 14],
    [100_000, 10],
    [1_000_000, 16],
    [50_000, 4],
  ])('%i distinct strings at precision %i: within 3 standard errors', (n, precision) => {
    const { agg, acc } = sketchOf(precision, range(n, 'user-'));
    const estimate = agg.result(acc);
    const se = 1.04 / Math.sqrt(2 ** precision);
    expect(agg.standardError).toBeCloseTo(se, 12);
    expect(Math.abs(estimate - n) / n).toBeLessThanOrEqual(3 * se);
  });

  it('is exact (or off by at most one) for very small cardinalities', () => {
    for (const n of [0, 1, 2, 3, 5, 10, 20]) {
      const { agg, acc } = sketchOf(14, range(n, 'k'));
      expect(Math.abs(agg.result(acc) - n)).toBeLessThanOrEqual(n < 10 ? 0 : 1);
    }
  });

  it('numbers are counted as well as strings (random doubles and integer ids)', () => {
    const next = rng(7);
    const doubles: number[] = [];
    for (let i = 0; i < 200_000; i++) doubles.push(next() * 1e6);
    const a = sketchOf(14, doubles);
    expect(Math.abs(a.agg.result(a.acc) - 200_000) / 200_000).toBeLessThan(3 * 0.0081);
    const ids: number[] = [];
    for (let i = 0; i < 300_000; i++) ids.push(i * 7919);
    const b = sketchOf(14, ids);
    expect(Math.abs(b.agg.result(b.acc) - 300_000) / 300_000).toBeLessThan(3 * 0.0081);
  });

  it('is unbiased with the theoretical spread over 40 independent sketches of 20k values (precision 10)', () => {
    const m = 1024;
    const errors: number[] = [];
    for (let trial = 0; trial < 40; trial++) {
      const { agg, acc } = sketchOf(10, range(20_000, `t${trial}-`));
      errors.push(agg.result(acc) / 20_000 - 1);
    }
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    const rms = Math.sqrt(errors.reduce((a, b) => a + b * b, 0) / errors.length);
    const se = 1.04 / Math.sqrt(m);
    // The mean of 40 errors has sd se/sqrt(40) ≈ 0.5%: 4 of those is a 1-in-15k false alarm.
    expect(Math.abs(mean)).toBeLessThan((4 * se) / Math.sqrt(40));
    expect(rms).toBeGreaterThan(0.5 * se);
    expect(rms).toBeLessThan(1.6 * se);
  });

  it('across the sparse/dense switch and the small-range regime the error stays within 3 SE', () => {
    for (const n of [100, 400, 600, 2_000, 5_000, 20_000, 40_000]) {
      const { agg, acc } = sketchOf(14, range(n, `s${n}-`));
      expect(Math.abs(agg.result(acc) - n) / n).toBeLessThanOrEqual(3 * agg.standardError);
    }
  });
});

describe('approxDistinct merging and state', () => {
  it('duplicates do not change the sketch', () => {
    const once = sketchOf(12, range(5_000, 'd'));
    const twice = sketchOf(12, [...range(5_000, 'd'), ...range(5_000, 'd')]);
    expect(hex(once.agg.encode(once.acc))).toBe(hex(twice.agg.encode(twice.acc)));
  });

  it('merging sketches of overlapping sets equals the sketch of the union', () => {
    const a = sketchOf(14, range(60_000, 'u'));
    const b = sketchOf(14, [...range(40_000, 'u')].concat([...range(50_000, 'w')]));
    const union = sketchOf(14, [...range(60_000, 'u'), ...range(50_000, 'w')]);
    const merged = a.agg.merge(a.acc, b.acc);
    expect(hex(a.agg.encode(merged))).toBe(hex(union.agg.encode(union.acc)));
    expect(Math.abs(a.agg.result(merged) - 110_000) / 110_000).toBeLessThan(3 * a.agg.standardError);
  });

  it('stays small while sparse and bounded by m bytes when dense', () => {
    const small = sketchOf(14, range(50, 'x'));
    expect(small.agg.encode(small.acc).length).toBeLessThan(200);
    expect(small.acc.sparse).not.toBeNull();
    const big = sketchOf(14, range(100_000, 'x'));
    expect(big.acc.dense).not.toBeNull();
    expect(big.agg.encode(big.acc).length).toBe(2 ** 14 + 4);
  });

  it('rejects bad options and incompatible merges with coded errors', () => {
    for (const precision of [3, 19, 12.5, NaN]) expectInvalid(() => approxDistinct((x: string) => x, { precision }));
    expectInvalid(() => new HyperLogLog(10).merge(new HyperLogLog(11)));
    expectInvalid(() => approxDistinct().add(approxDistinct().create(), { a: 1 } as unknown as string));
  });

  it('keeps its non-zero register count in step with the registers through adds, merges and decode', () => {
    const scan = (h: HyperLogLog) => (h.dense ? h.dense.filter((r) => r !== 0).length : h.sparse!.size);
    for (const precision of [4, 8, 12]) {
      const a = sketchOf(precision, range(3_000, 'p'));
      const b = sketchOf(precision, range(5_000, 'q'));
      expect(a.acc.nonZero()).toBe(scan(a.acc));
      const merged = a.agg.merge(a.acc, b.acc);
      expect(merged.nonZero()).toBe(scan(merged));
      const decoded = a.agg.decode(a.agg.encode(merged));
      expect(decoded.nonZero()).toBe(scan(decoded));
    }
  });

  it('skips null and undefined', () => {
    const agg = approxDistinct();
    let acc = agg.create();
    for (const v of [null, undefined, 'a', null]) acc = agg.add(acc, v);
    expect(agg.result(acc)).toBe(1);
  });
});
