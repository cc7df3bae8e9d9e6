import { pack } from 'msgpackr';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { EventLog, ProducerRecord } from '../../log/log.js';
import type { KeyValue, TopicFormat, ViewSinkNode } from '../../plan/plan.js';
import { type ViewUpdate, encodeViewUpdate } from '../../plan/view-update.js';
import type { Batch, Edge, Operator } from '../batch.js';

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
 * `flush()` at the batch boundary (one `produce` per flush, so no promise per record), and does not pull
 * more input until it resolves: a slow log slows the pipeline instead of growing the buffer.
 */
export class TopicSinkOperator implements Operator {
  readonly outputs: Edge[] = [];
  private pending: ProducerRecord[] = [];

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

  async flush(log: EventLog): Promise<void> {
    if (this.pending.length === 0) return;
    const records = this.pending;
    this.pending = [];
    try {
      await log.produce(this.topic, records);
    } catch (error) {
      // Keep them for the next flush (the round fails, its offsets are not committed): at-least-once.
      this.pending = records.concat(this.pending);
      throw error;
    }
  }
}
