import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { count, sum } from '../../src/dsl/aggregators/index.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';
import { ViewMaintainer } from '../../src/serving/maintainer.js';
import { announce, writeUpdates } from './helpers.js';

let log: MemoryLog;
let maintainer: ViewMaintainer;
let server: FreshetServer;

beforeEach(async () => {
  log = new MemoryLog();
  maintainer = await ViewMaintainer.start({ log, database: { threads: 1, memoryLimit: '256MB' } });
  server = createServer({ log, views: maintainer });
  await server.app.ready();
});

afterEach(async () => {
  await server.close();
  await maintainer.close();
  await log.close();
});

const c = count();
const s = sum();

async function seed(): Promise<void> {
  await announce(log, 'spend', 'kv');
  await announce(log, 'rpm', 'timeseries', { aggregator: { kind: 'count' }, retentionMs: 1e15 });
  await announce(log, 'sales', 'table');
  await writeUpdates(log, 'spend', [
    { key: 'ann', value: { total: 12 }, eventTimeMs: 1 },
    { key: 'bob', value: { total: 30 }, eventTimeMs: 2 },
    { key: 'a/b c', value: { total: 5 }, eventTimeMs: 3 },
  ]);
  await writeUpdates(
    log,
    'rpm',
    [0, 1, 2, 3].map((w) => ({ key: 'ann', value: w + 1, eventTimeMs: w * 60_000, windowStartMs: w * 60_000, windowEndMs: (w + 1) * 60_000, acc: c.encode(w + 1) })),
  );
  await writeUpdates(log, 'sales', [
    { key: 'oslo', value: { revenue: 10, orders: 1 }, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000 },
    { key: 'rome', value: { revenue: 25, orders: 2 }, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000 },
    { key: 'oslo', value: { revenue: 7, orders: 3 }, eventTimeMs: 60_000, windowStartMs: 60_000, windowEndMs: 120_000 },
  ]);
  await maintainer.catchUp();
}

describe('query API', () => {
  it('GET /v1/views lists views with kind, columns and freshness (positions, lag, last update)', async () => {
    await seed();
    const r = await server.app.inject({ method: 'GET', url: '/v1/views' });
    expect(r.statusCode).toBe(200);
    const views = r.json().views as { name: string; kind: string; size: number; freshness: { lag: number; lastUpdateMs: number; partitions: { nextOffset: number; highWatermark: number }[] }; columns: { name: string }[] }[];
    expect(views.map((v) => [v.name, v.kind, v.size])).toEqual([
      ['rpm', 'timeseries', 4],
      ['sales', 'table', 3],
      ['spend', 'kv', 3],
    ]);
    for (const v of views) {
      expect(v.freshness.lag).toBe(0);
      expect(v.freshness.lastUpdateMs).toBeGreaterThan(0);
      expect(v.freshness.partitions.reduce((n, p) => n + p.nextOffset, 0)).toBe(v.name === 'rpm' ? 4 : 3);
    }
    expect(views[1]!.columns.map((col) => col.name)).toContain('revenue');
    const one = await server.app.inject({ method: 'GET', url: '/v1/views/spend' });
    expect(one.json()).toMatchObject({ name: 'spend', kind: 'kv' });
  });

  it('key lookups, multi-get, listing and top-N; unknown view or key is a coded 404', async () => {
    await seed();
    const ann = await server.app.inject({ method: 'GET', url: '/v1/views/spend/keys/ann' });
    expect(ann.statusCode).toBe(200);
    expect(ann.json()).toMatchObject({ key: 'ann', value: { total: 12 }, eventTimeMs: 1 });
    const odd = await server.app.inject({ method: 'GET', url: `/v1/views/spend/keys/${encodeURIComponent('a/b c')}` });
    expect(odd.json().value).toEqual({ total: 5 });
    const missing = await server.app.inject({ method: 'GET', url: '/v1/views/spend/keys/zed' });
    expect([missing.statusCode, missing.json().error.code]).toEqual([404, 'FRESHET_KEY_NOT_FOUND']);
    const noView = await server.app.inject({ method: 'GET', url: '/v1/views/nope/keys/ann' });
    expect([noView.statusCode, noView.json().error.code]).toEqual([404, 'FRESHET_VIEW_NOT_FOUND']);
    const multi = await server.app.inject({ method: 'POST', url: '/v1/views/spend/keys', payload: { keys: ['bob', 'zed', 'ann'] } });
    expect(multi.json().entries.map((e: { value: unknown } | null) => e?.value ?? null)).toEqual([{ total: 30 }, null, { total: 12 }]);
    const bad = await server.app.inject({ method: 'POST', url: '/v1/views/spend/keys', payload: { keys: [1] } });
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'FRESHET_INVALID_ARGUMENT']);
    const list = await server.app.inject({ method: 'GET', url: '/v1/views/spend/keys?prefix=a&limit=1' });
    expect(list.json()).toMatchObject({ entries: [{ key: 'a/b c' }], truncated: true });
    const top = await server.app.inject({ method: 'GET', url: '/v1/views/spend/top?field=total&n=2' });
    expect(top.json().entries.map((e: { key: string }) => e.key)).toEqual(['bob', 'ann']);
    const latest = await server.app.inject({ method: 'GET', url: '/v1/views/rpm/keys/ann' });
    expect(latest.json()).toMatchObject({ value: 4, windowStartMs: 180_000 });
    const wrong = await server.app.inject({ method: 'GET', url: '/v1/views/sales/keys/oslo' });
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([400, 'FRESHET_WRONG_VIEW_KIND']);
  });

  it('series with from/to (ms or ISO) and step re-aggregation; step without a spec is a coded 400', async () => {
    await seed();
    const all = await server.app.inject({ method: 'GET', url: '/v1/views/rpm/series?key=ann&from=60000&to=1970-01-01T00:03:00Z' });
    expect(all.json().points.map((p: { value: number }) => p.value)).toEqual([2, 3]);
    const step = await server.app.inject({ method: 'GET', url: '/v1/views/rpm/series?key=ann&step=2m' });
    expect(step.json().points).toEqual([
      { windowStartMs: 0, windowEndMs: 120_000, value: 3, windows: 2 },
      { windowStartMs: 120_000, windowEndMs: 240_000, value: 7, windows: 2 },
    ]);
    await announce(log, 'plain', 'timeseries');
    await writeUpdates(log, 'plain', [{ key: 'k', value: 1, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 10, acc: s.encode(s.add(s.create(), 1)) }]);
    await maintainer.catchUp();
    const noSpec = await server.app.inject({ method: 'GET', url: '/v1/views/plain/series?key=k&step=100' });
    expect([noSpec.statusCode, noSpec.json().error.code]).toEqual([400, 'FRESHET_STEP_UNSUPPORTED']);
    const badStep = await server.app.inject({ method: 'GET', url: '/v1/views/rpm/series?key=ann&step=-1' });
    expect(badStep.statusCode).toBe(400);
    const noKey = await server.app.inject({ method: 'GET', url: '/v1/views/rpm/series' });
    expect(noKey.statusCode).toBe(400);
  });

  it('POST /v1/sql answers JSON, NDJSON and CSV, by Accept or ?format=, and truncates with a flag', async () => {
    await seed();
    const json = await server.app.inject({ method: 'POST', url: '/v1/sql', payload: { sql: 'SELECT key, sum(revenue) AS revenue, sum(orders)::BIGINT AS orders FROM sales GROUP BY key ORDER BY key' } });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({
      columns: [
        { name: 'key', type: 'VARCHAR' },
        { name: 'revenue', type: 'DOUBLE' },
        { name: 'orders', type: 'BIGINT' },
      ],
      rows: [
        ['oslo', 17, 4],
        ['rome', 25, 2],
      ],
      truncated: false,
    });
    const nd = await server.app.inject({ method: 'POST', url: '/v1/sql', headers: { accept: 'application/x-ndjson', 'content-type': 'text/plain' }, payload: 'SELECT key, revenue FROM sales ORDER BY revenue' });
    expect(nd.headers['content-type']).toMatch(/ndjson/);
    expect(nd.body).toBe('{"key":"oslo","revenue":7}\n{"key":"oslo","revenue":10}\n{"key":"rome","revenue":25}\n');
    const csv = await server.app.inject({ method: 'POST', url: '/v1/sql?format=csv', payload: { sql: `SELECT 'a,b' AS x, NULL AS y, 1.5 AS z` } });
    expect(csv.body).toBe('x,y,z\r\n"a,b",,1.5\r\n');
    const cut = await server.app.inject({ method: 'POST', url: '/v1/sql', payload: { sql: 'SELECT * FROM range(100000)', maxRows: 5 } });
    expect(cut.json()).toMatchObject({ rowCount: 5, truncated: true });
    expect(cut.headers['freshet-truncated']).toBe('true');
    const bad = await server.app.inject({ method: 'POST', url: '/v1/sql', payload: { sql: 'SELEC 1' } });
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'FRESHET_SQL_INVALID']);
    expect(bad.json().error.message).toMatch(/Parser Error/);
    const unknownTable = await server.app.inject({ method: 'POST', url: '/v1/sql', payload: { sql: 'SELECT * FROM nope' } });
    expect([unknownTable.statusCode, unknownTable.json().error.message]).toEqual([400, expect.stringMatching(/Catalog Error/)]);
  });

  it('bearer auth, when configured, also guards the query routes', async () => {
    const guarded = createServer({ log, views: maintainer, auth: { bearerToken: 'sekret' } });
    const denied = await guarded.app.inject({ method: 'GET', url: '/v1/views' });
    expect(denied.statusCode).toBe(401);
    const ok = await guarded.app.inject({ method: 'GET', url: '/v1/views', headers: { authorization: 'Bearer sekret' } });
    expect(ok.statusCode).toBe(200);
    await guarded.close();
  });
});
