/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core, against `freshet demo`
 * running as a child process (the real CLI, log, pipeline, views and HTTP server). Saves a screenshot
 * to test-artifacts/dashboard.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, type CliProcess, REPO_ROOT } from '../cli/cli-harness.js';

/** Debian's chromium package (the CI installs it). */
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
/** Operators of examples/ecommerce/pipeline.ts the graph must show (their stable names). */
const DEMO_OPERATORS = ['source-shop.orders', 'table-shop.products', 'table-shop.customers', 'with-product', 'with-customer', 'revenue-window', 'top-products-window', 'payment-window'];

describe('the dashboard, in Chromium, on the running demo', () => {
  let cli: Cli;
  let demo: CliProcess;
  let url: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  /** A numeric attribute of the first element matching `selector` (NaN when absent). */
  const attr = async (selector: string, name: string): Promise<number> => Number(await page.locator(selector).first().getAttribute(name));
  /** Polls `check` until true; fails after `timeoutMs` naming what did not happen. */
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    cli = new Cli();
    demo = cli.start(['demo', '--port', '0', '--rate', '400', '--seed', '7']);
    [, url] = (await demo.waitForStdout(/dashboard at (http:\/\/127\.0\.0\.1:\d+)\//, 45_000)) as unknown as [string, string];
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1600, height: 1400 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(`${url}/`);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    demo?.child.kill('SIGTERM');
    await cli?.cleanup();
  });

  it('loads, with its styles, uPlot and a live connection', async () => {
    expect(await page.title()).toBe('Freshet dashboard');
    await page.waitForSelector('[data-testid=connection].badge-ok', { timeout: 15_000 });
    // uPlot came from /vendor/uplot and drew the three pipeline charts.
    expect(await page.locator('#chart-throughput .uplot').count()).toBe(1);
    expect(await page.locator('.charts .uplot').count()).toBe(3);
  });

  it("shows the demo pipeline's operators in the graph, with live rates", async () => {
    await page.waitForSelector('[data-node="revenue-window"]', { timeout: 20_000 });
    const names = await page.locator('#graph [data-node]').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')));
    for (const op of DEMO_OPERATORS) expect(names).toContain(op);
    // Data-quality checks are boxes of their own.
    expect(await page.locator('#graph .node.k-check').count()).toBeGreaterThanOrEqual(3);
    // Edges join them: every operator but sources has at least one incoming edge.
    expect(await page.locator('#graph path.edge').count()).toBeGreaterThanOrEqual(names.length - 6);
    // The source box shows a rate once the generator has been running a second or two.
    await until('a rate on the page-view source', async () => /[1-9][\d.k]*\/s/.test((await page.locator('[data-node="source-shop.pageviews"] .stats').first().textContent()) ?? ''));
  });

  it('charts receive live points: throughput every second, a time-series view over SSE', async () => {
    const before = await attr('#chart-throughput', 'data-points');
    await until('two more throughput points', async () => (await attr('#chart-throughput', 'data-points')) >= before + 2);

    // The explorer opens a time-series view by itself; its chart loads history, then grows over SSE.
    await until('series history', async () => (await attr('#chart-series', 'data-points')) > 0);
    await until('three live series updates', async () => (await attr('#chart-series', 'data-live')) >= 3);
    expect(await page.locator('#chart-series .uplot').count()).toBe(1);
  });

  it('looks up a key of a key-value view', async () => {
    await page.selectOption('[data-testid=view-select]', 'top-products');
    // The key list comes from the view; `all` is the shop-wide ranking.
    await page.waitForSelector('#kv-keys li[data-key="all"]', { timeout: 15_000 });
    await page.fill('[data-testid=kv-key]', 'all');
    await page.click('[data-testid=kv-lookup]');
    await until('the looked-up entry', async () => ((await page.textContent('[data-testid=kv-result]')) ?? '').includes('"top"'));
    const entry = JSON.parse((await page.textContent('[data-testid=kv-result]'))!) as { key: string; value: { top: { value: string; count: number }[]; orders: number } };
    expect(entry.key).toBe('all');
    expect(entry.value.orders).toBeGreaterThan(0);
    expect(entry.value.top.length).toBeGreaterThan(0);
    // The same answer as the API gives.
    const api = (await (await fetch(`${url}/v1/views/top-products/keys/all`)).json()) as { key: string };
    expect(api.key).toBe('all');
  });

  it('lists dead letters with their reasons, and alert rules', async () => {
    await page.waitForSelector('[data-testid=dlq-summary] td.reason', { timeout: 20_000 });
    const reasons = await page.locator('[data-testid=dlq-summary] td.reason').allTextContents();
    expect(reasons.join('\n')).toMatch(/\S/);
    await until('the alert rules', async () => /rules/.test((await page.textContent('#alerts-summary')) ?? ''));
    // The demo's checks, with their outcomes, from /metrics.
    await until('the checks table', async () => (await page.locator('[data-testid=checks] td').allTextContents()).includes('no-duplicate-orders'));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });
});
