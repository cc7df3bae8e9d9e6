import { pack } from 'msgpackr';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { chunkForAppend } from '../../log/embedded/batch-format.js';
import type { EventLog, ProducerRecord } from '../../log/log.js';
import { partitionForKey } from '../../log/partitioner.js';
import type { KeyValue, TopicFormat, ViewSinkNode } from '../../plan/plan.js';
import { type ViewUpdate, encodeViewUpdate } from '../../plan/view-update.js';
import type { Batch, Edge, Operator } from '../batch.js';
import { type OperatorSnapshot, checkSnapshot } from './stateful.js';

/** Turns one output value (with its key, if the stream has one, and event time) into a log record. */
export type RecordEncoder = (value: unknown, key: KeyValue | undefined, timestampMs: number) => ProducerRecord;

/** The encoder of a `toTopic` sink: JSON or msgpack values, the stream's key as the record key. */
export function formatEncoder(format: TopicFormat): RecordEncoder {
  return format === 'json'
    ? (value, key, timestampMs) => ({ key: key === undefined ? null : Buffer.from(String(key)), value: Buffer.from(JSON.stringify(value)), timestampMs })
    : (value, key, timestampMs) => ({ key: key === undefined ? null : Buffer.from(String(key)), value: pack(value), timestampMs });
}

/**
 * The encoder of a `toView` sink: each value becomes a `ViewUpdate` keyed by (key, window). Window results
 * (`{ key, windowStartMs, windowEndMs, value, final }`) keep their window; other values are the latest
 * value of their key (the stream's key, or the node's key function); a null value deletes the key.
 */
export function viewUpdateEncoder(node: ViewSinkNode): RecordEncoder {
  const keyFn = node.key;
  return (value, streamKey, timestampMs) => {
    let update: ViewUpdate;
    if (isWindowResult(value)) {
      update = {
        key: String(value.key),
        value: value.value,
        eventTimeMs: timestampMs,
        windowStartMs: value.windowStartMs,
        windowEndMs: value.windowEndMs,
        final: value.final !== false,
        ...(value.retracted === true ? { deleted: true } : {}),
        ...(value.acc instanceof Uint8Array ? { acc: value.acc } : {}),
      };
    } else {
      const key = keyFn !== null ? keyFn(value) : streamKey;
      if (key === undefined || key === null) {
        throw new FreshetError(
          ErrorCodes.INVALID_ARGUMENT,
          `view '${node.view.name}': a value has no key; key the stream (keyBy) or pass toView(..., { key })`,
        );
      }
      update = value === null || value === undefined ? { key: String(key), value: null, eventTimeMs: timestampMs, deleted: true } : { key: String(key), value, eventTimeMs: timestampMs };
    }
    return { key: Buffer.from(update.key), value: encodeViewUpdate(update), timestampMs };
  };
}

interface WindowResultLike {
  key: KeyValue;
  windowStartMs: number;
  windowEndMs: number;
  value: unknown;
  final?: boolean;
  retracted?: boolean;
  acc?: unknown;
}

function isWindowResult(value: unknown): value is WindowResultLike {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['windowStartMs'] === 'number' && typeof v['windowEndMs'] === 'number' && 'key' in v && 'value' in v;
}

/**
 * Writes values to a log topic. Records are encoded as they arrive and buffered; the runner awaits
 * `flush()` at the batch boundary (one append per partition per flush, so no promise per record), and
 * does not pull more input until it resolves: a slow log slows the pipeline instead of growing the buffer.
 *
 * The sink picks partitions itself, as the log would (murmur2 of the key), except that keyless records
 * go round-robin from a counter that is part of the operator's checkpointed state: a run restored from a
 * checkpoint then writes every record to the same partition as an uninterrupted run (exactly-once output,
 * record for record).
 */
export class TopicSinkOperator implements Operator {
  readonly outputs: Edge[] = [];
  private pending: ProducerRecord[] = [];
  private partitionCount: number | null = null;
  /** Partition of the next keyless record (round-robin). */
  private nextPartition = 0;

  constructor(
    readonly name: string,
    readonly topic: string,
    private readonly encode: RecordEncoder,
  ) {}

  push(batch: Batch): void {
    const { values, timestamps, keys } = batch;
    const encode = this.encode;
    for (let i = 0; i < values.length; i++) this.pending.push(encode(values[i], keys ? keys[i] : undefined, timestamps[i]!));
  }

  watermark(): void {}

  get pendingCount(): number {
    return this.pending.length;
  }

  snapshotState(): OperatorSnapshot {
    return [1, 'topicSink', this.nextPartition];
  }

  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'topicSink', 1, snapshot);
    this.nextPartition = snapshot[2] as number;
  }

  async flush(log: EventLog): Promise<void> {
    if (this.pending.length === 0) return;
    const records = this.pending;
    this.pending = [];
    const nextPartition = this.nextPartition;
    try {
      const n = (this.partitionCount ??= (await log.describeTopic(this.topic)).partitions.length);
      const groups = new Map<number, ProducerRecord[]>();
      for (const r of records) {
        const p = r.key ? partitionForKey(r.key, n) : this.nextPartition++ % n;
        let group = groups.get(p);
        if (group === undefined) groups.set(p, (group = []));
        group.push(r);
      }
      // Partitions in parallel, each partition's chunks in order.
      await Promise.all(
        [...groups].map(async ([p, group]) => {
          for (const chunk of chunkForAppend(group)) await log.append(this.topic, p, chunk);
        }),
      );
    } catch (error) {
      // Keep them for the next flush (the round fails, its offsets are not committed): at-least-once.
      this.pending = records.concat(this.pending);
      this.nextPartition = nextPartition;
      throw error;
    }
  }
}
