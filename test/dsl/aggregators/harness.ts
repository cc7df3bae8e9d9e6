/**
 * Shared machinery for the aggregator tests: folding inputs, splitting them into chunks, merging in a
 * random order, and asserting coded decode failures.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { isFreshetError } from '../../../src/core/errors.js';
import { type AnyAggregator } from '../../../src/dsl/aggregators/index.js';

/** One input with its event time. */
export interface Item<In = unknown> {
  input: In;
  ts: number;
}

/** Folds `items` into a fresh accumulator. */
export function fold(agg: AnyAggregator, items: readonly Item[], acc: unknown = agg.create()): unknown {
  for (const it of items) acc = agg.add(acc, it.input, it.ts);
  return acc;
}

/** Merges accumulators left to right, starting from create(). */
export function mergeAll(agg: AnyAggregator, accs: readonly unknown[]): unknown {
  let acc = agg.create();
  for (const a of accs) acc = agg.merge(acc, a);
  return acc;
}

/** Splits `items` at the given cut points (positions are taken modulo length + 1, sorted). */
export function chunk<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let prev = 0;
  for (const p of points) {
    out.push(items.slice(prev, p));
    prev = p;
  }
  out.push(items.slice(prev));
  return out;
}

/** A deterministic permutation of `xs` from `seed`. */
export function shuffle<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Merges accumulators as a random binary tree (shape and order from `seed`). */
export function mergeTree(agg: AnyAggregator, accs: readonly unknown[], seed: number): unknown {
  let pool = shuffle(accs, seed);
  let s = seed;
  while (pool.length > 1) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const i = s % (pool.length - 1);
    const merged = (s & 1) === 0 ? agg.merge(pool[i], pool[i + 1]) : agg.merge(pool[i + 1], pool[i]);
    pool = [...pool.slice(0, i), merged, ...pool.slice(i + 2)];
  }
  return pool.length === 0 ? agg.create() : pool[0];
}

/** Hex of bytes, for readable comparisons of encoded states. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Asserts that `fn` throws a FreshetError FRESHET_INVALID_ARGUMENT. */
export function expectInvalid(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a coded error').toBeDefined();
  if (!isFreshetError(thrown, 'FRESHET_INVALID_ARGUMENT')) throw new Error(`expected FRESHET_INVALID_ARGUMENT, got ${String(thrown)}`);
}

/** Event times from a small range, so equal timestamps (ties) are common. */
export const tsArb = fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_008 });

/** A deterministic PRNG (mulberry32) in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A Zipf-like stream: `n` draws over ranks 1..`distinct` with P(rank r) ∝ 1 / r^s (inverse-CDF
 * sampling), as `v<rank>` strings.
 */
export function zipfStream(n: number, distinct: number, s: number, seed: number): string[] {
  const cdf = new Float64Array(distinct);
  let total = 0;
  for (let r = 1; r <= distinct; r++) {
    total += 1 / r ** s;
    cdf[r - 1] = total;
  }
  const next = rng(seed);
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const u = next() * total;
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = `v${lo + 1}`;
  }
  return out;
}
