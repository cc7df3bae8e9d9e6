/**
 * `freshet demo` as a user starts it (the real CLI in a child process, a fresh data directory): it
 * prints the dashboard's URL, its views fill within seconds, the dashboard and metrics are served, and
 * SIGINT stops it cleanly (exit 0, the log's lock released).
 */
import { describe, expect, it } from 'vitest';
import { cliPerTest } from '../cli/cli-harness.js';

interface ViewList {
  views: { name: string; kind: string; size: number; freshness: { appliedUpdates: number } }[];
}

async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('freshet demo', () => {
  const cliFor = cliPerTest();

  it('prints the dashboard URL, fills its views within seconds, and stops cleanly on SIGINT', async ({ task }) => {
    const cli = cliFor(task);
    const demo = cli.start(['demo', '--port', '0', '--rate', '500']);
    const [, url] = (await demo.waitForStdout(/dashboard at (http:\/\/127\.0\.0\.1:\d+)\/\n/, 45_000)) as unknown as [string, string];
    expect(demo.stdout).toMatch(/^freshet demo: 500 events\/s into shop\.\* topics, pipeline 'ecommerce' running/);

    // Every view of the demo is announced, and the time series and key-value ones receive results.
    const views = await eventually('views with data', async () => {
      const { body } = await json<ViewList>(`${url}/v1/views`);
      const byName = new Map(body.views.map((v) => [v.name, v]));
      const filled = ['revenue-by-region', 'traffic', 'payment-latency', 'funnel', 'top-products', 'last-order'].every((n) => (byName.get(n)?.size ?? 0) > 0);
      return filled ? byName : undefined;
    });
    expect([...views.keys()].sort()).toEqual(['funnel', 'last-order', 'orders', 'payment-latency', 'revenue-by-region', 'top-products', 'traffic']);
    expect(views.get('revenue-by-region')!.kind).toBe('timeseries');
    expect(views.get('top-products')!.kind).toBe('kv');

    // Revenue per region: windows of 10 s with orders and revenue that add up.
    const series = await eventually('a revenue series', async () => {
      const { status, body } = await json<{ points: { windowStartMs: number; windowEndMs: number; value: { orders: number; revenue: number; avgOrder: number } }[] }>(
        `${url}/v1/views/revenue-by-region/series?key=eu-west`,
      );
      return status === 200 && body.points.length > 0 ? body.points : undefined;
    });
    for (const p of series) {
      expect(p.windowEndMs - p.windowStartMs).toBe(10_000);
      expect(p.value.orders).toBeGreaterThan(0);
      expect(p.value.revenue).toBeGreaterThan(0);
      expect(p.value.avgOrder).toBeCloseTo(p.value.revenue / p.value.orders, 6);
    }

    // The live top products of the whole shop, and a customer's last order, enriched from the tables.
    const { status, body: top } = await json<{ key: string; value: { top: { value: string; count: number }[]; orders: number } }>(`${url}/v1/views/top-products/keys/all`);
    expect(status).toBe(200);
    expect(top.value.top.length).toBeGreaterThan(0);
    expect(top.value.top[0]!.count).toBeGreaterThan(0);
    const { body: someOrders } = await json<{ entries: { key: string; value: { customerId: string; productName: string; region: string; amount: number } }[] }>(
      `${url}/v1/views/last-order/keys?limit=5`,
    );
    expect(someOrders.entries.length).toBeGreaterThan(0);
    for (const e of someOrders.entries) {
      expect(e.value.customerId).toBe(e.key);
      expect(e.value.productName).toMatch(/\w+ \w+/);
      expect(['eu-west', 'eu-north', 'us-east', 'us-west', 'apac']).toContain(e.value.region);
    }

    // SQL over the orders table view.
    const sql = await json<{ rows: [number, number][] }>(`${url}/v1/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT count(*)::INTEGER, count(DISTINCT region)::INTEGER FROM orders' }),
    });
    expect(sql.status).toBe(200);
    expect(sql.body.rows[0]![0]).toBeGreaterThan(0);

    // The dashboard, its library and the metrics are served by the same server.
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Freshet dashboard</title>');
    expect((await fetch(`${url}/vendor/uplot/uPlot.esm.js`)).status).toBe(200);
    expect((await fetch(`${url}/js/main.js`)).headers.get('content-type')).toMatch(/javascript/);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('freshet_http_requests_total');
    const alerts = await json<{ rules: { name: string }[] }>(`${url}/v1/alerts`);
    expect(alerts.body.rules.map((r) => r.name)).toContain('DeadLettersHigh');

    demo.child.kill('SIGINT');
    const exited = await demo.exited;
    expect(exited.stderr).toContain('SIGINT: stopping the demo');
    expect(exited.code).toBe(0);
    // The lock is released: another writer opens the same data directory.
    const topics = await cli.run(['topics', 'create', 'after-demo']);
    expect(topics.code).toBe(0);
    const list = await cli.run(['topics', 'list']);
    expect(list.stdout).toContain('shop.orders');
  });

  it('refuses a rate out of bounds as a usage error', async ({ task }) => {
    const cli = cliFor(task);
    const result = await cli.run(['demo', '--rate', '0', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^FRESHET_INVALID_ARGUMENT: .*--rate/);
  });
});
