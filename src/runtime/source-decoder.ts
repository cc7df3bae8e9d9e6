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
      await log.ensureTopic(topic, { partitions: 1 });
      await log.produce(topic, records);
    }
  }
}

/**
 * Turns read record batches of one source partition into an operator batch: decodes values (JSON or
 * msgpack), validates them, finds event times and, for tables, row keys. Records that fail any step go
 * to `deadLetter` with their original bytes and the reason, never into the batch. Shared by every
 * runner (single-process and worker tasks) so a source behaves the same however it is run.
 */
export function decodeSourceBatches(node: SourceNode, partition: number, batches: readonly RecordBatchView[], deadLetter: DeadLetterFn): Batch {
  const values: unknown[] = [];
  const timestamps: number[] = [];
  const json = node.format === 'json';
  const { validate, eventTime, tableKey } = node;
  const isTable = node.role === 'table';
  const keys: KeyValue[] | null = isTable ? [] : null;
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
      if (isTable) {
        // A table row's key: the record key, else the value's key field. Tombstones need a record key.
        const recordKey = batch.keyAt(i);
        if (bytes === null) {
          if (recordKey === null) {
            reject(batch, i, ErrorCodes.INVALID_ARGUMENT, 'a table tombstone (null value) needs a record key');
            continue;
          }
          values.push(null);
          timestamps.push(batch.timestampAt(i));
          keys!.push(decoder.decode(recordKey));
          continue;
        }
      }
      let value: unknown;
      try {
        // One try per record is the price of never crashing on bad input; it stays cheap because
        // V8 optimises try/catch blocks that do not throw.
        value = bytes === null ? null : json ? JSON.parse(decoder.decode(bytes)) : unpack(bytes);
      } catch (error) {
        reject(batch, i, ErrorCodes.MALFORMED_JSON, `cannot decode value: ${(error as Error).message}`);
        continue;
      }
      if (validate !== null) {
        const checked = validate(value);
        if ('issue' in checked) {
          reject(batch, i, ErrorCodes.SCHEMA_VIOLATION, checked.issue);
          continue;
        }
        value = checked.value;
      }
      const ts = eventTime === null ? batch.timestampAt(i) : eventTime(value);
      if (!Number.isFinite(ts)) {
        reject(batch, i, ErrorCodes.INVALID_EVENT_TIME, 'event time is missing or not a valid time');
        continue;
      }
      if (keys !== null) {
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
    }
  }
  return { values, timestamps, keys };
}
