/**
 * MurmurHash3 x86_128 (Austin Appleby's reference, SMHasher), for HyperLogLog. Pure 32-bit arithmetic,
 * so it is fast in JavaScript, allocation-free, and gives the same bits on every platform and process
 * (the state of a sketch built in one worker must merge with one built in another). Checked against
 * the reference implementation's outputs in test/dsl/aggregators/hash.test.ts.
 *
 * Values are hashed by type, each with its own seed so that 1 and '1' differ:
 * - number: the 8 bytes of the IEEE-754 double, little-endian (-0 as 0, every NaN as the canonical NaN);
 * - string: its UTF-8 bytes (lone surrogates as U+FFFD, like TextEncoder);
 * - bigint: the UTF-8 bytes of its decimal form; boolean: one byte 0 or 1.
 */
import { ErrorCodes, FreshetError } from '../../core/errors.js';

/** The 128-bit result of the last hash call, as four 32-bit words h1..h4 (reused: no allocation). */
export const hashOut = new Uint32Array(4);

export const HashSeeds = { number: 0x5f1a_0001, string: 0x5f1a_0002, bigint: 0x5f1a_0003, boolean: 0x5f1a_0004 } as const;

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** MurmurHash3_x86_128 of `bytes[0..length)` with `seed`; the result is in {@link hashOut}. */
export function murmur3x86_128(bytes: Uint8Array, length: number, seed: number): void {
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const blocks = length & ~15;
  for (let i = 0; i < blocks; i += 16) {
    let k1 = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    let k2 = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    let k3 = bytes[i + 8]! | (bytes[i + 9]! << 8) | (bytes[i + 10]! << 16) | (bytes[i + 11]! << 24);
    let k4 = bytes[i + 12]! | (bytes[i + 13]! << 8) | (bytes[i + 14]! << 16) | (bytes[i + 15]! << 24);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19) + h2;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17) + h3;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15) + h4;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13) + h1;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const t = blocks;
  const rest = length & 15;
  // The reference's fall-through switch over the 0..15 trailing bytes, as ifs.
  if (rest > 12) {
    let k4 = bytes[t + 12]!;
    if (rest > 13) k4 ^= bytes[t + 13]! << 8;
    if (rest > 14) k4 ^= bytes[t + 14]! << 16;
    h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  }
  if (rest > 8) {
    let k3 = bytes[t + 8]!;
    if (rest > 9) k3 ^= bytes[t + 9]! << 8;
    if (rest > 10) k3 ^= bytes[t + 10]! << 16;
    if (rest > 11) k3 ^= bytes[t + 11]! << 24;
    h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  }
  if (rest > 4) {
    let k2 = bytes[t + 4]!;
    if (rest > 5) k2 ^= bytes[t + 5]! << 8;
    if (rest > 6) k2 ^= bytes[t + 6]! << 16;
    if (rest > 7) k2 ^= bytes[t + 7]! << 24;
    h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  }
  if (rest > 0) {
    let k1 = bytes[t]!;
    if (rest > 1) k1 ^= bytes[t + 1]! << 8;
    if (rest > 2) k1 ^= bytes[t + 2]! << 16;
    if (rest > 3) k1 ^= bytes[t + 3]! << 24;
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  }
  finish(h1, h2, h3, h4, length);
}

function finish(h1: number, h2: number, h3: number, h4: number, length: number): void {
  h1 ^= length;
  h2 ^= length;
  h3 ^= length;
  h4 ^= length;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  hashOut[0] = h1;
  hashOut[1] = h2;
  hashOut[2] = h3;
  hashOut[3] = h4;
}

/** MurmurHash3_x86_128 of exactly 8 bytes given as two little-endian words (a double's bits). */
function murmur3x86_128_8(lo: number, hi: number, seed: number): void {
  let h1 = seed | 0;
  let h2 = h1;
  const h3 = h1;
  const h4 = h1;
  const k2 = Math.imul(rotl(Math.imul(hi, C2), 16), C3);
  h2 ^= k2;
  const k1 = Math.imul(rotl(Math.imul(lo, C1), 15), C2);
  h1 ^= k1;
  finish(h1, h2, h3, h4, 8);
}

const f64View = new DataView(new ArrayBuffer(8));
let scratch = new Uint8Array(256);

/** Hashes a number's double bits; result in {@link hashOut}. */
export function hashNumber(v: number): void {
  if (v !== v) v = NaN; // one NaN bit pattern for all NaNs
  f64View.setFloat64(0, v + 0, true); // v + 0 turns -0 into 0
  murmur3x86_128_8(f64View.getInt32(0, true), f64View.getInt32(4, true), HashSeeds.number);
}

/** Hashes a string's UTF-8 bytes; result in {@link hashOut}. */
export function hashString(s: string): void {
  const length = utf8Into(s);
  murmur3x86_128(scratch, length, HashSeeds.string);
}

/**
 * Hashes a number, string, bigint or boolean (see the module comment); result in {@link hashOut}.
 * Throws `FRESHET_INVALID_ARGUMENT` for any other type: extract a key first.
 */
export function hashValue(v: unknown): void {
  switch (typeof v) {
    case 'string':
      return hashString(v);
    case 'number':
      return hashNumber(v);
    case 'bigint': {
      const length = utf8Into(v.toString());
      return murmur3x86_128(scratch, length, HashSeeds.bigint);
    }
    case 'boolean':
      scratch[0] = v ? 1 : 0;
      return murmur3x86_128(scratch, 1, HashSeeds.boolean);
    default:
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `cannot hash a value of type ${v === null ? 'null' : typeof v}: extract a string, number, bigint or boolean`);
  }
}

/** Writes `s` as UTF-8 into `scratch` (grown if needed) and returns the byte length. */
function utf8Into(s: string): number {
  const n = s.length;
  if (n * 3 > scratch.length) scratch = new Uint8Array(Math.max(n * 3, scratch.length * 2));
  const out = scratch;
  let p = 0;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[p++] = 0xf0 | (c >> 18);
          out[p++] = 0x80 | ((c >> 12) & 0x3f);
          out[p++] = 0x80 | ((c >> 6) & 0x3f);
          out[p++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd; // lone surrogate
      }
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

/** For tests: the UTF-8 bytes `hashString` hashes. */
export function utf8BytesForTest(s: string): Uint8Array {
  const n = utf8Into(s);
  return scratch.slice(0, n);
}
