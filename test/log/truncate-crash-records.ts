/**
 * Shared by truncate-crash.test.ts and its child: the records the child appends, derived from their
 * identity (run, seq, index) so the parent can rebuild them from a log line, and the line format.
 */
import type { ProducerRecord } from '../../src/log/log.js';

export const TRUNC_TOPIC = 'tr';
/** Small segments, so truncations cross and delete segments. */
export const TRUNC_SEGMENT_BYTES = 2048;

/** One line the child prints (synchronously, before/after each operation). */
export type TruncLine =
  | { t: 'ready'; run: number; latest: number }
  | { t: 'append-start'; seq: number; count: number }
  | { t: 'append-done'; seq: number; base: number }
  | { t: 'truncate-start'; seq: number; end: number }
  | { t: 'truncate-done'; seq: number };

/** The value of record `index` of append `seq` in `run`: self-describing, of varying size. */
export function truncValue(run: number, seq: number, index: number): string {
  const id = `${run}:${seq}:${index}:`;
  return id.padEnd(id.length + ((run * 31 + seq * 17 + index * 7) % 90), 'x');
}

export function truncRecords(run: number, seq: number, count: number): ProducerRecord[] {
  return Array.from({ length: count }, (_, i) => ({ value: Buffer.from(truncValue(run, seq, i)), timestampMs: seq * 10 + i }));
}
