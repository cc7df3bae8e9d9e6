/**
 * DDSketch accuracy against exact quantiles: for 100k values from uniform, log-normal, exponential,
 * Pareto (heavy tail), mixed-sign and heavily duplicated data, every reported quantile at
 * q ∈ {0, 0.5, 0.9, 0.99, 0.999, 1} is within relativeAccuracy of the exact value of rank ⌊q(n−1)⌋,
 * also after merging partial sketches. Memory stays within the bin limit.
 */
import { describe, expect, it } from 'vitest';
import { DDSketch, quantileName, quantiles } from '../../../src/dsl/aggregators/index.js';
import { expectInvalid, hex, rng } from './harness.js';

const N = 100_000;
const QS = [0, 0.5, 0.9, 0.99, 0.999, 1];

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

const datasets: [string, (next: () => number) => number][] = [
  ['uniform 0..1000', (r) => r() * 1000],
  ['log-normal latency (ms)', (r) => Math.exp(3 + 1.5 * gaussian(r))],
  ['exponential', (r) => -Math.log(1 - r()) * 50],
  ['Pareto α=1.2 (heavy tail)', (r) => 1 / (1 - r()) ** (1 / 1.2)],
  ['mixed sign with zeros', (r) => (r() < 0.1 ? 0 : (r() < 0.4 ? -1 : 1) * Math.exp(4 * gaussian(r)))],
  ['integers with many duplicates', (r) => Math.floor(r() * 20) * 5],
  ['tiny magnitudes', (r) => r() * 1e-200],
];

function exactQuantile(sorted: Float64Array, q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function checkWithin(acc: DDSketch, sorted: Float64Array, alpha: number, qs = QS): void {
  for (const q of qs) {
    const exact = exactQuantile(sorted, q);
    const estimate = acc.quantile(q)!;
    const bound = alpha * Math.abs(exact) * (1 + 1e-9) + 1e-300;
    if (!(Math.abs(estimate - exact) <= bound)) {
      throw new Error(`q=${q}: estimate ${estimate}, exact ${exact}, relative error ${Math.abs(estimate - exact) / Math.abs(exact)} > ${alpha}`);
    }
  }
}

// Bins needed to cover values from lo to hi: ln(hi/lo) / ln(γ) ≈ ln(hi/lo) / 2α. The datasets span up to
// ~10^7 (mixed sign: 1e-7..1e7 per sign), so α = 0.002 needs ~4000 bins: give it 8192; the others fit 2048.
describe.each([
  [0.01, 2048],
  [0.002, 8192],
  [0.05, 2048],
])('quantiles with relativeAccuracy %f, %i bins', (alpha, maxBins) => {
  it.each(datasets)('%s: every quantile within α of the exact one', (_name, draw) => {
    const next = rng(Math.round(alpha * 1e6) + _name.length);
    const values = new Float64Array(N);
    for (let i = 0; i < N; i++) values[i] = draw(next);
    const agg = quantiles((v: number) => v, { relativeAccuracy: alpha, maxBins, quantiles: [0.5, 0.9, 0.99, 0.999] });
    let whole = agg.create();
    for (const v of values) whole = agg.add(whole, v);
    const sorted = values.slice().sort();
    checkWithin(whole, sorted, alpha);

    const result = agg.result(whole);
    expect(result.count).toBe(N);
    expect(result.min).toBe(sorted[0]! + 0);
    expect(result.max).toBe(sorted[N - 1]);
    for (const q of [0.5, 0.9, 0.99, 0.999]) expect(result[quantileName(q)]).toBe(whole.quantile(q));

    // Ten partial sketches merged in a scrambled order: the same sketch, so the same guarantee.
    const parts = Array.from({ length: 10 }, () => agg.create());
    for (let i = 0; i < N; i++) parts[(i * 7) % 10] = agg.add(parts[(i * 7) % 10]!, values[i]!);
    let merged = agg.create();
    for (const i of [3, 9, 0, 5, 1, 8, 2, 7, 4, 6]) merged = agg.merge(merged, parts[i]!);
    expect(hex(agg.encode(merged))).toBe(hex(agg.encode(whole)));
    checkWithin(merged, sorted, alpha);
  });
});

describe('quantiles bounds and options', () => {
  it('when the range exceeds the bin limit, keeps the guarantee above max/γ^(bins−1) and stays bounded', () => {
    const next = rng(99);
    const values = new Float64Array(N);
    for (let i = 0; i < N; i++) values[i] = Math.exp(3 * gaussian(next)); // ~e^-13 .. e^13
    const maxBins = 512; // γ^511 ≈ e^10.2 at α = 0.01: the lowest values must collapse
    const agg = quantiles((v: number) => v, { relativeAccuracy: 0.01, maxBins });
    let acc = agg.create();
    for (const v of values) acc = agg.add(acc, v);
    const sorted = values.slice().sort();
    const floor = sorted[N - 1]! / acc.gamma ** (maxBins - 1);
    const qs = [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999];
    let collapsed = 0;
    for (const q of qs) {
      const exact = exactQuantile(sorted, q);
      const estimate = acc.quantile(q)!;
      if (exact > floor) expect(Math.abs(estimate - exact)).toBeLessThanOrEqual(0.01 * exact * (1 + 1e-9));
      else {
        // A collapsed value is reported from a higher bin: over-estimated, never under.
        collapsed++;
        expect(estimate).toBeGreaterThanOrEqual(exact * (1 - 0.01));
      }
    }
    expect(collapsed).toBeGreaterThan(0); // the test did exercise collapsing
    expect(collapsed).toBeLessThan(qs.length);
    expect(acc.positive.maxKey - acc.positive.minKey + 1).toBeLessThanOrEqual(maxBins);
    expect(acc.positive.counts.length).toBeLessThanOrEqual(maxBins);
    expect(agg.quantile(acc, 0)).toBe(sorted[0]);
    expect(agg.quantile(acc, 1)).toBe(sorted[N - 1]);
    expect(agg.encode(acc).length).toBeLessThan(maxBins * 4 + 64);
  });

  it('reports nulls for an empty sketch and arbitrary quantiles on demand', () => {
    const agg = quantiles((v: number) => v, { quantiles: [0.25, 0.75, 0.999] });
    expect(agg.result(agg.create())).toEqual({ count: 0, min: null, max: null, p25: null, p75: null, 'p99.9': null });
    let acc = agg.create();
    for (let i = 1; i <= 1000; i++) acc = agg.add(acc, i);
    expect(Math.abs(agg.quantile(acc, 0.33)! - 330) / 330).toBeLessThanOrEqual(0.01); // rank ⌊0.33·999⌋ = 329 -> 330
    expect(agg.quantile(acc, 0)).toBe(1);
    expect(agg.quantile(acc, 1)).toBe(1000);
    expectInvalid(() => agg.quantile(acc, 1.5));
  });

  it('skips null, undefined and non-finite values', () => {
    const agg = quantiles();
    let acc = agg.create();
    for (const v of [null, undefined, NaN, Infinity, -Infinity, 5]) acc = agg.add(acc, v);
    expect(agg.result(acc)).toMatchObject({ count: 1, min: 5, max: 5, p50: 5 });
  });

  it('names quantile fields by percent', () => {
    expect([0, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1, 0.123].map(quantileName)).toEqual(['p0', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'p99.99', 'p100', 'p12.3']);
  });

  it('rejects bad options with coded errors', () => {
    const f = (v: number) => v;
    expectInvalid(() => quantiles(f, { relativeAccuracy: 0 }));
    expectInvalid(() => quantiles(f, { relativeAccuracy: 0.9 }));
    expectInvalid(() => quantiles(f, { relativeAccuracy: NaN }));
    expectInvalid(() => quantiles(f, { maxBins: 0 }));
    expectInvalid(() => quantiles(f, { maxBins: 1e6 }));
    expectInvalid(() => quantiles(f, { quantiles: [] }));
    expectInvalid(() => quantiles(f, { quantiles: [1.2] }));
    expectInvalid(() => quantiles(f, { quantiles: [0.5, 0.5] }));
    expectInvalid(() => new DDSketch(0.01, 2048).merge(new DDSketch(0.02, 2048)));
  });
});
