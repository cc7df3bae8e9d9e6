import { type OperatorSnapshot, checkSnapshot } from './stateful.js';
import type { KeyValue } from '../../plan/plan.js';
import { type Batch, type Edge, type Operator, WatermarkTracker, emit, emitWatermark } from '../batch.js';

/** Interleaves several inputs; its watermark is the minimum of theirs. */
export class MergeOperator implements Operator {
  readonly outputs: Edge[] = [];
  private readonly tracker: WatermarkTracker;

  constructor(
    readonly name: string,
    inputCount: number,
  ) {
    this.tracker = new WatermarkTracker(inputCount);
  }

  push(batch: Batch): void {
    emit(this.outputs, batch);
  }

  watermark(watermarkMs: number, input: number): void {
    const advanced = this.tracker.update(input, watermarkMs);
    if (advanced !== null) emitWatermark(this.outputs, advanced);
  }

  snapshotState(): OperatorSnapshot {
    return [1, 'merge', this.tracker.snapshot()];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'merge', 1, snapshot);
    this.tracker.restore(snapshot[2] as number[]);
  }
}

/** Passes batches and watermarks through unchanged (e.g. a window's late-record output). */
export class IdentityOperator implements Operator {
  readonly outputs: Edge[] = [];
  constructor(readonly name: string) {}
  push(batch: Batch): void {
    emit(this.outputs, batch);
  }
  watermark(watermarkMs: number): void {
    emitWatermark(this.outputs, watermarkMs);
  }
}

/** One collected result: the value with its event time and key. */
export interface CollectedRecord {
  readonly value: unknown;
  readonly timestampMs: number;
  readonly key: KeyValue | null;
}

/** Appends everything it receives to an in-memory array: for tests and in-process readers. */
export class CollectSinkOperator implements Operator {
  readonly outputs: Edge[] = [];
  watermarkMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly records: CollectedRecord[],
  ) {}

  push(batch: Batch): void {
    for (let i = 0; i < batch.values.length; i++) {
      this.records.push({ value: batch.values[i], timestampMs: batch.timestamps[i]!, key: batch.keys ? batch.keys[i]! : null });
    }
  }

  watermark(watermarkMs: number): void {
    this.watermarkMs = watermarkMs;
  }
}
