import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { AccumulatorColumns } from '../../plan/plan.js';
import { type AnyAggregator, type Aggregator, type OutputOf, isAggregator } from './aggregator.js';
import { ByteReader, ByteWriter } from './codec.js';
import { AggregatorLimits } from './limits.js';

/**
 * The input type of a composite: every part's input at once (the intersection; `unknown` parts such as
 * `count()` add nothing). Inferred from the parts' inputs in a contravariant position, which makes
 * TypeScript intersect them rather than unite them (a union with `unknown` would swallow the rest).
 */
export type CompositeInput<S extends Record<string, AnyAggregator>> = {
  [K in keyof S]: (input: S[K] extends Aggregator<infer I, infer _A, infer _O> ? I : never) => void;
}[keyof S] extends (input: infer I) => void
  ? I
  : never;

/** The result type of a composite: an object with the same keys as the spec. */
export type CompositeResult<S extends Record<string, AnyAggregator>> = { [K in keyof S]: OutputOf<S[K]> };

/** The aggregator `aggregate()` returns. Its accumulator is an array with one accumulator per part. */
export interface CompositeAggregator<S extends Record<string, AnyAggregator>> extends Aggregator<CompositeInput<S>, unknown[], CompositeResult<S>> {
  /** The parts, by result key. */
  readonly parts: Readonly<S>;
}

/**
 * Runs several aggregators as one: one accumulator (an array, one slot per part, in key order), one
 * pass over the inputs, one state blob; the result is an object with the spec's keys. Every part sees
 * the same input and event time. The composite is a monoid when its parts are.
 *
 * State: `01 0B parts:varuint (key:str kind:str state:varuint-length-prefixed bytes){parts}`; decode
 * checks that keys and kinds match the spec, so a changed plan cannot silently misread old state.
 *
 * @example
 * ```ts
 * const stats = aggregate({
 *   orders: count(),
 *   revenue: sum((o: Order) => o.amount),
 *   buyers: approxDistinct((o: Order) => o.customerId),
 *   basket: quantiles((o: Order) => o.amount),
 * });
 * // result: { orders: 42, revenue: 1234.5, buyers: 17, basket: { count: 42, min: 3, max: 250, p50: ..., ... } }
 * ```
 */
export function aggregate<S extends Record<string, AnyAggregator>>(spec: S): CompositeAggregator<S> {
  if (spec === null || typeof spec !== 'object') throw invalid('aggregate() takes an object of aggregators');
  const keys = Object.keys(spec);
  if (keys.length === 0) throw invalid('aggregate() needs at least one aggregator');
  if (keys.length > AggregatorLimits.maxCompositeParts) throw invalid(`aggregate() takes at most ${AggregatorLimits.maxCompositeParts} aggregators, got ${keys.length}`);
  const parts: AnyAggregator[] = keys.map((k) => {
    const a = spec[k];
    if (!isAggregator(a)) throw invalid(`aggregate(): '${k}' is not an aggregator`);
    return a;
  });
  const n = parts.length;
  return {
    kind: 'aggregate',
    ...(parts.every((p) => p.columns !== undefined) ? { columns: compositeColumns(parts.map((p) => p.columns!)) } : {}),
    params: Object.freeze(Object.fromEntries(keys.map((k, i) => [k, { kind: parts[i]!.kind, ...(parts[i]!.params ? { params: parts[i]!.params } : {}) }]))),
    parts: Object.freeze({ ...spec }),
    create() {
      const acc: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) acc[i] = parts[i]!.create();
      return acc;
    },
    add(acc, input, timestampMs) {
      for (let i = 0; i < n; i++) acc[i] = parts[i]!.add(acc[i], input, timestampMs);
      return acc;
    },
    merge(a, b) {
      for (let i = 0; i < n; i++) a[i] = parts[i]!.merge(a[i], b[i]);
      return a;
    },
    result(acc) {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) out[keys[i]!] = parts[i]!.result(acc[i]);
      return out as CompositeResult<S>;
    },
    encode(acc) {
      const w = new ByteWriter(64).header('aggregate').varuint(n);
      for (let i = 0; i < n; i++) w.str(keys[i]!).str(parts[i]!.kind).blob(parts[i]!.encode(acc[i]));
      return w.finish();
    },
    decode(bytes) {
      const r = new ByteReader(bytes, 'aggregate').header('aggregate');
      const count = r.varuint();
      if (count !== n) throw r.fail(`state has ${count} parts, this aggregate ${n}`);
      const acc: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const key = r.str();
        const kind = r.str();
        if (key !== keys[i] || kind !== parts[i]!.kind) throw r.fail(`part ${i} is '${key}' (${kind}), expected '${keys[i]}' (${parts[i]!.kind})`);
        const body = r.blob();
        try {
          acc[i] = parts[i]!.decode(body);
        } catch (cause) {
          throw r.fail(`part '${key}': ${cause instanceof Error ? cause.message : String(cause)}`, cause);
        }
      }
      r.end();
      return acc;
    },
  };
}

/** A composite's columns: its parts' runs one after another. */
function compositeColumns(parts: readonly AccumulatorColumns[]): AccumulatorColumns {
  const n = parts.length;
  const offsets: number[] = [];
  let width = 0;
  for (const part of parts) {
    offsets.push(width);
    width += part.width;
  }
  return {
    id: `aggregate(${parts.map((p) => p.id).join(',')})`,
    width,
    add(store, at, input, spill) {
      for (let i = 0; i < n; i++) parts[i]!.add(store, at + offsets[i]!, input, spill);
    },
    toAcc(store, at, spill) {
      const acc: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) acc[i] = parts[i]!.toAcc(store, at + offsets[i]!, spill);
      return acc;
    },
    fromAcc(acc, store, at, spill) {
      for (let i = 0; i < n; i++) parts[i]!.fromAcc((acc as unknown[])[i], store, at + offsets[i]!, spill);
    },
  };
}

function invalid(message: string): FreshetError {
  return new FreshetError(ErrorCodes.INVALID_ARGUMENT, message);
}
