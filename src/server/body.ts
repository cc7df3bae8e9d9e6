import { ErrorCodes, FreshetError } from '../core/errors.js';

/** The two body formats ingest reads. */
export type BodyFormat = 'json' | 'ndjson';

/**
 * A request body split into events: `values[i]` are event i's bytes (stored as the record value and,
 * for rejected events, as the DLQ value), `events[i]` the parsed JSON.
 */
export interface ParsedBody {
  readonly values: Uint8Array[];
  readonly events: unknown[];
}

export interface BodyLimits {
  readonly maxEventsPerRequest: number;
  readonly maxEventBytes: number;
}

const NEWLINE = 0x0a;

/**
 * Buffer#utf8Slice(start, end): what `toString('utf8', start, end)` calls after re-checking its
 * arguments. Long-standing on Buffer.prototype, just not in the typings; bounds are checked here.
 */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice(this: Buffer, start: number, end: number): string }).utf8Slice;

/**
 * Splits and parses an NDJSON body. Lines are found on the bytes (`Buffer.indexOf`, native), trimmed
 * of ASCII whitespace (so CRLF works), and blank lines skipped: they are not events and take no index.
 * Each value is a view into `body` (no copy): the line's original bytes. Decoding line by line
 * measured faster than decoding the whole body once and slicing the string.
 *
 * One malformed line rejects the whole request (FRESHET_MALFORMED_JSON, nothing appended): a broken
 * line means a broken producer or a truncated body, and all-or-nothing keeps retries safe.
 */
export function parseNdjson(body: Buffer, limits: BodyLimits): ParsedBody {
  const values: Uint8Array[] = [];
  const events: unknown[] = [];
  const length = body.length;
  const { maxEventsPerRequest, maxEventBytes } = limits;
  const { buffer, byteOffset } = body;
  let start = 0;
  let lineNumber = 0;
  // One try around the loop, not one per line: the line number tells which line failed.
  try {
    while (start < length) {
      let end = body.indexOf(NEWLINE, start);
      if (end === -1) end = length;
      const next = end + 1;
      lineNumber++;
      let s = start;
      while (s < end && isAsciiSpace(body[s]!)) s++;
      while (end > s && isAsciiSpace(body[end - 1]!)) end--;
      start = next;
      if (s === end) continue;
      if (events.length === maxEventsPerRequest) throw tooManyEvents(maxEventsPerRequest);
      if (end - s > maxEventBytes) throw eventTooLarge(events.length, end - s, maxEventBytes);
      events.push(JSON.parse(utf8Slice.call(body, s, end)));
      // A plain Uint8Array view is cheaper to make than Buffer#subarray (a FastBuffer) and is all a record needs.
      values.push(new Uint8Array(buffer, byteOffset + s, end - s));
    }
  } catch (error) {
    if (error instanceof FreshetError) throw error;
    throw new FreshetError(ErrorCodes.MALFORMED_JSON, `NDJSON line ${lineNumber} is not valid JSON: ${(error as Error).message}`, {
      line: lineNumber,
    });
  }
  return { values, events };
}

/**
 * Parses a JSON body: an array is a batch of events (each re-serialised as its stored value), any
 * other value is one event whose value is the body's own bytes.
 */
export function parseJson(body: Buffer, limits: BodyLimits): ParsedBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new FreshetError(ErrorCodes.MALFORMED_JSON, `body is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    const value = trim(body);
    if (value.length > limits.maxEventBytes) throw eventTooLarge(0, value.length, limits.maxEventBytes);
    return { values: [value], events: [parsed] };
  }
  if (parsed.length > limits.maxEventsPerRequest) throw tooManyEvents(limits.maxEventsPerRequest);
  const values: Uint8Array[] = new Array(parsed.length);
  for (let i = 0; i < parsed.length; i++) {
    const value = Buffer.from(JSON.stringify(parsed[i]) ?? 'null');
    if (value.length > limits.maxEventBytes) throw eventTooLarge(i, value.length, limits.maxEventBytes);
    values[i] = value;
  }
  return { values, events: parsed };
}

function isAsciiSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;
}

function trim(body: Buffer): Buffer {
  let s = 0;
  let e = body.length;
  while (s < e && isAsciiSpace(body[s]!)) s++;
  while (e > s && isAsciiSpace(body[e - 1]!)) e--;
  return body.subarray(s, e);
}

function tooManyEvents(max: number): FreshetError {
  return new FreshetError(ErrorCodes.TOO_MANY_EVENTS, `request has more than ${max} events`, { limit: max });
}

/** An oversized event rejects the whole request (413): see docs/ingest.md, "Limits". */
export function eventTooLarge(index: number, sizeBytes: number, limitBytes: number): FreshetError {
  return new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `event ${index} is ${sizeBytes} bytes, over the ${limitBytes}-byte limit`, {
    index,
    sizeBytes,
    limitBytes,
  });
}
