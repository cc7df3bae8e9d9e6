import { assert } from '../../core/assert.js';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { Limits } from '../../core/limits.js';
import type { EmitMode, KeyValue, PlanAggregator, WindowSpec } from '../../plan/plan.js';
import { type OperatorSnapshot, checkSnapshot, hasPlainState } from './stateful.js';
import { type Batch, type Edge, type Operator, emit, emitWatermark } from '../batch.js';
import { MinHeap } from '../min-heap.js';
import { SnapshotWriter } from '../snapshot-writer.js';
import { ColumnBucket, type WindowBucket, newWindowBucket } from './window-buckets.js';

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
  /**
   * Results also carry `acc`, the accumulator encoded at emission: set when a time-series view reads
   * this operator, so the view can re-aggregate windows (`step`) by merging instead of averaging results.
   */
  attachAccumulators = false;
  /** Records that came after their windows' allowed lateness (sent to the late output), since start. */
  lateRecordCount = 0;

  constructor(
    readonly name: string,
    protected readonly aggregator: PlanAggregator,
    protected readonly emitMode: EmitMode,
    protected readonly allowedLatenessMs: number,
  ) {}

  abstract push(batch: Batch, input: number): void;
  protected abstract advance(watermarkMs: number): void;
  /** The subclass's windows and timers as plain data (see StatefulOperator). */
  protected abstract snapshotWindows(): unknown[];
  protected abstract restoreWindows(state: readonly unknown[]): void;

  /** Accumulators go into snapshots as they are (see hasPlainState), not through `encode`. */
  protected get plainState(): boolean {
    return (this.plainStateCached ??= hasPlainState(this.aggregator as { kind: string; parts?: unknown }));
  }
  private plainStateCached: boolean | undefined;
  /** How snapshots hold accumulators: 'plain' or 'encoded' (see above), or `columns:<layout>` (see window-buckets.ts). */
  protected get accMode(): string {
    return this.plainState ? 'plain' : 'encoded';
  }
  /** How the snapshot being restored holds accumulators (its accMode). */
  protected restoringMode = 'encoded';

  snapshotState(): OperatorSnapshot {
    return [1, this.constructor.name, this.watermarkMs, this.snapshotWindows(), this.accMode];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, this.constructor.name, 1, snapshot);
    this.watermarkMs = snapshot[2] as number;
    this.restoringMode = String(snapshot[4]);
    this.restoreWindows(snapshot[3] as unknown[]);
  }

  protected encodeAcc(acc: unknown): unknown {
    return this.plainState ? acc : this.aggregator.encode(acc);
  }

  protected decodeAcc(stored: unknown): unknown {
    return this.restoringMode === 'plain' ? stored : this.aggregator.decode(stored as Uint8Array);
  }

  watermark(watermarkMs: number): void {
    if (watermarkMs <= this.watermarkMs) return;
    this.watermarkMs = watermarkMs;
    this.advance(watermarkMs);
    emitWatermark(this.outputs, watermarkMs);
    emitWatermark(this.lateOutputs, watermarkMs);
  }

  /** (window start, key) pairs changed by the current batch (aligned windows), in first-touch order, each once. */
  private changedStarts: number[] = [];
  private changedKeys: KeyValue[] = [];
  private readonly changedSeen = new Map<number, Set<KeyValue>>();

  protected markPairChanged(start: number, key: KeyValue): void {
    let seen = this.changedSeen.get(start);
    if (seen === undefined) this.changedSeen.set(start, (seen = new Set()));
    if (seen.has(key)) return;
    seen.add(key);
    this.changedStarts.push(start);
    this.changedKeys.push(key);
  }

  /** Emits the pairs the batch changed (updates mode, or late updates of fired windows) and forgets them. */
  protected emitChangedPairs(sizeMs: number, accOf: (start: number, key: KeyValue) => unknown): void {
    const n = this.changedStarts.length;
    if (n === 0) return;
    const starts = this.changedStarts;
    const keys = this.changedKeys;
    this.changedStarts = [];
    this.changedKeys = [];
    this.changedSeen.clear();
    const values: unknown[] = new Array(n);
    const timestamps: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const start = starts[i]!;
      const end = start + sizeMs;
      values[i] = this.windowResult(keys[i]!, start, end, accOf(start, keys[i]!), end <= this.watermarkMs);
      timestamps[i] = end - 1;
    }
    emit(this.outputs, { values, timestamps, keys });
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
    this.lateRecordCount++;
    this.lateValues.push(value);
    this.lateTimestamps.push(ts);
    this.lateKeys.push(key);
  }

  /** Emits `value: null, retracted: true` for windows whose earlier results no longer stand (merged sessions). */
  protected emitRetracted(windows: readonly { key: KeyValue; startMs: number; endMs: number }[]): void {
    const values = windows.map((w) => ({ key: w.key, windowStartMs: w.startMs, windowEndMs: w.endMs, value: null, final: true, retracted: true }));
    emit(this.outputs, { values, timestamps: windows.map((w) => w.endMs - 1), keys: windows.map((w) => w.key) });
  }

  protected windowResult(key: KeyValue, windowStartMs: number, windowEndMs: number, acc: unknown, final: boolean): unknown {
    const value = this.aggregator.result(acc);
    return this.attachAccumulators
      ? { key, windowStartMs, windowEndMs, value, final, acc: this.aggregator.encode(acc) }
      : { key, windowStartMs, windowEndMs, value, final };
  }

  protected emitSlots(slots: readonly Slot[], isFinal: (slot: Slot) => boolean): void {
    if (slots.length === 0) return;
    const values: unknown[] = new Array(slots.length);
    const timestamps: number[] = new Array(slots.length);
    const keys: KeyValue[] = new Array(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      values[i] = this.windowResult(slot.key, slot.startMs, slot.endMs, slot.acc, isFinal(slot));
      // A window result happens at the window's last instant (as Flink's window.maxTimestamp()).
      timestamps[i] = slot.endMs - 1;
      keys[i] = slot.key;
    }
    emit(this.outputs, { values, timestamps, keys });
  }
}

/**
 * Tumbling and hopping windows: aligned to a grid of `advanceMs` (= sizeMs for tumbling). State is
 * window start → key → accumulator, nothing else per (key, window): the start and end are implied, which
 * keeps a million keys of window state small.
 */
export class AlignedWindowOperator extends WindowOperatorBase {
  private readonly sizeMs: number;
  private readonly advanceMs: number;
  private readonly offsetMs: number;
  /** Window start → key → accumulator. */
  private readonly windows = new Map<number, WindowBucket>();
  /** Starts of windows not fired yet, and of fired windows not purged yet. */
  private readonly toFire = new MinHeap();
  private readonly toPurge = new MinHeap();

  protected override get accMode(): string {
    const columns = this.aggregator.columns;
    return columns !== undefined ? `columns:${columns.id}` : super.accMode;
  }

  constructor(name: string, spec: Extract<WindowSpec, { type: 'tumbling' | 'hopping' }>, aggregator: PlanAggregator, emitMode: EmitMode, allowedLatenessMs: number) {
    super(name, aggregator, emitMode, allowedLatenessMs);
    this.sizeMs = spec.sizeMs;
    this.advanceMs = spec.type === 'hopping' ? spec.advanceMs : spec.sizeMs;
    this.offsetMs = spec.offsetMs;
    // One slot per window an event can fall in (size / advance, rounded up): enough for in-order input.
    const slots = Math.ceil(this.sizeMs / this.advanceMs) + 1;
    this.cachedStarts = new Array<number>(slots).fill(Number.NaN);
    this.cachedBuckets = new Array<WindowBucket | undefined>(slots).fill(undefined);
    this.cachedChanged = new Array<boolean>(slots).fill(false);
  }

  /**
   * Recently used windows by start, in slots of `start / advanceMs mod slots`: an event of a hopping
   * window touches size/advance windows, the same ones as its neighbours, so most lookups skip the
   * `windows` map. A purged window is never looked up again (its events are too late), so entries need no
   * invalidation except on restore.
   */
  private readonly cachedStarts: number[];
  private readonly cachedBuckets: (WindowBucket | undefined)[];
  /** Per slot: its window is in `changedWindows` already, so the hot path skips the Set. */
  private readonly cachedChanged: boolean[];

  /*
   * Change tracking for incremental snapshots, per window (not per key: a per-key set costs a hash
   * update per record, ~15% of this operator's throughput with a million keys). On from the first
   * snapshot or restore; each snapshot starts a new interval.
   */
  private trackingChanges = false;
  /** Windows created or updated since the last snapshot. */
  private readonly changedWindows = new Set<number>();
  /** Windows purged since the last snapshot. */
  private purgedWindows: number[] = [];
  /**
   * Each window's keys as its last snapshot encoded them, in insertion order. A window's keys are only
   * ever added (never removed or reordered until the whole window goes), so the next snapshot encodes
   * only the keys added since and copies the rest: reading a million key strings is ~40% of a
   * snapshot's time. Made by the first snapshot, dropped with the window.
   */
  private readonly encodedKeys = new Map<number, { readonly writer: SnapshotWriter; count: number }>();
  /** Bytes per (key, window) entry in the last snapshot: sizes the next one's buffer up front. */
  private bytesPerEntry = 32;
  /** Entries the snapshot being written holds. */
  private snapshotEntries = 0;
  /** The writer of the last snapshot: its memory holds that snapshot's bytes (see snapshotBytes' reuseMemory). */
  private lastWriter: SnapshotWriter | null = null;

  push(batch: Batch): void {
    const { values, timestamps } = batch;
    const keys = batch.keys!;
    const { sizeMs, advanceMs, offsetMs, allowedLatenessMs } = this;
    const watermarkMs = this.watermarkMs;
    const tracksChanges = this.emitMode === 'updates';
    const { cachedStarts, cachedBuckets, cachedChanged } = this;
    const slots = cachedStarts.length;
    const tracking = this.trackingChanges;
    for (let i = 0; i < values.length; i++) {
      const ts = timestamps[i]!;
      const key = keys[i]!;
      const value = values[i];
      let accepted = false;
      // The last window containing ts starts at or before ts on the advance grid; earlier ones overlap it.
      const newest = ts - mod(ts - offsetMs, advanceMs);
      for (let start = newest; start > ts - sizeMs; start -= advanceMs) {
        const end = start + sizeMs;
        if (end + allowedLatenessMs <= watermarkMs) continue; // this window is gone
        accepted = true;
        // In-order input hits the same window again and again: skip the outer lookup then.
        const slot = mod(Math.floor((start - offsetMs) / advanceMs), slots);
        let bucket = cachedStarts[slot] === start ? cachedBuckets[slot] : undefined;
        if (bucket === undefined) {
          bucket = this.windows.get(start);
          if (bucket === undefined) {
            bucket = newWindowBucket(this.aggregator);
            this.windows.set(start, bucket);
            if (end <= watermarkMs) this.toPurge.push(start);
            else this.toFire.push(start);
          }
          cachedStarts[slot] = start;
          cachedBuckets[slot] = bucket;
          cachedChanged[slot] = false;
        }
        if (tracking && !cachedChanged[slot]) this.markWindowChanged(start, slot);
        bucket.add(key, value, ts);
        if (tracksChanges || end <= watermarkMs) this.markPairChanged(start, key);
      }
      if (!accepted) this.recordLate(value, ts, key);
    }
    this.emitChangedPairs(sizeMs, (start, key) => this.windows.get(start)!.accOf(key));
    this.endBatch();
  }

  protected advance(watermarkMs: number): void {
    // Fire in ascending end order (all windows have the same size, so start order is end order).
    while (this.toFire.size > 0 && this.toFire.peek() + this.sizeMs <= watermarkMs) {
      const start = this.toFire.pop();
      this.emitBucket(start, this.windows.get(start)!);
      this.toPurge.push(start);
    }
    while (this.toPurge.size > 0 && this.toPurge.peek() + this.sizeMs + this.allowedLatenessMs <= watermarkMs) {
      const start = this.toPurge.pop();
      this.windows.delete(start);
      this.encodedKeys.delete(start);
      if (this.trackingChanges) this.markWindowPurged(start);
    }
  }

  /** `[start, keys, accs]` per window, then the fire and purge timers. */
  protected snapshotWindows(): unknown[] {
    const windows: unknown[] = [];
    for (const [start, bucket] of this.windows) {
      windows.push([start, [...bucket.keys()], bucket.snapshotAccs(this.plainState)]);
    }
    return [windows, this.toFire.toArray(), this.toPurge.toArray()];
  }

  protected restoreWindows(state: readonly unknown[]): void {
    this.windows.clear();
    this.encodedKeys.clear();
    this.cachedStarts.fill(Number.NaN);
    this.cachedBuckets.fill(undefined);
    for (const [start, keys, accs] of state[0] as [number, KeyValue[], unknown[]][]) this.windows.set(start, this.restoreBucket(keys, accs));
    this.toFire.reset(state[1] as number[]);
    this.toPurge.reset(state[2] as number[]);
    this.startChangeInterval();
  }

  /**
   * The full snapshot's msgpack bytes, written straight from the maps (what `pack(snapshotState())`
   * decodes to, 3-4x faster for a million keys; see SnapshotWriter). Starts change tracking.
   */
  snapshotBytes(reuseMemory = false): Uint8Array {
    const w = this.writerFor(this.windows.keys(), reuseMemory);
    this.writeHeader(w, this.constructor.name);
    w.arrayHeader(3);
    w.arrayHeader(this.windows.size);
    for (const [start, bucket] of this.windows) this.writeWindow(w, start, bucket);
    this.writeTimers(w);
    w.string(this.accMode);
    return this.finishSnapshot(w);
  }

  /**
   * Windows changed since the last snapshot, as `[1, '<kind>.changes', watermark, [changed windows,
   * toFire, toPurge, purged starts], accumulator mode]`: changed windows are written whole, timers whole
   * (one number per window). Null before the first snapshot.
   */
  snapshotChanges(reuseMemory = false): Uint8Array | null {
    if (!this.trackingChanges) return null;
    const w = this.writerFor(this.changedWindows, reuseMemory);
    this.writeHeader(w, `${this.constructor.name}.changes`);
    w.arrayHeader(4);
    w.arrayHeader(this.changedWindows.size);
    for (const start of this.changedWindows) this.writeWindow(w, start, this.windows.get(start)!);
    this.writeTimers(w);
    w.arrayHeader(this.purgedWindows.length);
    for (const start of this.purgedWindows) w.number(start);
    w.string(this.accMode);
    return this.finishSnapshot(w);
  }

  restoreChanges(delta: OperatorSnapshot): void {
    checkSnapshot(this.name, `${this.constructor.name}.changes`, 1, delta);
    this.watermarkMs = delta[2] as number;
    this.restoringMode = String(delta[4]);
    const [changed, toFire, toPurge, purged] = delta[3] as [[number, KeyValue[], unknown[]][], number[], number[], number[]];
    this.cachedStarts.fill(Number.NaN);
    this.cachedBuckets.fill(undefined);
    for (const start of purged) {
      this.windows.delete(start);
      this.encodedKeys.delete(start);
    }
    for (const [start, keys, accs] of changed) {
      this.encodedKeys.delete(start);
      this.windows.set(start, this.restoreBucket(keys, accs));
    }
    this.toFire.reset(toFire);
    this.toPurge.reset(toPurge);
    this.startChangeInterval();
  }

  private restoreBucket(keys: readonly KeyValue[], accs: unknown): WindowBucket {
    if (this.restoringMode.startsWith('columns:')) {
      const columns = this.aggregator.columns;
      if (columns === undefined || this.restoringMode !== `columns:${columns.id}`) {
        throw new FreshetError(ErrorCodes.STATE_INCOMPATIBLE, `operator '${this.name}': its saved accumulators are ${this.restoringMode}, this aggregator's are ${this.accMode}`);
      }
      return ColumnBucket.fromSnapshot(columns, this.name, keys, accs);
    }
    // One value per key (plain or encoded; also into columns, from snapshots older than them).
    const values = accs as readonly unknown[];
    const bucket = newWindowBucket(this.aggregator);
    for (let i = 0; i < keys.length; i++) bucket.restore(keys[i]!, this.decodeAcc(values[i]));
    return bucket;
  }

  private writeHeader(w: SnapshotWriter, kind: string): void {
    w.arrayHeader(5);
    w.number(1);
    w.string(kind);
    w.number(this.watermarkMs);
  }

  /** `[start, keys, accs]`, as snapshotWindows. */
  private writeWindow(w: SnapshotWriter, start: number, bucket: WindowBucket): void {
    w.arrayHeader(3);
    w.number(start);
    let keys = this.encodedKeys.get(start);
    if (keys === undefined) this.encodedKeys.set(start, (keys = { writer: new SnapshotWriter(bucket.size * 16), count: 0 }));
    assert(keys.count <= bucket.size, `window ${start} of '${this.name}' lost keys since its last snapshot`);
    if (keys.count < bucket.size) {
      // Skipping the keys encoded before reads only the map's own entries, not the key strings.
      let i = 0;
      for (const key of bucket.keys()) {
        if (i++ < keys.count) continue;
        if (typeof key === 'string') keys.writer.string(key);
        else keys.writer.number(key);
      }
      keys.count = bucket.size;
    }
    w.arrayHeader(bucket.size);
    w.raw(keys.writer.written());
    bucket.writeAccs(w, this.plainState);
  }

  private writeTimers(w: SnapshotWriter): void {
    w.value(this.toFire.toArray());
    w.value(this.toPurge.toArray());
  }

  private writerFor(starts: Iterable<number>, reuseMemory: boolean): SnapshotWriter {
    let entries = 0;
    for (const start of starts) entries += this.windows.get(start)!.size;
    this.snapshotEntries = entries;
    const expected = Math.ceil(entries * this.bytesPerEntry * 1.1) + 1024;
    // Fresh memory for a snapshot of a million keys costs more than writing it (page faults), and
    // dropping it often makes V8 collect everything sooner.
    const last = this.lastWriter;
    if (reuseMemory && last !== null && last.capacity >= expected) {
      last.reset();
      return last;
    }
    // Room to grow, so that the next snapshots fit in it too.
    return new SnapshotWriter(Math.ceil(expected * 1.25));
  }

  private finishSnapshot(w: SnapshotWriter): Uint8Array {
    this.lastWriter = w;
    const bytes = w.finish();
    if (this.snapshotEntries > 0) this.bytesPerEntry = bytes.length / this.snapshotEntries;
    this.startChangeInterval();
    return bytes;
  }

  private startChangeInterval(): void {
    this.trackingChanges = true;
    this.changedWindows.clear();
    this.purgedWindows = [];
    this.cachedChanged.fill(false);
  }

  private markWindowChanged(start: number, slot: number): void {
    this.changedWindows.add(start);
    this.cachedChanged[slot] = true;
  }

  private markWindowPurged(start: number): void {
    this.changedWindows.delete(start);
    this.purgedWindows.push(start);
    // Nobody takes snapshots (a run restored, then continued without checkpoints): stop tracking.
    if (this.purgedWindows.length > Limits.maxTrackedPurgedWindows) {
      this.trackingChanges = false;
      this.changedWindows.clear();
      this.purgedWindows = [];
    }
  }

  /** Number of live (key, window) accumulators: for metrics and state-size tests. */
  get slotCount(): number {
    let n = 0;
    for (const bucket of this.windows.values()) n += bucket.size;
    return n;
  }

  private emitBucket(start: number, bucket: WindowBucket): void {
    const n = bucket.size;
    if (n === 0) return;
    const end = start + this.sizeMs;
    const values: unknown[] = new Array(n);
    const timestamps: number[] = new Array(n).fill(end - 1);
    const keys: KeyValue[] = new Array(n);
    let i = 0;
    bucket.forEach((acc, key) => {
      values[i] = this.windowResult(key, start, end, acc, true);
      keys[i++] = key;
    });
    emit(this.outputs, { values, timestamps, keys });
  }
}

/** Euclidean modulo: the grid must also work for negative timestamps. */
export function mod(a: number, m: number): number {
  const r = a % m;
  return r < 0 ? r + m : r;
}
