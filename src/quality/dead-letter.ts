import { FreshetHeaders, MAX_DLQ_REASON_CHARS } from '../core/headers.js';
import type { ConsumedRecord, ProducerRecord, RecordHeader } from '../log/log.js';

/**
 * Dead letters: records that failed a check, kept with their original bytes and the reason, in
 * `<topic>.dlq`. Every stage (ingest, pipeline sources, later checks) writes the same headers.
 */
export { FreshetHeaders } from '../core/headers.js';

/**
 * The dead-letter topic of a topic.
 *
 * @example
 * ```ts
 * deadLetterTopic('orders') // 'orders.dlq'
 * ```
 */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/**
 * A rejected record with why and where it was rejected (see `deadLetterRecord`).
 *
 * @example
 * ```ts
 * const letter: DeadLetter = { value: bytes, code: 'FRESHET_SCHEMA_VIOLATION', reason: "missing 'id'", stage: 'ingest', topic: 'orders' };
 * ```
 */
export interface DeadLetter {
  /** The original bytes, unchanged. */
  readonly value: Uint8Array | null;
  readonly key?: Uint8Array | null;
  readonly timestampMs?: number;
  readonly code: string;
  readonly reason: string;
  /** Where it failed: `ingest`, or an operator's name. */
  readonly stage: string;
  /** The topic the record was meant for or read from (`''`: none, e.g. a check after a join). */
  readonly topic: string;
  readonly partition?: number;
  readonly offset?: number;
  /** Quality checks: the check's name. */
  readonly check?: string;
  /** Quality checks: whether `value` is the `original` bytes or the checked value re-encoded (`json`, `msgpack`). */
  readonly payload?: DeadLetterPayload;
}

/**
 * What a dead letter's value holds: the bytes as read, or the checked value re-encoded.
 *
 * @example
 * ```ts
 * if (readDeadLetter(record).payload !== 'original') console.warn('re-encoded value');
 * ```
 */
export type DeadLetterPayload = 'original' | 'json' | 'msgpack';

/**
 * The record a dead letter is stored as: its original key, value and timestamp, and `freshet.dlq.*` headers.
 *
 * @example
 * ```ts
 * await log.produce(deadLetterTopic('orders'), [deadLetterRecord(letter)]);
 * ```
 */
export function deadLetterRecord(letter: DeadLetter): ProducerRecord {
  const headers: RecordHeader[] = [
    { key: FreshetHeaders.DLQ_REASON, value: headerBytes(truncateReason(letter.reason)) },
    { key: FreshetHeaders.DLQ_CODE, value: headerBytes(letter.code) },
    { key: FreshetHeaders.DLQ_STAGE, value: headerBytes(letter.stage) },
  ];
  // An empty topic: the record has no topic to go back to (a check after a join or a merge).
  if (letter.topic !== '') headers.push({ key: FreshetHeaders.DLQ_TOPIC, value: headerBytes(letter.topic) });
  if (letter.partition !== undefined) headers.push({ key: FreshetHeaders.DLQ_PARTITION, value: Buffer.from(String(letter.partition)) });
  if (letter.offset !== undefined) headers.push({ key: FreshetHeaders.DLQ_OFFSET, value: Buffer.from(String(letter.offset)) });
  if (letter.check !== undefined) headers.push({ key: FreshetHeaders.DLQ_CHECK, value: headerBytes(letter.check) });
  if (letter.payload !== undefined) headers.push({ key: FreshetHeaders.DLQ_PAYLOAD, value: headerBytes(letter.payload) });
  return { key: letter.key ?? null, value: letter.value, ...(letter.timestampMs !== undefined ? { timestampMs: letter.timestampMs } : {}), headers };
}

/** Header texts repeat (codes, stages, topics, check names, the stable reasons of checks): encode each once. */
const headerCache = new Map<string, Uint8Array>();
/** Distinct header texts cached at most (then the cache starts over), so varied reasons cannot grow it. */
const MAX_CACHED_HEADER_VALUES = 1_024;

/** The UTF-8 bytes of a header text, shared between records (header values are never mutated). */
function headerBytes(text: string): Uint8Array {
  let bytes = headerCache.get(text);
  if (bytes === undefined) {
    if (headerCache.size >= MAX_CACHED_HEADER_VALUES) headerCache.clear();
    bytes = Buffer.from(text);
    headerCache.set(text, bytes);
  }
  return bytes;
}

/**
 * Cuts a reason to MAX_DLQ_REASON_CHARS (with an ellipsis) so a dead letter's headers stay bounded.
 *
 * @example
 * ```ts
 * truncateReason('x'.repeat(1_000)).length // 512
 * ```
 */
export function truncateReason(reason: string): string {
  return reason.length <= MAX_DLQ_REASON_CHARS ? reason : `${reason.slice(0, MAX_DLQ_REASON_CHARS - 1)}…`;
}

/**
 * A dead letter as read back from a dead-letter topic (`freshet dlq show`, replay): its position there,
 * the original record's bytes, and the `freshet.dlq.*` headers decoded. Fields a writer did not set
 * are undefined (ingest sets no check; a pipeline sets no file or line).
 *
 * @example
 * ```ts
 * const { batches } = await log.read('orders.dlq', 0, 0);
 * const letter = readDeadLetter(batches[0]!.recordAt(0));
 * console.log(letter.reason, letter.check, letter.stage, letter.topic);
 * ```
 */
export interface StoredDeadLetter {
  /** The dead-letter topic, partition and offset of this record. */
  readonly dlqTopic: string;
  readonly dlqPartition: number;
  readonly dlqOffset: number;
  readonly timestampMs: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly reason: string;
  readonly code: string | undefined;
  readonly stage: string | undefined;
  readonly check: string | undefined;
  /** The topic the record was meant for or read from: where `freshet dlq replay` re-submits it. */
  readonly topic: string | undefined;
  readonly partition: number | undefined;
  readonly offset: number | undefined;
  readonly payload: DeadLetterPayload | undefined;
  /** Every header, decoded as UTF-8 (the last value of a repeated key). */
  readonly headers: Readonly<Record<string, string>>;
}

const utf8 = new TextDecoder();

/**
 * Decodes a record of a dead-letter topic.
 *
 * @example
 * ```ts
 * readDeadLetter(record).reason // "event must have required property 'id'"
 * ```
 */
export function readDeadLetter(record: ConsumedRecord): StoredDeadLetter {
  const headers: Record<string, string> = {};
  for (const h of record.headers) headers[h.key] = utf8.decode(h.value);
  const num = (text: string | undefined): number | undefined => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined);
  const payload = headers[FreshetHeaders.DLQ_PAYLOAD];
  return {
    dlqTopic: record.topic,
    dlqPartition: record.partition,
    dlqOffset: record.offset,
    timestampMs: record.timestampMs,
    key: record.key,
    value: record.value,
    reason: headers[FreshetHeaders.DLQ_REASON] ?? '(no reason recorded)',
    code: headers[FreshetHeaders.DLQ_CODE],
    stage: headers[FreshetHeaders.DLQ_STAGE],
    check: headers[FreshetHeaders.DLQ_CHECK],
    topic: headers[FreshetHeaders.DLQ_TOPIC],
    partition: num(headers[FreshetHeaders.DLQ_PARTITION]),
    offset: num(headers[FreshetHeaders.DLQ_OFFSET]),
    payload: payload === 'original' || payload === 'json' || payload === 'msgpack' ? payload : undefined,
    headers,
  };
}

/**
 * True for a dead-letter topic's name (`<topic>.dlq`).
 *
 * @example
 * ```ts
 * isDeadLetterTopic('orders.dlq') // true
 * ```
 */
export function isDeadLetterTopic(name: string): boolean {
  return name.endsWith(DLQ_SUFFIX) && name.length > DLQ_SUFFIX.length;
}

const DLQ_SUFFIX = '.dlq';
