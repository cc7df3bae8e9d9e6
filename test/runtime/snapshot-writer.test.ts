import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { SnapshotWriter, readDoubleRuns } from '../../src/runtime/snapshot-writer.js';

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
    fc.dictionary(fc.string({ maxLength: 5 }).filter((k) => k !== '__proto__'), fc.double(), { maxKeys: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 20 }),
  ),
})).value;

/** msgpackr reads bin as Buffer: compare as Uint8Array. */
function asPlain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (Array.isArray(value)) return value.map(asPlain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asPlain(v)]));
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

describe('double runs (window columns)', () => {
  // Small integers (one byte), the edges around them, and every kind of double.
  const double = fc.oneof(
    fc.integer({ min: 0, max: 300 }),
    fc.constantFrom(0, -0, 240, 241, 255, 0.5, -1, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE),
    fc.double(),
  );
  const runs = fc.integer({ min: 1, max: 12 }).chain((width) =>
    fc.record({ width: fc.constant(width), values: fc.array(fc.array(double, { minLength: width, maxLength: width }), { maxLength: 40 }) }),
  );

  it('read back bit for bit (-0 and NaN included), through the msgpack bin they are written as', () => {
    fc.assert(
      fc.property(runs, ({ width, values }) => {
        const store = Float64Array.from(values.flat());
        const w = new SnapshotWriter(16);
        w.doubleRuns(store, width, values.length);
        const bytes = unpack(w.finish()) as Uint8Array;
        const into = new Float64Array(values.length * width);
        expect(readDoubleRuns(bytes, width, values.length, into)).toBeNull();
        expect(new Uint8Array(into.buffer)).toEqual(new Uint8Array(store.buffer));
      }),
      { numRuns: 300 },
    );
  });

  it('cut short, extended or with a byte changed: an error or the same count of runs, never a throw', () => {
    fc.assert(
      fc.property(runs, fc.nat(), fc.integer({ min: 0, max: 255 }), ({ width, values }, at, byte) => {
        const store = Float64Array.from(values.flat());
        const w = new SnapshotWriter(16);
        w.doubleRuns(store, width, values.length);
        const bytes = Uint8Array.from(unpack(w.finish()) as Uint8Array);
        const into = () => new Float64Array(values.length * width);
        if (bytes.length > 0) {
          expect(readDoubleRuns(bytes.subarray(0, at % bytes.length), width, values.length, into())).not.toBeNull();
          const changed = Uint8Array.from(bytes);
          changed[at % bytes.length] = byte;
          // A changed value byte may still parse (the checksum of the part file catches it); structure errors are reported.
          const result = readDoubleRuns(changed, width, values.length, into());
          expect(result === null || typeof result === 'string').toBe(true);
        }
        expect(readDoubleRuns(Uint8Array.from([...bytes, 0]), width, values.length, into())).not.toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});
