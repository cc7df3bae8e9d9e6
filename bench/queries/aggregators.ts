/**
 * Aggregators the benchmark queries need beyond the built-ins, written with the public
 * `defineAggregator` (state: a version byte then msgpack).
 */
import { pack, unpack } from 'msgpackr';
import { ErrorCodes, FreshetError } from '../../src/core/errors.js';
import { type Aggregator, defineAggregator } from '../../src/dsl/aggregators/index.js';

const STATE_VERSION = 1;

function encodeState(state: unknown): Uint8Array {
  const body = pack(state);
  const out = new Uint8Array(body.length + 1);
  out[0] = STATE_VERSION;
  out.set(body, 1);
  return out;
}

function decodeState<T>(kind: string, bytes: Uint8Array): T {
  if (bytes.length < 2 || bytes[0] !== STATE_VERSION) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `bad ${kind} state (version ${bytes[0]})`);
  return unpack(bytes.subarray(1)) as T;
}

/** Accumulator of `maxWithTies`: the largest measure seen and every item that has it, in arrival order. */
export interface MaxTiesAcc<V> {
  max: number;
  items: V[];
}

/**
 * The largest `measure` and all the items that reach it (SQL's `WHERE m = (SELECT max(m) ...)`, ties
 * kept). Exact; the result lists items in the order they were added (merges append).
 *
 * @example
 * ```ts
 * bids.keyBy(() => 0).window(tumbling({ sizeMs: 10_000 })).aggregate(maxWithTies((b: Bid) => b.price, (b) => b))
 * ```
 */
export function maxWithTies<In, V>(measure: (input: In) => number, item: (input: In) => V): Aggregator<In, MaxTiesAcc<V>, MaxTiesAcc<V>> {
  return defineAggregator<In, MaxTiesAcc<V>, MaxTiesAcc<V>>({
    kind: 'bench.maxWithTies',
    create: () => ({ max: Number.NEGATIVE_INFINITY, items: [] }),
    add(acc, input) {
      const m = measure(input);
      if (m > acc.max) {
        acc.max = m;
        acc.items = [item(input)];
      } else if (m === acc.max) acc.items.push(item(input));
      return acc;
    },
    merge(a, b) {
      if (b.max > a.max) return b;
      if (b.max === a.max) for (const v of b.items) a.items.push(v);
      return a;
    },
    result: (acc) => acc,
    encode: (acc) => encodeState([acc.max === Number.NEGATIVE_INFINITY ? null : acc.max, acc.items]),
    decode(bytes) {
      const [max, items] = decodeState<[number | null, V[]]>('bench.maxWithTies', bytes);
      return { max: max ?? Number.NEGATIVE_INFINITY, items };
    },
  });
}

/** Accumulator of `coGroup`: what each side of a window join brought for one key and window. */
export interface CoGroupAcc<L> {
  /** The left side's value (the last one added), or null when the left side had none. */
  left: L | null;
  /** How many right-side inputs there were. */
  right: number;
}

/**
 * Both sides of a window join in one aggregation: inputs for which `isLeft` holds keep their value, the
 * others are counted. A window with `left !== null && right > 0` is a join match (Nexmark q8: a person
 * and at least one auction of theirs in the same window).
 *
 * @example
 * ```ts
 * personsAndAuctions.keyBy(idOrSeller).window(tumbling({ sizeMs: 10_000 })).aggregate(coGroup((e) => e.type === 'person', (p) => p.name))
 * ```
 */
export function coGroup<In, L>(isLeft: (input: In) => boolean, leftValue: (input: In) => L): Aggregator<In, CoGroupAcc<L>, CoGroupAcc<L>> {
  return defineAggregator<In, CoGroupAcc<L>, CoGroupAcc<L>>({
    kind: 'bench.coGroup',
    create: () => ({ left: null, right: 0 }),
    add(acc, input) {
      if (isLeft(input)) acc.left = leftValue(input);
      else acc.right++;
      return acc;
    },
    merge(a, b) {
      if (b.left !== null) a.left = b.left;
      a.right += b.right;
      return a;
    },
    result: (acc) => acc,
    encode: (acc) => encodeState([acc.left, acc.right]),
    decode(bytes) {
      const [left, right] = decodeState<[L | null, number]>('bench.coGroup', bytes);
      return { left, right };
    },
  });
}
