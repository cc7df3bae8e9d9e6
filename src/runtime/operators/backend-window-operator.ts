import type { EmitMode, KeyValue, PlanAggregator, WindowSpec } from '../../plan/plan.js';
import type { OperatorState, WindowState } from '../../state/state-store.js';
import { type Batch, emit } from '../batch.js';
import { MinHeap } from '../min-heap.js';
import { WindowOperatorBase, mod } from './window-operator.js';

/** The name of the backend namespace holding a window operator's accumulators (its checkpoint chain). */
export function windowStateNamespace(operator: string): string {
  return `${operator}#state`;
}

/**
 * Tumbling and hopping windows with their accumulators in a state backend (e.g. LMDB, for more keys
 * than the heap holds): the same semantics as AlignedWindowOperator (see window-operator.ts), with
 * (key, window) → accumulator in the backend's window state, written through its bounded cache.
 * What stays on the heap is one number per window: the live windows and their fire / purge timers.
 *
 * Snapshots come in two parts: the backend snapshots the accumulators (`<name>#state`, full or delta
 * by key, on the backend's own chain), and `snapshotState` the watermark, live windows and timers.
 * Results of a window that fires come in the backend's key order (deterministic, so replays after a
 * crash write the same records), not in first-seen order as on the heap.
 */
export class BackendWindowOperator extends WindowOperatorBase {
  private readonly sizeMs: number;
  private readonly advanceMs: number;
  private readonly offsetMs: number;
  private readonly accs: WindowState<unknown>;
  /** Starts of the windows holding keys (fired or not, not purged yet). */
  private readonly starts = new Set<number>();
  private readonly toFire = new MinHeap();
  private readonly toPurge = new MinHeap();

  constructor(
    name: string,
    spec: Extract<WindowSpec, { type: 'tumbling' | 'hopping' }>,
    aggregator: PlanAggregator,
    emitMode: EmitMode,
    allowedLatenessMs: number,
    state: OperatorState,
  ) {
    super(name, aggregator, emitMode, allowedLatenessMs);
    this.sizeMs = spec.sizeMs;
    this.advanceMs = spec.type === 'hopping' ? spec.advanceMs : spec.sizeMs;
    this.offsetMs = spec.offsetMs;
    this.accs = state.window<unknown>('acc', { serializer: { encode: (acc) => aggregator.encode(acc), decode: (bytes) => aggregator.decode(bytes) } });
  }

  push(batch: Batch): void {
    const { values, timestamps } = batch;
    const keys = batch.keys!;
    const { sizeMs, advanceMs, offsetMs, allowedLatenessMs, aggregator, accs } = this;
    const watermarkMs = this.watermarkMs;
    const tracksChanges = this.emitMode === 'updates';
    for (let i = 0; i < values.length; i++) {
      const ts = timestamps[i]!;
      const key = keys[i]!;
      const value = values[i];
      let accepted = false;
      const newest = ts - mod(ts - offsetMs, advanceMs);
      for (let start = newest; start > ts - sizeMs; start -= advanceMs) {
        const end = start + sizeMs;
        if (end + allowedLatenessMs <= watermarkMs) continue; // this window is gone
        accepted = true;
        if (!this.starts.has(start)) {
          this.starts.add(start);
          if (end <= watermarkMs) this.toPurge.push(start);
          else this.toFire.push(start);
        }
        const acc = accs.get(key, start, end);
        // Put even when `add` mutated the accumulator in place: the backend writes only what was put.
        accs.put(key, start, end, aggregator.add(acc === undefined ? aggregator.create() : acc, value, ts));
        if (tracksChanges || end <= watermarkMs) this.markPairChanged(start, key);
      }
      if (!accepted) this.recordLate(value, ts, key);
    }
    this.emitChangedPairs(sizeMs, (start, key) => accs.get(key, start, start + sizeMs));
    this.endBatch();
  }

  protected advance(watermarkMs: number): void {
    while (this.toFire.size > 0 && this.toFire.peek() + this.sizeMs <= watermarkMs) {
      const start = this.toFire.pop();
      this.emitWindow(start);
      this.toPurge.push(start);
    }
    while (this.toPurge.size > 0 && this.toPurge.peek() + this.sizeMs + this.allowedLatenessMs <= watermarkMs) {
      const start = this.toPurge.pop();
      this.accs.deleteWindow(start, start + this.sizeMs);
      this.starts.delete(start);
    }
  }

  /** `[live window starts, fire timers, purge timers]`: the accumulators are the backend's to snapshot. */
  protected snapshotWindows(): unknown[] {
    return [[...this.starts], this.toFire.toArray(), this.toPurge.toArray()];
  }

  protected restoreWindows(state: readonly unknown[]): void {
    this.starts.clear();
    for (const start of state[0] as number[]) this.starts.add(start);
    this.toFire.reset(state[1] as number[]);
    this.toPurge.reset(state[2] as number[]);
  }

  private emitWindow(start: number): void {
    const end = start + this.sizeMs;
    const entries = this.accs.entries(start, end);
    const n = entries.length;
    if (n === 0) return;
    const values: unknown[] = new Array(n);
    const timestamps: number[] = new Array(n).fill(end - 1);
    const keys: KeyValue[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const [key, acc] = entries[i]!;
      values[i] = this.windowResult(key, start, end, acc, true);
      keys[i] = key;
    }
    emit(this.outputs, { values, timestamps, keys });
  }
}
