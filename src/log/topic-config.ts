import { ErrorCodes, FreshetError } from '../core/errors.js';
import { Limits } from '../core/limits.js';
import type { ProducerRecord, TopicConfig } from './log.js';

/** Largest segment file (1 GiB). */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;

/** Kafka's rule for topic names, so a topic can move to a broker unchanged. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Throws FRESHET_INVALID_ARGUMENT unless `name` follows Kafka's topic-name rule. */
export function validateTopicName(name: string): void {
  if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid topic name '${name}': use 1-249 of [a-zA-Z0-9._-]`, { topic: name });
  }
}

/** Throws FRESHET_INVALID_ARGUMENT for an impossible topic configuration. */
export function validateTopicConfig(config: TopicConfig): void {
  const { partitions, retentionMs, retentionBytes, segmentBytes } = config;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > Limits.maxPartitions) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `partitions must be an integer in [1, ${Limits.maxPartitions}], got ${partitions}`);
  }
  for (const [name, value] of Object.entries({ retentionMs, retentionBytes, segmentBytes })) {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive integer, got ${value}`);
    }
  }
  // Index entries store positions as u32; Kafka caps segments at 1 GiB too.
  if (segmentBytes !== undefined && (segmentBytes < 1024 || segmentBytes > MAX_SEGMENT_BYTES)) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `segmentBytes must be in [1024, ${MAX_SEGMENT_BYTES}], got ${segmentBytes}`);
  }
}

/** Header count and header key length are stored as u16 (see the batch grammar). */
export const MAX_HEADERS = 0xffff;
export const MAX_HEADER_KEY_BYTES = 0xffff;

/** Bytes a record's payload takes (key + value + headers), as counted against `Limits.maxRecordBytes`. */
export function recordPayloadBytes(r: ProducerRecord): number {
  let size = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  if (r.headers) for (const h of r.headers) size += Buffer.byteLength(h.key) + h.value.length;
  return size;
}

/** Throws FRESHET_RECORD_TOO_LARGE when one record exceeds `Limits.maxRecordBytes`. */
export function checkRecordSize(r: ProducerRecord): void {
  const headers = r.headers;
  // Hot path (every appended record): an upper bound first (a UTF-16 unit is at most 3 UTF-8 bytes),
  // exact byte counts only when the bound is near a limit.
  let bound = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  if (headers) {
    if (headers.length > MAX_HEADERS) {
      throw new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `a record has at most ${MAX_HEADERS} headers, got ${headers.length}`);
    }
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i]!;
      if (h.key.length * 3 > MAX_HEADER_KEY_BYTES && Buffer.byteLength(h.key) > MAX_HEADER_KEY_BYTES) {
        throw new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `header key of ${Buffer.byteLength(h.key)} bytes exceeds ${MAX_HEADER_KEY_BYTES}`);
      }
      bound += h.key.length * 3 + h.value.length;
    }
  }
  if (bound <= Limits.maxRecordBytes) return;
  const size = recordPayloadBytes(r);
  if (size > Limits.maxRecordBytes) {
    throw new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `record of ${size} bytes exceeds the ${Limits.maxRecordBytes}-byte limit`, {
      sizeBytes: size,
      limitBytes: Limits.maxRecordBytes,
    });
  }
}

/**
 * Checks one append (one atomic batch) before anything is written: non-empty, within
 * Limits.maxBatchRecords and Limits.maxBatchBytes, every record within its own bounds, finite timestamps.
 * `encodedBytes` is the implementation's size of a stored record.
 */
export function validateAppend(records: readonly ProducerRecord[], encodedBytes: (r: ProducerRecord) => number = recordPayloadBytes): void {
  if (records.length === 0) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'append needs at least one record');
  if (records.length > Limits.maxBatchRecords) {
    throw new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `an append holds at most ${Limits.maxBatchRecords} records, got ${records.length}`);
  }
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    checkRecordSize(r);
    if (r.timestampMs !== undefined && !Number.isFinite(r.timestampMs)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `record ${i} has a non-finite timestamp ${r.timestampMs}`);
    }
    bytes += encodedBytes(r);
  }
  if (bytes > Limits.maxBatchBytes) {
    throw new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `an append of ${bytes} bytes exceeds the ${Limits.maxBatchBytes}-byte batch limit`);
  }
}

/** maxRecords/maxBytes of a read must allow progress. */
export function validateReadBounds(maxRecords: number, maxBytes: number): void {
  if (!(maxRecords >= 1) || !(maxBytes >= 1)) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `maxRecords and maxBytes must be >= 1 (got ${maxRecords}, ${maxBytes})`);
  }
}

export function validateGroupName(group: string): void {
  if (typeof group !== 'string' || group.length === 0 || group.length > 249) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid consumer group name '${group}'`);
  }
}

export function validateCommittedOffset(offset: number): void {
  if (!Number.isInteger(offset) || offset < 0) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid offset ${offset} to commit`);
}
