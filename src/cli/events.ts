/**
 * Turns one NDJSON line into a ProducerRecord for `freshet produce`, or says precisely why it cannot.
 * The value is the line's bytes, unchanged; the key and event time may be taken from JSON fields.
 */
import { isUtf8 } from 'node:buffer';
import { type ErrorCode, ErrorCodes } from '../core/errors.js';
import { Limits } from '../core/limits.js';
import type { ProducerRecord, RecordHeader } from '../log/log.js';
import { parseEventTime } from '../server/event-time.js';
import { FreshetHeaders as IngestHeaders } from '../core/headers.js';

export interface EventOptions {
  /** Top-level JSON field holding the key: a string or a number (its decimal text). */
  readonly keyField?: string;
  /** Top-level JSON field holding the event time: ISO-8601 with an offset, or epoch ms (a number). */
  readonly timeField?: string;
}

/** The headers ingest writes, written the same way here so records look alike whichever way they came in. */
export { FreshetHeaders as IngestHeaders, MAX_DLQ_REASON_CHARS as MAX_REASON_CHARS } from '../core/headers.js';

/**
 * The `freshet.ingest.ms` header ingest puts on every record (wall time of ingest, for end-to-end
 * latency), shared by all records read in the same millisecond.
 */
export interface IngestStamp {
  readonly headers: readonly RecordHeader[];
  /** Bytes the headers count against the record bound. */
  readonly sizeBytes: number;
}

export function ingestStamp(nowMs: number): IngestStamp {
  const value = Buffer.from(String(nowMs));
  return { headers: [{ key: IngestHeaders.INGEST_MS, value }], sizeBytes: Buffer.byteLength(IngestHeaders.INGEST_MS) + value.length };
}

/** Why a line was refused. */
export interface Rejection {
  readonly code: ErrorCode;
  readonly message: string;
}

export type LineOutcome = ProducerRecord | Rejection;

export function isRejection(o: LineOutcome): o is Rejection {
  return (o as Rejection).code !== undefined;
}

/**
 * The line without leading and trailing ASCII whitespace (as ingest trims NDJSON lines); an empty
 * result means a blank line, which is not an event and is skipped.
 */
export function trimLine(bytes: Buffer): Buffer {
  let start = 0;
  let end = bytes.length;
  while (start < end && isAsciiSpace(bytes[start]!)) start++;
  while (end > start && isAsciiSpace(bytes[end - 1]!)) end--;
  return start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
}

function isAsciiSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x0b || c === 0x0c;
}

/**
 * Validates a line and builds its record. Every line must be one JSON value in UTF-8; with
 * `keyField`/`timeField` it must be a JSON object, and a present time field must be a valid time. A
 * missing key field gives a null key (round-robin partitioning); a missing or null time field gives
 * the append time.
 */
export function eventFromLine(bytes: Buffer, options: EventOptions, headers: IngestStamp): LineOutcome {
  const maxValueBytes = Limits.maxRecordBytes - headers.sizeBytes;
  if (bytes.length > maxValueBytes) return tooLarge(bytes.length + headers.sizeBytes);
  if (!isUtf8(bytes)) return { code: ErrorCodes.MALFORMED_JSON, message: 'not valid UTF-8' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return { code: ErrorCodes.MALFORMED_JSON, message: `not valid JSON (${(e as Error).message})` };
  }
  if (options.keyField === undefined && options.timeField === undefined) return { value: bytes, headers: headers.headers };
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { code: ErrorCodes.MALFORMED_JSON, message: 'expected a JSON object (--key-field/--time-field read its fields)' };
  }
  const event = parsed as Record<string, unknown>;
  let key: Buffer | null = null;
  if (options.keyField !== undefined) {
    const raw = field(event, options.keyField);
    if (typeof raw === 'string') key = Buffer.from(raw, 'utf8');
    else if (typeof raw === 'number') key = Buffer.from(String(raw), 'utf8');
    else if (raw !== undefined && raw !== null) {
      return {
        code: ErrorCodes.SCHEMA_VIOLATION,
        message: `key field '${options.keyField}' is ${truncate(JSON.stringify(raw))}: expected a string or a number`,
      };
    }
    if (key !== null && key.length + bytes.length > maxValueBytes) return tooLarge(key.length + bytes.length + headers.sizeBytes);
  }
  if (options.timeField !== undefined) {
    const raw = field(event, options.timeField);
    const timestampMs = parseEventTime(raw, NO_TIME);
    if (Number.isNaN(timestampMs)) {
      return {
        code: ErrorCodes.INVALID_EVENT_TIME,
        message: `field '${options.timeField}' is ${truncate(JSON.stringify(raw))}: expected an ISO-8601 time with an offset or epoch milliseconds`,
      };
    }
    if (timestampMs !== NO_TIME) return { key, value: bytes, timestampMs, headers: headers.headers };
  }
  return { key, value: bytes, headers: headers.headers };
}

/** Marks "no time field": the log then stamps the append time. */
const NO_TIME = -1;

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function tooLarge(sizeBytes: number): Rejection {
  return { code: ErrorCodes.RECORD_TOO_LARGE, message: `record of ${sizeBytes} bytes exceeds the ${Limits.maxRecordBytes}-byte limit` };
}

/** A top-level field (as ingest reads `keyField` and `eventTimeField`). */
function field(event: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(event, name) ? event[name] : undefined;
}
