import type { EmitMode, KeyValue, PlanAggregator, WindowSpec } from '../../plan/plan.js';
import { type Batch, type Edge, type Operator, emit, emitWatermark } from '../batch.js';
import { MinHeap } from '../min-heap.js';

/*
 * Event-time window semantics (shared by every window operator; docs/windows.md has the long form):
 * - A window is [startMs, endMs). The operator's watermark W says no more events with timestamp < W are
 *   expected.
 * - A window fires when W >= endMs: its result is emitted with `final: true`, windows in ascending end
 *   order (keys in the order they first appeared in the window).
 * - A window is kept until W >= endMs + allowedLatenessMs. A record for a window that fired but is
 *   still kept updates it and re-emits its result (`final: true`) at the end of the batch.
 * - A record whose every window is past endMs + allowedLatenessMs is late: it goes to the late output
 *   (never dropped unseen).
 * - Emit mode `updates` also emits each window changed by a batch once, at the end of that batch,
 *   with `final: false`, before it fires.
 * The watermark is taken as it was when the batch arrived; it advances between batches.
 */

export interface Slot {
  readonly startMs: number;
  readonly endMs: number;
  readonly key: KeyValue;
  acc: unknown;
}

/** Shared output plumbing: result emission in batches, late output, change tracking. */
export abstract class WindowOperatorBase implements Operator {
  readonly outputs: Edge[] = [];
  /** Where late records go (the plan's lateOutput node), if anyone reads them. */
  readonly lateOutputs: Edge[] = [];
  protected watermarkMs = Number.NEGATIVE_INFINITY;
  /** Windows changed by the current batch, emitted when it ends. */
  protected readonly changed = new Set<Slot>();
  protected lateValues: unknown[] = [];
  protected lateTimestamps: number[] = [];
  protected lateKeys: KeyValue[] = [];

  constructor(
    readonly name: string,
    protected readonly aggregator: PlanAggregator,
    protected readonly emitMode: EmitMode,
    protected readonly allowedLatenessMs: number,
  ) {}

  abstract push(batch: Batch, input: number): void;
  protected abstract advance(watermarkMs: number): void;

  watermark(watermarkMs: number): void {
    if (watermarkMs <= this.watermarkMs) return;
    this.watermarkMs = watermarkMs;
    this.advance(watermarkMs);
    emitWatermark(this.outputs, watermarkMs);
    emitWatermark(this.lateOutputs, watermarkMs);
  }

  /** Emits the changed windows and the late records of the batch just processed. */
  protected endBatch(): void {
    if (this.changed.size > 0) {
      const slots = [...this.changed];
      this.changed.clear();
      this.emitSlots(slots, (slot) => slot.endMs <= this.watermarkMs);
    }
    if (this.lateValues.length > 0) {
      const late: Batch = { values: this.lateValues, timestamps: this.lateTimestamps, keys: this.lateKeys };
      this.lateValues = [];
      this.lateTimestamps = [];
      this.lateKeys = [];
      emit(this.lateOutputs, late);
    }
  }

  protected recordLate(value: unknown, ts: number, key: KeyValue): void {
    this.lateValues.push(value);
    this.lateTimestamps.push(ts);
    this.lateKeys.push(key);
  }

  /** Emits `value: null, retracted: true` for windows whose earlier results no longer stand (merged sessions). */
  protected emitRetracted(windows: readonly { key: KeyValue; startMs: number; endMs: number }[]): void {
    const values = windows.map((w) => ({ key: w.key, windowStartMs: w.startMs, windowEndMs: w.endMs, value: null, final: true, retracted: true }));
    emit(this.outputs, { values, timestamps: windows.map((w) => w.endMs - 1), keys: windows.map((w) => w.key) });
  }

  protected emitSlots(slots: readonly Slot[], isFinal: (slot: Slot) => boolean): void {
    if (slots.length === 0) return;
    const values: unknown[] = new Array(slots.length);
    const timestamps: number[] = new Array(slots.length);
    const keys: KeyValue[] = new Array(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      values[i] = {
        key: slot.key,
        windowStartMs: slot.startMs,
        windowEndMs: slot.endMs,
        value: this.aggregator.result(slot.acc),
        final: isFinal(slot),
      };
      // A window result happens at the window's last instant (as Flink's window.maxTimestamp()).
      timestamps[i] = slot.endMs - 1;
      keys[i] = slot.key;
    }
    emit(this.outputs, { values, timestamps, keys });
  }
}

/** Tumbling and hopping windows: aligned to a grid of `advanceMs` (= sizeMs for tumbling). */
export class AlignedWindowOperator extends WindowOperatorBase {
  private readonly sizeMs: number;
  private readonly advanceMs: number;
  private readonly offsetMs: number;
  /** Window start → key → slot. */
  private readonly windows = new Map<number, Map<KeyValue, Slot>>();
  /** Starts of windows not fired yet, and of fired windows not purged yet. */
  private readonly toFire = new MinHeap();
  private readonly toPurge = new MinHeap();

  constructor(name: string, spec: Extract<WindowSpec, { type: 'tumbling' | 'hopping' }>, aggregator: PlanAggregator, emitMode: EmitMode, allowedLatenessMs: number) {
    super(name, aggregator, emitMode, allowedLatenessMs);
    this.sizeMs = spec.sizeMs;
    this.advanceMs = spec.type === 'hopping' ? spec.advanceMs : spec.sizeMs;
    this.offsetMs = spec.offsetMs;
  }

  push(batch: Batch): void {
    const { values, timestamps } = batch;
    const keys = batch.keys!;
    const { sizeMs, advanceMs, offsetMs, allowedLatenessMs, aggregator } = this;
    const watermarkMs = this.watermarkMs;
    for (let i = 0; i < values.length; i++) {
      const ts = timestamps[i]!;
      const key = keys[i]!;
      const value = values[i];
      let accepted = false;
      // The last window containing ts starts at or before ts on the advance grid; earlier ones overlap it.
      const lastStart = ts - mod(ts - offsetMs, advanceMs);
      for (let start = lastStart; start > ts - sizeMs; start -= advanceMs) {
        const end = start + sizeMs;
        if (end + allowedLatenessMs <= watermarkMs) continue; // this window is gone
        accepted = true;
        let bucket = this.windows.get(start);
        if (bucket === undefined) {
          bucket = new Map();
          this.windows.set(start, bucket);
          if (end <= watermarkMs) this.toPurge.push(start);
          else this.toFire.push(start);
        }
        let slot = bucket.get(key);
        if (slot === undefined) {
          slot = { startMs: start, endMs: end, key, acc: aggregator.create() };
          bucket.set(key, slot);
        }
        slot.acc = aggregator.add(slot.acc, value, ts);
        if (end <= watermarkMs || this.emitMode === 'updates') this.changed.add(slot);
      }
      if (!accepted) this.recordLate(value, ts, key);
    }
    this.endBatch();
  }

  protected advance(watermarkMs: number): void {
    // Fire in ascending end order (all windows have the same size, so start order is end order).
    while (this.toFire.size > 0 && this.toFire.peek() + this.sizeMs <= watermarkMs) {
      const start = this.toFire.pop();
      const bucket = this.windows.get(start)!;
      for (const slot of bucket.values()) this.changed.delete(slot);
      this.emitSlots([...bucket.values()], () => true);
      this.toPurge.push(start);
    }
    while (this.toPurge.size > 0 && this.toPurge.peek() + this.sizeMs + this.allowedLatenessMs <= watermarkMs) {
      this.windows.delete(this.toPurge.pop());
    }
  }

  /** Number of live (key, window) slots: for metrics and state-size tests. */
  get slotCount(): number {
    let n = 0;
    for (const bucket of this.windows.values()) n += bucket.size;
    return n;
  }
}

/** Euclidean modulo: the grid must also work for negative timestamps. */
function mod(a: number, m: number): number {
  const r = a % m;
  return r < 0 ? r + m : r;
}
