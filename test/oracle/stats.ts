/** Test aggregators shared by the oracle and parallel-runner tests. */
import type { PlanAggregator } from '../../src/plan/plan.js';

/** What the aggregators read from each input. */
interface WithValue {
  readonly v: number;
}

/** count/sum/min/max over integer values: exact, so any two runs must agree to the digit. */
export const stats: PlanAggregator = {
  kind: 'test-stats',
  create: () => ({ count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY }),
  add: (acc, input) => {
    const a = acc as { count: number; sum: number; min: number; max: number };
    const v = (input as WithValue).v;
    a.count++;
    a.sum += v;
    if (v < a.min) a.min = v;
    if (v > a.max) a.max = v;
    return a;
  },
  merge: (x, y) => {
    const a = x as { count: number; sum: number; min: number; max: number };
    const b = y as typeof a;
    return { count: a.count + b.count, sum: a.sum + b.sum, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
  },
  result: (acc) => ({ ...(acc as object) }),
  encode: () => new Uint8Array(),
  decode: () => ({}),
};

/** The same aggregation with immutable accumulators (a new one per add), as numeric ones are. */
export const immutableStats: PlanAggregator = {
  ...stats,
  kind: 'test-stats-immutable',
  add: (acc, input, ts) => stats.add({ ...(acc as object) }, input, ts),
};
