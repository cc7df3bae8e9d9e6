/**
 * Freshet's aggregators: mergeable monoids with a versioned binary state, shared by windows, parallel
 * partial aggregation and the lambda merge. See docs/aggregators.md.
 *
 * This barrel is re-exported by the public API (`freshet`): it exports what users write pipelines and
 * custom aggregators with, not the internals (hashing, the byte codec, exact-sum primitives), which
 * Freshet's own code imports from their modules.
 */
export {
  type Aggregator,
  type AnyAggregator,
  type InputOf,
  type AccOf,
  type OutputOf,
  BUILTIN_AGGREGATOR_KINDS,
  defineAggregator,
  isAggregator,
} from './aggregator.js';
export { AggregatorLimits } from './limits.js';
export { type NumericValue, type SumAcc, type ExtremumAcc, type AvgAcc, count, sum, min, max, avg } from './numeric.js';
export { type TimedValueAcc, first, last } from './first-last.js';
export { type DistinctValue, type ApproxDistinctOptions, type ApproxDistinctAggregator, HyperLogLog, approxDistinct } from './hyperloglog.js';
export { DDSketch } from './ddsketch.js';
export { type QuantilesOptions, type QuantilesResult, type QuantilesAggregator, quantiles, quantileName } from './quantiles.js';
export { type TopKValue, type TopKEntry, type TopKOptions, type TopKAggregator, SpaceSaving, topK } from './top-k.js';
export { type CompositeAggregator, type CompositeInput, type CompositeResult, aggregate } from './composite.js';
