/**
 * The e-commerce demo's generator and pipeline, checked against brute force: the generator is
 * deterministic per seed however time is sliced, breaks the share of events it is told to, and the
 * pipeline's revenue per region and window equals a direct computation over the generated orders
 * (joined by hand with the product and customer tables); late orders are never lost.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { decodeViewUpdate, viewTopic } from '../../src/plan/view-update.js';
import { readDeadLetter, type StoredDeadLetter } from '../../src/quality/dead-letter.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { type GeneratedRecord, type Order, ShopGenerator, ShopTopics, STREAM_TOPICS } from '../../examples/ecommerce/generator.js';
import demoPipeline, { CartSchema, OrderSchema, PageViewSchema, PaymentSchema, ShopViews, WINDOW_MS } from '../../examples/ecommerce/pipeline.js';
import { TABLE_BACKDATE_MS } from '../../examples/ecommerce/producer.js';

const START_MS = Date.UTC(2026, 0, 1, 12);
const MALFORMED = new Set(['bad-json', 'wrong-type', 'missing-field']);
const SCHEMAS = { [ShopTopics.pageviews]: PageViewSchema, [ShopTopics.carts]: CartSchema, [ShopTopics.orders]: OrderSchema, [ShopTopics.payments]: PaymentSchema };

function digest(records: readonly GeneratedRecord[]): string[] {
  return records.map((r) => `${r.topic}|${r.key}|${r.value.toString('base64')}|${r.fault ?? ''}`);
}

function parse(r: GeneratedRecord): { ok: true; value: unknown } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(r.value.toString());
  } catch {
    return { ok: false };
  }
  const result = SCHEMAS[r.topic as keyof typeof SCHEMAS].safeParse(value);
  return result.success ? { ok: true, value: result.data } : { ok: false };
}

describe('ShopGenerator', () => {
  it('is a function of (seed, start, rate), whatever slices of time it is asked for', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.array(fc.integer({ min: 1, max: 4_000 }), { minLength: 1, maxLength: 12 }), (seed, steps) => {
        const whole = new ShopGenerator({ seed, startMs: START_MS, ratePerS: 300 });
        const sliced = new ShopGenerator({ seed, startMs: START_MS, ratePerS: 300 });
        let t = START_MS;
        const parts: GeneratedRecord[] = [];
        for (const step of steps) {
          t += step;
          parts.push(...sliced.generate(t));
        }
        expect(digest(parts)).toEqual(digest(whole.generate(t)));
        expect(digest(sliced.tables())).toEqual(digest(whole.tables()));
      }),
      { numRuns: 40 },
    );
    const a = new ShopGenerator({ seed: 1, startMs: START_MS }).generate(START_MS + 5_000);
    const b = new ShopGenerator({ seed: 2, startMs: START_MS }).generate(START_MS + 5_000);
    expect(digest(a)).not.toEqual(digest(b));
  });

  it('writes the rate asked for, breaks and delays the shares asked for, and nothing else', () => {
    const gen = new ShopGenerator({ seed: 9, startMs: START_MS, ratePerS: 1_000, malformedShare: 0.03, lateShare: 0.02 });
    const records = gen.generate(START_MS + 30_000);
    // Poisson arrivals: 30,000 expected (payments included), σ ≈ 170; payments trail their orders by seconds.
    expect(records.length).toBeGreaterThan(29_000);
    expect(records.length).toBeLessThan(31_000);
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.topic, (counts.get(r.topic) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([...STREAM_TOPICS].sort());
    const malformed = records.filter((r) => r.fault === 'bad-json' || r.fault === 'wrong-type' || r.fault === 'missing-field');
    const late = records.filter((r) => r.fault === 'late');
    expect(malformed.length / records.length).toBeGreaterThan(0.025);
    expect(malformed.length / records.length).toBeLessThan(0.035);
    expect(late.length / records.length).toBeGreaterThan(0.015);
    expect(late.length / records.length).toBeLessThan(0.025);
    // Every malformed record fails its topic's schema (or JSON itself); every other one passes.
    for (const r of records) expect(parse(r).ok, `${r.fault ?? 'ok'} ${r.value.toString()}`).toBe(!MALFORMED.has(r.fault!));
    // Duplicates repeat the order just before them; zero-amount orders are the only ones priced 0.
    const orders = records.filter((r) => r.topic === ShopTopics.orders);
    const duplicates = orders.filter((r) => r.fault === 'duplicate');
    const zero = orders.filter((r) => r.fault === 'zero-amount');
    expect(duplicates.length / orders.length).toBeGreaterThan(0.004);
    expect(duplicates.length / orders.length).toBeLessThan(0.02);
    expect(zero.length).toBeGreaterThan(0);
    for (const d of duplicates) expect(records[records.indexOf(d) - 1]!.value.equals(d.value)).toBe(true);
    for (const r of orders) if (r.fault === undefined) expect((JSON.parse(r.value.toString()) as Order).amount).toBeGreaterThan(0);
    for (const r of zero) expect((JSON.parse(r.value.toString()) as Order).amount).toBe(0);
    // Late records lie 15..90 s behind; on-time ones at most the jitter behind the generator's clock.
    for (const r of late) {
      const ts = (JSON.parse(r.value.toString()) as { ts: number }).ts;
      expect(ts).toBe(r.eventTimeMs);
    }
    // Orders reference existing products and customers, with amount = quantity × price.
    const products = new Map(gen.products.map((p) => [p.productId, p]));
    const customers = new Set(gen.customers.map((c) => c.customerId));
    for (const r of records) {
      if (r.topic !== ShopTopics.orders || r.fault !== undefined) continue;
      const o = JSON.parse(r.value.toString()) as Order;
      expect(customers.has(o.customerId)).toBe(true);
      expect(o.amount).toBeCloseTo(o.quantity * products.get(o.productId)!.price, 6);
    }
  });
});

interface Run {
  readonly log: MemoryLog;
  readonly gen: ShopGenerator;
  readonly records: GeneratedRecord[];
}

/** Generates `seconds` of the shop into a memory log, a second at a time, running the pipeline after each, then closes every window. */
async function runDemo(options: { seed: number; seconds: number; lateShare: number }): Promise<Run> {
  const clock = new ManualClock(START_MS);
  const log = new MemoryLog(clock);
  const gen = new ShopGenerator({ seed: options.seed, startMs: START_MS, ratePerS: 400, lateShare: options.lateShare });
  for (const topic of STREAM_TOPICS) await log.createTopic(topic, { partitions: 2 });
  for (const topic of [ShopTopics.products, ShopTopics.customers]) {
    await log.createTopic(topic, { partitions: 1 });
    const rows = gen.tables().filter((r) => r.topic === topic);
    await log.produce(topic, rows.map((r) => ({ key: Buffer.from(r.key), value: r.value, timestampMs: START_MS - TABLE_BACKDATE_MS })));
  }
  const runner = await PipelineRunner.start(demoPipeline.plan(), { log, clock, commitIntervalMs: Number.POSITIVE_INFINITY });
  const records: GeneratedRecord[] = [];
  for (let s = 0; s < options.seconds; s++) {
    clock.advance(1_000);
    const batch = gen.generate(clock.nowMs());
    records.push(...batch);
    for (const topic of STREAM_TOPICS) {
      const mine = batch.filter((r) => r.topic === topic);
      if (mine.length > 0) await log.produce(topic, mine.map((r) => ({ key: Buffer.from(r.key), value: r.value, timestampMs: clock.nowMs() })));
    }
    await runner.runUntilCaughtUp();
  }
  await runner.finish();
  return { log, gen, records };
}

async function readTopic(log: MemoryLog, topic: string): Promise<{ key: string | null; value: Uint8Array }[]> {
  const out: { key: string | null; value: Uint8Array }[] = [];
  for (const { partition } of (await log.describeTopic(topic)).partitions) {
    let offset = 0;
    for (;;) {
      const { batches, nextOffset } = await log.read(topic, partition, offset);
      if (batches.length === 0) break;
      for (const b of batches) for (let i = 0; i < b.count; i++) out.push({ key: b.keyAt(i) ? Buffer.from(b.keyAt(i)!).toString() : null, value: b.valueAt(i)! });
      offset = nextOffset;
    }
  }
  return out;
}

async function readDeadLetters(log: MemoryLog, topic: string): Promise<StoredDeadLetter[]> {
  const out: StoredDeadLetter[] = [];
  for (const { partition } of (await log.describeTopic(topic)).partitions) {
    let offset = 0;
    for (;;) {
      const { batches, nextOffset } = await log.read(topic, partition, offset);
      if (batches.length === 0) break;
      for (const b of batches) for (let i = 0; i < b.count; i++) out.push(readDeadLetter(b.recordAt(i)));
      offset = nextOffset;
    }
  }
  return out;
}

/** The final result of each (key, window) of a view: the last update written for it. */
async function finalResults<V>(log: MemoryLog, view: string): Promise<Map<string, V>> {
  const out = new Map<string, V>();
  for (const r of await readTopic(log, viewTopic(view))) {
    const u = decodeViewUpdate(r.value);
    out.set(`${u.key}@${u.windowStartMs}`, u.value as V);
  }
  return out;
}

describe('the demo pipeline', () => {
  it('computes revenue per region per window exactly as a brute-force join and group-by does', async () => {
    const { log, gen, records } = await runDemo({ seed: 3, seconds: 45, lateShare: 0 });
    const region = new Map(gen.customers.map((c) => [c.customerId, c.region]));
    const expected = new Map<string, { orders: number; revenue: number }>();
    for (const r of records) {
      // Malformed, duplicate and zero-priced orders are rejected before any window.
      if (r.topic !== ShopTopics.orders || r.fault !== undefined) continue;
      const o = JSON.parse(r.value.toString()) as Order;
      for (const scope of [region.get(o.customerId), 'all']) {
        const id = `${scope}@${Math.floor(o.ts / WINDOW_MS) * WINDOW_MS}`;
        const e = expected.get(id) ?? { orders: 0, revenue: 0 };
        e.orders++;
        e.revenue += o.amount;
        expected.set(id, e);
      }
    }
    const actual = await finalResults<{ orders: number; revenue: number; avgOrder: number }>(log, ShopViews.revenueByRegion);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, e] of expected) {
      const a = actual.get(id)!;
      expect(a.orders, id).toBe(e.orders);
      expect(a.revenue, id).toBeCloseTo(e.revenue, 6);
      expect(a.avgOrder, id).toBeCloseTo(e.revenue / e.orders, 6);
    }
    // Rejected orders are in the dead-letter topic, one for one, each with the reason it was rejected.
    const rejected = new Map<string, number>();
    for (const r of records) {
      if (r.topic !== ShopTopics.orders || r.fault === undefined) continue;
      const why = MALFORMED.has(r.fault) ? 'schema' : r.fault === 'duplicate' ? 'no-duplicate-orders' : 'amount-positive';
      rejected.set(why, (rejected.get(why) ?? 0) + 1);
    }
    const dead = new Map<string, number>();
    for (const letter of await readDeadLetters(log, `${ShopTopics.orders}.dlq`)) {
      const why = letter.check ?? (letter.code === 'FRESHET_SCHEMA_VIOLATION' || letter.code === 'FRESHET_MALFORMED_JSON' ? 'schema' : String(letter.code));
      dead.set(why, (dead.get(why) ?? 0) + 1);
    }
    expect(rejected.get('no-duplicate-orders')).toBeGreaterThan(0);
    expect(rejected.get('amount-positive')).toBeGreaterThan(0);
    expect(dead).toEqual(rejected);
  });

  it('loses no late order: each is counted in its window or written to shop.orders.late', async () => {
    const { log, records } = await runDemo({ seed: 5, seconds: 40, lateShare: 0.05 });
    const valid = records.filter((r) => r.topic === ShopTopics.orders && (r.fault === undefined || r.fault === 'late'));
    expect(valid.some((r) => r.fault === 'late')).toBe(true);
    const revenue = await finalResults<{ orders: number }>(log, ShopViews.revenueByRegion);
    const counted = [...revenue].filter(([id]) => !id.startsWith('all@')).reduce((s, [, v]) => s + v.orders, 0);
    const countedInAll = [...revenue].filter(([id]) => id.startsWith('all@')).reduce((s, [, v]) => s + v.orders, 0);
    const late = (await readTopic(log, 'shop.orders.late')).length;
    expect(late).toBeGreaterThan(0);
    expect(counted + late).toBe(valid.length);
    expect(countedInAll).toBe(counted);
    // The shop-wide top products of a minute count every order of that minute (`all` sums the regions).
    const top = await finalResults<{ orders: number; top: { value: string; count: number }[] }>(log, ShopViews.topProducts);
    const perMinute = new Map<number, number>();
    for (const [id, v] of top) {
      const [key, start] = id.split('@') as [string, string];
      if (key !== 'all') perMinute.set(Number(start), (perMinute.get(Number(start)) ?? 0) - v.orders);
      else perMinute.set(Number(start), (perMinute.get(Number(start)) ?? 0) + v.orders);
    }
    for (const [, diff] of perMinute) expect(diff).toBe(0);
  });
});
