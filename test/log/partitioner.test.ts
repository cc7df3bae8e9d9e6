import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { murmur2, partitionForKey } from '../../src/log/partitioner.js';
import { bytes, enc } from '../helpers/bytes.js';

/** Kafka's published vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2). */
const KAFKA_VECTORS: [string, Uint8Array, number][] = [
  ['21', enc('21'), -973932308],
  ['foobar', enc('foobar'), -790332482],
  ['a-little-bit-long-string', enc('a-little-bit-long-string'), -985981536],
  ['a-little-bit-longer-string', enc('a-little-bit-longer-string'), -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', enc('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
  ['bytes [a,b,c]', bytes(0x61, 0x62, 0x63), 479470107],
];

describe('murmur2', () => {
  it.each(KAFKA_VECTORS)("matches Kafka's Utils.murmur2 for %s", (_label, data, want) => {
    expect(murmur2(data)).toBe(want);
  });

  it('the vectors cover tail lengths 0, 2 and 3; a line-by-line port of the Java agrees on all lengths', () => {
    expect(new Set(KAFKA_VECTORS.map(([, data]) => data.length % 4))).toEqual(new Set([0, 2, 3]));
    for (const [, data, want] of KAFKA_VECTORS) expect(javaPortMurmur2(data)).toBe(want);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        expect(murmur2(data)).toBe(javaPortMurmur2(data));
      }),
      { seed: 1, numRuns: 500 },
    );
    for (let n = 0; n < 9; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => 0x80 + i * 17);
      expect(murmur2(data)).toBe(javaPortMurmur2(data));
    }
  });

  it('returns a signed 32-bit integer that depends only on the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const h = murmur2(data);
        expect(Number.isInteger(h)).toBe(true);
        expect(h).toBe(h | 0);
        expect(murmur2(Uint8Array.from(data))).toBe(h);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('reads only the given view of a larger buffer (subarrays with an offset)', () => {
    const backing = enc('xxfoobaryy');
    expect(murmur2(backing.subarray(2, 8))).toBe(-790332482);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
  });
});

describe('partitionForKey', () => {
  it.each(KAFKA_VECTORS)('is (murmur2 & 0x7fffffff) %% n for %s', (_label, data, hash) => {
    for (const n of [1, 2, 3, 7, 12, 100, 1024]) expect(partitionForKey(data, n)).toBe((hash & 0x7fffffff) % n);
  });

  it('pins a few partitions computed by hand from the vectors', () => {
    // (-790332482 & 0x7fffffff) = 1357151166; 1357151166 % 12 = 6.
    expect(partitionForKey(enc('foobar'), 12)).toBe(6);
    // (-973932308 & 0x7fffffff) = 1173551340; % 10 = 0; % 7 = 1173551340 - 7*167650191 = 3.
    expect(partitionForKey(enc('21'), 10)).toBe(0);
    expect(partitionForKey(enc('21'), 7)).toBe(3);
    // 479470107 is positive: % 4 = 3.
    expect(partitionForKey(bytes(0x61, 0x62, 0x63), 4)).toBe(3);
  });

  it('is always in [0, n) and deterministic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 1024 }), (key, n) => {
        const p = partitionForKey(key, n);
        expect(Number.isInteger(p) && p >= 0 && p < n).toBe(true);
        expect(partitionForKey(key, n)).toBe(p);
        expect(p).toBe((murmur2(key) & 0x7fffffff) % n);
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('spreads distinct keys over all partitions', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[partitionForKey(enc(`key-${i}`), 8)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

/**
 * Kafka's Utils.murmur2, ported statement by statement (Java's switch fallthrough written as a loop),
 * as an independent reference for tail lengths the published vectors do not cover.
 */
function javaPortMurmur2(data: Uint8Array): number {
  const length = data.length;
  const seed = 0x9747b28c | 0;
  const m = 0x5bd1e995 | 0;
  const r = 24;
  let h = seed ^ length;
  const length4 = Math.floor(length / 4);
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4]! & 0xff) + ((data[i4 + 1]! & 0xff) << 8) + ((data[i4 + 2]! & 0xff) << 16) + ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k | 0, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length % 4;
  const base = length & ~3;
  // case 3: h ^= (data[(length & ~3) + 2] & 0xff) << 16; case 2: ... << 8; case 1: h ^= data[..] & 0xff; h *= m;
  for (let c = rest; c >= 1; c--) {
    if (c === 3) h ^= (data[base + 2]! & 0xff) << 16;
    if (c === 2) h ^= (data[base + 1]! & 0xff) << 8;
    if (c === 1) {
      h ^= data[base]! & 0xff;
      h = Math.imul(h, m);
    }
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
