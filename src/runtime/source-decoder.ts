import { unpack } from 'msgpackr';
import { ErrorCodes } from '../core/errors.js';
import type { EventLog, ProducerRecord, RecordBatchView } from '../log/log.js';
import type { KeyValue, SourceNode } from '../plan/plan.js';
import { deadLetterRecord, deadLetterTopic } from '../quality/dead-letter.js';
import type { Batch } from './batch.js';

/** Receives a record that failed decoding or validation, for the dead-letter topic `dlqTopic`. */
export type DeadLetterFn = (dlqTopic: string, record: ProducerRecord) => void;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Dead letters gathered during a round, per dead-letter topic, written when the round flushes. */
export class DeadLetterBuffer {
  private letters = new Map<string, ProducerRecord[]>();

  /** Pass this to decodeSourceBatches. */
  readonly add: DeadLetterFn = (dlqTopic, record) => {
    let list = this.letters.get(dlqTopic);
    if (!list) this.letters.set(dlqTopic, (list = []));
    list.push(record);
  };

  /** Appends what was gathered (creating dead-letter topics as needed) and starts over. */
  async flush(log: EventLog): Promise<void> {
    if (this.letters.size === 0) return;
    const letters = this.letters;
    this.letters = new Map();
    for (const [topic, records] of letters) {
      try {
        await log.ensureTopic(topic, { partitions: 1 });
        await log.produce(topic, records);
        letters.delete(topic);
      } catch (error) {
        // Keep what was not written for the next flush: a dead letter is never dropped.
        for (const [t, rs] of letters) for (const r of rs) this.add(t, r);
        throw error;
      }
    }
  }
}

/**
 * Turns read record batches of one source partition into an operator batch: decodes values (JSON or
 * msgpack), validates them, finds event times and, for tables, row keys. Records that fail any step go
 * to `deadLetter` with their original bytes and the reason, never into the batch. Shared by every
 * runner (single-process and worker tasks) so a source behaves the same however it is run.
 */
export function decodeSourceBatches(node: SourceNode, partition: number, batches: readonly RecordBatchView[], deadLetter: DeadLetterFn, keepOrigins = false): Batch {
  const values: unknown[] = [];
  const timestamps: number[] = [];
  const json = node.format === 'json';
  const { validate, eventTime, tableKey } = node;
  const isTable = node.role === 'table';
  const keys: KeyValue[] | null = isTable ? [] : null;
  // Where each record came from, only when a quality check downstream may dead-letter its original bytes.
  const originViews: RecordBatchView[] | null = keepOrigins ? [] : null;
  const originIndexes: number[] = [];
  const reject = (batch: RecordBatchView, index: number, code: string, reason: string): void => {
    deadLetter(
      deadLetterTopic(node.topic),
      deadLetterRecord({
        value: batch.valueAt(index),
        key: batch.keyAt(index),
        timestampMs: batch.timestampAt(index),
        code,
        reason,
        stage: node.name,
        topic: node.topic,
        partition,
        offset: batch.offsetAt(index),
      }),
    );
  };
  for (const batch of batches) {
    for (let i = 0; i < batch.count; i++) {
      const bytes = batch.valueAt(i);
      // One try per record is the price of never crashing on bad input (bytes, or a user's schema, event
      // time or key function throwing on them); it stays cheap because V8 optimises try blocks that do
      // not throw. `stage` says which step failed, for the dead letter's code.
      let stage: 'decode' | 'validate' | 'time' | 'key' = 'decode';
      try {
        if (isTable && bytes === null) {
          // A tombstone: deletes the row named by the record key.
          stage = 'key';
          const recordKey = batch.keyAt(i);
          if (recordKey === null) {
            reject(batch, i, ErrorCodes.INVALID_ARGUMENT, 'a table tombstone (null value) needs a record key');
            continue;
          }
          const key = decoder.decode(recordKey);
          values.push(null);
          timestamps.push(batch.timestampAt(i));
          keys!.push(key);
          if (originViews !== null) {
            originViews.push(batch);
            originIndexes.push(i);
          }
          continue;
        }
        let value: unknown = bytes === null ? null : json ? JSON.parse(decoder.decode(bytes)) : unpack(bytes);
        if (validate !== null) {
          stage = 'validate';
          const checked = validate(value);
          if ('issue' in checked) {
            reject(batch, i, ErrorCodes.SCHEMA_VIOLATION, checked.issue);
            continue;
          }
          value = checked.value;
        }
        stage = 'time';
        const ts = eventTime === null ? batch.timestampAt(i) : eventTime(value);
        if (!Number.isFinite(ts)) {
          reject(batch, i, ErrorCodes.INVALID_EVENT_TIME, 'event time is missing or not a valid time');
          continue;
        }
        if (keys !== null) {
          // A table row's key: the key function, else the record key.
          stage = 'key';
          const recordKey = batch.keyAt(i);
          const key = tableKey !== null ? tableKey(value) : recordKey !== null ? decoder.decode(recordKey) : null;
          if (key === null || key === undefined) {
            reject(batch, i, ErrorCodes.INVALID_ARGUMENT, 'a table row needs a record key or a key function');
            continue;
          }
          keys.push(key);
        }
        values.push(value);
        timestamps.push(ts);
        if (originViews !== null) {
          originViews.push(batch);
          originIndexes.push(i);
        }
      } catch (error) {
        const message = (error as Error).message;
        if (stage === 'decode') reject(batch, i, ErrorCodes.MALFORMED_JSON, `cannot decode value: ${message}`);
        else if (stage === 'time') reject(batch, i, ErrorCodes.INVALID_EVENT_TIME, `event time: ${message}`);
        else reject(batch, i, stage === 'validate' ? ErrorCodes.SCHEMA_VIOLATION : ErrorCodes.INVALID_ARGUMENT, `${stage}: ${message}`);
      }
    }
  }
  return { values, timestamps, keys, origins: originViews !== null ? { views: originViews, indexes: originIndexes } : null };
}
