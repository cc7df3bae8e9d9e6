/**
 * Splits a byte stream into lines without ever holding more than one chunk plus one line in memory.
 */
import type { Readable } from 'node:stream';

/** One input line. `bytes` excludes the newline (and a trailing `\r`). */
export interface Line {
  /** 1-based line number in the input. */
  readonly lineNo: number;
  readonly bytes: Buffer;
  /**
   * Set when the line was longer than `maxLineBytes`: its bytes were dropped while reading (so memory
   * stays bounded) and `bytes` is empty; this is its real length.
   */
  readonly tooLongBytes?: number;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Yields the lines of `input` in groups (one group per chunk read), so callers pay one `await` per
 * chunk, not per line. A final line without a newline is yielded too. A UTF-8 byte-order mark at the
 * very start is dropped.
 */
export async function* readLines(input: Readable, maxLineBytes: number): AsyncGenerator<Line[]> {
  let lineNo = 0;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  /** Bytes of the current line dropped because it grew past maxLineBytes; -1 when not overflowing. */
  let overflowBytes = -1;
  let first = true;

  const finishLine = (tail: Buffer, out: Line[]): void => {
    lineNo++;
    if (overflowBytes >= 0) {
      out.push({ lineNo, bytes: Buffer.alloc(0), tooLongBytes: overflowBytes + tail.length });
      overflowBytes = -1;
      return;
    }
    let bytes = carryBytes === 0 ? tail : Buffer.concat([...carry, tail], carryBytes + tail.length);
    carry = [];
    carryBytes = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > maxLineBytes) out.push({ lineNo, bytes: Buffer.alloc(0), tooLongBytes: bytes.length });
    else out.push({ lineNo, bytes });
  };

  for await (const raw of input) {
    let chunk: Buffer = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
    if (first) {
      first = false;
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    const out: Line[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      finishLine(chunk.subarray(start, nl), out);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (overflowBytes >= 0) overflowBytes += rest.length;
      else if (carryBytes + rest.length > maxLineBytes + 1) {
        // +1: a trailing '\r' is not part of the line. Drop what we have and count the rest.
        overflowBytes = carryBytes + rest.length;
        carry = [];
        carryBytes = 0;
      } else {
        // Copy: the chunk's memory must not be pinned by a small tail.
        carry.push(Buffer.from(rest));
        carryBytes += rest.length;
      }
    }
    if (out.length > 0) yield out;
  }
  if (carryBytes > 0 || overflowBytes >= 0) {
    const out: Line[] = [];
    finishLine(Buffer.alloc(0), out);
    yield out;
  }
}

/**
 * Passes `source` through, calling `onIdle` whenever the next item takes longer than `idleMs` to
 * arrive (once per wait). `freshet produce` uses it to append a partial batch when the input pauses,
 * so `tail -f app.log | freshet produce` does not hold events back until a batch fills (Kafka's
 * linger.ms).
 */
export async function* flushWhenIdle<T>(source: AsyncIterable<T>, idleMs: number, onIdle: () => Promise<void>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = iterator.next();
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<'idle'>((resolve) => {
        timer = setTimeout(() => resolve('idle'), idleMs);
      });
      let result = await Promise.race([next, idle]);
      clearTimeout(timer);
      if (result === 'idle') {
        await onIdle();
        result = await next;
      }
      if (result.done) return;
      yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}
