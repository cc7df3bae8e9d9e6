/**
 * Bounds for aggregator state. Every sketch has a fixed maximum size so that one window's state can
 * never grow without bound (DESIGN.md, "Performance rules"). Options outside these ranges are rejected
 * with `FRESHET_INVALID_ARGUMENT` when the aggregator is defined, not when data arrives.
 *
 * (Kept here rather than in `src/core/limits.ts` because only aggregators read them; the lead may
 * move them.)
 */
export const AggregatorLimits = {
  /** Smallest HyperLogLog precision (16 registers, ~26% standard error). */
  minHllPrecision: 4,
  /** Largest HyperLogLog precision (262,144 one-byte registers = 256 KiB dense, ~0.2% standard error). */
  maxHllPrecision: 18,
  /** Default HyperLogLog precision: 16,384 registers, 16 KiB dense, 0.8125% standard error. */
  defaultHllPrecision: 14,
  /** Smallest DDSketch relative accuracy accepted (finer costs bins without practical benefit). */
  minRelativeAccuracy: 1e-4,
  /** Largest DDSketch relative accuracy accepted (coarser is meaningless). */
  maxRelativeAccuracy: 0.5,
  /** Default DDSketch relative accuracy: every quantile within 1% of the true value. */
  defaultRelativeAccuracy: 0.01,
  /** Default bins per DDSketch store (positive and negative values each); 16 KiB each when full. */
  defaultQuantileBins: 2048,
  /** Most bins per DDSketch store. */
  maxQuantileBins: 65_536,
  /** Quantiles one `quantiles()` result may name. */
  maxQuantilesPerResult: 64,
  /** Largest `k` of `topK`. */
  maxTopK: 10_000,
  /** Most counters a Space-Saving summary may keep (`topK`'s `capacity`). */
  maxTopKCapacity: 1 << 20,
  /** Most parts in one `aggregate({...})` composite. */
  maxCompositeParts: 256,
  /** Longest aggregator `kind` (it is written into plans and every encoded composite state). */
  maxKindLength: 64,
} as const;
