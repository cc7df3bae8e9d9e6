/**
 * The byte-level toolkit every built-in aggregator uses for its state format.
 *
 * Every built-in state starts with the same two-byte header:
 *
 * ```
 * state   := version:u8 kind:u8 body
 * version := 0x01                       (FORMAT_VERSION; bumped with a migration when a body changes)
 * kind    := KindCode of the aggregator (count=1, sum=2, ... see KindCodes)
 * varuint := LEB128, 7 bits per byte, low group first, at most 8 bytes, value <= 2^53 - 1
 * varint  := zigzag(n) as varuint       (0 -> 0, -1 -> 1, 1 -> 2, ...)
 * f64     := IEEE-754 binary64, little-endian
 * str     := len:varuint utf8-bytes[len]
 * ```
 *
 * Decoding never trusts its input: every read is bounds-checked and every failure (truncation, trailing
 * bytes, unknown version or kind, out-of-range field) is a `FRESHET_INVALID_ARGUMENT` FreshetError.
 */
import { ErrorCodes, FreshetError } from '../../core/errors.js';

/** The only state format version so far. */
export const FORMAT_VERSION = 1;

/** The second byte of every built-in state: which aggregator wrote it. Never reuse a number. */
export const KindCodes = {
  count: 1,
  sum: 2,
  min: 3,
  max: 4,
  avg: 5,
  first: 6,
  last: 7,
  hll: 8,
  quantiles: 9,
  topk: 10,
  aggregate: 11,
} as const;

export type BuiltinKind = keyof typeof KindCodes;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** A coded error for a state that cannot be decoded. */
export function invalidState(kind: string, message: string, cause?: unknown): FreshetError {
  return new FreshetError(
    ErrorCodes.INVALID_ARGUMENT,
    `cannot decode '${kind}' aggregator state: ${message}`,
    { kind },
    cause === undefined ? undefined : { cause },
  );
}

/** A growable little-endian byte writer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialBytes = 32) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Writes the common `version kind` header. */
  header(kind: BuiltinKind): this {
    return this.u8(FORMAT_VERSION).u8(KindCodes[kind]);
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  varuint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new FreshetError(ErrorCodes.ASSERTION_FAILED, `varuint out of range: ${v}`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  varint(v: number): this {
    return this.varuint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  f64(v: number): this {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Length-prefixed bytes. */
  blob(b: Uint8Array): this {
    return this.varuint(b.length).bytes(b);
  }

  str(s: string): this {
    return this.blob(textEncoder.encode(s));
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** A bounds-checked reader; every failure is a coded `invalidState` error naming `kind`. */
export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    readonly kind: string,
  ) {
    if (!(bytes instanceof Uint8Array)) throw invalidState(kind, `expected a Uint8Array, got ${describe(bytes)}`);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Reads and checks the common `version kind` header. */
  header(kind: BuiltinKind): this {
    if (this.bytes.length === 0) throw this.fail('empty input');
    const version = this.u8();
    if (version !== FORMAT_VERSION) throw this.fail(`unknown format version ${version} (this build reads ${FORMAT_VERSION})`);
    const code = this.u8();
    if (code !== KindCodes[kind]) {
      const other = Object.entries(KindCodes).find(([, c]) => c === code)?.[0];
      throw this.fail(other ? `this is a '${other}' state` : `unknown kind code ${code}`);
    }
    return this;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.bytes.length) throw this.fail('truncated');
    return this.bytes[this.pos++]!;
  }

  varuint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw this.fail('non-canonical varuint');
        if (!Number.isSafeInteger(result)) throw this.fail('varuint above 2^53 - 1');
        return result;
      }
      scale *= 0x80;
    }
    throw this.fail('varuint longer than 8 bytes');
  }

  varint(): number {
    const z = this.varuint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  f64(): number {
    if (this.pos + 8 > this.bytes.length) throw this.fail('truncated');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  take(n: number): Uint8Array {
    if (n > this.remaining) throw this.fail('truncated');
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  blob(): Uint8Array {
    return this.take(this.varuint());
  }

  str(): string {
    const b = this.blob();
    if (b.length <= 32) {
      // Short ASCII (the common case for keys) without a TextDecoder call.
      let ascii = true;
      for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) ascii = false;
      if (ascii) return String.fromCharCode.apply(null, b as unknown as number[]);
    }
    try {
      return textDecoder.decode(b);
    } catch (cause) {
      throw this.fail('invalid UTF-8', cause);
    }
  }

  /** All bytes not read yet. */
  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  /** Asserts that the whole input was consumed. */
  end(): void {
    if (this.pos !== this.bytes.length) throw this.fail(`${this.remaining} trailing bytes`);
  }

  fail(message: string, cause?: unknown): FreshetError {
    return invalidState(this.kind, message, cause);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
