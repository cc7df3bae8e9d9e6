import { ErrorCodes, FreshetError } from '../../src/core/errors.js';
import type { AppendResult, ConsumedRecord, EventLog, ProducerRecord } from '../../src/log/log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { recordsOf } from '../../src/log/record-batch.js';

const decoder = new TextDecoder();

export function text(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : decoder.decode(bytes);
}

/** Header value by key, as text (first one). */
export function header(record: ConsumedRecord, key: string): string | undefined {
  const h = record.headers.find((x) => x.key === key);
  return h ? decoder.decode(h.value) : undefined;
}

/** Every record of every partition of `topic`, partition by partition. */
export async function readTopic(log: EventLog, topic: string): Promise<ConsumedRecord[]> {
  const description = await log.describeTopic(topic);
  const out: ConsumedRecord[] = [];
  for (const p of description.partitions) {
    const { batches } = await log.read(topic, p.partition, p.earliestOffset, { maxRecords: 1_000_000 });
    out.push(...recordsOf(batches));
  }
  return out;
}

/** Record values of a topic as text, sorted by partition then offset. */
export async function readValues(log: EventLog, topic: string): Promise<string[]> {
  return (await readTopic(log, topic)).map((r) => text(r.value)!);
}

/** Counts records across all partitions (0 when the topic does not exist). */
export async function countRecords(log: EventLog, topic: string): Promise<number> {
  if (!(await log.listTopics()).includes(topic)) return 0;
  return (await readTopic(log, topic)).length;
}

/**
 * A MemoryLog whose appends can be made to fail (FRESHET_LOG_BUSY by default), and that counts them:
 * for backpressure and "one append per partition" tests.
 */
export class FlakyLog extends MemoryLog {
  failWith: FreshetError | null = null;
  /** Only fail appends to this partition (all when null). */
  failPartition: number | null = null;
  readonly appends: { topic: string; partition: number; count: number }[] = [];

  override async append(topic: string, partition: number, records: readonly ProducerRecord[]): Promise<AppendResult> {
    this.appends.push({ topic, partition, count: records.length });
    if (this.failWith && (this.failPartition === null || this.failPartition === partition)) throw this.failWith;
    return super.append(topic, partition, records);
  }

  busy(): void {
    this.failWith = new FreshetError(ErrorCodes.LOG_BUSY, 'append queue full');
  }
}

/** NDJSON text of the given events (one per line, trailing newline). */
export function ndjson(events: readonly unknown[]): string {
  return `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
}
