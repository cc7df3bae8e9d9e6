import { type OperatorSnapshot, checkSnapshot } from '../operators/stateful.js';
import { pack, unpack } from 'msgpackr';
import { assert } from '../../core/assert.js';
import { Limits } from '../../core/limits.js';
import type { EventLog, ProducerRecord, RecordBatchView, RecordHeader } from '../../log/log.js';
import { partitionForKey } from '../../log/partitioner.js';
import type { KeyValue } from '../../plan/plan.js';
import { type Batch, type Edge, type Operator, emit, emitWatermark } from '../batch.js';

/*
 * Records of a repartition topic (`<pipeline>.<keyBy>.repartition`), written by the tasks upstream of a
 * keyBy and read by the tasks downstream of it:
 *
 *   data record    := key: msgpack(key)  value: msgpack(value)  timestampMs: event time  headers: none
 *   control record := key: null  value: null  timestampMs: append time
 *                     headers: freshet.wm   = watermark ms, f64 little-endian (±Infinity allowed)
 *                              freshet.task = id of the writing task, UTF-8
 *                              freshet.idle = 1 byte: 1 when every input behind the writer is idle
 *
 * Keys are msgpack so that a number key stays a number (2 and "2" are different keys, as in a Map); the
 * partition is Kafka's murmur2 of those bytes. A data value is never null (msgpack of null is one byte),
 * so a null value with a freshet.wm header is unambiguous. After each round a writer appends, to EVERY
 * partition, one control record if its watermark advanced (or its idleness changed) after the data
 * records of that round: a reader knows each writer's watermark once it has read that writer's data.
 */
export const ControlHeaders = {
  WATERMARK: 'freshet.wm',
  TASK: 'freshet.task',
  IDLE: 'freshet.idle',
} as const;

/** The control record announcing a writer's watermark. */
export function controlRecord(taskId: string, watermarkMs: number, idle: boolean, nowMs: number): ProducerRecord {
  const wm = Buffer.allocUnsafe(8);
  wm.writeDoubleLE(watermarkMs, 0);
  return {
    key: null,
    value: null,
    timestampMs: nowMs,
    headers: [
      { key: ControlHeaders.WATERMARK, value: wm },
      { key: ControlHeaders.TASK, value: Buffer.from(taskId) },
      { key: ControlHeaders.IDLE, value: Buffer.from([idle ? 1 : 0]) },
    ],
  };
}

/** Reads a control record's headers; null when they are not a control record's. */
export function readControl(headers: readonly RecordHeader[]): { taskId: string; watermarkMs: number; idle: boolean } | null {
  let watermarkMs: number | null = null;
  let taskId: string | null = null;
  let idle = false;
  for (const h of headers) {
    if (h.key === ControlHeaders.WATERMARK && h.value.length === 8) watermarkMs = Buffer.from(h.value.buffer, h.value.byteOffset, 8).readDoubleLE(0);
    else if (h.key === ControlHeaders.TASK) taskId = Buffer.from(h.value.buffer, h.value.byteOffset, h.value.length).toString('utf8');
    else if (h.key === ControlHeaders.IDLE) idle = h.value[0] === 1;
  }
  return watermarkMs === null || taskId === null ? null : { taskId, watermarkMs, idle };
}

/** Bytes a record takes against an append's size bound (payload plus a generous per-record overhead). */
function approxBytes(r: ProducerRecord): number {
  return (r.key?.length ?? 0) + (r.value?.length ?? 0) + 64;
}

/**
 * The upstream end of a repartition: encodes keyed records, assigns their partition by key, and on
 * `flush` appends each partition's records (one append per partition, all partitions concurrently),
 * followed by a control record in every partition when the watermark advanced.
 */
export class RepartitionSinkOperator implements Operator {
  readonly outputs: Edge[] = [];
  private pending: ProducerRecord[][];
  private pendingCount = 0;
  private watermarkMs = Number.NEGATIVE_INFINITY;
  private sentWatermarkMs = Number.NEGATIVE_INFINITY;
  private sentIdle = false;
  /** Data records written so far (for stats and tests). */
  recordsWritten = 0;

  constructor(
    readonly name: string,
    readonly topic: string,
    readonly partitions: number,
    private readonly taskId: string,
  ) {
    this.pending = Array.from({ length: partitions }, () => []);
  }

  get currentWatermarkMs(): number {
    return this.watermarkMs;
  }

  /** Watermarks received and sent (nothing is pending at a round boundary, where checkpoints are taken). */
  snapshotState(): OperatorSnapshot {
    assert(this.pendingCount === 0, `repartition sink '${this.name}' snapshotted with records pending`);
    return [1, 'repartitionSink', this.watermarkMs, this.sentWatermarkMs, this.sentIdle];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'repartitionSink', 1, snapshot);
    this.watermarkMs = snapshot[2] as number;
    this.sentWatermarkMs = snapshot[3] as number;
    this.sentIdle = snapshot[4] as boolean;
  }

  push(batch: Batch): void {
    const { values, timestamps, keys } = batch;
    assert(keys !== null, `the repartition of '${this.name}' receives keyed records`);
    for (let i = 0; i < values.length; i++) {
      const key = pack(keys[i]);
      this.pending[partitionForKey(key, this.partitions)]!.push({ key, value: pack(values[i]), timestampMs: timestamps[i]! });
    }
    this.pendingCount += values.length;
  }

  watermark(watermarkMs: number): void {
    if (watermarkMs > this.watermarkMs) this.watermarkMs = watermarkMs;
  }

  /** Appends what is pending; returns the records written (data and control). */
  async flush(log: EventLog, idle: boolean, nowMs: number): Promise<number> {
    const control = this.watermarkMs > this.sentWatermarkMs || idle !== this.sentIdle;
    if (this.pendingCount === 0 && !control) return 0;
    const pending = this.pending;
    this.pending = Array.from({ length: this.partitions }, () => []);
    const data = this.pendingCount;
    this.pendingCount = 0;
    const watermarkMs = this.watermarkMs;
    const appends: Promise<unknown>[] = [];
    let written = 0;
    for (let p = 0; p < this.partitions; p++) {
      const records = pending[p]!;
      if (control) records.push(controlRecord(this.taskId, watermarkMs, idle, nowMs));
      written += records.length;
      // Appends to one partition are ordered by call order, so the chunks can be in flight together.
      let start = 0;
      while (start < records.length) {
        let end = start;
        let bytes = 0;
        while (end < records.length && end - start < Limits.maxBatchRecords && bytes + approxBytes(records[end]!) <= Limits.maxBatchBytes) bytes += approxBytes(records[end++]!);
        if (end === start) end++;
        appends.push(log.append(this.topic, p, end - start === records.length ? records : records.slice(start, end)));
        start = end;
      }
    }
    await Promise.all(appends);
    this.recordsWritten += data;
    if (control) {
      this.sentWatermarkMs = watermarkMs;
      this.sentIdle = idle;
    }
    return written;
  }
}

/**
 * The downstream end of a repartition: decodes data records into a keyed batch and follows the control
 * records of every writer. Its watermark is the minimum over writers that are not idle (the largest when
 * all are), and only moves forward, as a source's does over its partitions.
 */
export class RepartitionSourceOperator implements Operator {
  readonly outputs: Edge[] = [];
  private readonly writerIndex: Map<string, number>;
  private readonly writerWatermarks: number[];
  private readonly writerIdle: boolean[];
  private watermarkMs = Number.NEGATIVE_INFINITY;
  /** Data and control records read so far (for stats and tests). */
  dataRead = 0;
  controlRead = 0;

  constructor(
    readonly name: string,
    readonly topic: string,
    readonly writers: readonly string[],
  ) {
    assert(writers.length > 0, `repartition topic ${topic} has writers`);
    this.writerIndex = new Map(writers.map((w, i) => [w, i]));
    this.writerWatermarks = writers.map(() => Number.NEGATIVE_INFINITY);
    this.writerIdle = writers.map(() => false);
  }

  get currentWatermarkMs(): number {
    return this.watermarkMs;
  }

  /** Every writer's watermark and idleness, and the combined watermark. */
  snapshotState(): OperatorSnapshot {
    return [1, 'repartitionSource', this.watermarkMs, this.writers, this.writerWatermarks.slice(), this.writerIdle.slice()];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'repartitionSource', 1, snapshot);
    this.watermarkMs = snapshot[2] as number;
    const writers = snapshot[3] as string[];
    const watermarks = snapshot[4] as number[];
    const idle = snapshot[5] as boolean[];
    writers.forEach((writer, i) => {
      const w = this.writerIndex.get(writer);
      if (w === undefined) return;
      this.writerWatermarks[w] = watermarks[i]!;
      this.writerIdle[w] = idle[i]!;
    });
  }

  /** True when every writer said its inputs are idle. */
  get idle(): boolean {
    return this.writerIdle.every(Boolean);
  }

  /** Decodes read batches of one partition and pushes their data downstream. */
  pushBatches(batches: readonly RecordBatchView[]): void {
    const values: unknown[] = [];
    const timestamps: number[] = [];
    const keys: KeyValue[] = [];
    for (const batch of batches) {
      for (let i = 0; i < batch.count; i++) {
        const value = batch.valueAt(i);
        if (value === null) {
          this.applyControl(batch.headersAt(i));
          continue;
        }
        const key = batch.keyAt(i);
        assert(key !== null, `data records of ${this.topic} have a key`);
        keys.push(unpack(key) as KeyValue);
        values.push(unpack(value));
        timestamps.push(batch.timestampAt(i));
      }
    }
    this.dataRead += values.length;
    emit(this.outputs, { values, timestamps, keys });
  }

  /** Forwards the combined watermark of the writers if it advanced (after a round, as sources do). */
  updateWatermark(): void {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let w = 0; w < this.writerWatermarks.length; w++) {
      const wm = this.writerWatermarks[w]!;
      if (wm > max) max = wm;
      if (!this.writerIdle[w] && wm < min) min = wm;
    }
    const next = min === Number.POSITIVE_INFINITY ? max : min;
    if (next > this.watermarkMs) {
      this.watermarkMs = next;
      emitWatermark(this.outputs, next);
    }
  }

  push(): void {
    throw new Error('repartition sources take input through pushBatches');
  }

  watermark(): void {}

  private applyControl(headers: readonly RecordHeader[]): void {
    const control = readControl(headers);
    assert(control !== null, `null-valued records of ${this.topic} are control records`);
    this.controlRead++;
    const w = this.writerIndex.get(control.taskId);
    // A writer this layout does not know (the topic outlived a different plan) is ignored.
    if (w === undefined) return;
    if (control.watermarkMs > this.writerWatermarks[w]!) this.writerWatermarks[w] = control.watermarkMs;
    this.writerIdle[w] = control.idle;
  }
}
