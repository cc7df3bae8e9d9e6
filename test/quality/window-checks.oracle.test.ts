/**
 * WindowQualityTracker (open windows in a map, gaps filled as it closes, a rolling count history) against
 * brute force: every accepted record kept in one list and rescanned for every window closed, the history
 * being the list of all closed windows' counts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnomalyRule, CompletenessCheck, VolumeCheck, WindowCheck } from '../../src/plan/quality-check.js';
import { checks } from '../../src/quality/checks.js';
import { QualityLimits } from '../../src/quality/limits.js';
import { type WindowVerdict, WindowQualityTracker } from '../../src/quality/window-checks.js';

type Op = { readonly kind: 'batch'; readonly records: readonly { t: number; v: Rec }[] } | { readonly kind: 'watermark'; readonly w: number };
interface Rec {
  a?: number | null;
  b?: { c?: number | null };
}

interface Found {
  startMs: number;
  count: number;
  rules: string[];
}

/** The reference: the rules of docs/quality.md, computed from scratch every time. */
function reference(check: WindowCheck, ops: readonly Op[]): { verdicts: Found[]; late: number[] } {
  const size = check.windowMs;
  const accepted: { t: number; v: Rec }[] = [];
  const counts: number[] = [];
  const verdicts: Found[] = [];
  const late: number[] = [];
  let closedBefore: number | null = null;
  let wm = Number.NEGATIVE_INFINITY;
  const startOf = (t: number): number => Math.floor(t / size) * size;
  const close = (boundary: number): void => {
    const open = accepted.filter((r) => closedBefore === null || startOf(r.t) >= closedBefore);
    let from = closedBefore ?? (open.length > 0 ? Math.min(...open.map((r) => startOf(r.t))) : null);
    // Nothing is judged before the first window with data.
    if (from === null || from >= boundary) return;
    for (let s = from; s < boundary; s += size) {
      const inside = accepted.filter((r) => startOf(r.t) === s);
      const rules: string[] = [];
      if (check.kind === 'volume') {
        if (check.min !== null && inside.length < check.min) rules.push('volume');
        if (check.max !== null && inside.length > check.max) rules.push('volume');
        const a = check.anomaly;
        if (a !== null) {
          const hist = counts.slice(-a.windows);
          if (hist.length >= a.minWindows) {
            const mean = hist.reduce((x, y) => x + y, 0) / hist.length;
            const sd = Math.sqrt(hist.reduce((x, y) => x + (y - mean) * (y - mean), 0) / hist.length);
            if (Math.abs(inside.length - mean) > a.k * Math.max(sd, a.minStddev)) rules.push('anomaly');
          }
        }
      } else if (inside.length > 0) {
        check.fields.forEach((f) => {
          const nulls = inside.filter((r) => {
            const x = f === 'a' ? r.v.a : r.v.b?.c;
            return x === null || x === undefined;
          }).length;
          if (nulls / inside.length > check.maxNullShare) rules.push('completeness');
        });
      }
      counts.push(inside.length);
      verdicts.push({ startMs: s, count: inside.length, rules });
      from = s + size;
    }
    closedBefore = boundary;
  };
  for (const op of ops) {
    if (op.kind === 'batch') {
      let n = 0;
      for (const r of op.records) {
        if (closedBefore !== null && startOf(r.t) < closedBefore) n++;
        else accepted.push(r);
      }
      late.push(n);
    } else if (op.w > wm) {
      wm = op.w;
      const boundary = wm === Number.POSITIVE_INFINITY ? (() => {
        const open = accepted.filter((r) => closedBefore === null || startOf(r.t) >= closedBefore);
        return open.length === 0 ? null : Math.max(...open.map((r) => startOf(r.t))) + size;
      })() : startOf(wm);
      if (boundary !== null && (closedBefore === null || boundary > closedBefore)) close(boundary);
      // After the end of input, every window is closed.
      if (wm === Number.POSITIVE_INFINITY) closedBefore = Number.POSITIVE_INFINITY;
    }
  }
  return { verdicts, late };
}

function actual(check: WindowCheck, ops: readonly Op[]): { verdicts: Found[]; late: number[] } {
  const tracker = new WindowQualityTracker(check);
  const verdicts: Found[] = [];
  const late: number[] = [];
  let wm = Number.NEGATIVE_INFINITY;
  const collect = (vs: WindowVerdict[]): void => {
    for (const v of vs) {
      expect(v.endMs - v.startMs).toBe(check.windowMs);
      verdicts.push({ startMs: v.startMs, count: v.count, rules: v.violations.map((x) => x.rule) });
    }
  };
  for (const op of ops) {
    if (op.kind === 'batch') {
      late.push(tracker.add(op.records.map((r) => r.v), op.records.map((r) => r.t)));
    } else if (op.w > wm) {
      // As the operator does: only advancing watermarks reach the tracker.
      wm = op.w;
      collect(tracker.advance(op.w));
    }
  }
  return { verdicts, late };
}

const nullable = fc.oneof(fc.constant(null), fc.constant(undefined), fc.integer({ min: 0, max: 9 }));
const rec: fc.Arbitrary<Rec> = fc.record({ a: nullable, b: fc.option(fc.record({ c: nullable }), { nil: undefined }) }, { requiredKeys: [] }) as fc.Arbitrary<Rec>;

/** A stream moving forward through time with bursts, lulls and out-of-order records, watermarks between batches. */
function opsArb(spanMs: number): fc.Arbitrary<Op[]> {
  const batch = fc.array(fc.record({ t: fc.integer({ min: 0, max: spanMs }), v: rec }), { maxLength: 25 }).map((records) => ({ kind: 'batch' as const, records }));
  const mark = fc.integer({ min: 0, max: spanMs }).map((w) => ({ kind: 'watermark' as const, w }));
  return fc
    .tuple(fc.array(fc.oneof({ weight: 3, arbitrary: batch }, { weight: 2, arbitrary: mark }), { maxLength: 60 }), fc.boolean())
    .map(([ops, finish]) => {
      // Watermarks mostly rise (as real ones do), sorted among themselves in place.
      const ws = ops.filter((o) => o.kind === 'watermark').map((o) => (o as { w: number }).w).sort((x, y) => x - y);
      let j = 0;
      const sorted: Op[] = ops.map((o) => (o.kind === 'watermark' ? { kind: 'watermark', w: ws[j++]! } : o));
      if (finish) sorted.push({ kind: 'watermark', w: Number.POSITIVE_INFINITY });
      return sorted;
    });
}

const anomalyArb: fc.Arbitrary<AnomalyRule | null> = fc.option(
  fc.integer({ min: 2, max: 8 }).chain((windows) =>
    fc.record({
      windows: fc.constant(windows),
      k: fc.constantFrom(0.5, 1, 1.5, 2, 3),
      minWindows: fc.integer({ min: 2, max: windows }),
      minStddev: fc.constantFrom(0, 0.5, 1, 2),
    }),
  ),
  { nil: null },
);

describe('window checks vs a brute-force reference', () => {
  it('volume: counts per window (gaps count 0), bounds, the anomaly rule, late records', () => {
    fc.assert(
      fc.property(
        // At least span / maxGapWindows, so no gap is long enough to be skipped (a fixed case covers that).
        fc.integer({ min: 25, max: 500 }),
        fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }),
        fc.option(fc.integer({ min: 0, max: 12 }), { nil: null }),
        anomalyArb,
        opsArb(20_000),
        (windowMs, min, max, anomaly, ops) => {
          fc.pre(min !== null || max !== null || anomaly !== null);
          fc.pre(min === null || max === null || min <= max);
          const check: VolumeCheck = { kind: 'volume', windowMs, min, max, anomaly };
          expect(actual(check, ops)).toEqual(reference(check, ops));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('completeness: share of missing/null values per field per window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 25, max: 2_000 }), fc.constantFrom(0, 0.1, 0.25, 0.5, 0.9, 1), opsArb(20_000), (windowMs, maxNullShare, ops) => {
        const check: CompletenessCheck = { kind: 'completeness', windowMs, fields: ['a', 'b.c'], maxNullShare };
        expect(actual(check, ops)).toEqual(reference(check, ops));
      }),
      { numRuns: 300 },
    );
  });
});

describe('window checks: fixed cases', () => {
  it('a drop in traffic: empty windows between data count 0 and break a minimum', () => {
    const tracker = new WindowQualityTracker(checks.volume({ windowMs: 1_000, min: 1 }));
    tracker.add([{}, {}], [100, 3_500]);
    const verdicts = tracker.advance(4_000);
    expect(verdicts.map((v) => [v.startMs, v.count, v.violations.map((x) => x.message)])).toEqual([
      [0, 1, []],
      [1_000, 0, ['count 0 is below the minimum 1']],
      [2_000, 0, ['count 0 is below the minimum 1']],
      [3_000, 1, []],
    ]);
  });

  it('the anomaly rule: a spike far outside the recent counts', () => {
    const tracker = new WindowQualityTracker(checks.volume({ windowMs: 10, anomaly: { windows: 5, k: 3, minWindows: 5, minStddev: 1 } }));
    const ts: number[] = [];
    const counts = [10, 11, 9, 10, 10, 40];
    counts.forEach((c, w) => {
      for (let i = 0; i < c; i++) ts.push(w * 10 + (i % 10));
    });
    tracker.add(ts.map(() => ({})), ts);
    const verdicts = tracker.advance(60);
    expect(verdicts.map((v) => v.violations.length)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(verdicts[5]!.violations[0]!.message).toBe('count 40 is 30.0 standard deviations from the mean 10.0 of the last 5 windows (limit 3)');
    expect(tracker.countHistory).toEqual([11, 9, 10, 10, 40]);
  });

  it('a gap longer than maxGapWindows: the oldest empty windows are skipped (but enter the history as zeros)', () => {
    const windows = 20;
    const tracker = new WindowQualityTracker(checks.volume({ windowMs: 1, min: 1, anomaly: { windows, minWindows: 2 } }));
    tracker.add([{}], [0]);
    const far = QualityLimits.maxGapWindows + 500;
    tracker.add([{}], [far]);
    const verdicts = tracker.advance(far + 1);
    expect(verdicts).toHaveLength(1 + QualityLimits.maxGapWindows + 1);
    expect(verdicts[1]!.skippedWindows).toBe(far - 1 - QualityLimits.maxGapWindows);
    expect(verdicts[1]!.startMs).toBe(far - QualityLimits.maxGapWindows);
    expect(verdicts.at(-1)!.startMs).toBe(far);
    expect(tracker.countHistory).toHaveLength(windows);
  });

  it('a bounded run: +Infinity closes every open window but makes no empty ones after the last', () => {
    const tracker = new WindowQualityTracker(checks.volume({ windowMs: 100, max: 1 }));
    tracker.add([{}, {}, {}], [5, 250, 260]);
    const verdicts = tracker.advance(Number.POSITIVE_INFINITY);
    expect(verdicts.map((v) => [v.startMs, v.count, v.violations.length])).toEqual([
      [0, 1, 0],
      [100, 0, 0],
      [200, 2, 1],
    ]);
    expect(tracker.add([{}], [999])).toBe(1); // everything is closed now: late
  });
});
