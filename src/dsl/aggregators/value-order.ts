/**
 * A deterministic total order over the values aggregators keep (first/last tie-breaks, top-k ties).
 * It depends only on the values, never on arrival order, so merges that use it are commutative.
 *
 * undefined < null < booleans (false < true) < numbers (-Infinity ... -0 < 0 ... Infinity < NaN)
 *           < bigints < strings (UTF-16 code-unit order) < anything else (by its MessagePack bytes)
 */
import { Packr } from 'msgpackr';

/** The MessagePack codec for arbitrary values kept in state (first/last). Plain msgpack, no records. */
export const valuePackr = new Packr({ useRecords: false, moreTypes: true });

function typeRank(v: unknown): number {
  switch (typeof v) {
    case 'undefined':
      return 0;
    case 'boolean':
      return 2;
    case 'number':
      return 3;
    case 'bigint':
      return 4;
    case 'string':
      return 5;
    default:
      return v === null ? 1 : 6;
  }
}

/** Compares two numbers in the total order above (NaN last, -0 before 0). */
export function compareNumbers(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) {
    if (a !== 0) return 0;
    const na = Object.is(a, -0);
    const nb = Object.is(b, -0);
    return na === nb ? 0 : na ? -1 : 1;
  }
  // At least one NaN.
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  return an === bn ? 0 : an ? 1 : -1;
}

/** The deterministic total order over values: negative, zero or positive like `Array.sort`'s comparator. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
    case 1:
      return 0;
    case 2:
      return a === b ? 0 : a ? 1 : -1;
    case 3:
      return compareNumbers(a as number, b as number);
    case 4:
      return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case 5:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    default:
      return compareBytes(valuePackr.pack(a), valuePackr.pack(b));
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}
