/**
 * Serving the dashboard (src/server/dashboard-routes.ts) over real HTTP, and the graph layout of
 * web/js/graph.js against its invariants on random DAGs.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { dashboardRoutes } from '../../src/server/dashboard-routes.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';
import { REPO_ROOT } from '../cli/cli-harness.js';
import { TempDirs } from '../helpers/temp-dir.js';

describe('dashboard routes', () => {
  const servers: FreshetServer[] = [];
  const dirs = new TempDirs();
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    dirs.cleanup();
  });

  async function start(dashboard: boolean): Promise<string> {
    const server = createServer({ log: new MemoryLog(), dashboard });
    servers.push(server);
    return server.listen({ port: 0 });
  }

  it('serves every file of web/ at its path, index.html at /, and uPlot from the installed package', async () => {
    const url = await start(true);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toBe(fs.readFileSync(path.join(REPO_ROOT, 'web/index.html'), 'utf8'));
    // Every module and stylesheet the page and its modules refer to exists.
    const refs = [...html.matchAll(/(?:src|href)="(\/[^"]+\.(?:js|css|svg))"/g)].map((m) => m[1]!);
    for (const file of fs.readdirSync(path.join(REPO_ROOT, 'web/js'))) {
      for (const m of fs.readFileSync(path.join(REPO_ROOT, 'web/js', file), 'utf8').matchAll(/from '(\/[^']+)'/g)) refs.push(m[1]!);
    }
    expect(refs).toContain('/js/main.js');
    expect(refs).toContain('/vendor/uplot/uPlot.esm.js');
    for (const ref of refs) {
      const res = await fetch(`${url}${ref}`);
      expect(res.status, ref).toBe(200);
      if (ref.endsWith('.js')) expect(res.headers.get('content-type'), ref).toMatch(/javascript/);
      if (ref.endsWith('.css')) expect(res.headers.get('content-type'), ref).toMatch(/^text\/css/);
    }
    // Revalidation by ETag: a second load costs a 304.
    const etag = (await fetch(`${url}/js/main.js`)).headers.get('etag');
    expect(etag).toBeTruthy();
    // (node:http: fetch adds `cache-control: no-cache` to conditional requests, which forbids a 304.)
    const status = await new Promise<number>((resolve, reject) => {
      http.get(`${url}/js/main.js`, { headers: { 'if-none-match': etag! } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    expect(status).toBe(304);
  });

  it("leaves unknown paths to the server's 404, refuses traversal, and is absent unless asked for", async () => {
    const url = await start(true);
    for (const p of ['/nope.js', '/js/../../package.json', '/vendor/uplot/../package.json', '/%2e%2e/package.json']) {
      const res = await fetch(`${url}${p}`);
      expect(res.status, p).toBe(404);
    }
    expect(await (await fetch(`${url}/nope.js`)).json()).toEqual({ error: { code: 'FRESHET_NOT_FOUND', message: 'no route GET /nope.js' } });
    // The ingest API is untouched.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    const plain = await start(false);
    expect((await fetch(`${plain}/`)).status).toBe(404);
  });

  it('refuses a directory without index.html with FRESHET_INVALID_CONFIG', async () => {
    const Fastify = (await import('fastify')).default;
    const app = Fastify();
    const empty = dirs.make('freshet-web-');
    await expect(app.register(dashboardRoutes({ webDir: empty })).ready()).rejects.toMatchObject({ code: 'FRESHET_INVALID_CONFIG' });
    await app.close();
  });
});

type LayoutFn = (nodes: { name: string; inputs: string[] }[]) => string[][];

describe('graph layout (web/js/graph.js)', () => {
  it('puts every node in exactly one column, each after all of its inputs', async () => {
    // A browser module without types: loaded by path so the compiler does not look for declarations.
    const modulePath = path.join(REPO_ROOT, 'web/js/graph.js');
    const { layout } = (await import(modulePath)) as { layout: LayoutFn };
    // Random DAGs: node i takes inputs among nodes < i (as plans list inputs first).
    const dag = fc.integer({ min: 1, max: 40 }).chain((n) =>
      fc.tuple(...Array.from({ length: n }, (_, i) => fc.uniqueArray(fc.integer({ min: 0, max: Math.max(0, i - 1) }), { maxLength: i === 0 ? 0 : 3 }))),
    );
    fc.assert(
      fc.property(dag, (inputs) => {
        const nodes = inputs.map((ins, i) => ({ name: `n${i}`, inputs: ins.map((j) => `n${j}`) }));
        const columns = layout(nodes);
        const column = new Map<string, number>();
        columns.forEach((names, c) => names.forEach((n) => column.set(n, c)));
        expect(columns.flat().sort()).toEqual(nodes.map((n) => n.name).sort());
        for (const n of nodes) {
          for (const i of n.inputs) expect(column.get(i)!).toBeLessThan(column.get(n.name)!);
          // Longest-path layering: a node is exactly one column after its furthest input.
          const expected = n.inputs.length === 0 ? 0 : 1 + Math.max(...n.inputs.map((i) => column.get(i)!));
          expect(column.get(n.name)).toBe(expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});

type ParseFn = (text: string, names: Set<string>) => { name: string; labels: Record<string, string>; value: number }[];

describe('Prometheus text reader (web/js/prom.js)', () => {
  it("reads back what prom-client writes, whatever the label values", async () => {
    const { parsePrometheus } = (await import(path.join(REPO_ROOT, 'web/js/prom.js'))) as { parsePrometheus: ParseFn };
    const { Counter, Gauge, Registry } = await import('prom-client');
    const labelValue = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '"', '\\', '\n', '{', '}', ',', '=', 'é', '9'), maxLength: 8 });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(labelValue, labelValue, fc.integer({ min: 0, max: 1e6 })), { maxLength: 8, selector: ([a, b]) => `${a}\u0000${b}` }), async (series) => {
        const registry = new Registry();
        const checks = new Counter({ name: 'freshet_quality_checks_total', help: 'h', labelNames: ['check', 'stage'], registers: [registry] });
        new Gauge({ name: 'other_gauge', help: 'h', registers: [registry] }).set(3);
        for (const [check, stage, n] of series) checks.inc({ check, stage }, n);
        const samples = parsePrometheus(await registry.metrics(), new Set(['freshet_quality_checks_total']));
        const got = samples.map((s) => [s.labels.check, s.labels.stage, s.value]).sort();
        expect(got).toEqual(series.map(([c, s, n]) => [c, s, n]).sort());
        expect(samples.every((s) => s.name === 'freshet_quality_checks_total')).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
