import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { isFreshetError } from '../../src/core/errors.js';
import { aggregate, avg, count, max, min, sum } from '../../src/dsl/aggregators/index.js';
import { specOf } from '../../src/dsl/aggregators/spec.js';
import type { ViewUpdate } from '../../src/plan/view-update.js';
import { TimeSeriesView } from '../../src/serving/timeseries-view.js';
import { definition, runViewContract } from './view.case.js';

runViewContract({
  kind: 'timeseries',
  create: async (def, clock) => new TimeSeriesView(def, clock),
  snapshot: async (view) => {
    const ts = view as TimeSeriesView;
    const out = new Map<string, unknown>();
    for (const key of ts.keys()) for (const p of ts.range(key, -Infinity, Infinity).points) out.set(`${key}|${p.windowStartMs}`, p.value);
    return out;
  },
});

interface Sale {
  amount: number;
}

const stats = aggregate({ n: count(), total: sum((s: Sale) => s.amount), mean: avg((s: Sale) => s.amount), lo: min((s: Sale) => s.amount), hi: max((s: Sale) => s.amount) });
const SIZE_MS = 60_000;

/** Window updates as a pipeline would write them: the result and the encoded accumulator. */
function windowUpdates(key: string, events: readonly { t: number; amount: number }[]): ViewUpdate[] {
  const byWindow = new Map<number, Sale[]>();
  for (const e of events) {
    const ws = Math.floor(e.t / SIZE_MS) * SIZE_MS;
    (byWindow.get(ws) ?? byWindow.set(ws, []).get(ws)!).push({ amount: e.amount });
  }
  return [...byWindow.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([ws, sales]) => {
      let acc = stats.create();
      for (const s of sales) acc = stats.add(acc, s, ws);
      return { key, value: stats.result(acc), eventTimeMs: ws + SIZE_MS - 1, windowStartMs: ws, windowEndMs: ws + SIZE_MS, final: true, acc: stats.encode(acc) };
    });
}

describe('TimeSeriesView step', () => {
  it('randomised: step re-aggregation equals aggregating the raw events of each bucket (never an average of averages)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ t: fc.integer({ min: 0, max: 40 * SIZE_MS }), amount: fc.integer({ min: -100, max: 1000 }).map((x) => x / 4) }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 45 }),
        async (events, stepWindows, fromW, spanW) => {
          const view = new TimeSeriesView(definition('timeseries', { aggregator: specOf(stats)! }), new ManualClock(0));
          const updates = windowUpdates('k', events);
          await view.apply({ partition: 0, offsets: updates.map((_, i) => i), updates });
          const stepMs = stepWindows * SIZE_MS;
          const from = fromW * SIZE_MS;
          const to = from + spanW * SIZE_MS;
          // Brute force: every raw event whose window starts in [from, to), bucketed by its window's bucket.
          const buckets = new Map<number, Sale[]>();
          for (const e of events) {
            const ws = Math.floor(e.t / SIZE_MS) * SIZE_MS;
            if (ws < from || ws >= to) continue;
            const b = Math.floor(ws / stepMs) * stepMs;
            (buckets.get(b) ?? buckets.set(b, []).get(b)!).push({ amount: e.amount });
          }
          const expected = [...buckets.entries()]
            .sort((a, b) => a[0] - b[0])
            .map(([b, sales]) => {
              let acc = stats.create();
              for (const s of sales) acc = stats.add(acc, s, 0);
              return { windowStartMs: b, windowEndMs: b + stepMs, value: stats.result(acc) };
            });
          const got = view.rangeStep('k', from, to, stepMs).points.map(({ windowStartMs, windowEndMs, value }) => ({ windowStartMs, windowEndMs, value }));
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses step without an aggregator spec, without accumulators, and over overlapping (hopping) windows', async () => {
    const noSpec = new TimeSeriesView(definition('timeseries'), new ManualClock(0));
    const updates = windowUpdates('k', [{ t: 1, amount: 1 }]);
    await noSpec.apply({ partition: 0, offsets: [0], updates });
    expect(() => noSpec.rangeStep('k', 0, 1e9, 120_000)).toThrow(expect.objectContaining({ code: 'FRESHET_STEP_UNSUPPORTED' }));
    expect(noSpec.range('k', 0, 1e9).points).toHaveLength(1);

    const noAcc = new TimeSeriesView(definition('timeseries', { aggregator: { kind: 'count' } }), new ManualClock(0));
    await noAcc.apply({ partition: 0, offsets: [0], updates: [{ key: 'k', value: 3, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 10 }] });
    expect(() => noAcc.rangeStep('k', 0, 100, 50)).toThrow(/carries no accumulator/);

    const hopping = new TimeSeriesView(definition('timeseries', { aggregator: { kind: 'count' } }), new ManualClock(0));
    const c = count();
    const enc = (n: number): Uint8Array => c.encode(n);
    await hopping.apply({
      partition: 0,
      offsets: [0, 1],
      updates: [
        { key: 'k', value: 1, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000, acc: enc(1) },
        { key: 'k', value: 2, eventTimeMs: 0, windowStartMs: 30_000, windowEndMs: 90_000, acc: enc(2) },
      ],
    });
    let error: unknown;
    try {
      hopping.rangeStep('k', 0, 1e9, 600_000);
    } catch (e) {
      error = e;
    }
    expect(isFreshetError(error, 'FRESHET_STEP_UNSUPPORTED') && /overlap/.test((error as Error).message)).toBe(true);
  });
});

describe('TimeSeriesView retention', () => {
  it('drops points whose window ended more than retentionMs ago, on arrival, on read and in sweeps', async () => {
    const clock = new ManualClock(10 * SIZE_MS);
    const view = new TimeSeriesView(definition('timeseries', { retentionMs: 3 * SIZE_MS }), clock);
    const u = (key: string, w: number): ViewUpdate => ({ key, value: w, eventTimeMs: w * SIZE_MS, windowStartMs: w * SIZE_MS, windowEndMs: (w + 1) * SIZE_MS });
    await view.apply({ partition: 0, offsets: [0, 1, 2, 3], updates: [u('a', 2), u('a', 6), u('a', 8), u('b', 7)] });
    // window 2 ended at minute 3 < 10 - 3: dropped on arrival.
    expect(view.range('a', 0, Infinity).points.map((p) => p.value)).toEqual([6, 8]);
    expect(view.size()).toBe(3);
    clock.advance(2 * SIZE_MS); // now minute 12, cutoff minute 9: window 6 (ends 7) and 7 (ends 8) expire
    expect(view.range('a', 0, Infinity).points.map((p) => p.value)).toEqual([8]);
    expect(view.latest('b')).toBeUndefined();
    await view.apply({ partition: 0, offsets: [4], updates: [u('a', 11)] }); // triggers a sweep
    expect(view.size()).toBe(2);
    expect(view.keys()).toEqual(['a']);
  });
});
