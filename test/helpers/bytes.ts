/** Byte helpers for log tests: encode/decode text, and render bytes as hex so diffs are readable. */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a string. */
export function enc(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A string from UTF-8 bytes (throws on invalid UTF-8). */
export function dec(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Bytes from numbers 0..255. */
export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** Lowercase hex of the bytes (or null): compared instead of typed arrays, since Buffer !== Uint8Array for `toEqual`. */
export function hex(b: Uint8Array | null): string | null {
  if (b === null) return null;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Every byte value 0..255 once, then the reverse: a value that is not valid UTF-8 and has NULs. */
export function allByteValues(): Uint8Array {
  const out = new Uint8Array(512);
  for (let i = 0; i < 256; i++) {
    out[i] = i;
    out[511 - i] = i;
  }
  return out;
}

/** Deterministic pseudo-random bytes (mulberry32), so a test's data is reproducible. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const next = mulberry32(seed);
  for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** A small, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a 32-bit hash of bytes (unsigned). */
export function fnv1a(data: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
