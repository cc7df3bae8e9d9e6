import { FreshetHeaders, MAX_DLQ_REASON_CHARS } from '../core/headers.js';
import type { ProducerRecord, RecordHeader } from '../log/log.js';

/**
 * Dead letters: records that failed a check, kept with their original bytes and the reason, in
 * `<topic>.dlq`. Every stage (ingest, pipeline sources, later checks) writes the same headers.
 */
export { FreshetHeaders } from '../core/headers.js';

/** The dead-letter topic of a topic. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** A rejected record with why and where it was rejected (see `deadLetterRecord`). */
export interface DeadLetter {
  /** The original bytes, unchanged. */
  readonly value: Uint8Array | null;
  readonly key?: Uint8Array | null;
  readonly timestampMs?: number;
  readonly code: string;
  readonly reason: string;
  /** Where it failed: `ingest`, or an operator's name. */
  readonly stage: string;
  readonly topic: string;
  readonly partition?: number;
  readonly offset?: number;
}

/** The record a dead letter is stored as. */
export function deadLetterRecord(letter: DeadLetter): ProducerRecord {
  const headers: RecordHeader[] = [
    { key: FreshetHeaders.DLQ_REASON, value: Buffer.from(truncateReason(letter.reason)) },
    { key: FreshetHeaders.DLQ_CODE, value: Buffer.from(letter.code) },
    { key: FreshetHeaders.DLQ_STAGE, value: Buffer.from(letter.stage) },
    { key: FreshetHeaders.DLQ_TOPIC, value: Buffer.from(letter.topic) },
  ];
  if (letter.partition !== undefined) headers.push({ key: FreshetHeaders.DLQ_PARTITION, value: Buffer.from(String(letter.partition)) });
  if (letter.offset !== undefined) headers.push({ key: FreshetHeaders.DLQ_OFFSET, value: Buffer.from(String(letter.offset)) });
  return { key: letter.key ?? null, value: letter.value, ...(letter.timestampMs !== undefined ? { timestampMs: letter.timestampMs } : {}), headers };
}

/** Cuts a reason to MAX_DLQ_REASON_CHARS (with an ellipsis) so a dead letter's headers stay bounded. */
export function truncateReason(reason: string): string {
  return reason.length <= MAX_DLQ_REASON_CHARS ? reason : `${reason.slice(0, MAX_DLQ_REASON_CHARS - 1)}…`;
}
