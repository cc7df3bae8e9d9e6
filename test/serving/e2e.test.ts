/**
 * End to end over real parts: HTTP ingest into an embedded log on disk -> a real pipeline (`toView`) ->
 * ViewMaintainers (one in the server, one in a read-only follower of the same data directory, as a second
 * query process would be) -> HTTP queries, SQL and SSE.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { count, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';
import { KvView } from '../../src/serving/kv-view.js';
import { ViewMaintainer } from '../../src/serving/maintainer.js';
import { TempDirs } from '../helpers/temp-dir.js';
import { eventually } from './helpers.js';

interface Order {
  customer: string;
  region: string;
  amount: number;
  ts: number;
}

const dirs = new TempDirs();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

const shop = pipeline('shop', (p) => {
  const orders = p.source<Order>('orders', { eventTime: 'ts', maxOutOfOrderMs: 0, idleTimeoutMs: 50 });
  orders.keyBy((o) => o.customer).toView('last-order', { kind: 'kv' });
  orders
    .keyBy((o) => o.region)
    .window(tumbling({ sizeMs: 60_000 }))
    .aggregate({ orders: count(), revenue: sum((o: Order) => o.amount) })
    .toView('revenue', { kind: 'table' });
});

describe('ingest -> pipeline -> views -> query API', () => {
  it('events posted over HTTP become visible through key lookups, SQL and SSE, in two query processes', async () => {
    const dataDir = dirs.make('freshet-e2e-');
    const log = await EmbeddedLog.open({ dataDir });
    cleanups.push(() => log.close());
    const maintainer = await ViewMaintainer.start({ log, database: { threads: 1 } });
    cleanups.push(() => maintainer.close());
    const server = createServer({ log, views: maintainer, topics: { orders: { partitions: 2, keyField: 'customer', eventTimeField: 'ts' } } });
    const url = await server.listen({ port: 0 });
    cleanups.push(() => server.close());

    const runner = await PipelineRunner.start(shop.plan(), { log });
    const running = runner.run(5);
    cleanups.push(async () => {
      runner.stop();
      await running;
    });

    const post = async (events: Order[]): Promise<void> => {
      const r = await fetch(`${url}/v1/topics/orders/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      expect(r.status).toBe(200);
    };
    const get = async (path: string): Promise<{ status: number; body: any }> => {
      const r = await fetch(`${url}${path}`);
      return { status: r.status, body: await r.json() };
    };

    await post([
      { customer: 'ann', region: 'eu', amount: 10, ts: 1_000 },
      { customer: 'bob', region: 'us', amount: 5, ts: 2_000 },
      { customer: 'ann', region: 'eu', amount: 7, ts: 3_000 },
    ]);
    await eventually(async () => (await get('/v1/views/last-order/keys/ann')).status === 200 && (await get('/v1/views/last-order/keys/ann')).body.value.amount === 7);
    expect((await get('/v1/views/last-order/keys/bob')).body).toMatchObject({ key: 'bob', value: { customer: 'bob', amount: 5 } });

    // Live push: subscribe, then ingest; the SSE stream carries the update.
    const abort = new AbortController();
    cleanups.push(async () => abort.abort());
    const sse = await fetch(`${url}/v1/views/last-order/stream?key=cid`, { signal: abort.signal });
    const reader = sse.body!.getReader();
    let streamed = '';
    const sawCid = (async () => {
      while (!streamed.includes('"key":"cid"')) {
        const { value, done } = await reader.read();
        if (done) break;
        streamed += new TextDecoder().decode(value);
      }
    })();
    // Events a minute later, in every partition, close the first window (watermark = min over partitions).
    await post([
      { customer: 'cid', region: 'eu', amount: 1, ts: 61_000 },
      { customer: 'ann', region: 'eu', amount: 1, ts: 61_000 },
      { customer: 'bob', region: 'us', amount: 1, ts: 61_000 },
    ]);
    await sawCid;
    expect(streamed).toMatch(/event: update\ndata: \{"key":"cid","value":\{"customer":"cid"/);

    const revenue = async () =>
      (await fetch(`${url}/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: `SELECT key, orders, revenue, epoch_ms(window_start) AS ws FROM revenue ORDER BY key` }) })).json() as Promise<{ rows?: unknown[][] }>;

    await eventually(async () => ((await revenue()).rows ?? []).length === 2);
    expect((await revenue()).rows).toEqual([
      ['eu', 2, 17, 0],
      ['us', 1, 5, 0],
    ]);

    // A second query process: its own maintainer on a read-only follower of the same directory.
    const follower = await EmbeddedLog.open({ dataDir, readOnly: true });
    cleanups.push(() => follower.close());
    const second = await ViewMaintainer.start({ log: follower, database: { threads: 1 } });
    cleanups.push(() => second.close());
    await second.catchUp();
    await maintainer.catchUp();
    const a = maintainer.view('last-order') as KvView;
    const b = second.view('last-order') as KvView;
    expect(b.list({ limit: 100 }).entries).toEqual(a.list({ limit: 100 }).entries);
    expect((await second.sql!.query('SELECT key, orders, revenue FROM revenue ORDER BY key')).rows).toEqual((await maintainer.sql!.query('SELECT key, orders, revenue FROM revenue ORDER BY key')).rows);
    const views = (await get('/v1/views')).body.views as { name: string; freshness: { lag: number } }[];
    expect(views.map((v) => v.name)).toEqual(['last-order', 'revenue']);
  });
});
