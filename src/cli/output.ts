/**
 * Everything the CLI prints goes through here: stdout writes that respect backpressure, error
 * formatting (`FRESHET_CODE: message`), exit codes, and the small human formats (tables, sizes).
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, FreshetError, isFreshetError } from '../core/errors.js';
import type { ConsumedRecord, RecordHeader } from '../log/log.js';

/** Exit codes: 0 success, 1 runtime error, 2 usage error (bad arguments or options). */
export const ExitCodes = { ok: 0, runtime: 1, usage: 2 } as const;

/**
 * A bad command line: the user should change the arguments. Prints as `FRESHET_INVALID_ARGUMENT: ...`
 * and exits with 2.
 */
export class UsageError extends FreshetError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(ErrorCodes.INVALID_ARGUMENT, message, details);
    this.name = 'UsageError';
  }
}

/** Thrown to unwind to `run()` with an exit code, after the message was already printed. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'CliExit';
  }
}

/** The code printed for errors Freshet did not raise on purpose (a bug or an environment failure). */
export const UNEXPECTED_ERROR_CODE = ErrorCodes.INTERNAL;

/** True when stack traces should be printed for unexpected errors. */
export function debugEnabled(verboseFlag: boolean): boolean {
  const env = process.env.FRESHET_DEBUG;
  return verboseFlag || (env !== undefined && env !== '' && env !== '0' && env !== 'false');
}

/** Exit code for an error: 2 when the arguments were wrong, 1 otherwise. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CliExit) return error.exitCode;
  if (isFreshetError(error, ErrorCodes.INVALID_ARGUMENT)) return ExitCodes.usage;
  return ExitCodes.runtime;
}

/** Formats an error for stderr: `FRESHET_CODE: message`, plus a stack for unexpected ones when asked. */
export function formatError(error: unknown, verbose: boolean): string {
  if (isFreshetError(error)) {
    let text = `${error.code}: ${error.message}`;
    if (verbose && error.code === ErrorCodes.ASSERTION_FAILED && error.stack) text += `\n${error.stack}`;
    if (verbose && error.cause !== undefined) text += `\ncaused by: ${describeCause(error.cause)}`;
    return text;
  }
  const err = error instanceof Error ? error : new Error(String(error));
  const sys = (err as NodeJS.ErrnoException).code;
  let text = `${UNEXPECTED_ERROR_CODE}: ${sys && !err.message.startsWith(sys) ? `${sys}: ` : ''}${err.message}`;
  if (verbose) text += `\n${err.stack ?? ''}`;
  else text += '\n(run with --verbose or FRESHET_DEBUG=1 for the stack trace)';
  return text;
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
}

/** Prints one line to stderr. */
export function printErr(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
}

/**
 * Writes to stdout, waiting for 'drain' when the pipe is full, so `freshet tail big | slow` stays
 * bounded in memory. Rejects with EPIPE when the reader went away (the caller stops quietly).
 */
export async function writeOut(text: string): Promise<void> {
  if (stdoutClosed) throw stdoutClosedError();
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (e: unknown): void => {
      cleanup();
      reject(e);
    };
    const cleanup = (): void => {
      process.stdout.off('drain', onDrain);
      process.stdout.off('error', onError);
    };
    process.stdout.on('drain', onDrain);
    process.stdout.on('error', onError);
  });
}

let stdoutClosed = false;

function stdoutClosedError(): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error('stdout was closed');
  e.code = 'EPIPE';
  return e;
}

/** Notes when the reader of stdout goes away (`freshet tail t | head`), instead of crashing on EPIPE. */
export function watchStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') stdoutClosed = true;
  });
}

export function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/** Resolves once everything written so far to stdout and stderr has been handed to the OS. */
export async function flushOutput(): Promise<void> {
  const flush = (stream: NodeJS.WriteStream): Promise<void> =>
    new Promise((resolve) => {
      if (stream.destroyed || (stream === process.stdout && stdoutClosed)) return resolve();
      stream.write('', () => resolve());
    });
  await Promise.all([flush(process.stdout), flush(process.stderr)]);
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `1234567` → `1,234,567`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `1 record`, `2 records`. */
export function plural(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** A left-aligned text table with a header row; numeric-looking columns are right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[\d.,]+( [KMGT]?i?B)?$|^-$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** How `tail` prints record values. */
export type ValueFormat = 'auto' | 'string' | 'base64';

/**
 * Bytes as a JSON-ready value: a string when they are valid UTF-8, else `{ "base64": "..." }` (an
 * object, so it cannot be mistaken for a string key or header).
 */
function textOrBase64(bytes: Uint8Array): string | { base64: string } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(buf) ? buf.toString('utf8') : { base64: buf.toString('base64') };
}

/**
 * The JSON text of a record value for `tail`:
 * - `auto` (default): the value itself when it is JSON (embedded verbatim when it fits on one line,
 *   so big numbers keep their digits), else a string when it is UTF-8, else `{"base64":"..."}`;
 * - `string`: a string when UTF-8, else `{"base64":"..."}`;
 * - `base64`: always a base64 string.
 * A tombstone (null value) prints as `null`.
 */
export function valueJson(value: Uint8Array | null, format: ValueFormat): string {
  if (value === null) return 'null';
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (format === 'base64') return JSON.stringify(buf.toString('base64'));
  if (!isUtf8(buf)) return JSON.stringify({ base64: buf.toString('base64') });
  const text = buf.toString('utf8');
  if (format === 'auto' && looksLikeJson(text)) {
    try {
      const parsed: unknown = JSON.parse(text);
      return text.includes('\n') || text.includes('\r') ? JSON.stringify(parsed) : text.trim();
    } catch {
      // not JSON: print as a string
    }
  }
  return JSON.stringify(text);
}

/** Cheap pre-check so plain text does not pay for a failed JSON.parse (and its exception). */
function looksLikeJson(text: string): boolean {
  const c = text.trimStart()[0];
  return c === '{' || c === '[' || c === '"' || c === '-' || c === 't' || c === 'f' || c === 'n' || (c !== undefined && c >= '0' && c <= '9');
}

/**
 * Headers as a JSON object; a name that repeats (Kafka allows it) maps to an array of its values.
 * Written by hand: it runs once per printed record.
 */
function headersJson(headers: readonly RecordHeader[]): string {
  if (headers.length === 0) return '{}';
  if (hasRepeatedKey(headers)) return JSON.stringify(groupedHeaders(headers));
  let out = '{';
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    out += `${i === 0 ? '' : ','}${JSON.stringify(h.key)}:${JSON.stringify(textOrBase64(h.value))}`;
  }
  return `${out}}`;
}

function hasRepeatedKey(headers: readonly RecordHeader[]): boolean {
  for (let i = 1; i < headers.length; i++) for (let j = 0; j < i; j++) if (headers[i]!.key === headers[j]!.key) return true;
  return false;
}

function groupedHeaders(headers: readonly RecordHeader[]): Record<string, unknown> {
  const grouped = new Map<string, (string | { base64: string })[]>();
  for (const h of headers) {
    const values = grouped.get(h.key);
    if (values) values.push(textOrBase64(h.value));
    else grouped.set(h.key, [textOrBase64(h.value)]);
  }
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>; // '__proto__' is a legal header name
  for (const [k, values] of grouped) out[k] = values.length === 1 ? values[0] : values;
  return out;
}

/**
 * One NDJSON line for `tail`:
 * `{"partition":0,"offset":7,"timestamp":1700000000000,"key":"c-1","value":{...},"headers":{}}`.
 */
export function recordLine(record: ConsumedRecord, format: ValueFormat): string {
  const key = record.key === null ? null : textOrBase64(record.key);
  return (
    `{"partition":${record.partition},"offset":${record.offset},"timestamp":${record.timestampMs},` +
    `"key":${JSON.stringify(key)},"value":${valueJson(record.value, format)},"headers":${headersJson(record.headers)}}\n`
  );
}
