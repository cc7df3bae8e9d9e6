import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { SnapshotWriter } from '../../src/runtime/snapshot-writer.js';

/** Plain snapshot data: what window state holds (numbers of every kind, strings, arrays, bytes, objects). */
const plain = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.double(),
    fc.integer(),
    fc.constantFrom(0, -0, 127, 128, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ minLength: 200, maxLength: 70_000 }),
    fc.constantFrom(null, true, false),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.double(), { maxKeys: 3 }),
  ),
})).value;

/** msgpackr reads bin as Buffer: compare as Uint8Array. */
function asPlain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map(asPlain);
  return value;
}

describe('SnapshotWriter', () => {
  it('writes MessagePack that msgpackr reads back as the same value (-0, NaN, long and non-ASCII strings, bytes)', () => {
    fc.assert(
      fc.property(plain, (value) => {
        const w = new SnapshotWriter(16);
        w.value(value);
        expect(asPlain(unpack(w.finish()))).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it('writes the same bytes as msgpackr for window state of numbers, arrays and keys', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.array(fc.oneof(fc.integer(), fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0))), { maxLength: 6 }))), (entries) => {
        const w = new SnapshotWriter();
        w.arrayHeader(2);
        w.arrayHeader(entries.length);
        for (const [key] of entries) w.string(key);
        w.arrayHeader(entries.length);
        for (const [, acc] of entries) w.value(acc);
        expect(Buffer.from(w.finish())).toEqual(Buffer.from(pack([entries.map((e) => e[0]), entries.map((e) => e[1])])));
      }),
      { numRuns: 300 },
    );
  });

  it('grows its buffer past the first guess', () => {
    const w = new SnapshotWriter(1);
    const big = Array.from({ length: 100_000 }, (_, i) => [`key-${i}`, i * 0.5]);
    w.value(big);
    expect(unpack(w.finish())).toEqual(big);
  });
});
