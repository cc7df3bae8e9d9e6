import type { SourceNode } from '../../plan/plan.js';
import { type OperatorSnapshot, checkSnapshot } from './stateful.js';
import { type Batch, type Edge, type Operator, emit, emitWatermark } from '../batch.js';

/**
 * The entry of a source topic into the operator graph. It tracks event time per partition:
 * partition watermark = max event time seen - maxOutOfOrderMs; the source's watermark is the minimum
 * over partitions that are not idle (no records for idleTimeoutMs of processing time). When every
 * partition is idle, nothing holds the watermark back: it is the maximum over partitions.
 */
export class SourceOperator implements Operator {
  readonly outputs: Edge[] = [];
  private readonly maxEventTimeMs: number[];
  private readonly lastActivityMs: number[];
  private watermarkMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly node: SourceNode,
    readonly partitions: number,
    startedAtMs: number,
  ) {
    this.maxEventTimeMs = new Array<number>(partitions).fill(Number.NEGATIVE_INFINITY);
    this.lastActivityMs = new Array<number>(partitions).fill(startedAtMs);
  }

  get name(): string {
    return this.node.name;
  }

  get currentWatermarkMs(): number {
    return this.watermarkMs;
  }

  /** Per-partition max event time and the watermark; idle timers restart with the process. */
  snapshotState(): OperatorSnapshot {
    return [1, 'source', this.watermarkMs, this.maxEventTimeMs.slice()];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'source', 1, snapshot);
    this.watermarkMs = snapshot[2] as number;
    const max = snapshot[3] as number[];
    // Partitions added to the topic since the checkpoint start with no event time, as at a first start.
    for (let p = 0; p < this.partitions && p < max.length; p++) this.maxEventTimeMs[p] = max[p]!;
  }

  /** Records of one partition, already decoded and validated. */
  pushPartition(partition: number, batch: Batch, nowMs: number): void {
    this.lastActivityMs[partition] = nowMs;
    let max = this.maxEventTimeMs[partition]!;
    const ts = batch.timestamps;
    for (let i = 0; i < ts.length; i++) if (ts[i]! > max) max = ts[i]!;
    this.maxEventTimeMs[partition] = max;
    emit(this.outputs, batch);
  }

  /** Recomputes the watermark (after a round of reads, or as time passes) and forwards it if it advanced. */
  updateWatermark(nowMs: number): void {
    const { maxOutOfOrderMs, idleTimeoutMs } = this.node;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let p = 0; p < this.partitions; p++) {
      const w = this.maxEventTimeMs[p]! - maxOutOfOrderMs;
      if (w > max) max = w;
      const idle = nowMs - this.lastActivityMs[p]! >= idleTimeoutMs;
      if (!idle && w < min) min = w;
    }
    const next = min === Number.POSITIVE_INFINITY ? max : min;
    if (next > this.watermarkMs) {
      this.watermarkMs = next;
      emitWatermark(this.outputs, next);
    }
  }

  /** Bounded runs: all input has been read, so every window can close. */
  finish(): void {
    // Already finished: a bounded run restored from its last checkpoint (taken after finishing).
    if (this.watermarkMs === Number.POSITIVE_INFINITY) return;
    this.watermarkMs = Number.POSITIVE_INFINITY;
    emitWatermark(this.outputs, Number.POSITIVE_INFINITY);
  }

  push(): void {
    throw new Error('sources take input through pushPartition');
  }

  watermark(): void {}
}
