import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/runtime/parallel/worker-pool.js';
import {
  FIRST_AUCTION_ID,
  FIRST_PERSON_ID,
  type NexmarkEvent,
  NexmarkGenerator,
  PROPORTIONS,
  lastBase0AuctionId,
  lastBase0PersonId,
  nexmarkBounds,
} from '../../bench/generators/nexmark.js';
import { YsbGenerator } from '../../bench/generators/ysb.js';
import { NEXMARK_SQL } from '../../bench/oracle/nexmark-sql.js';
import { formatMismatch } from '../../bench/oracle/oracle.js';
import { type Dataset, checkQueries, closeDataset, prepareDataset } from '../../bench/queries/harness.js';
import { NEXMARK_QUERIES } from '../../bench/queries/nexmark.js';

/**
 * The benchmark suite's correctness: every Nexmark query and YSB, run by Freshet over a small generated
 * input (30 s of event time, so windows close many times), equals the exact DuckDB oracle as a multiset
 * of rows (what `npm run bench -- nexmark --check` does). Plus the generator's model, checked against
 * brute force, and an oracle that does notice a wrong answer.
 */

const NEXMARK_QUERY_NAMES = Object.keys(NEXMARK_QUERIES);

function expectAllMatch(comparisons: Awaited<ReturnType<typeof checkQueries>>): void {
  const failures = comparisons.filter((c) => !c.ok).map(formatMismatch);
  expect(failures.join('\n')).toBe('');
  for (const c of comparisons) expect(c.actualRows).toBe(c.expectedRows);
}

describe('nexmark queries equal the DuckDB oracle', () => {
  let ds: Dataset;
  beforeAll(async () => {
    ds = await prepareDataset('nexmark', { events: 30_000, ratePerS: 1_000, partitions: 1, formats: ['json', 'msgpack'], seed: 7 });
  });
  afterAll(async () => {
    await closeDataset(ds);
  });

  it('every query, JSON topic, single process', async () => {
    const comparisons = await checkQueries(ds, NEXMARK_QUERY_NAMES, ['json'], null);
    expectAllMatch(comparisons);
    // The input is large enough that every query has output (an empty oracle would prove nothing).
    for (const c of comparisons) expect(c.expectedRows, c.query).toBeGreaterThan(0);
  });

  it('msgpack topic', async () => {
    expectAllMatch(await checkQueries(ds, ['q1', 'q5', 'q8'], ['msgpack'], null));
  });

  it('the oracle reports a wrong answer with its first differences', async () => {
    const rowsPath = path.join(ds.dir, 'wrong.ndjson');
    const rows = await ds.oracle.rows(`${NEXMARK_SQL.q7!.sql} ORDER BY ALL`);
    expect(rows.length).toBeGreaterThan(1);
    // One row lost, one changed: two missing rows, one unexpected.
    const wrong = rows.slice(1).map((r, i) => (i === 0 ? { ...r, price: Number(r.price) + 1 } : r));
    fs.writeFileSync(rowsPath, wrong.map((r) => JSON.stringify(r)).join('\n'));
    const c = await ds.oracle.compare(NEXMARK_SQL.q7!, rowsPath);
    expect(c.ok).toBe(false);
    expect([c.missingCount, c.unexpectedCount]).toEqual([2, 1]);
    const text = formatMismatch(c);
    expect(text).toContain('MISMATCH');
    expect(text.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(2);
    expect(text.split('\n').filter((l) => l.startsWith('  + '))).toHaveLength(1);
  });
});

describe('parallel runs (--workers 2) equal the oracle', () => {
  let ds: Dataset;
  let pool: WorkerPool;
  beforeAll(async () => {
    [ds, pool] = await Promise.all([prepareDataset('nexmark', { events: 12_000, ratePerS: 500, partitions: 2, formats: ['json'], seed: 3 }), WorkerPool.start(2)]);
  });
  afterAll(async () => {
    await pool.close();
    await closeDataset(ds);
  });

  it('keyed queries split over worker threads', async () => {
    expectAllMatch(await checkQueries(ds, ['q3', 'q5', 'q8'], ['json'], pool));
  });
});

describe('ysb equals the oracle', () => {
  it('views per campaign per 10 s window', async () => {
    const ds = await prepareDataset('ysb', { events: 30_000, ratePerS: 1_000, partitions: 1, formats: ['json', 'msgpack'], seed: 5 });
    try {
      const comparisons = await checkQueries(ds, ['ysb'], ['json', 'msgpack'], null);
      expectAllMatch(comparisons);
      // 100 campaigns x 3 windows of 10 s.
      expect(comparisons[0]!.expectedRows).toBe(300);
    } finally {
      await closeDataset(ds);
    }
  });
});

describe('the Nexmark generator model', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new NexmarkGenerator({ seed: 11 });
    const b = new NexmarkGenerator({ seed: 11 });
    const c = new NexmarkGenerator({ seed: 12 });
    const ns = [0, 1, 49, 50, 12_345, 999_999];
    expect(ns.map((n) => a.event(n))).toEqual(ns.map((n) => b.event(n)));
    // Any order gives the same events (each is generated from its number alone).
    expect([...ns].reverse().map((n) => b.event(n))).toEqual([...ns].reverse().map((n) => a.event(n)));
    expect(ns.map((n) => c.event(n))).not.toEqual(ns.map((n) => a.event(n)));
  });

  it('ids, proportions and sizes follow the model (brute force)', () => {
    const gen = new NexmarkGenerator({ seed: 2, eventsPerSecond: 10_000 });
    let persons = 0;
    let auctions = 0;
    const bytes = { person: 0, auction: 0, bid: 0 };
    const counts = { person: 0, auction: 0, bid: 0 };
    let lastTime = Number.NEGATIVE_INFINITY;
    for (const batch of gen.batches(0, 50_000)) {
      for (const e of batch) {
        bytes[e.type] += JSON.stringify(e).length;
        counts[e.type]++;
        expect(e.dateTime).toBeGreaterThanOrEqual(lastTime);
        lastTime = e.dateTime;
        if (e.type === 'person') expect(e.id).toBe(FIRST_PERSON_ID + persons++);
        if (e.type === 'auction') {
          expect(e.id).toBe(FIRST_AUCTION_ID + auctions++);
          expect(e.category).toBeGreaterThanOrEqual(10);
          expect(e.category).toBeLessThan(15);
          expect(e.reserve).toBeGreaterThanOrEqual(e.initialBid);
        }
      }
    }
    expect(counts).toEqual({ person: 1_000, auction: 3_000, bid: 46_000 });
    expect(bytes.person / counts.person).toBeCloseTo(200, -1);
    expect(bytes.auction / counts.auction).toBeCloseTo(500, -1);
    expect(bytes.bid / counts.bid).toBeCloseTo(100, -1);
  });

  it('lastBase0PersonId / lastBase0AuctionId count what came before (fast-check against counting)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5_000 }), (eventId) => {
        let persons = 0;
        let auctions = 0;
        for (let id = 0; id <= eventId; id++) {
          const rem = id % PROPORTIONS.total;
          if (rem < PROPORTIONS.person) persons++;
          else if (rem < PROPORTIONS.person + PROPORTIONS.auction) auctions++;
        }
        return lastBase0PersonId(eventId) === Math.max(persons - 1, 0) && lastBase0AuctionId(eventId) === auctions - 1;
      }),
      { numRuns: 200 },
    );
  });

  it('the time bounds the joins rely on hold for any seed, rate and out-of-order group (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 50, max: 1_000_000 }), fc.integer({ min: 1, max: 64 }), (seed, eventsPerSecond, outOfOrderGroupSize) => {
        const gen = new NexmarkGenerator({ seed, eventsPerSecond, outOfOrderGroupSize });
        const bounds = nexmarkBounds(gen.config);
        const personTime = new Map<number, number>();
        const auctions: Extract<NexmarkEvent, { type: 'auction' }>[] = [];
        for (const batch of gen.batches(0, 120_000)) {
          for (const e of batch) {
            if (e.type === 'person') personTime.set(e.id, e.dateTime);
            else if (e.type === 'auction') {
              auctions.push(e);
              if (e.expires - e.dateTime > bounds.maxAuctionDurationMs || e.expires <= e.dateTime) return false;
            }
          }
        }
        for (const a of auctions) {
          const t = personTime.get(a.seller);
          if (t === undefined) continue; // a seller not created within the input
          if (t < a.dateTime - bounds.sellerBeforeAuctionMs || t > a.dateTime + bounds.sellerAfterAuctionMs) return false;
        }
        return true;
      }),
      { numRuns: 12 },
    );
  });

  it('ysb: 100 campaigns of 10 ads, deterministic events in time order', () => {
    const gen = new YsbGenerator({ seed: 4 });
    const ads = gen.ads();
    expect(ads).toHaveLength(1_000);
    expect(new Set(ads.map((a) => a.campaign_id)).size).toBe(100);
    expect(new Set(ads.map((a) => a.ad_id)).size).toBe(1_000);
    const events = [...gen.batches(0, 3_000)].flat();
    expect(events).toEqual([...new YsbGenerator({ seed: 4 }).batches(0, 3_000)].flat());
    const types = new Set(events.map((e) => e.event_type));
    expect(types).toEqual(new Set(['view', 'click', 'purchase']));
    for (let i = 1; i < events.length; i++) expect(events[i]!.event_time).toBeGreaterThanOrEqual(events[i - 1]!.event_time);
  });
});
