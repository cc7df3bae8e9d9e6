import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { aggregate, avg, count, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { session, tumbling } from '../../src/dsl/windows.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { VIEW_REGISTRY_TOPIC, type ViewDefinition, type ViewUpdate, decodeViewUpdate, viewTopic } from '../../src/plan/view-update.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';

interface Order {
  region: string;
  customer: string;
  amount: number;
  ts: number;
}

async function readAll(log: MemoryLog, topic: string): Promise<{ key: string; value: Uint8Array }[]> {
  const out: { key: string; value: Uint8Array }[] = [];
  const { partitions } = await log.describeTopic(topic);
  for (const { partition } of partitions) {
    let offset = 0;
    for (;;) {
      const { batches, nextOffset } = await log.read(topic, partition, offset);
      if (batches.length === 0) break;
      for (const b of batches) for (let i = 0; i < b.count; i++) out.push({ key: Buffer.from(b.keyAt(i)!).toString(), value: b.valueAt(i)! });
      offset = nextOffset;
    }
  }
  return out;
}

async function run(def: ReturnType<typeof pipeline>, orders: readonly Order[]): Promise<MemoryLog> {
  const clock = new ManualClock(0);
  const log = new MemoryLog(clock);
  await log.createTopic('orders', { partitions: 2 });
  await log.produce('orders', orders.map((o) => ({ key: Buffer.from(o.customer), value: Buffer.from(JSON.stringify(o)), timestampMs: o.ts })));
  const runner = await PipelineRunner.start(def.plan(), { log, clock });
  await runner.finish();
  return log;
}

const orderArb = fc.record({
  region: fc.constantFrom('eu', 'us', 'apac'),
  customer: fc.constantFrom('c1', 'c2', 'c3', 'c4', 'c5'),
  amount: fc.integer({ min: 0, max: 1000 }),
  ts: fc.integer({ min: 0, max: 10_000 }),
});

describe('toView', () => {
  it('announces the view in the registry and writes one update per (key, window) result', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(orderArb, { maxLength: 80 }), async (orders) => {
        const def = pipeline('views', (p) => {
          p.source<Order>('orders', { eventTime: 'ts', maxOutOfOrderMs: 20_000 })
            .keyBy((o) => o.region)
            .window(tumbling({ sizeMs: 1_000 }))
            .aggregate({ orders: count(), revenue: sum((o: Order) => o.amount) })
            .toView('revenue', { kind: 'timeseries', retentionMs: 60_000 });
        });
        const log = await run(def, orders);
        const registry = (await readAll(log, VIEW_REGISTRY_TOPIC)).map((r) => JSON.parse(Buffer.from(r.value).toString()) as ViewDefinition);
        expect(registry).toEqual([
          {
            name: 'revenue',
            kind: 'timeseries',
            pipeline: 'views',
            topic: viewTopic('revenue'),
            retentionMs: 60_000,
            aggregator: { kind: 'composite', fields: { orders: { kind: 'count' }, revenue: { kind: 'sum' } } },
          },
        ]);

        const updates = (await readAll(log, viewTopic('revenue'))).map((r) => ({ recordKey: r.key, ...decodeViewUpdate(r.value) }));
        // Brute force: every (region, second) with its count and sum.
        const expected = new Map<string, { orders: number; revenue: number }>();
        for (const o of orders) {
          const id = `${o.region}@${Math.floor(o.ts / 1000) * 1000}`;
          const e = expected.get(id) ?? { orders: 0, revenue: 0 };
          e.orders++;
          e.revenue += o.amount;
          expected.set(id, e);
        }
        expect(updates).toHaveLength(expected.size);
        const agg = aggregate({ orders: count(), revenue: sum((o: Order) => o.amount) });
        for (const u of updates) {
          expect(u.recordKey).toBe(u.key);
          expect(u.windowEndMs! - u.windowStartMs!).toBe(1_000);
          expect(u.final).toBe(true);
          expect(u.value).toEqual(expected.get(`${u.key}@${u.windowStartMs}`));
          // Time series carry the accumulator: decoding it gives the same result back.
          expect(agg.result(agg.decode(u.acc!))).toEqual(u.value);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('a kv view of plain values keeps the stream key or the key function, and a null value deletes', async () => {
    const orders: Order[] = [
      { region: 'eu', customer: 'c1', amount: 5, ts: 1 },
      { region: 'us', customer: 'c2', amount: 7, ts: 2 },
    ];
    const def = pipeline('kv', (p) => {
      const s = p.source<Order>('orders', { eventTime: 'ts' });
      s.keyBy((o) => o.customer).toView('last-order', { kind: 'kv' });
      s.map((o) => (o.customer === 'c2' ? null : o)).toView('by-region', { kind: 'kv', key: () => 'fixed' });
    });
    const log = await run(def, orders);
    const lastOrder = (await readAll(log, viewTopic('last-order'))).map((r) => decodeViewUpdate(r.value));
    expect(lastOrder.map((u) => [u.key, u.value]).sort()).toEqual([
      ['c1', orders[0]],
      ['c2', orders[1]],
    ]);
    const byRegion = (await readAll(log, viewTopic('by-region'))).map((r) => decodeViewUpdate(r.value));
    expect(byRegion.map((u) => u.deleted ?? false).sort()).toEqual([false, true]);
  });

  it('an unkeyed value without a key function fails with a coded error naming the view', async () => {
    const def = pipeline('nokey', (p) => {
      p.source<Order>('orders', { eventTime: 'ts' }).toView('orphans', { kind: 'kv' });
    });
    await expect(run(def, [{ region: 'eu', customer: 'c1', amount: 1, ts: 1 }])).rejects.toMatchObject({ code: 'FRESHET_INVALID_ARGUMENT', message: expect.stringContaining("view 'orphans'") });
  });

  it('merged session windows become deletes; accumulators are not attached when a topic also reads the window', async () => {
    const orders: Order[] = [
      { region: 'eu', customer: 'c1', amount: 1, ts: 0 },
      { region: 'eu', customer: 'c1', amount: 2, ts: 2_000 },
      { region: 'eu', customer: 'c1', amount: 3, ts: 1_000 },
    ];
    const def = pipeline('sessions', (p) => {
      const w = p.source<Order>('orders', { eventTime: 'ts', maxOutOfOrderMs: 0 }).keyBy((o) => o.customer).window(session({ gapMs: 1_500 })).aggregate(avg((o: Order) => o.amount));
      w.toView('sessions', { kind: 'timeseries' });
      w.toTopic('sessions-out');
    });
    const log = await run(def, orders);
    const updates: ViewUpdate[] = (await readAll(log, viewTopic('sessions'))).map((r) => decodeViewUpdate(r.value));
    const live = new Map<string, ViewUpdate>();
    for (const u of updates) {
      expect(u.acc).toBeUndefined();
      const id = `${u.key}@${u.windowStartMs}`;
      if (u.deleted) live.delete(id);
      else live.set(id, u);
    }
    // Sessions with gap 1.5 s: 0 and 2,000 are apart, then 1,000 bridges them into one session [0, 3,500).
    expect([...live.values()].map((u) => [u.windowStartMs, u.windowEndMs, u.value])).toEqual([[0, 3_500, 2]]);
  });

  it('rejects bad view names and kinds', () => {
    expect(() =>
      pipeline('bad', (p) => {
        p.source('orders').toView('no spaces', { kind: 'kv' });
      }).plan(),
    ).toThrow(/invalid view name/);
    expect(() =>
      pipeline('bad', (p) => {
        p.source('orders').toView('v', { kind: 'cube' as 'kv' });
      }).plan(),
    ).toThrow(/kind must be/);
  });
});
