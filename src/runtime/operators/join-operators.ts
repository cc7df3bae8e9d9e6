import type { IntervalJoinNode, KeyValue, TableJoinNode } from '../../plan/plan.js';
import { type OperatorSnapshot, checkSnapshot, restoreTimedLists, snapshotTimedLists } from './stateful.js';
import { type Batch, type Edge, type Operator, WatermarkTracker, emit, emitWatermark } from '../batch.js';

/** A key's table history: version timestamps ascending, with their values (null = deleted). */
interface History {
  readonly times: number[];
  readonly values: unknown[];
}

/**
 * Stream–table join in event time (Kafka Streams' versioned-table semantics): a stream record at time t
 * meets the latest table version with timestamp <= t among the table updates read so far. The runner reads
 * table sources before streams in each round. Output event time = the stream record's; the output
 * watermark is the stream's (a table does not delay results).
 */
export class TableJoinOperator implements Operator {
  readonly outputs: Edge[] = [];
  private readonly histories = new Map<KeyValue, History>();

  constructor(readonly node: TableJoinNode) {}

  get name(): string {
    return this.node.name;
  }

  push(batch: Batch, input: number): void {
    if (input === 1) this.applyTableUpdates(batch);
    else this.joinStream(batch);
  }

  watermark(watermarkMs: number, input: number): void {
    if (input === 0) emitWatermark(this.outputs, watermarkMs);
  }

  /** Every key's table versions (table sources are checkpointed like streams, so a replay sees the same versions). */
  snapshotState(): OperatorSnapshot {
    return [1, 'tableJoin', snapshotTimedLists(this.histories)];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'tableJoin', 1, snapshot);
    restoreTimedLists(snapshot[2] as unknown[], this.histories as Map<KeyValue, { times: number[]; values: unknown[] }>);
  }

  /** Number of keys with a history: for metrics and tests. */
  get tableSize(): number {
    return this.histories.size;
  }

  private applyTableUpdates(batch: Batch): void {
    const { values, timestamps } = batch;
    const keys = batch.keys!;
    const retentionMs = this.node.historyRetentionMs;
    for (let i = 0; i < values.length; i++) {
      const key = keys[i]!;
      const ts = timestamps[i]!;
      let h = this.histories.get(key);
      if (h === undefined) {
        h = { times: [], values: [] };
        this.histories.set(key, h);
      }
      // Usually in order: append; otherwise insert after every version with time <= ts.
      let at = h.times.length;
      while (at > 0 && h.times[at - 1]! > ts) at--;
      h.times.splice(at, 0, ts);
      h.values.splice(at, 0, values[i]);
      // Keep one version at or before the retention horizon, drop older ones.
      const horizon = h.times[h.times.length - 1]! - retentionMs;
      let drop = 0;
      while (drop + 1 < h.times.length && h.times[drop + 1]! <= horizon) drop++;
      if (drop > 0) {
        h.times.splice(0, drop);
        h.values.splice(0, drop);
      }
    }
  }

  private joinStream(batch: Batch): void {
    const { values, timestamps } = batch;
    const { key: keyOf, join, type } = this.node;
    const outValues: unknown[] = [];
    const outTimestamps: number[] = [];
    const outKeys: KeyValue[] | null = batch.keys ? [] : null;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      const ts = timestamps[i]!;
      const h = this.histories.get(keyOf(value));
      let row: unknown = null;
      if (h !== undefined) {
        const times = h.times;
        // Last version with time <= ts (histories are short: a linear scan from the end is fastest).
        let v = times.length - 1;
        while (v >= 0 && times[v]! > ts) v--;
        if (v >= 0) row = h.values[v];
      }
      if (row === null && type === 'inner') continue;
      outValues.push(join(value, row));
      outTimestamps.push(ts);
      if (outKeys) outKeys.push(batch.keys![i]!);
    }
    emit(this.outputs, { values: outValues, timestamps: outTimestamps, keys: outKeys });
  }
}

/** Buffered records of one side of an interval join, per key, in arrival order. */
interface SideBuffer {
  times: number[];
  values: unknown[];
}

/**
 * Interval join of two keyed streams (inner). A record is late when its timestamp is below the
 * operator's watermark (the minimum of both inputs) at arrival: some of its partners may already be
 * gone, so it goes to the late output as `{ side, value }` instead of joining partially. A left record
 * is kept while the watermark <= its time + afterMs, a right record while the watermark <= its time +
 * beforeMs (later partners cannot reach them).
 */
export class IntervalJoinOperator implements Operator {
  readonly outputs: Edge[] = [];
  readonly lateOutputs: Edge[] = [];
  private readonly sides: [Map<KeyValue, SideBuffer>, Map<KeyValue, SideBuffer>] = [new Map(), new Map()];
  private readonly tracker = new WatermarkTracker(2);
  /** Records that came behind the watermark (sent to the late output), since start. */
  lateRecordCount = 0;

  constructor(readonly node: IntervalJoinNode) {}

  get name(): string {
    return this.node.name;
  }

  /** Both sides' buffered records and the input watermarks. */
  snapshotState(): OperatorSnapshot {
    return [1, 'intervalJoin', this.tracker.snapshot(), snapshotTimedLists(this.sides[0]), snapshotTimedLists(this.sides[1])];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'intervalJoin', 1, snapshot);
    this.tracker.restore(snapshot[2] as number[]);
    restoreTimedLists(snapshot[3] as unknown[], this.sides[0]);
    restoreTimedLists(snapshot[4] as unknown[], this.sides[1]);
  }

  push(batch: Batch, input: number): void {
    const { values, timestamps } = batch;
    const keys = batch.keys!;
    const { beforeMs, afterMs, join } = this.node;
    const watermarkMs = this.tracker.watermarkMs;
    const own = this.sides[input as 0 | 1];
    const other = this.sides[input === 0 ? 1 : 0];
    const out: unknown[] = [];
    const outTimestamps: number[] = [];
    const outKeys: KeyValue[] = [];
    const late: unknown[] = [];
    const lateTimestamps: number[] = [];
    const lateKeys: KeyValue[] = [];
    // For a left record at t, partners are right records in [t - beforeMs, t + afterMs];
    // for a right record at t, partners are left records in [t - afterMs, t + beforeMs].
    const lowOffset = input === 0 ? beforeMs : afterMs;
    const highOffset = input === 0 ? afterMs : beforeMs;
    for (let i = 0; i < values.length; i++) {
      const ts = timestamps[i]!;
      const key = keys[i]!;
      const value = values[i];
      if (ts < watermarkMs) {
        late.push({ side: input === 0 ? 'left' : 'right', value });
        lateTimestamps.push(ts);
        lateKeys.push(key);
        continue;
      }
      const partners = other.get(key);
      if (partners !== undefined) {
        const low = ts - lowOffset;
        const high = ts + highOffset;
        for (let p = 0; p < partners.times.length; p++) {
          const pts = partners.times[p]!;
          if (pts < low || pts > high) continue;
          out.push(input === 0 ? join(value, partners.values[p]) : join(partners.values[p], value));
          outTimestamps.push(ts > pts ? ts : pts);
          outKeys.push(key);
        }
      }
      let buffer = own.get(key);
      if (buffer === undefined) {
        buffer = { times: [], values: [] };
        own.set(key, buffer);
      }
      buffer.times.push(ts);
      buffer.values.push(value);
    }
    emit(this.outputs, { values: out, timestamps: outTimestamps, keys: outKeys });
    this.lateRecordCount += late.length;
    emit(this.lateOutputs, { values: late, timestamps: lateTimestamps, keys: lateKeys });
  }

  watermark(watermarkMs: number, input: number): void {
    const advanced = this.tracker.update(input, watermarkMs);
    if (advanced === null) return;
    this.expire(this.sides[0], this.node.afterMs, advanced);
    this.expire(this.sides[1], this.node.beforeMs, advanced);
    emitWatermark(this.outputs, advanced);
    emitWatermark(this.lateOutputs, advanced);
  }

  /** Buffered records of both sides: for metrics and state-size tests. */
  get bufferedCount(): number {
    let n = 0;
    for (const side of this.sides) for (const b of side.values()) n += b.times.length;
    return n;
  }

  private expire(side: Map<KeyValue, SideBuffer>, reachMs: number, watermarkMs: number): void {
    for (const [key, buffer] of side) {
      let keep = 0;
      for (let i = 0; i < buffer.times.length; i++) if (buffer.times[i]! + reachMs >= watermarkMs) keep++;
      if (keep === buffer.times.length) continue;
      if (keep === 0) {
        side.delete(key);
        continue;
      }
      const times: number[] = [];
      const values: unknown[] = [];
      for (let i = 0; i < buffer.times.length; i++) {
        if (buffer.times[i]! + reachMs >= watermarkMs) {
          times.push(buffer.times[i]!);
          values.push(buffer.values[i]);
        }
      }
      buffer.times = times;
      buffer.values = values;
    }
  }
}
