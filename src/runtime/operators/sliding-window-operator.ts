import type { EmitMode, KeyValue, PlanAggregator } from '../../plan/plan.js';
import type { Batch } from '../batch.js';
import { MinHeap } from '../min-heap.js';
import { type Slot, WindowOperatorBase } from './window-operator.js';

/*
 * Sliding windows as Kafka Streams' SlidingWindows, with d = maxDifferenceMs. Every window holds the
 * records with timestamps in [start, start + d] (both ends inclusive; emitted as [start, start + d + 1)):
 * - each record at t defines its left window [t - d, t];
 * - and its right window [t + 1, t + 1 + d] when that holds at least one record.
 * So there is one window per distinct set of records within d of each other. On top of the semantics in
 * window-operator.ts: a record is late when every window that could hold it has expired
 * (t + d + 1 + allowedLatenessMs <= W); otherwise it joins its unexpired windows (expired ones stay as
 * they were emitted). Results are recomputed from the key's records when emitted.
 */

interface KeyState {
  /** Records sorted by timestamp. */
  times: number[];
  values: unknown[];
  /** Known (non-empty, unexpired) windows by start. */
  readonly windows: Map<number, Slot & { fired: boolean }>;
}

export class SlidingWindowOperator extends WindowOperatorBase {
  private readonly keys = new Map<KeyValue, KeyState>();
  /** Timer per window end (exclusive): [end, key, start] triples, lazily checked. */
  private readonly timerEnds = new MinHeap();
  private readonly timers = new Map<number, { key: KeyValue; start: number }[]>();

  constructor(
    name: string,
    private readonly maxDifferenceMs: number,
    aggregator: PlanAggregator,
    emitMode: EmitMode,
    allowedLatenessMs: number,
  ) {
    super(name, aggregator, emitMode, allowedLatenessMs);
  }

  push(batch: Batch): void {
    const { values, timestamps } = batch;
    const keys = batch.keys!;
    const d = this.maxDifferenceMs;
    const watermarkMs = this.watermarkMs;
    const lateness = this.allowedLatenessMs;
    const touched = new Set<Slot & { fired: boolean }>();
    for (let i = 0; i < values.length; i++) {
      const t = timestamps[i]!;
      const key = keys[i]!;
      if (t + d + 1 + lateness <= watermarkMs) {
        this.recordLate(values[i], t, key);
        continue;
      }
      let state = this.keys.get(key);
      if (state === undefined) {
        state = { times: [], values: [], windows: new Map() };
        this.keys.set(key, state);
      }
      const at = upperBound(state.times, t);
      state.times.splice(at, 0, t);
      state.values.splice(at, 0, values[i]);
      // Windows whose content changes hold t, so start in [t - d, t]: the known ones (their defining record
      // may be gone), left(t), and right(u) of records u in [t - d - 1, t - 1] (new if they were empty).
      // right(t) does not hold t; it is created here if non-empty.
      const starts = new Set<number>([t - d]);
      for (const start of state.windows.keys()) if (start >= t - d && start <= t) starts.add(start);
      for (let j = lowerBound(state.times, t - d - 1); j < state.times.length && state.times[j]! <= t - 1; j++) starts.add(state.times[j]! + 1);
      if (upperBound(state.times, t + d + 1) > upperBound(state.times, t) && !state.windows.has(t + 1)) starts.add(t + 1);
      for (const start of starts) {
        const end = start + d + 1;
        if (end + lateness <= watermarkMs) continue; // expired: stays as emitted
        let slot = state.windows.get(start);
        if (slot === undefined) {
          slot = { startMs: start, endMs: end, key, acc: null, fired: false };
          state.windows.set(start, slot);
          this.addTimer(end, key, start);
        }
        if (end <= watermarkMs || this.emitMode === 'updates') touched.add(slot);
      }
    }
    if (touched.size > 0) {
      const slots = [...touched];
      for (const slot of slots) {
        this.compute(slot);
        if (slot.endMs <= watermarkMs) slot.fired = true;
      }
      this.emitSlots(slots, (slot) => slot.endMs <= watermarkMs);
    }
    this.endBatch();
  }

  protected advance(watermarkMs: number): void {
    const due: (Slot & { fired: boolean })[] = [];
    while (this.timerEnds.size > 0 && this.timerEnds.peek() <= watermarkMs) {
      const end = this.timerEnds.pop();
      for (const { key, start } of this.timers.get(end) ?? []) {
        const slot = this.keys.get(key)?.windows.get(start);
        if (slot !== undefined && !slot.fired) {
          slot.fired = true;
          this.compute(slot);
          due.push(slot);
        }
      }
      this.timers.delete(end);
    }
    this.emitSlots(due, () => true);
    const d = this.maxDifferenceMs;
    const lateness = this.allowedLatenessMs;
    for (const [key, state] of this.keys) {
      for (const [start, slot] of state.windows) if (slot.endMs + lateness <= watermarkMs) state.windows.delete(start);
      // A record is in windows ending (exclusively) by t + d + 1, and defines its right window, which ends
      // by t + d + 2: after that it can neither change nor create a live window.
      let drop = 0;
      while (drop < state.times.length && state.times[drop]! + d + 2 + lateness <= watermarkMs) drop++;
      if (drop > 0) {
        state.times.splice(0, drop);
        state.values.splice(0, drop);
      }
      if (state.times.length === 0 && state.windows.size === 0) this.keys.delete(key);
    }
  }

  /**
   * Per key: its records and its known windows as `[start, fired]` (results are recomputed from the
   * records); then the timers as they are (their order decides the order of results with equal ends).
   */
  protected snapshotWindows(): unknown[] {
    const rows: unknown[] = [];
    for (const [key, state] of this.keys) {
      const windows: [number, boolean][] = [];
      for (const [start, slot] of state.windows) windows.push([start, slot.fired]);
      rows.push([key, state.times, state.values, windows]);
    }
    const timers: unknown[] = [];
    for (const [end, list] of this.timers) timers.push([end, list.map((t) => [t.key, t.start])]);
    return [rows, timers, this.timerEnds.toArray()];
  }

  protected restoreWindows(state: readonly unknown[]): void {
    this.keys.clear();
    this.timers.clear();
    const d = this.maxDifferenceMs;
    for (const [key, times, values, windows] of state[0] as [KeyValue, number[], unknown[], [number, boolean][]][]) {
      const keyState: KeyState = { times, values, windows: new Map() };
      for (const [start, fired] of windows) keyState.windows.set(start, { startMs: start, endMs: start + d + 1, key, acc: null, fired });
      this.keys.set(key, keyState);
    }
    for (const [end, list] of state[1] as [number, [KeyValue, number][]][]) this.timers.set(end, list.map(([key, start]) => ({ key, start })));
    this.timerEnds.reset(state[2] as number[]);
  }

  private compute(slot: Slot): void {
    const state = this.keys.get(slot.key)!;
    let acc = this.aggregator.create();
    const to = upperBound(state.times, slot.startMs + this.maxDifferenceMs);
    for (let j = lowerBound(state.times, slot.startMs); j < to; j++) acc = this.aggregator.add(acc, state.values[j], state.times[j]!);
    slot.acc = acc;
  }

  private addTimer(end: number, key: KeyValue, start: number): void {
    let list = this.timers.get(end);
    if (list === undefined) {
      this.timers.set(end, (list = []));
      this.timerEnds.push(end);
    }
    list.push({ key, start });
  }
}

/** First index with a[i] >= x. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index with a[i] > x. */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
