/**
 * The aggregator contract: a mergeable aggregation (a commutative monoid over accumulators) plus a
 * versioned binary state format. The same aggregator object serves tumbling and hopping windows,
 * parallel partial aggregation (partials merged downstream), checkpoints (encode/decode) and the lambda
 * merge of batch and streaming results.
 */
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { AccumulatorColumns } from '../../plan/plan.js';
import { KindCodes } from './codec.js';
import { AggregatorLimits } from './limits.js';

/**
 * A mergeable aggregation: a commutative monoid over accumulators plus a binary state format.
 *
 * Laws every implementation keeps (the property tests check them for every built-in):
 * - `merge(create(), a)` and `merge(a, create())` behave as `a`;
 * - `merge(a, b)` behaves as `merge(b, a)`, and `merge(merge(a, b), c)` as `merge(a, merge(b, c))`
 *   (exactly for exact aggregators; sketches keep their stated error bound under any merge tree);
 * - adding a sequence in chunks and merging the chunks' accumulators behaves as adding it all to one;
 * - `decode(encode(acc))` behaves exactly as `acc` (same result, same response to further add/merge).
 *
 * `add` and `merge` may mutate their first argument and return it: callers must always use the return
 * value and must not use an accumulator after passing it as `b` to `merge` (it may be aliased).
 *
 * @example
 * ```ts
 * const total = sum((o: Order) => o.amount);
 * let acc = total.create();
 * for (const o of orders) acc = total.add(acc, o, o.eventTimeMs);
 * total.result(acc); // 123.45
 * ```
 */
export interface Aggregator<In, Acc, Out> {
  /** Stable name, e.g. 'count', 'sum', 'hll': goes into plans and state. */
  readonly kind: string;
  /**
   * Configuration that changes what the state means (e.g. `{ precision: 14 }` for 'hll'). Plans record it
   * next to `kind`; a state can only be decoded and merged by an aggregator with the same params.
   */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Built-ins only: the accumulator as a fixed run of doubles, for window state kept column-wise. */
  readonly columns?: AccumulatorColumns;
  /** A new, empty accumulator (the monoid's identity). */
  create(): Acc;
  /**
   * Folds one input into `acc`; may mutate and return `acc`. `timestampMs` is the input's event time in
   * milliseconds since the epoch: every aggregator accepts it, order-sensitive ones (`first`, `last`)
   * require it, the others ignore it.
   */
  add(acc: Acc, input: In, timestampMs?: number): Acc;
  /** Combines two accumulators; may mutate and return `a`. */
  merge(a: Acc, b: Acc): Acc;
  /** The value the aggregation stands for; does not change `acc`. */
  result(acc: Acc): Out;
  /** Compact binary state, versioned: the first byte is the format version. */
  encode(acc: Acc): Uint8Array;
  /** Inverse of `encode`; throws a FreshetError `FRESHET_INVALID_ARGUMENT` on bad input or unknown version. */
  decode(bytes: Uint8Array): Acc;
}

/** Any aggregator, whatever its types (for collections of aggregators). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAggregator = Aggregator<any, any, any>;
/** The input type of an aggregator. */
export type InputOf<A> = A extends Aggregator<infer I, infer _Acc, infer _Out> ? I : never;
/** The accumulator type of an aggregator. */
export type AccOf<A> = A extends Aggregator<infer _In, infer Acc, infer _Out> ? Acc : never;
/** The result type of an aggregator. */
export type OutputOf<A> = A extends Aggregator<infer _In, infer _Acc, infer Out> ? Out : never;

/** Kinds reserved by Freshet's built-in aggregators; `defineAggregator` refuses them. */
export const BUILTIN_AGGREGATOR_KINDS: readonly string[] = Object.freeze(Object.keys(KindCodes));

const KIND_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]*$/;
const METHODS = ['create', 'add', 'merge', 'result', 'encode', 'decode'] as const;

/**
 * Checks the shape of a user-defined aggregator and returns it unchanged (typed). Throws
 * `FRESHET_INVALID_ARGUMENT` when a method is missing, the kind is empty, malformed (letters, digits,
 * `_ . : -`, starting with a letter, at most 64 characters) or one of the built-in kinds, or when
 * `decode(encode(create()))` fails.
 *
 * Your encode should start with a format version byte, as the built-ins do, so that a later version of
 * your aggregator can read (or refuse, with a coded error) state written by an earlier one.
 *
 * @example
 * ```ts
 * // Product of positive numbers, kept as a sum of logarithms.
 * const product = defineAggregator<number, { logSum: number }, number>({
 *   kind: 'acme.product',
 *   create: () => ({ logSum: 0 }),
 *   add: (acc, x) => { acc.logSum += Math.log(x); return acc; },
 *   merge: (a, b) => { a.logSum += b.logSum; return a; },
 *   result: (acc) => Math.exp(acc.logSum),
 *   encode: (acc) => { const b = new Uint8Array(9); b[0] = 1; new DataView(b.buffer).setFloat64(1, acc.logSum, true); return b; },
 *   decode: (b) => {
 *     if (b.length !== 9 || b[0] !== 1) throw new FreshetError('FRESHET_INVALID_ARGUMENT', 'bad acme.product state');
 *     return { logSum: new DataView(b.buffer, b.byteOffset).getFloat64(1, true) };
 *   },
 * });
 * ```
 */
export function defineAggregator<In, Acc, Out>(spec: Aggregator<In, Acc, Out>): Aggregator<In, Acc, Out> {
  if (spec === null || typeof spec !== 'object') throw invalid(`an aggregator must be an object, got ${spec === null ? 'null' : typeof spec}`);
  const { kind } = spec;
  if (typeof kind !== 'string' || kind.length === 0) throw invalid('an aggregator needs a non-empty string kind');
  if (kind.length > AggregatorLimits.maxKindLength) throw invalid(`aggregator kind '${kind.slice(0, 20)}...' is longer than ${AggregatorLimits.maxKindLength} characters`);
  if (!KIND_PATTERN.test(kind)) throw invalid(`aggregator kind '${kind}' must start with a letter and use only letters, digits and _ . : -`);
  if (BUILTIN_AGGREGATOR_KINDS.includes(kind)) throw invalid(`aggregator kind '${kind}' is reserved for the built-in aggregator`);
  const missing = METHODS.filter((m) => typeof (spec as unknown as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) throw invalid(`aggregator '${kind}' is missing method(s): ${missing.join(', ')}`);
  if (spec.params !== undefined && (spec.params === null || typeof spec.params !== 'object')) throw invalid(`aggregator '${kind}': params must be an object`);
  // One cheap self-check: the identity must survive its own state format.
  let bytes: unknown;
  try {
    bytes = spec.encode(spec.create());
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw invalid(`aggregator '${kind}': encode must return a non-empty Uint8Array`);
    spec.decode(bytes);
  } catch (cause) {
    if (cause instanceof FreshetError && cause.message.startsWith(`aggregator '${kind}'`)) throw cause;
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `aggregator '${kind}': decode(encode(create())) failed: ${String(cause)}`, { kind }, { cause });
  }
  return spec;
}

/** True when `value` has the shape of an aggregator (a kind string and the six methods). */
export function isAggregator(value: unknown): value is AnyAggregator {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.kind === 'string' && METHODS.every((m) => typeof v[m] === 'function');
}

function invalid(message: string): FreshetError {
  return new FreshetError(ErrorCodes.INVALID_ARGUMENT, message);
}
