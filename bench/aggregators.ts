/**
 * `npm run bench -- aggregators`: adds per second through the aggregator interface, each next to its
 * ceiling measured in the same run on the same data:
 *   - count+sum composite and sum alone vs a raw `for` loop counting and summing the same field into locals;
 *   - approxDistinct (HLL) and topK vs a raw Map update loop over the same keys (the exact, unbounded
 *     alternative: `m.set(k, (m.get(k) ?? 0) + 1)`);
 *   - quantiles (DDSketch) vs the raw summing loop over the same numbers.
 * Each figure is the best of `--reps` runs after a warm-up. Also reports each state's encoded size.
 *
 * Options: --values N (default 2,000,000), --distinct N (distinct keys, default 200,000), --reps N (default 3).
 */
import {
  type AnyAggregator,
  aggregate,
  approxDistinct,
  count,
  quantiles,
  sum,
  topK,
} from '../src/dsl/aggregators/index.js';
import { note, report } from './report.js';

interface Event {
  amount: number;
  userId: string;
  eventTimeMs: number;
}

let sink = 0;

export async function run(args: Record<string, string | true>): Promise<void> {
  const n = Number(args.values ?? 2_000_000);
  const distinct = Number(args.distinct ?? 200_000);
  const reps = Number(args.reps ?? 3);
  note(`aggregators: ${n} values, ${distinct} distinct keys, best of ${reps}`);
  const events = makeEvents(n, distinct);

  const rawSum = measure(reps, () => {
    let c = 0;
    let s = 0;
    for (let i = 0; i < events.length; i++) {
      c++;
      s += events[i]!.amount;
    }
    sink += c + s;
  });
  const rawMap = measure(reps, () => {
    const m = new Map<string, number>();
    for (let i = 0; i < events.length; i++) {
      const k = events[i]!.userId;
      m.set(k, (m.get(k) ?? 0) + 1);
    }
    sink += m.size;
  });

  const cases: [string, AnyAggregator, number, string][] = [
    ['aggregators.count_sum', aggregate({ n: count(), total: sum((e: Event) => e.amount) }), rawSum, 'raw for loop: count and sum into locals'],
    ['aggregators.sum', sum((e: Event) => e.amount), rawSum, 'raw for loop: count and sum into locals'],
    ['aggregators.hll', approxDistinct((e: Event) => e.userId), rawMap, 'raw Map update loop over the same keys'],
    ['aggregators.quantiles', quantiles((e: Event) => e.amount), rawSum, 'raw for loop: count and sum into locals'],
    ['aggregators.topk', topK((e: Event) => e.userId, 10), rawMap, 'raw Map update loop over the same keys'],
  ];
  for (const [bench, agg, ceilingSeconds, ceilingName] of cases) {
    let last: unknown;
    const seconds = measure(reps, () => {
      let acc = agg.create();
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        acc = agg.add(acc, e, e.eventTimeMs);
      }
      last = acc;
    });
    report({
      bench,
      metric: 'adds_per_s',
      value: n / seconds,
      unit: 'adds/s',
      ceiling: n / ceilingSeconds,
      ceiling_name: ceilingName,
      ns_per_add: (seconds / n) * 1e9,
      state_bytes: agg.encode(last).length,
      values: n,
    });
  }

  // Merge and state round trip: the per-window costs of partial aggregation and checkpoints.
  const hll = approxDistinct((e: Event) => e.userId);
  const dd = quantiles((e: Event) => e.amount);
  const tk = topK((e: Event) => e.userId, 10);
  for (const [bench, agg] of [
    ['aggregators.hll.merge', hll],
    ['aggregators.quantiles.merge', dd],
    ['aggregators.topk.merge', tk],
  ] as [string, AnyAggregator][]) {
    const parts = [0, 1].map((p) => {
      let acc = agg.create();
      for (let i = p; i < Math.min(events.length, 200_000); i += 2) acc = agg.add(acc, events[i]!, 0);
      return agg.encode(acc);
    });
    const rounds = 2_000;
    const seconds = measure(reps, () => {
      for (let r = 0; r < rounds; r++) sink += agg.encode(agg.merge(agg.decode(parts[0]!), agg.decode(parts[1]!))).length;
    });
    report({ bench, metric: 'decode_merge_encode_per_s', value: rounds / seconds, unit: 'ops/s', state_bytes: parts[0]!.length });
  }
  if (sink === 42) note('');
}

/** Best wall time of `reps` runs after one warm-up run, in seconds. */
function measure(reps: number, fn: () => void): number {
  fn();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const start = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return best;
}

/** Events with log-normal-ish amounts (cents, 2 decimals) and Zipf-like user ids. */
function makeEvents(n: number, distinct: number): Event[] {
  let seed = 12345;
  const next = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: Event[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const amount = Math.round(Math.exp(3 + 1.2 * (next() + next() + next() - 1.5)) * 100) / 100;
    const user = Math.floor(distinct * next() ** 2); // skewed towards low ids
    out[i] = { amount, userId: `user-${user}`, eventTimeMs: 1_700_000_000_000 + i };
  }
  return out;
}
