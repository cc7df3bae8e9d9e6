import { assert } from '../core/assert.js';
import type { CompletenessCheck, VolumeCheck, WindowCheck } from '../plan/quality-check.js';
import { type CompiledPath, compileFieldPath, readField } from './field-path.js';
import { QualityLimits } from './limits.js';

/** Which rule a window broke. */
export type WindowRule = 'volume' | 'completeness' | 'anomaly';

/**
 * One broken rule of one closed window.
 *
 * @example
 * ```ts
 * const v: WindowViolation = { rule: 'volume', message: 'count 0 is below the minimum 10', details: { min: 10, max: null } };
 * ```
 */
export interface WindowViolation {
  readonly rule: WindowRule;
  readonly message: string;
  readonly details: Readonly<Record<string, number | string | null>>;
}

/**
 * A closed window and what it broke (nothing, usually).
 *
 * @example
 * ```ts
 * for (const w of tracker.advance(watermarkMs)) if (w.violations.length > 0) alert(w);
 * ```
 */
export interface WindowVerdict {
  readonly startMs: number;
  readonly endMs: number;
  readonly count: number;
  readonly violations: readonly WindowViolation[];
  /** Empty windows of a long gap before this one that were not evaluated (QualityLimits.maxGapWindows). */
  readonly skippedWindows: number;
}

interface OpenWindow {
  count: number;
  /** Missing/null values per field (completeness only). */
  readonly nulls: number[] | null;
}

/**
 * Counts records per tumbling event-time window and judges each window when the watermark closes it
 * (a window [start, start + windowMs) closes once the watermark reaches its end, as window operators
 * do): count bounds, the anomaly rule on the count history, and the null share per field.
 *
 * Windows between the first one with data and the watermark that saw no record count as 0 (that is how
 * a volume check notices traffic that dropped). A record for a window already closed is late: counted
 * by `add`'s result, not in any window. Memory: at most QualityLimits.maxOpenWindows open windows (the
 * oldest is closed early beyond it) and `anomaly.windows` counts of history.
 *
 * @example
 * ```ts
 * const tracker = new WindowQualityTracker(checks.volume({ windowMs: 1_000, min: 1 }));
 * tracker.add([{}, {}], [100, 2_500]);
 * tracker.advance(3_000); // windows 0, 1000 (empty: count 0, below the minimum) and 2000
 * ```
 */
export class WindowQualityTracker {
  private readonly windowMs: number;
  private readonly open = new Map<number, OpenWindow>();
  /** Every window starting before this is closed; null until the first close. */
  private nextStartMs: number | null = null;
  private readonly history: number[] = [];
  private readonly paths: readonly CompiledPath[];
  private readonly ready: WindowVerdict[] = [];

  constructor(readonly check: WindowCheck) {
    this.windowMs = check.windowMs;
    this.paths = check.kind === 'completeness' ? check.fields.map(compileFieldPath) : [];
  }

  /** Windows currently open. */
  get openWindows(): number {
    return this.open.size;
  }

  /** The count history the anomaly rule sees (oldest first). */
  get countHistory(): readonly number[] {
    return this.history;
  }

  /**
   * The state as plain data, for checkpoints: `[windowMs, nextStartMs, starts, counts, nulls (flat,
   * fields per window), history]`.
   */
  snapshot(): unknown[] {
    const starts = [...this.open.keys()];
    const counts: number[] = [];
    const nulls: number[] = [];
    for (const s of starts) {
      const w = this.open.get(s)!;
      counts.push(w.count);
      if (w.nulls !== null) nulls.push(...w.nulls);
    }
    return [this.windowMs, this.nextStartMs, starts, counts, nulls, [...this.history]];
  }

  /** Restores a snapshot; one taken with another window size or field count is ignored (windows start over). */
  restore(snapshot: readonly unknown[]): boolean {
    const [windowMs, nextStartMs, starts, counts, nulls, history] = snapshot as [number, number | null, number[], number[], number[], number[]];
    const fields = this.paths.length;
    if (windowMs !== this.windowMs || nulls.length !== starts.length * fields) return false;
    this.open.clear();
    starts.forEach((start, i) => {
      this.open.set(start, { count: counts[i]!, nulls: fields > 0 ? nulls.slice(i * fields, (i + 1) * fields) : null });
    });
    this.nextStartMs = nextStartMs;
    const limit = this.check.kind === 'volume' && this.check.anomaly !== null ? this.check.anomaly.windows : 0;
    this.history.length = 0;
    this.history.push(...history.slice(Math.max(0, history.length - limit)));
    return true;
  }

  /** Counts a batch; returns how many of its records were late (their window had closed). */
  add(values: readonly unknown[], timestamps: readonly number[]): number {
    const size = this.windowMs;
    const paths = this.paths;
    const fieldCount = paths.length;
    let late = 0;
    let current: OpenWindow | undefined;
    let currentStart = Number.NaN;
    for (let i = 0; i < timestamps.length; i++) {
      const start = Math.floor(timestamps[i]! / size) * size;
      if (start !== currentStart) {
        if (this.nextStartMs !== null && start < this.nextStartMs) {
          late++;
          continue;
        }
        current = this.open.get(start);
        if (current === undefined) {
          current = { count: 0, nulls: fieldCount > 0 ? new Array<number>(fieldCount).fill(0) : null };
          this.open.set(start, current);
          if (this.open.size > QualityLimits.maxOpenWindows) {
            // Too many windows at once: judge the oldest now rather than hold more.
            this.closeBefore(Math.min(...this.open.keys()) + size);
            if (this.nextStartMs !== null && start < this.nextStartMs) {
              late++;
              currentStart = Number.NaN;
              continue;
            }
          }
        }
        currentStart = start;
      }
      const w = current!;
      w.count++;
      if (w.nulls !== null) {
        const value = values[i];
        for (let f = 0; f < fieldCount; f++) {
          const field = readField(value, paths[f]!);
          if (field === null || field === undefined) w.nulls[f]!++;
        }
      }
    }
    return late;
  }

  /**
   * Closes the windows the watermark has passed and returns their verdicts (with any closed early by
   * `add`), oldest first. `+Infinity` (a bounded run's end) closes every open window.
   */
  advance(watermarkMs: number): WindowVerdict[] {
    const size = this.windowMs;
    let boundary: number;
    if (watermarkMs === Number.POSITIVE_INFINITY) {
      boundary = this.open.size === 0 ? Number.NEGATIVE_INFINITY : Math.max(...this.open.keys()) + size;
    } else {
      boundary = Math.floor(watermarkMs / size) * size;
    }
    if (boundary > Number.NEGATIVE_INFINITY) this.closeBefore(boundary);
    // The end of input: whatever comes now is late.
    if (watermarkMs === Number.POSITIVE_INFINITY) this.nextStartMs = Number.POSITIVE_INFINITY;
    return this.ready.splice(0);
  }

  /** Judges every window starting before `boundary` (aligned), gaps included, in order. */
  private closeBefore(boundary: number): void {
    const size = this.windowMs;
    const starts = [...this.open.keys()].filter((s) => s < boundary).sort((a, b) => a - b);
    let cursor = this.nextStartMs ?? (starts.length > 0 ? starts[0]! : null);
    if (cursor === null || cursor >= boundary) return;
    let next = 0;
    while (cursor < boundary) {
      const dataStart = next < starts.length ? starts[next]! : boundary;
      // Empty windows from cursor up to the next one with data (or the boundary).
      let empties = (dataStart - cursor) / size;
      let skipped = 0;
      if (empties > QualityLimits.maxGapWindows) {
        skipped = empties - QualityLimits.maxGapWindows;
        this.skipEmpty(skipped);
        cursor += skipped * size;
        empties = QualityLimits.maxGapWindows;
      }
      for (let e = 0; e < empties; e++) {
        this.ready.push(this.judge(cursor, 0, null, skipped));
        skipped = 0;
        cursor += size;
      }
      if (dataStart >= boundary) break;
      assert(cursor === dataStart, 'window cursor meets the next open window');
      const w = this.open.get(dataStart)!;
      this.open.delete(dataStart);
      this.ready.push(this.judge(dataStart, w.count, w.nulls, skipped));
      cursor += size;
      next++;
    }
    this.nextStartMs = boundary;
  }

  /** Skipped empty windows still enter the count history (as zeros), so the anomaly rule stays exact. */
  private skipEmpty(windows: number): void {
    const rule = this.check.kind === 'volume' ? this.check.anomaly : null;
    if (rule === null) return;
    for (let i = 0; i < Math.min(windows, rule.windows); i++) this.pushHistory(0, rule.windows);
  }

  private pushHistory(count: number, limit: number): void {
    this.history.push(count);
    if (this.history.length > limit) this.history.shift();
  }

  private judge(startMs: number, count: number, nulls: number[] | null, skippedWindows: number): WindowVerdict {
    const violations: WindowViolation[] = [];
    const check = this.check;
    if (check.kind === 'volume') judgeVolume(check, count, this.history, violations);
    else judgeCompleteness(check, count, nulls, violations);
    if (check.kind === 'volume' && check.anomaly !== null) this.pushHistory(count, check.anomaly.windows);
    return { startMs, endMs: startMs + this.windowMs, count, violations, skippedWindows };
  }
}

/**
 * Mean and population standard deviation of the counts (two passes, oldest first: the reference tests
 * compute it the same way, so results are bit-identical).
 *
 * @example
 * ```ts
 * meanAndStddev([2, 4, 4, 4, 5, 5, 7, 9]) // { mean: 5, stddev: 2 }
 * ```
 */
export function meanAndStddev(counts: readonly number[]): { mean: number; stddev: number } {
  let sum = 0;
  for (const c of counts) sum += c;
  const mean = sum / counts.length;
  let squares = 0;
  for (const c of counts) squares += (c - mean) * (c - mean);
  return { mean, stddev: Math.sqrt(squares / counts.length) };
}

function judgeVolume(check: VolumeCheck, count: number, history: readonly number[], out: WindowViolation[]): void {
  if (check.min !== null && count < check.min) {
    out.push({ rule: 'volume', message: `count ${count} is below the minimum ${check.min}`, details: { min: check.min, max: check.max } });
  }
  if (check.max !== null && count > check.max) {
    out.push({ rule: 'volume', message: `count ${count} is above the maximum ${check.max}`, details: { min: check.min, max: check.max } });
  }
  const rule = check.anomaly;
  if (rule !== null && history.length >= rule.minWindows) {
    const { mean, stddev } = meanAndStddev(history);
    const sigma = Math.max(stddev, rule.minStddev);
    const deviation = Math.abs(count - mean);
    if (deviation > rule.k * sigma) {
      out.push({
        rule: 'anomaly',
        message: `count ${count} is ${sigma > 0 ? (deviation / sigma).toFixed(1) : '∞'} standard deviations from the mean ${mean.toFixed(1)} of the last ${history.length} windows (limit ${rule.k})`,
        details: { mean, stddev, k: rule.k, windows: history.length },
      });
    }
  }
}

function judgeCompleteness(check: CompletenessCheck, count: number, nulls: number[] | null, out: WindowViolation[]): void {
  if (count === 0 || nulls === null) return;
  for (let f = 0; f < check.fields.length; f++) {
    const share = nulls[f]! / count;
    if (share > check.maxNullShare) {
      out.push({
        rule: 'completeness',
        message: `${check.fields[f]} is missing or null in ${(share * 100).toFixed(1)}% of ${count} records (at most ${(check.maxNullShare * 100).toFixed(1)}%)`,
        details: { field: check.fields[f]!, nullShare: share, maxNullShare: check.maxNullShare, nulls: nulls[f]! },
      });
    }
  }
}
