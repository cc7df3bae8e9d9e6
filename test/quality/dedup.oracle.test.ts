/**
 * DedupState (a map plus a lazily-cleaned min-heap, compacted as it fills with stale pairs) against a
 * brute-force reference: a plain list of entries scanned linearly for every lookup, expiry and eviction.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupState } from '../../src/quality/dedup.js';

type Op = { readonly kind: 'record'; readonly id: number; readonly t: number } | { readonly kind: 'watermark'; readonly w: number };

/** The rule of DedupState's doc comment, written the obvious way. */
class ReferenceDedup {
  private entries: { id: number; k: number }[] = [];
  private w = Number.NEGATIVE_INFINITY;
  evicted = 0;
  constructor(
    private readonly horizonMs: number,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  record(id: number, t: number): boolean {
    const h = this.horizonMs;
    const e = this.entries.find((x) => x.id === id && x.k >= this.w - h);
    if (e) {
      if (Math.abs(t - e.k) <= h) return true;
      if (t < e.k) return false;
      e.k = t;
    } else {
      this.entries = this.entries.filter((x) => x.id !== id);
      if (t < this.w - h) return false;
      this.entries.push({ id, k: t });
    }
    if (this.entries.length > this.maxKeys) {
      let oldest = 0;
      for (let i = 1; i < this.entries.length; i++) if (this.entries[i]!.k < this.entries[oldest]!.k) oldest = i;
      this.entries.splice(oldest, 1);
      this.evicted++;
    }
    return false;
  }

  watermark(w: number): void {
    if (w <= this.w) return;
    this.w = w;
    this.entries = this.entries.filter((x) => x.k >= w - this.horizonMs);
  }

  get watermarkMs(): number {
    return this.w;
  }
}

function run(ops: readonly Op[], horizonMs: number, maxKeys: number): void {
  const state = new DedupState(horizonMs, maxKeys);
  const ref = new ReferenceDedup(horizonMs, maxKeys);
  ops.forEach((op, i) => {
    if (op.kind === 'watermark') {
      ref.watermark(op.w);
      state.expire(ref.watermarkMs);
    } else {
      const expected = ref.record(op.id, op.t);
      expect(state.isDuplicate(op.id, op.t, ref.watermarkMs), `op ${i}: ${JSON.stringify(op)}`).toBe(expected);
    }
    expect(state.size, `size after op ${i}`).toBe(ref.size);
    expect(state.evicted, `evicted after op ${i}`).toBe(ref.evicted);
    expect(state.size).toBeLessThanOrEqual(maxKeys);
  });
}

const record = (ids: number, maxT: number) => fc.record({ kind: fc.constant('record' as const), id: fc.integer({ min: 0, max: ids - 1 }), t: fc.integer({ min: 0, max: maxT }) });
const watermark = (maxT: number) => fc.record({ kind: fc.constant('watermark' as const), w: fc.integer({ min: 0, max: maxT }) });

describe('DedupState vs a brute-force reference', () => {
  it('TTL by event time, out-of-order records and watermark expiry (no eviction)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 6, arbitrary: record(12, 5_000) }, { weight: 1, arbitrary: watermark(5_000) }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 1_500 }),
        (ops, horizonMs) => run(ops, horizonMs, 1_000_000),
      ),
      { numRuns: 300 },
    );
  });

  it('bounded memory: beyond maxKeys the entry with the oldest kept time is evicted (distinct times, so no ties)', () => {
    fc.assert(
      fc.property(
        // A stream that moves forward with jitter (so ids come back after their horizon and are re-kept),
        // times made distinct by their index in the last three digits.
        fc.array(fc.record({ id: fc.integer({ min: 0, max: 10 }), jitter: fc.integer({ min: -30, max: 30 }) }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 6 }),
        (records, step, marks, horizon, maxKeys) => {
          const ops: Op[] = records.map((r, i) => ({ kind: 'record', id: r.id, t: (i * step + r.jitter) * 1_000 + i }));
          for (const m of [...marks].sort((a, b) => a - b)) {
            const at = Math.min(m, ops.length);
            ops.splice(at, 0, { kind: 'watermark', w: (m * step - 40) * 1_000 });
          }
          run(ops, horizon * 1_000, maxKeys);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('an entry re-kept later than its horizon leaves a stale heap pair; eviction skips it and removes the truly oldest', () => {
    const ops: Op[] = [
      { kind: 'record', id: 1, t: 0 },
      { kind: 'record', id: 1, t: 100 }, // k(1) = 100; the pair (0, 1) is stale
      { kind: 'record', id: 2, t: 50 },
      { kind: 'record', id: 3, t: 200 }, // full: evicts 2 (50), not 1
      { kind: 'record', id: 1, t: 101 }, // still a duplicate
    ];
    run(ops, 10, 2);
  });

  it('many re-keeps of few ids: the heap is compacted and memory follows the live ids', () => {
    const state = new DedupState(10, 5);
    for (let t = 0; t < 200_000; t += 11) state.isDuplicate(t % 3, t, Number.NEGATIVE_INFINITY);
    expect(state.size).toBe(3);
    // Stale heap pairs are bounded by compaction (2 * live + 1024).
    expect((state as unknown as { heapTimes: number[] }).heapTimes.length).toBeLessThanOrEqual(2 * 3 + 1024 + 1);
  });
});
