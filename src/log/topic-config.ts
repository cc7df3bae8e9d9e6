import { ErrorCodes, FreshetError } from '../core/errors.js';
import { Limits } from '../core/limits.js';
import type { ProducerRecord, TopicConfig } from './log.js';

/** Kafka's rule for topic names, so a topic can move to a broker unchanged. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export function validateTopicName(name: string): void {
  if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid topic name '${name}': use 1-249 of [a-zA-Z0-9._-]`, { topic: name });
  }
}

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
  if (segmentBytes !== undefined && segmentBytes < 1024) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `segmentBytes must be at least 1024, got ${segmentBytes}`);
  }
}

/** Bytes a record's payload takes (key + value + headers), as counted against `Limits.maxRecordBytes`. */
export function recordPayloadBytes(r: ProducerRecord): number {
  let size = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  if (r.headers) for (const h of r.headers) size += Buffer.byteLength(h.key) + h.value.length;
  return size;
}

/** Throws FRESHET_RECORD_TOO_LARGE when one record exceeds `Limits.maxRecordBytes`. */
export function checkRecordSize(r: ProducerRecord): void {
  const size = recordPayloadBytes(r);
  if (size > Limits.maxRecordBytes) {
    throw new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `record of ${size} bytes exceeds the ${Limits.maxRecordBytes}-byte limit`, {
      sizeBytes: size,
      limitBytes: Limits.maxRecordBytes,
    });
  }
}
