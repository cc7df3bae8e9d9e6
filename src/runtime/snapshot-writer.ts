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
 *           | anything else: msgpackr's own encoding of it (undefined, plain objects), copied in
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

  /** Any value: plain data the fast way, anything else (objects, bytes) through msgpackr. */
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
   * A bin of doubles (IEEE 754 little-endian) taken from runs of `values`: run i is the first
   * `lengths[i]` of the `width` doubles at `i * width`; `total` is the sum of the lengths.
   */
  float64Runs(values: Float64Array, width: number, lengths: Uint8Array, total: number): void {
    this.binHeader(total * 8);
    let pos = this.pos;
    const view = this.view;
    for (let run = 0; run < lengths.length; run++) {
      const at = run * width;
      const length = lengths[run]!;
      for (let i = 0; i < length; i++, pos += 8) view.setFloat64(pos, values[at + i]!, true);
    }
    this.pos = pos;
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

