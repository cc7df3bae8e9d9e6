/**
 * Serialisable descriptions of the built-in aggregators (`AggregatorSpec`, src/plan/view-update.ts), so
 * that the serving side, which never sees the pipeline's code, can decode, merge and read window
 * accumulators: a time-series `step` re-aggregates stored window states instead of averaging averages.
 *
 * Only the built-ins can be described: their state format is fixed by `kind` and `params`. Extractors
 * (`sum((o) => o.amount)`) are not part of a spec; decode/merge/result never call them.
 */
import { type AggregatorSpec } from '../../plan/view-update.js';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { type AnyAggregator } from './aggregator.js';
import { FORMAT_VERSION, KindCodes } from './codec.js';
import { aggregate } from './composite.js';
import { last, first } from './first-last.js';
import { approxDistinct, type DistinctValue } from './hyperloglog.js';
import { avg, count, max, min, sum, type NumericValue } from './numeric.js';
import { quantiles } from './quantiles.js';
import { topK, type TopKValue } from './top-k.js';

/** The spec `kind` of a composite `aggregate({...})` (its parts are in `fields`). */
export const COMPOSITE_SPEC_KIND = 'composite';

const SIMPLE_KINDS = new Set(['count', 'sum', 'min', 'max', 'avg', 'first', 'last']);

/**
 * The spec of a built-in aggregator (including a composite of built-ins), or `undefined` for a
 * user-defined one (its state cannot be rebuilt without its code).
 *
 * @example
 * ```ts
 * specOf(aggregate({ orders: count(), revenue: sum((o: Order) => o.amount) }));
 * // { kind: 'composite', fields: { orders: { kind: 'count' }, revenue: { kind: 'sum' } } }
 * specOf(approxDistinct((e: View) => e.user, { precision: 12 })); // { kind: 'hll', params: { precision: 12 } }
 * ```
 */
export function specOf(aggregator: AnyAggregator): AggregatorSpec | undefined {
  if (aggregator === null || typeof aggregator !== 'object') return undefined;
  const kind = aggregator.kind;
  if (kind === 'aggregate') {
    const parts = (aggregator as { parts?: Record<string, AnyAggregator> }).parts;
    if (parts === undefined || !isBuiltin(aggregator)) return undefined;
    const fields: Record<string, AggregatorSpec> = {};
    for (const [name, part] of Object.entries(parts)) {
      const s = specOf(part);
      if (s === undefined) return undefined;
      fields[name] = s;
    }
    return { kind: COMPOSITE_SPEC_KIND, fields };
  }
  if (!(kind in KindCodes) || !isBuiltin(aggregator)) return undefined;
  const params = aggregator.params;
  return params !== undefined ? { kind, params: { ...params } } : { kind };
}

/**
 * An aggregator rebuilt from a spec: use its `decode`, `merge`, `result` and `encode` (its `add` takes
 * the raw value, as if the extractor were the identity). Throws FRESHET_INVALID_ARGUMENT for an unknown
 * kind or invalid params.
 *
 * @example
 * ```ts
 * const agg = aggregatorFromSpec({ kind: 'composite', fields: { n: { kind: 'count' }, total: { kind: 'sum' } } });
 * let acc = agg.create();
 * for (const point of points) acc = agg.merge(acc, agg.decode(point.acc));
 * agg.result(acc); // { n: 42, total: 1234.5 }
 * ```
 */
export function aggregatorFromSpec(spec: AggregatorSpec): AnyAggregator {
  if (spec === null || typeof spec !== 'object' || typeof spec.kind !== 'string') throw invalid('an aggregator spec needs a string kind');
  const p = (spec.params ?? {}) as Record<string, unknown>;
  switch (spec.kind) {
    case COMPOSITE_SPEC_KIND: {
      const fields = spec.fields;
      if (fields === undefined || typeof fields !== 'object') throw invalid("a 'composite' spec needs fields");
      const parts: Record<string, AnyAggregator> = {};
      for (const [name, field] of Object.entries(fields)) parts[name] = aggregatorFromSpec(field);
      return aggregate(parts);
    }
    case 'count':
      return count();
    case 'sum':
      return sum();
    case 'min':
      return min();
    case 'max':
      return max();
    case 'avg':
      return avg();
    case 'first':
      return first();
    case 'last':
      return last();
    case 'hll':
      return approxDistinct((v: DistinctValue) => v, { precision: numberParam(spec.kind, p, 'precision') });
    case 'quantiles': {
      const qs = p.quantiles;
      if (!Array.isArray(qs) || qs.some((q) => typeof q !== 'number')) throw invalid("a 'quantiles' spec needs params.quantiles (numbers)");
      return quantiles((v: NumericValue) => v, {
        relativeAccuracy: numberParam(spec.kind, p, 'relativeAccuracy'),
        maxBins: numberParam(spec.kind, p, 'maxBins'),
        quantiles: qs as number[],
      });
    }
    case 'topk':
      return topK((v: TopKValue) => v, numberParam(spec.kind, p, 'k'), { capacity: numberParam(spec.kind, p, 'capacity') });
    default:
      throw invalid(`no built-in aggregator of kind '${spec.kind}'${SIMPLE_KINDS.has(spec.kind) ? '' : ' (user-defined aggregators have no spec)'}`);
  }
}

/** A built-in's empty state starts with the format version and its kind code: a cheap check that a
 * look-alike object claiming a built-in kind really writes that format. */
function isBuiltin(aggregator: AnyAggregator): boolean {
  try {
    const bytes = aggregator.encode(aggregator.create());
    return bytes instanceof Uint8Array && bytes[0] === FORMAT_VERSION && bytes[1] === KindCodes[aggregator.kind as keyof typeof KindCodes];
  } catch {
    return false;
  }
}

function numberParam(kind: string, params: Record<string, unknown>, name: string): number {
  const v = params[name];
  if (typeof v !== 'number') throw invalid(`a '${kind}' spec needs a numeric params.${name}`);
  return v;
}

function invalid(message: string): FreshetError {
  return new FreshetError(ErrorCodes.INVALID_ARGUMENT, message);
}
