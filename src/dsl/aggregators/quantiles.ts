import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { type Aggregator } from './aggregator.js';
import { ByteReader, ByteWriter } from './codec.js';
import { DDSketch } from './ddsketch.js';
import { AggregatorLimits } from './limits.js';
import { type NumericValue } from './numeric.js';

/** Options of {@link quantiles}. */
export interface QuantilesOptions {
  /** α: every reported quantile is within α·|true value| of the true value. 1e-4..0.5, default 0.01. */
  relativeAccuracy?: number;
  /** The quantiles the result reports, each in [0, 1]. Default [0.5, 0.9, 0.95, 0.99]. */
  quantiles?: readonly number[];
  /**
   * Bins per sign (default 2048, at most 65,536). With α = 0.01, 2048 bins span values over a ratio of
   * about 10^17 before the lowest bins are folded together; memory is at most 8 bytes a bin.
   */
  maxBins?: number;
}

/**
 * The result of {@link quantiles}: the count, the exact min and max, and one `p<percent>` field per
 * configured quantile (`p50`, `p90`, `p99.9`...). Value fields are null when there were no values.
 */
export interface QuantilesResult {
  count: number;
  min: number | null;
  max: number | null;
  [quantile: `p${string}`]: number | null;
}

/** The aggregator `quantiles()` returns: an Aggregator plus arbitrary-quantile access. */
export interface QuantilesAggregator<In> extends Aggregator<In, DDSketch, QuantilesResult> {
  readonly params: { readonly relativeAccuracy: number; readonly maxBins: number; readonly quantiles: readonly number[] };
  /** Any quantile q in [0, 1] of an accumulator (see `DDSketch.quantile`); null when empty. */
  quantile(acc: DDSketch, q: number): number | null;
}

/** The result field name of quantile q: 0.5 -> 'p50', 0.999 -> 'p99.9', 1 -> 'p100'. */
export function quantileName(q: number): `p${string}` {
  return `p${Math.round(q * 100 * 1e9) / 1e9}`;
}

/**
 * Approximate quantiles with a relative-error guarantee (DDSketch): for each configured q, the result's
 * `p<100q>` is within `relativeAccuracy`·|x| of x, the value of 0-based rank ⌊q·(n−1)⌋ among the n values
 * (the lower quantile, no interpolation). Memory is bounded by `maxBins` per sign; merging is exact (a
 * merged sketch equals the sketch of all the values). min and max are exact. null/undefined and
 * non-finite values (±Infinity, NaN) are skipped: a sketch cannot place them.
 *
 * Accumulator: {@link DDSketch}. State:
 * `01 09 relativeAccuracy:f64 maxBins:varuint zeroCount:varuint min:f64 max:f64 store store` (ddsketch.ts).
 *
 * @example
 * ```ts
 * const latency = quantiles((r: Request) => r.durationMs);                 // { count, min, max, p50, p90, p95, p99 }
 * const tail = quantiles((r: Request) => r.durationMs, { relativeAccuracy: 0.005, quantiles: [0.99, 0.999] });
 * tail.quantile(acc, 0.75);                                                 // any other quantile
 * ```
 */
export function quantiles(): QuantilesAggregator<NumericValue>;
export function quantiles<In>(extract: (input: In) => NumericValue, options?: QuantilesOptions): QuantilesAggregator<In>;
export function quantiles<In>(extract?: (input: In) => NumericValue, options: QuantilesOptions = {}): QuantilesAggregator<In> {
  const relativeAccuracy = options.relativeAccuracy ?? AggregatorLimits.defaultRelativeAccuracy;
  if (!(relativeAccuracy >= AggregatorLimits.minRelativeAccuracy && relativeAccuracy <= AggregatorLimits.maxRelativeAccuracy)) {
    throw invalid(`relativeAccuracy must be in [${AggregatorLimits.minRelativeAccuracy}, ${AggregatorLimits.maxRelativeAccuracy}], got ${relativeAccuracy}`);
  }
  const maxBins = options.maxBins ?? AggregatorLimits.defaultQuantileBins;
  if (!Number.isInteger(maxBins) || maxBins < 1 || maxBins > AggregatorLimits.maxQuantileBins) {
    throw invalid(`maxBins must be an integer in 1..${AggregatorLimits.maxQuantileBins}, got ${maxBins}`);
  }
  const qs = Object.freeze([...(options.quantiles ?? [0.5, 0.9, 0.95, 0.99])]);
  if (qs.length === 0 || qs.length > AggregatorLimits.maxQuantilesPerResult) throw invalid(`give 1..${AggregatorLimits.maxQuantilesPerResult} quantiles, got ${qs.length}`);
  for (const q of qs) if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw invalid(`each quantile must be in [0, 1], got ${String(q)}`);
  const names = qs.map(quantileName);
  if (new Set(names).size !== names.length) throw invalid(`quantiles must be distinct: ${names.join(', ')}`);

  const add =
    extract === undefined
      ? (acc: DDSketch, input: In) => {
          const v = input as NumericValue;
          if (v != null && v - v === 0) acc.add(v);
          return acc;
        }
      : (acc: DDSketch, input: In) => {
          const v = extract(input);
          if (v != null && v - v === 0) acc.add(v);
          return acc;
        };
  return {
    kind: 'quantiles',
    params: Object.freeze({ relativeAccuracy, maxBins, quantiles: qs }),
    create: () => new DDSketch(relativeAccuracy, maxBins),
    add,
    merge(a, b) {
      a.merge(b);
      return a;
    },
    result(acc) {
      const n = acc.count;
      const out: QuantilesResult = { count: n, min: n === 0 ? null : acc.min, max: n === 0 ? null : acc.max };
      for (let i = 0; i < qs.length; i++) out[names[i]!] = acc.quantile(qs[i]!);
      return out;
    },
    quantile: (acc, q) => acc.quantile(q),
    encode(acc) {
      const w = new ByteWriter(64 + (acc.positive.total > 0 ? acc.positive.maxKey - acc.positive.minKey : 0) * 2).header('quantiles').f64(relativeAccuracy).varuint(maxBins);
      acc.write(w);
      return w.finish();
    },
    decode(bytes) {
      const r = new ByteReader(bytes, 'quantiles').header('quantiles');
      const alpha = r.f64();
      const bins = r.varuint();
      if (alpha !== relativeAccuracy || bins !== maxBins) {
        throw r.fail(`state has relativeAccuracy ${alpha} and maxBins ${bins}, this aggregator ${relativeAccuracy} and ${maxBins}`);
      }
      const s = DDSketch.read(r, relativeAccuracy, maxBins);
      r.end();
      return s;
    },
  };
}

function invalid(message: string): FreshetError {
  return new FreshetError(ErrorCodes.INVALID_ARGUMENT, `quantiles: ${message}`);
}
