/**
 * The HyperLogLog hash must be MurmurHash3 x86_128 bit for bit (so sketches built anywhere merge), and
 * must hash values by their canonical bytes. Expected outputs come from murmurhash3js-revisited 3.0.0,
 * which matches Appleby's C++ reference; inputs are byte i = (i·131 + len·7 + 200) mod 256.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HashSeeds, hashOut, hashValue, murmur3x86_128, utf8BytesForTest } from '../../../src/dsl/aggregators/hash.js';
import { expectInvalid } from './harness.js';

const hexOut = () => Array.from(hashOut, (w) => w.toString(16).padStart(8, '0')).join('');

const REFERENCE: [number, number, string][] = [
  [0, 0, '00000000000000000000000000000000'],
  [0, 2538058380, 'f7bed5a15b576a1c5b576a1c5b576a1c'],
  [1, 0, 'a1d8d9460752ac7a0752ac7a0752ac7a'],
  [1, 2538058380, '38ab29ea42c208ba42c208ba42c208ba'],
  [2, 0, 'e1fff54a8f490f1a8f490f1a8f490f1a'],
  [3, 2538058380, '326b5d962c5f11252c5f11252c5f1125'],
  [4, 0, 'dfd11992e0de87d5e0de87d5e0de87d5'],
  [5, 0, '37ef7c92b2e2670519b6dcfc19b6dcfc'],
  [7, 2538058380, '67a8d939d4f81df76f8a110f6f8a110f'],
  [8, 0, 'b3727ca7c30a4f9345a1fd7f45a1fd7f'],
  [9, 0, '57c3a2bd8d477733707194c75ddb0ff3'],
  [12, 2538058380, '94fa6a91c207105924e8a2a1380fcd8d'],
  [13, 0, '20a40372c8c962df02ed18e67df938ab'],
  [15, 0, '4109db368c91c3170bfcf9c71b722854'],
  [16, 0, 'b739ee3d332058f2db78504f286af2bb'],
  [16, 2538058380, '5d668db26cf2ff1a22309dc0103f0a06'],
  [17, 0, '13a8f9feccc2d9aeccd69a53e977fa3b'],
  [31, 2538058380, '9479c1636bfbe3d81c30affae3874aec'],
  [32, 0, 'fd9847842b71d71dd1d1340eac682bb3'],
  [33, 2538058380, '77d2ff04c149ca36ac47d1dfdec0948a'],
  [47, 0, '819deae704cd33d258abaa68b83f2ef0'],
  [47, 2538058380, '3edd0e803769a47be0b60a24042f0db8'],
];

describe('murmur3x86_128', () => {
  it.each(REFERENCE)('matches the reference for %i bytes, seed %i', (len, seed, expected) => {
    const b = new Uint8Array(len + 5); // longer buffer: only `len` bytes may be read
    for (let i = 0; i < len; i++) b[i] = (i * 131 + len * 7 + 200) & 255;
    b.fill(0xee, len);
    murmur3x86_128(b, len, seed);
    expect(hexOut()).toBe(expected);
  });

  it.each([
    ['', '800b068af44e950df44e950df44e950d'],
    ['hello', '94bcc50c6b217dad4897936448979364'],
    ['The quick brown fox jumps over the lazy dog', 'c2a2f3351cfebcc11fb3608c0335a909'],
    ['héllo wörld 🌊', '8a606337bc4878946c83a5fcb4879602'],
    ['user-42', 'ce5b7068cff0d563e12830bbe12830bb'],
  ])('hashes string %j as its UTF-8 bytes with the string seed', (s, expected) => {
    hashValue(s);
    expect(hexOut()).toBe(expected);
  });

  it.each([
    [0, '626f0fe770d12b7f70d12b7f70d12b7f'],
    [1, '38ebb857a347a9c43cd5793d3cd5793d'],
    [-1.5, 'c055fd7762eb525251b5fcb451b5fcb4'],
    [1e300, 'c091ad8075b976c8698ecb33698ecb33'],
    [123456789, '1a8bd5915481690b485e2265485e2265'],
  ])('hashes number %d as its little-endian double bytes with the number seed', (v, expected) => {
    hashValue(v);
    expect(hexOut()).toBe(expected);
  });
});

describe('hashValue', () => {
  const h = (v: unknown) => {
    hashValue(v);
    return hexOut();
  };

  it('encodes strings to UTF-8 exactly as TextEncoder does (lone surrogates included)', () => {
    const enc = new TextEncoder();
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        expect(Buffer.from(utf8BytesForTest(s)).toString('hex')).toBe(Buffer.from(enc.encode(s)).toString('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('hashes numbers through the specialised 8-byte path exactly as the general one', () => {
    const dv = new DataView(new ArrayBuffer(8));
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (v) => {
        dv.setFloat64(0, v === 0 ? 0 : v, true);
        murmur3x86_128(new Uint8Array(dv.buffer), 8, HashSeeds.number);
        const general = hexOut();
        expect(h(v)).toBe(general);
      }),
      { numRuns: 300 },
    );
  });

  it('treats -0 as 0 and every NaN alike, and separates types', () => {
    expect(h(-0)).toBe(h(0));
    const nanBits = new DataView(new ArrayBuffer(8));
    nanBits.setUint32(0, 0x7ff80000 | 1234);
    expect(h(nanBits.getFloat64(0))).toBe(h(NaN));
    expect(h(1)).not.toBe(h('1'));
    expect(h(1n)).not.toBe(h('1'));
    expect(h(true)).not.toBe(h(1));
    expect(h(2n ** 80n)).toBe(h(2n ** 80n));
  });

  it('gives well-spread high bits (register index) for sequential keys', () => {
    const buckets = new Uint32Array(64);
    for (let i = 0; i < 64_000; i++) {
      hashValue(`key-${i}`);
      buckets[hashOut[0]! >>> 26]!++;
    }
    for (const b of buckets) expect(Math.abs(b - 1000)).toBeLessThan(150); // ~4.7 sigma
  });

  it('refuses values it cannot hash canonically', () => {
    expectInvalid(() => hashValue({ a: 1 }));
    expectInvalid(() => hashValue(null));
    expectInvalid(() => hashValue(Symbol('x')));
  });
});
