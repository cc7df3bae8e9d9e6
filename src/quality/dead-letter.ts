import type { ProducerRecord, RecordHeader } from '../log/log.js';

/**
 * Dead letters: records that failed a check, kept with their original bytes and the reason, in
 * `<topic>.dlq`. Every stage (ingest, pipeline sources, later checks) writes the same headers.
 */
export const DeadLetterHeaders = {
  REASON: 'freshet.dlq.reason',
  CODE: 'freshet.dlq.code',
  STAGE: 'freshet.dlq.stage',
  TOPIC: 'freshet.dlq.topic',
  PARTITION: 'freshet.dlq.partition',
  OFFSET: 'freshet.dlq.offset',
  INDEX: 'freshet.dlq.index',
} as const;

/** The dead-letter topic of a topic. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

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
    { key: DeadLetterHeaders.REASON, value: Buffer.from(letter.reason) },
    { key: DeadLetterHeaders.CODE, value: Buffer.from(letter.code) },
    { key: DeadLetterHeaders.STAGE, value: Buffer.from(letter.stage) },
    { key: DeadLetterHeaders.TOPIC, value: Buffer.from(letter.topic) },
  ];
  if (letter.partition !== undefined) headers.push({ key: DeadLetterHeaders.PARTITION, value: Buffer.from(String(letter.partition)) });
  if (letter.offset !== undefined) headers.push({ key: DeadLetterHeaders.OFFSET, value: Buffer.from(String(letter.offset)) });
  return { key: letter.key ?? null, value: letter.value, ...(letter.timestampMs !== undefined ? { timestampMs: letter.timestampMs } : {}), headers };
}
