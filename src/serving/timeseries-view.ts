import { type Clock, systemClock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { type AnyAggregator } from '../dsl/aggregators/aggregator.js';
import { aggregatorFromSpec } from '../dsl/aggregators/spec.js';
import type { ViewDefinition, ViewUpdate } from '../plan/view-update.js';
import { ServingLimits } from './limits.js';
import { BaseView } from './view.js';

/** One point of a series: one window's result for one key. */
export interface SeriesPoint {
  readonly windowStartMs: number;
  /** The window's end (exclusive); for an update without a window, its event time. */
  readonly windowEndMs: number;
  readonly value: unknown;
  readonly eventTimeMs: number;
  readonly final?: boolean;
  /** The window's encoded accumulator, when the pipeline sent one (for `step`). */
  readonly acc?: Uint8Array;
}

/** A downsampled point: the windows starting in [startMs, endMs) merged. */
export interface StepPoint {
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly value: unknown;
  /** Windows merged into this point. */
  readonly windows: number;
}

/** What `range` returns. */
export interface SeriesRange<P> {
  readonly points: P[];
  /** More points matched than `ServingLimits.maxSeriesPoints`. */
  readonly truncated: boolean;
}

/** Per key: points sorted by window start (parallel arrays: binary search on plain numbers). */
interface Series {
  starts: number[];
  points: SeriesPoint[];
}

/**
 * The time-series view: per key, one point per window, for dashboards. `range(key, from, to)` returns
 * the points whose window starts in [from, to); with `stepMs` the windows are re-aggregated into buckets
 * aligned to the epoch (bucket = ⌊windowStart / step⌋·step): each point's accumulator is decoded with the
 * view's aggregator spec and merged, so an average of a bucket is the average of its events, never an
 * average of averages. Retention: points whose window ended more than `retentionMs` ago (wall time of
 * the view's clock) are dropped.
 *
 * @example
 * ```ts
 * const view = new TimeSeriesView({ name: 'rpm', kind: 'timeseries', pipeline: 'p', topic: viewTopic('rpm'), aggregator: { kind: 'count' } });
 * view.range('ann', 0, 3_600_000).points;             // one point per minute window
 * view.rangeStep('ann', 0, 3_600_000, 600_000).points; // ten-minute buckets, counts summed exactly
 * ```
 */
export class TimeSeriesView extends BaseView {
  private readonly series = new Map<string, Series>();
  private pointCount = 0;
  private aggregator: AnyAggregator | null | undefined;
  private lastSweepMs = -Infinity;

  constructor(definition: ViewDefinition, clock: Clock = systemClock) {
    super(definition, clock);
  }

  override redefine(definition: ViewDefinition): void {
    super.redefine(definition);
    this.aggregator = undefined;
  }

  protected applyRange(updates: readonly ViewUpdate[], from: number, to: number): void {
    const cutoff = this.cutoffMs();
    for (let i = from; i < to; i++) {
      const u = updates[i]!;
      const start = u.windowStartMs ?? u.eventTimeMs;
      let s = this.series.get(u.key);
      if (u.deleted === true) {
        if (s !== undefined) this.remove(u.key, s, start);
        continue;
      }
      const end = u.windowEndMs ?? u.eventTimeMs;
      if (end < cutoff) continue; // already past retention
      if (s === undefined) {
        s = { starts: [], points: [] };
        this.series.set(u.key, s);
      }
      const point: SeriesPoint = {
        windowStartMs: start,
        windowEndMs: end,
        value: u.value,
        eventTimeMs: u.eventTimeMs,
        ...(u.final !== undefined && { final: u.final }),
        ...(u.acc !== undefined && { acc: u.acc }),
      };
      const starts = s.starts;
      const n = starts.length;
      // Windows mostly arrive in order: appending is the common case.
      if (n === 0 || starts[n - 1]! < start) {
        starts.push(start);
        s.points.push(point);
        this.pointCount++;
      } else {
        const at = lowerBound(starts, start);
        if (starts[at] === start) s.points[at] = point;
        else {
          starts.splice(at, 0, start);
          s.points.splice(at, 0, point);
          this.pointCount++;
        }
      }
    }
    this.sweep();
  }

  /** Points of `key` with window start in [fromMs, toMs), oldest first. */
  range(key: string, fromMs: number, toMs: number): SeriesRange<SeriesPoint> {
    const s = this.series.get(key);
    if (s === undefined) return { points: [], truncated: false };
    const cutoff = this.cutoffMs();
    const points: SeriesPoint[] = [];
    let i = lowerBound(s.starts, fromMs);
    for (; i < s.starts.length && s.starts[i]! < toMs; i++) {
      const p = s.points[i]!;
      if (p.windowEndMs < cutoff) continue;
      if (points.length === ServingLimits.maxSeriesPoints) return { points, truncated: true };
      points.push(p);
    }
    return { points, truncated: false };
  }

  /**
   * Points of `key` in [fromMs, toMs) re-aggregated into epoch-aligned buckets of `stepMs`. Throws
   * FRESHET_STEP_UNSUPPORTED when the view has no aggregator spec, a point has no accumulator, or two
   * windows in the range overlap (hopping windows: merging them would count events more than once).
   */
  rangeStep(key: string, fromMs: number, toMs: number, stepMs: number): SeriesRange<StepPoint> {
    if (!Number.isFinite(stepMs) || stepMs <= 0) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `step must be a positive number of ms, got ${stepMs}`);
    const agg = this.stepAggregator();
    const { points, truncated } = this.range(key, fromMs, toMs);
    const out: StepPoint[] = [];
    let bucket = NaN;
    let acc: unknown = undefined;
    let windows = 0;
    let prevEnd = -Infinity;
    const flush = (): void => {
      if (windows > 0) out.push({ windowStartMs: bucket, windowEndMs: bucket + stepMs, value: agg.result(acc), windows });
    };
    for (const p of points) {
      if (p.windowStartMs < prevEnd) {
        throw new FreshetError(ErrorCodes.STEP_UNSUPPORTED, `view '${this.name}': windows overlap (hopping windows), so merging them would count events more than once; query without step`, { view: this.name });
      }
      prevEnd = p.windowEndMs;
      if (p.acc === undefined) {
        throw new FreshetError(ErrorCodes.STEP_UNSUPPORTED, `view '${this.name}': the point at ${p.windowStartMs} carries no accumulator to re-aggregate; query without step`, { view: this.name });
      }
      const b = Math.floor(p.windowStartMs / stepMs) * stepMs;
      if (b !== bucket) {
        flush();
        bucket = b;
        acc = agg.create();
        windows = 0;
      }
      acc = agg.merge(acc, agg.decode(p.acc));
      windows++;
    }
    flush();
    return { points: out, truncated };
  }

  /** The most recent point of `key`, or undefined. */
  latest(key: string): SeriesPoint | undefined {
    const s = this.series.get(key);
    if (s === undefined || s.points.length === 0) return undefined;
    const p = s.points[s.points.length - 1]!;
    return p.windowEndMs < this.cutoffMs() ? undefined : p;
  }

  /** Keys with at least one point. */
  keys(): string[] {
    return [...this.series.keys()];
  }

  /** Points held (all keys). */
  size(): number {
    return this.pointCount;
  }

  private stepAggregator(): AnyAggregator {
    if (this.aggregator === undefined) {
      const spec = this.definition.aggregator;
      this.aggregator = spec === undefined ? null : aggregatorFromSpec(spec);
    }
    if (this.aggregator === null) {
      throw new FreshetError(
        ErrorCodes.STEP_UNSUPPORTED,
        `view '${this.name}' has no built-in aggregator spec (a user-defined aggregator or no window aggregate), so its points cannot be re-aggregated; query without step`,
        { view: this.name },
      );
    }
    return this.aggregator;
  }

  private cutoffMs(): number {
    const retention = this.definition.retentionMs;
    return retention === undefined ? -Infinity : this.clock.nowMs() - retention;
  }

  private remove(key: string, s: Series, start: number): void {
    const at = lowerBound(s.starts, start);
    if (s.starts[at] !== start) return;
    s.starts.splice(at, 1);
    s.points.splice(at, 1);
    this.pointCount--;
    if (s.starts.length === 0) this.series.delete(key);
  }

  /** Drops expired points of every key, at most once per `retentionSweepIntervalMs` of wall time. */
  private sweep(): void {
    if (this.definition.retentionMs === undefined) return;
    const now = this.clock.nowMs();
    if (now - this.lastSweepMs < ServingLimits.retentionSweepIntervalMs) return;
    this.lastSweepMs = now;
    const cutoff = this.cutoffMs();
    for (const [key, s] of this.series) {
      // Points are sorted by start, and (for tumbling/hopping windows) ends follow starts: drop a prefix.
      let k = 0;
      while (k < s.points.length && s.points[k]!.windowEndMs < cutoff) k++;
      if (k === 0) continue;
      s.starts.splice(0, k);
      s.points.splice(0, k);
      this.pointCount -= k;
      if (s.starts.length === 0) this.series.delete(key);
    }
  }
}

function lowerBound(a: readonly number[], target: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
