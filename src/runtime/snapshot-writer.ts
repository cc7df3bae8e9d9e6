/**
 * A MessagePack writer for large snapshots of plain data (window state of a million keys), written
 * straight from the operator's maps instead of building arrays for msgpackr first: no intermediate
 * arrays of a million entries, no per-value type dispatch beyond what plain data needs. msgpackr's
 * `unpack` reads what it writes, so restore is unchanged and snapshots from either path are one format.
 *
 * The subset written (the MessagePack spec's names):
 *
 *   value  := positive fixint | uint 8/16/32 |    integers in [-2^31, 2^32), the smallest that fits
 *             negative fixint | int 8/16/32       (as msgpackr writes them), except -0
 *           | float 64 (0xcb f64)                 every other number (-0, NaN and ±Infinity included)
 *           | fixstr / str 8 / str 16 / str 32    UTF-8 strings
 *           | fixarray / array 16 / array 32      arrays of values
 *           | bin 8 / bin 16 / bin 32              Uint8Arrays (encoded accumulators, window columns)
 *           | nil (0xc0) | false (0xc2) | true (0xc3)
 *           | fixmap / map 16 / map 32            plain objects: string key, value, in key order
 *           | anything else: msgpackr's own encoding of it (undefined, Maps, class instances), copied in
 *
 * All multi-byte integers and floats are big-endian, as the spec requires.
 */
import { pack } from 'msgpackr';

/** Bytes to start with per expected entry; the buffer doubles when it runs out. */
const INITIAL_BYTES = 4096;

export class SnapshotWriter {
  private buf: Buffer;
  private view: DataView;
  private pos = 0;

  /** `expectedBytes`: a size guess (e.g. the previous snapshot's), to avoid regrowing. */
  constructor(expectedBytes = INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(Math.max(INITIAL_BYTES, expectedBytes));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Bytes the writer holds before it must grow. */
  get capacity(): number {
    return this.buf.length;
  }

  /** Starts over in the same memory: the bytes `finish` returned before must no longer be read. */
  reset(): void {
    this.pos = 0;
  }

  /** The bytes written (a view: the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.written();
  }

  /** The bytes written so far, as a view that stays valid until the next write (which may move them). */
  written(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  arrayHeader(length: number): void {
    this.ensure(5);
    if (length < 16) {
      this.buf[this.pos++] = 0x90 | length;
    } else if (length < 0x10000) {
      this.buf[this.pos++] = 0xdc;
      this.view.setUint16(this.pos, length);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdd;
      this.view.setUint32(this.pos, length);
      this.pos += 4;
    }
  }

  mapHeader(size: number): void {
    this.ensure(5);
    if (size < 16) {
      this.buf[this.pos++] = 0x80 | size;
    } else if (size < 0x10000) {
      this.buf[this.pos++] = 0xde;
      this.view.setUint16(this.pos, size);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdf;
      this.view.setUint32(this.pos, size);
      this.pos += 4;
    }
  }

  number(value: number): void {
    this.ensure(9);
    this.pos = this.writeNumber(this.buf, this.pos, value);
  }

  /** Writes `value` at `pos` (room for 9 bytes checked by the caller); returns the next position. */
  private writeNumber(buf: Buffer, pos: number, value: number): number {
    // Integers take the smallest integer format (as msgpackr does); -0 stays a double, as do integers
    // outside [-2^31, 2^32).
    if (Math.trunc(value) === value && value >= -0x80000000 && value <= 0xffffffff && (value !== 0 || 1 / value > 0)) {
      if (value >= 0) {
        if (value < 0x80) {
          buf[pos] = value;
          return pos + 1;
        }
        if (value < 0x100) {
          buf[pos] = 0xcc;
          buf[pos + 1] = value;
          return pos + 2;
        }
        if (value < 0x10000) {
          buf[pos] = 0xcd;
          this.view.setUint16(pos + 1, value);
          return pos + 3;
        }
        buf[pos] = 0xce;
        this.view.setUint32(pos + 1, value);
        return pos + 5;
      }
      if (value >= -0x20) {
        buf[pos] = value & 0xff;
        return pos + 1;
      }
      if (value >= -0x80) {
        buf[pos] = 0xd0;
        this.view.setInt8(pos + 1, value);
        return pos + 2;
      }
      if (value >= -0x8000) {
        buf[pos] = 0xd1;
        this.view.setInt16(pos + 1, value);
        return pos + 3;
      }
      buf[pos] = 0xd2;
      this.view.setInt32(pos + 1, value);
      return pos + 5;
    }
    buf[pos] = 0xcb;
    this.view.setFloat64(pos + 1, value);
    return pos + 9;
  }

  string(value: string): void {
    const n = value.length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.ensure(5 + 3 * n);
    const start = this.pos;
    // Short ASCII (keys, mostly): copied by hand into a fixstr, no encoder call.
    if (n < 32) {
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        this.buf[start + 1 + i] = c;
      }
      if (i === n) {
        this.buf[start] = 0xa0 | n;
        this.pos = start + 1 + n;
        return;
      }
    }
    // Otherwise: room for the longest header, encode, then move the bytes if the header is shorter.
    const written = this.buf.write(value, start + 5, 'utf8');
    let header: number;
    if (written < 32) {
      this.buf[start] = 0xa0 | written;
      header = 1;
    } else if (written < 0x100) {
      this.buf[start] = 0xd9;
      this.buf[start + 1] = written;
      header = 2;
    } else if (written < 0x10000) {
      this.buf[start] = 0xda;
      this.view.setUint16(start + 1, written);
      header = 3;
    } else {
      this.buf[start] = 0xdb;
      this.view.setUint32(start + 1, written);
      header = 5;
    }
    if (header !== 5) this.buf.copyWithin(start + header, start + 5, start + 5 + written);
    this.pos = start + header + written;
  }

  /** Any value: plain data (numbers, strings, arrays, bytes, plain objects) the fast way, anything else through msgpackr. */
  value(value: unknown): void {
    if (typeof value === 'number') return this.number(value);
    if (typeof value === 'string') return this.string(value);
    if (Array.isArray(value)) {
      const n = value.length;
      this.arrayHeader(n);
      for (let i = 0; i < n; i++) {
        const item: unknown = value[i];
        // Numbers (accumulators are arrays of them) without a call and its dispatch.
        if (typeof item === 'number') {
          this.ensure(9);
          this.pos = this.writeNumber(this.buf, this.pos, item);
        } else {
          this.value(item);
        }
      }
      return;
    }
    if (value instanceof Uint8Array) return this.bytes(value);
    if (isPlainObject(value)) {
      // Written here rather than by msgpackr, which writes -0 as 0 (avg's exact sum may hold a -0).
      const keys = Object.keys(value);
      this.mapHeader(keys.length);
      for (const key of keys) {
        this.string(key);
        this.value(value[key]);
      }
      return;
    }
    if (value === null || typeof value === 'boolean') {
      this.ensure(1);
      this.buf[this.pos++] = value === null ? 0xc0 : value ? 0xc3 : 0xc2;
      return;
    }
    this.raw(pack(value));
  }

  /** A bin 8 / bin 16 / bin 32 (encoded accumulators). */
  bytes(value: Uint8Array): void {
    this.binHeader(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  private binHeader(n: number): void {
    this.ensure(5 + n);
    if (n < 0x100) {
      this.buf[this.pos++] = 0xc4;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = 0xc5;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xc6;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  /**
   * Window columns (see `readDoubleRuns` for the format): a bin of `count` runs of `width` doubles from
   * `values`, each without its trailing +0s, small non-negative integers in one byte.
   */
  doubleRuns(values: Float64Array, width: number, count: number): void {
    // bin 32, its length filled in at the end.
    this.ensure(5);
    const header = this.pos;
    this.buf[header] = 0xc6;
    this.pos += 5;
    const most = 1 + 9 * width;
    for (let run = 0; run < count; run++) {
      if (this.pos + most > this.buf.length) this.ensure(most);
      const buf = this.buf;
      const view = this.view;
      const at = run * width;
      let length = width;
      while (length > 0 && values[at + length - 1] === 0 && 1 / values[at + length - 1]! > 0) length--;
      let pos = this.pos;
      buf[pos++] = length;
      for (let i = 0; i < length; i++) {
        const v = values[at + i]!;
        if (v >= 0 && v <= RUN_SMALL_MAX && Math.trunc(v) === v && 1 / v > 0) {
          buf[pos++] = v;
        } else {
          buf[pos] = RUN_DOUBLE;
          view.setFloat64(pos + 1, v, true);
          pos += 9;
        }
      }
      this.pos = pos;
    }
    this.view.setUint32(header + 1, this.pos - header - 5);
  }

  /** Bytes that already are one MessagePack value. */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
}

/** The largest integer a run stores in one byte. */
const RUN_SMALL_MAX = 0xf0;
/** Tag of a double stored whole. */
const RUN_DOUBLE = 0xff;

/**
 * Reads what `SnapshotWriter.doubleRuns` wrote into `into` (`count` runs of `width` doubles; all zeros
 * to start with). Format, run after run:
 *   run   := length:u8 value{length}        the run's first `length` doubles; the rest are +0
 *   value := 0x00-0xF0                      that integer
 *          | 0xFF f64                       any other double, IEEE 754 little-endian
 * Returns an error message, or null when the bytes are exactly `count` well-formed runs.
 */
export function readDoubleRuns(bytes: Uint8Array, width: number, count: number, into: Float64Array): string | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = 0;
  for (let run = 0; run < count; run++) {
    if (pos >= end) return `${count - run} runs missing`;
    const length = bytes[pos++]!;
    if (length > width) return `run ${run} has ${length} doubles, more than ${width}`;
    const at = run * width;
    for (let i = 0; i < length; i++) {
      if (pos >= end) return `run ${run} is cut short`;
      const tag = bytes[pos]!;
      if (tag <= RUN_SMALL_MAX) {
        into[at + i] = tag;
        pos++;
      } else if (tag === RUN_DOUBLE && pos + 9 <= end) {
        into[at + i] = view.getFloat64(pos + 1, true);
        pos += 9;
      } else {
        return `run ${run}: bad value at byte ${pos}`;
      }
    }
  }
  return pos === end ? null : `${end - pos} bytes after the last run`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
