/**
 * The Nexmark queries in Freshet's DSL. All read one topic holding every event (persons, auctions and
 * bids, told apart by `type`), with event time = `dateTime`. The generator emits event time in order
 * within each partition, so `maxOutOfOrderMs: 0` and `allowedLatenessMs: 0` lose nothing: every window
 * and join result is exact, and the oracle (bench/oracle/nexmark-sql.ts) checks that on every run.
 *
 * Windows are `[start, end)` in event time, aligned to the epoch. Where Freshet lacks an operator the
 * standard SQL uses, the query says how it is expressed and why the result is the same:
 * - q3, q4 (unbounded SQL joins) use interval joins whose bounds come from the generator's model
 *   (`nexmarkBounds`): every pair the SQL join can produce lies within them;
 * - q5, q7 ("max per window") use a second window stage (or one window) with a max-with-ties aggregator;
 * - q8 (window join) is a co-group: persons and auctions keyed by person id in one tumbling window.
 *
 * @example
 * ```ts
 * const q = NEXMARK_QUERIES.q5;
 * pipeline('q5', (p) => q.build(p, ctx).collect('out'));
 * ```
 */
import { avg, count, max } from '../../src/dsl/aggregators/index.js';
import type { PipelineBuilder } from '../../src/dsl/pipeline.js';
import type { Stream, WindowResult } from '../../src/dsl/stream.js';
import { hopping, session, tumbling } from '../../src/dsl/windows.js';
import { type Auction, type Bid, type NexmarkEvent, type Person, nexmarkBounds } from '../generators/nexmark.js';
import { coGroup, maxWithTies } from './aggregators.js';
import type { BenchQuery, QueryContext } from './types.js';

/** q1's dollar → euro rate (as Flink's Nexmark). */
export const EURO_RATE = 0.908;
/** q2 keeps bids on auctions whose id is a multiple of this. */
export const AUCTION_SKIP = 123;
/** q4's second stage aggregates over all time: one window wider than any timestamp (fires at the end of a bounded run). */
export const ALL_TIME_MS = 2 ** 52;

/**
 * Every event of the run, event time = dateTime, in order (no lateness needed).
 *
 * @example
 * ```ts
 * const bids = nexmarkEvents(p, ctx).filter((e): e is Bid => e.type === 'bid');
 * ```
 */
export function nexmarkEvents(p: PipelineBuilder, ctx: QueryContext): Stream<NexmarkEvent> {
  return p.source<NexmarkEvent>(ctx.topic, { eventTime: 'dateTime', format: ctx.format, maxOutOfOrderMs: 0 });
}

const isBid = (e: NexmarkEvent): e is Bid => e.type === 'bid';
const isAuction = (e: NexmarkEvent): e is Auction => e.type === 'auction';

/** q3's output (`dateTime`: the later of the pair, for latency only; not an oracle column). */
interface Q3Out {
  name: string;
  city: string;
  state: string;
  id: number;
  dateTime: number;
}

interface Q4Join {
  auction: number;
  category: number;
  price: number;
  dateTime: number;
  expires: number;
}

interface Q5Out {
  auction: number;
  num: number;
  window_start: number;
}

interface Q8Out {
  id: number;
  name: string;
  starttime: number;
}

interface Q11Out {
  bidder: number;
  bid_count: number;
  starttime: number;
  endtime: number;
}

const q0: BenchQuery<Bid> = {
  name: 'q0',
  suite: 'nexmark',
  description: 'pass-through: every bid',
  build: (p, ctx) => nexmarkEvents(p, ctx).filter(isBid),
  toRow: (b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra }),
  checksum: (b) => b.price,
  latencyTimeOf: (b) => b.dateTime,
  resultPeriodMs: 0,
};

const q1: BenchQuery<Omit<Bid, 'type'>> = {
  name: 'q1',
  suite: 'nexmark',
  description: 'currency conversion: bids with price * 0.908',
  build: (p, ctx) =>
    nexmarkEvents(p, ctx)
      .filter(isBid)
      .map((b) => ({ auction: b.auction, bidder: b.bidder, price: EURO_RATE * b.price, dateTime: b.dateTime, extra: b.extra })),
  toRow: (b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra }),
  checksum: (b) => b.auction,
  latencyTimeOf: (b) => b.dateTime,
  resultPeriodMs: 0,
};

const q2: BenchQuery<{ auction: number; price: number; dateTime: number }> = {
  name: 'q2',
  suite: 'nexmark',
  description: 'selection: bids on auctions whose id is a multiple of 123',
  build: (p, ctx) =>
    nexmarkEvents(p, ctx)
      .filter((e): e is Bid => e.type === 'bid' && e.auction % AUCTION_SKIP === 0)
      .map((b) => ({ auction: b.auction, price: b.price, dateTime: b.dateTime })),
  toRow: (b) => ({ auction: b.auction, price: b.price }),
  checksum: (b) => b.price,
  latencyTimeOf: (b) => b.dateTime,
  resultPeriodMs: 0,
};

const q3: BenchQuery<Q3Out> = {
  name: 'q3',
  suite: 'nexmark',
  description: 'local item suggestion: auctions of category 10 joined with their sellers in OR, ID or CA',
  build(p, ctx) {
    const events = nexmarkEvents(p, ctx);
    const bounds = nexmarkBounds(ctx.nexmark);
    const auctions = events.filter((e): e is Auction => e.type === 'auction' && e.category === 10).keyBy((a) => a.seller);
    const persons = events.filter((e): e is Person => e.type === 'person' && (e.state === 'OR' || e.state === 'ID' || e.state === 'CA')).keyBy((pe) => pe.id);
    // The SQL join is unbounded; a seller is created within these bounds of any auction naming it.
    return auctions.intervalJoin(persons, { beforeMs: bounds.sellerBeforeAuctionMs, afterMs: bounds.sellerAfterAuctionMs }, (a, pe) => ({
      name: pe.name,
      city: pe.city,
      state: pe.state,
      id: a.id,
      dateTime: Math.max(a.dateTime, pe.dateTime),
    }));
  },
  toRow: (o) => ({ name: o.name, city: o.city, state: o.state, id: o.id }),
  checksum: (o) => o.id,
  latencyTimeOf: (o) => o.dateTime,
  resultPeriodMs: 0,
};

const q4: BenchQuery<WindowResult<number, number | null>> = {
  name: 'q4',
  suite: 'nexmark',
  description: 'average closing price per category (all time: results at the end of a bounded run)',
  build(p, ctx) {
    const events = nexmarkEvents(p, ctx);
    const { maxAuctionDurationMs } = nexmarkBounds(ctx.nexmark);
    const bids = events.filter(isBid).keyBy((b) => b.auction);
    const auctions = events.filter(isAuction).keyBy((a) => a.id);
    // Bids within [auction.dateTime, auction.expires]: the join admits auctions up to the longest
    // possible duration before the bid (and not after it); the filter applies each auction's own end.
    const inAuction = bids
      .intervalJoin(auctions, { beforeMs: maxAuctionDurationMs, afterMs: 0 }, (b, a): Q4Join => ({
        auction: a.id,
        category: a.category,
        price: b.price,
        dateTime: b.dateTime,
        expires: a.expires,
      }))
      .filter((j) => j.dateTime <= j.expires);
    // Closing price per auction: its bids span at most maxAuctionDurationMs, so a session with a wider
    // gap holds exactly one auction's bids and closes after its last one.
    const closing = inAuction
      .keyBy((j) => j.auction)
      .window(session({ gapMs: maxAuctionDurationMs + 1 }))
      .aggregate({ final: max((j: Q4Join) => j.price), category: max((j: Q4Join) => j.category) })
      .map((r) => ({ category: r.value.category!, final: r.value.final! }));
    return closing
      .keyBy((c) => c.category)
      .window(tumbling({ sizeMs: ALL_TIME_MS }))
      .aggregate(avg((c: { final: number }) => c.final));
  },
  toRow: (r) => ({ category: r.key, avg: r.value }),
  checksum: (r) => r.key,
  latencyTimeOf: null,
  resultPeriodMs: 0,
};

const q5: BenchQuery<Q5Out> = {
  name: 'q5',
  suite: 'nexmark',
  description: 'hot items: auctions with the most bids per hopping window (10 s every 2 s), ties kept',
  build(p, ctx) {
    const counts = nexmarkEvents(p, ctx)
      .filter(isBid)
      .keyBy((b) => b.auction)
      .window(hopping({ sizeMs: 10_000, advanceMs: 2_000 }))
      .aggregate(count());
    // Stage 2: a window's counts all carry event time end - 1, so the 2 s tumbling window ending at the
    // same end holds exactly that window's counts (keyed by its start).
    return counts
      .keyBy((c) => c.windowStartMs)
      .window(tumbling({ sizeMs: 2_000 }))
      .aggregate(maxWithTies((c: WindowResult<number, number>) => c.value, (c) => c.key))
      .flatMap((w) => w.value.items.map((auction) => ({ auction, num: w.value.max, window_start: w.key })));
  },
  toRow: (o) => ({ auction: o.auction, num: o.num, window_start: o.window_start }),
  checksum: (o) => o.num,
  latencyTimeOf: (o) => o.window_start + 10_000 - 1,
  resultPeriodMs: 2_000,
};

const q7: BenchQuery<Omit<Bid, 'type'> & { window_end: number }> = {
  name: 'q7',
  suite: 'nexmark',
  description: 'highest bid: the bids with the highest price of each 10 s tumbling window, ties kept',
  build: (p, ctx) =>
    nexmarkEvents(p, ctx)
      .filter(isBid)
      .keyBy(() => 0)
      .window(tumbling({ sizeMs: 10_000 }))
      .aggregate(maxWithTies((b: Bid) => b.price, (b) => b))
      .flatMap((w) =>
        w.value.items.map((b) => ({ auction: b.auction, price: b.price, bidder: b.bidder, dateTime: b.dateTime, extra: b.extra, window_end: w.windowEndMs })),
      ),
  toRow: (o) => ({ auction: o.auction, price: o.price, bidder: o.bidder, dateTime: o.dateTime, extra: o.extra }),
  checksum: (o) => o.price,
  latencyTimeOf: (o) => o.window_end - 1,
  resultPeriodMs: 10_000,
};

const q8: BenchQuery<Q8Out> = {
  name: 'q8',
  suite: 'nexmark',
  description: 'new users: persons who created an auction in the 10 s tumbling window they registered in',
  build: (p, ctx) =>
    nexmarkEvents(p, ctx)
      .filter((e): e is Person | Auction => e.type !== 'bid')
      .keyBy((e) => (e.type === 'person' ? e.id : e.seller))
      .window(tumbling({ sizeMs: 10_000 }))
      .aggregate(coGroup((e: Person | Auction) => e.type === 'person', (e) => (e as Person).name))
      .filter((r) => r.value.left !== null && r.value.right > 0)
      .map((r) => ({ id: r.key, name: r.value.left!, starttime: r.windowStartMs })),
  toRow: (o) => ({ id: o.id, name: o.name, starttime: o.starttime }),
  checksum: (o) => o.id,
  latencyTimeOf: (o) => o.starttime + 10_000 - 1,
  resultPeriodMs: 10_000,
};

const q11: BenchQuery<Q11Out> = {
  name: 'q11',
  suite: 'nexmark',
  description: 'user sessions: bids per bidder per session (gap 10 s)',
  build: (p, ctx) =>
    nexmarkEvents(p, ctx)
      .filter(isBid)
      .keyBy((b) => b.bidder)
      .window(session({ gapMs: 10_000 }))
      .aggregate(count())
      .map((r) => ({ bidder: r.key, bid_count: r.value, starttime: r.windowStartMs, endtime: r.windowEndMs })),
  toRow: (o) => ({ bidder: o.bidder, bid_count: o.bid_count, starttime: o.starttime, endtime: o.endtime }),
  checksum: (o) => o.bid_count,
  latencyTimeOf: (o) => o.endtime - 1,
  resultPeriodMs: 0,
};

/** Every Nexmark query, by name. */
export const NEXMARK_QUERIES: Readonly<Record<string, BenchQuery>> = Object.freeze({ q0, q1, q2, q3, q4, q5, q7, q8, q11 });
