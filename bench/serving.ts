/**
 * `npm run bench -- serving`: the query side.
 *
 * - `serving.lookup` (lookups_per_s): `KvView.get` of random keys among 100,000, in process. Ceiling: a raw
 *   `Map.get` over the same keys.
 * - `serving.duckdb_append` (rows_per_s): `TableView.apply` of 10,000-update batches (new rows, 4 value
 *   columns), i.e. Appender into staging + one transaction. Ceiling: DuckDB's own
 *   `INSERT INTO ... SELECT ... FROM range(n)` of the same columns, in the same database.
 * - `serving.http_lookup` (p50_ms, p99_ms): `GET /v1/views/:view/keys/:key` at a fixed 10,000 req/s from a
 *   second process (this file forked with `--serving-client`), keep-alive node:http agent, open loop:
 *   latency counts from each request's scheduled send time, so a stalled server is not hidden
 *   (no coordinated omission).
 * - `serving.freshness` (p99_ms, p99_ms_sse, p50...): events POSTed to HTTP ingest at 50,000 events/s, a real
 *   pipeline (`keyBy(user).toView('latest', { kind: 'kv' })`), a ViewMaintainer, all in this process. Every
 *   20 ms a probe event carries its send time; `p99_ms` is until `GET /v1/views/latest/keys/probe` shows it
 *   (polled every ms), `p99_ms_sse` until an SSE client (`?key=probe`) receives it.
 *
 * Options: --seconds N (per measurement, default 5), --rate N (http_lookup req/s, default 10000),
 * --event-rate N (freshness events/s, default 50000), --only <bench name>.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { pipeline } from '../src/dsl/pipeline.js';
import { MemoryLog } from '../src/log/memory/memory-log.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { encodeViewUpdate, VIEW_REGISTRY_TOPIC, viewTopic, type ViewDefinition, type ViewUpdate } from '../src/plan/view-update.js';
import { PipelineRunner } from '../src/runtime/pipeline-runner.js';
import { createServer } from '../src/server/server.js';
import { ViewDatabase } from '../src/serving/duckdb/database.js';
import { TableView } from '../src/serving/duckdb/table-view.js';
import { KvView } from '../src/serving/kv-view.js';
import { ViewMaintainer } from '../src/serving/maintainer.js';
import { makeTempDir, removeTempDir } from '../test/helpers/temp-dir.js';
import { note, report } from './report.js';

const LOOKUP_KEYS = 100_000;
const HTTP_KEYS = 10_000;
const APPEND_BATCH = 10_000;
const MAX_EVENTS_PER_POST = 5_000;

export async function run(args: Record<string, string | true>): Promise<void> {
  const seconds = Number(args.seconds ?? 5);
  const only = typeof args.only === 'string' ? args.only : null;
  const want = (name: string): boolean => only === null || only === name;
  if (want('serving.lookup')) benchLookup(seconds);
  if (want('serving.duckdb_append')) await benchAppend(seconds);
  if (want('serving.http_lookup')) await benchHttpLookup(seconds, Number(args.rate ?? 10_000));
  if (want('serving.freshness')) await benchFreshness(seconds, Number(args['event-rate'] ?? 50_000));
}

// --- serving.lookup --------------------------------------------------------------------------------

function benchLookup(seconds: number): void {
  const view = new KvView(def('lookup', 'kv'));
  const keys = Array.from({ length: LOOKUP_KEYS }, (_, i) => `user-${i}`);
  const updates: ViewUpdate[] = keys.map((key, i) => ({ key, value: { total: i, n: 1 }, eventTimeMs: i }));
  void view.apply({ partition: 0, offsets: updates.map((_, i) => i), updates });
  const map = new Map(keys.map((k, i) => [k, updates[i]]));
  // Random order, fixed in advance: both loops read the same keys.
  const order = Uint32Array.from({ length: 1 << 20 }, () => Math.floor(Math.random() * LOOKUP_KEYS));
  const measure = (get: (k: string) => unknown): number => {
    let n = 0;
    let sink = 0;
    const budgetMs = (seconds * 1000) / 2;
    const start = performance.now();
    while (performance.now() - start < budgetMs) {
      for (let i = 0; i < order.length; i++) if (get(keys[order[i]!]!) !== undefined) sink++;
      n += order.length;
    }
    if (sink === 0) note('impossible');
    return n / ((performance.now() - start) / 1000);
  };
  measure((k) => map.get(k)); // warm-up
  const ceiling = measure((k) => map.get(k));
  const value = measure((k) => view.get(k));
  report({ bench: 'serving.lookup', metric: 'lookups_per_s', value, unit: 'lookups/s', ceiling, keys: LOOKUP_KEYS });
}

// --- serving.duckdb_append -------------------------------------------------------------------------

async function benchAppend(seconds: number): Promise<void> {
  const db = await ViewDatabase.open();
  try {
    const view = await TableView.create(def('append', 'table'), db);
    let offset = 0;
    let window = 0;
    const batch = (): ViewUpdate[] => {
      const ws = window++ * 60_000;
      return Array.from({ length: APPEND_BATCH }, (_, i) => ({
        key: `k${i}`,
        value: { orders: i % 7, revenue: i * 1.5, country: i % 2 === 0 ? 'NO' : 'IT', premium: i % 3 === 0 },
        eventTimeMs: ws + 1,
        windowStartMs: ws,
        windowEndMs: ws + 60_000,
        final: true,
      }));
    };
    const apply = async (): Promise<number> => {
      const updates = batch();
      await view.apply({ partition: 0, offsets: updates.map(() => offset++), updates });
      return updates.length;
    };
    await apply(); // creates the columns
    let rows = 0;
    const start = performance.now();
    while (performance.now() - start < (seconds * 1000) / 2) rows += await apply();
    const value = rows / ((performance.now() - start) / 1000);

    // Ceiling: DuckDB generating and inserting the same shape of rows itself.
    const ceilingRows = 1_000_000;
    const ceiling = await db.write(async (c) => {
      await c.run(
        'CREATE TABLE ceiling (key VARCHAR NOT NULL, window_start TIMESTAMP, window_end TIMESTAMP, event_time TIMESTAMP, final BOOLEAN, orders DOUBLE, revenue DOUBLE, country VARCHAR, premium BOOLEAN, extra JSON)',
      );
      const t0 = performance.now();
      await c.run(
        `INSERT INTO ceiling SELECT 'k' || (i % ${APPEND_BATCH}), epoch_ms(i // ${APPEND_BATCH} * 60000), epoch_ms(i // ${APPEND_BATCH} * 60000 + 60000), epoch_ms(i // ${APPEND_BATCH} * 60000 + 1), true, (i % 7)::DOUBLE, i * 1.5, CASE WHEN i % 2 = 0 THEN 'NO' ELSE 'IT' END, i % 3 = 0, NULL FROM range(${ceilingRows}) r(i)`,
      );
      return ceilingRows / ((performance.now() - t0) / 1000);
    });
    report({ bench: 'serving.duckdb_append', metric: 'rows_per_s', value, unit: 'rows/s', ceiling, batch: APPEND_BATCH });
    await view.close();
  } finally {
    await db.close();
  }
}

// --- serving.http_lookup ---------------------------------------------------------------------------

interface ClientResult {
  sent: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  achievedRate: number;
}

async function benchHttpLookup(seconds: number, rate: number): Promise<void> {
  const log = new MemoryLog();
  await announce(log, def('users', 'kv'));
  await log.produce(
    viewTopic('users'),
    Array.from({ length: HTTP_KEYS }, (_, i) => {
      const u: ViewUpdate = { key: `user-${i}`, value: { total: i, visits: i % 13, country: 'NO' }, eventTimeMs: i };
      return { key: Buffer.from(u.key), value: encodeViewUpdate(u) };
    }),
  );
  const maintainer = await ViewMaintainer.start({ log });
  await maintainer.catchUp();
  const server = createServer({ log, views: maintainer });
  const url = await server.listen({ port: 0 });
  try {
    const result = await new Promise<ClientResult>((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), ['--serving-client', url, String(rate), String(seconds)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (m) => resolve(m as ClientResult));
      child.on('error', reject);
      child.on('exit', (code) => (code !== 0 ? reject(new Error(`client exited ${code}`)) : undefined));
    });
    const extra = { rate_per_s: rate, achieved_per_s: Math.round(result.achievedRate), requests: result.sent, errors: result.errors, keys: HTTP_KEYS };
    report({ bench: 'serving.http_lookup', metric: 'p50_ms', value: result.p50Ms, unit: 'ms', ...extra });
    report({ bench: 'serving.http_lookup', metric: 'p99_ms', value: result.p99Ms, unit: 'ms', goal: 5, max_ms: result.maxMs, ...extra });
  } finally {
    await server.close();
    await maintainer.close();
  }
}

/** The load generator (second process): paced GETs of random keys, latency from the scheduled time. */
async function client(url: string, rate: number, seconds: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const { hostname, port } = new URL(url);
  const warmupMs = 1000;
  const totalMs = warmupMs + seconds * 1000;
  const latencies: number[] = [];
  let sent = 0;
  let done = 0;
  let errors = 0;
  const start = performance.now();
  const fire = (intendedMs: number): void => {
    const key = `user-${Math.floor(Math.random() * HTTP_KEYS)}`;
    const req = http.get({ agent, hostname, port, path: `/v1/views/users/keys/${key}` }, (res) => {
      res.resume();
      res.on('end', () => {
        done++;
        if (res.statusCode !== 200) errors++;
        if (intendedMs >= warmupMs) latencies.push(performance.now() - start - intendedMs);
      });
    });
    req.on('error', () => {
      done++;
      errors++;
    });
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.min(Math.floor((Math.min(elapsed, totalMs) * rate) / 1000), Math.floor((totalMs * rate) / 1000));
      while (sent < due) fire((sent++ * 1000) / rate);
      if (elapsed >= totalMs) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const deadline = performance.now() + 10_000;
  while (done < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const result: ClientResult = { sent, errors: errors + (sent - done), p50Ms: q(0.5), p99Ms: q(0.99), maxMs: latencies.at(-1) ?? NaN, achievedRate: latencies.length / seconds };
  process.send!(result);
  agent.destroy();
  process.exit(0);
}

// --- serving.freshness -----------------------------------------------------------------------------

interface BenchEvent {
  user: string;
  sentMs: number;
  seq: number;
}

async function benchFreshness(seconds: number, eventRate: number): Promise<void> {
  const dir = makeTempDir('freshet-bench-serving-');
  const log = await EmbeddedLog.open({ dataDir: dir, fsync: 'never' });
  const maintainer = await ViewMaintainer.start({ log, pollIntervalMs: 1 });
  const server = createServer({ log, views: maintainer, topics: { events: { partitions: 2, keyField: 'user' } } });
  const url = await server.listen({ port: 0 });
  const latest = pipeline('freshness', (p) => {
    p.source<BenchEvent>('events', { maxOutOfOrderMs: 0 })
      .keyBy((e) => e.user)
      .toView('latest', { kind: 'kv' });
  });
  const runner = await PipelineRunner.start(latest.plan(), { log, maxBatchRecords: 8192 });
  const running = runner.run(1);
  try {
    // The producer, the probes, the API poller and the SSE client run in a second process.
    const r = await new Promise<FreshnessResult>((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), ['--serving-freshness-client', url, String(eventRate), String(seconds)], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (m) => resolve(m as FreshnessResult));
      child.on('error', reject);
      child.on('exit', (code) => (code !== 0 ? reject(new Error(`client exited ${code}`)) : undefined));
    });
    const extra = { event_rate_per_s: eventRate, achieved_events_per_s: Math.round(r.achievedRate), probes: r.probes, api_samples: r.api.length, sse_samples: r.sse.length, goal: 50 };
    report({ bench: 'serving.freshness', metric: 'p99_ms', value: quantile(r.api, 0.99), unit: 'ms', p50_ms: quantile(r.api, 0.5), ...extra });
    report({ bench: 'serving.freshness', metric: 'p99_ms_sse', value: quantile(r.sse, 0.99), unit: 'ms', p50_ms: quantile(r.sse, 0.5), ...extra });
  } finally {
    runner.stop();
    await running;
    await server.close();
    await maintainer.close();
    await log.close();
    removeTempDir(dir);
  }
}

interface FreshnessResult {
  api: number[];
  sse: number[];
  probes: number;
  achievedRate: number;
}

/** Second process of serving.freshness: ingest load at `eventRate`, a probe every 20 ms, API polling, SSE. */
async function freshnessClient(url: string, eventRate: number, seconds: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const post = (body: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${url}/v1/topics/events/events`, { method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`ingest answered ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get(`${url}${path}`, { agent }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });

  const sse: number[] = [];
  const api: number[] = [];
  const warmupMs = 1000;
  let measuring = false;
  const sseRes = await fetch(`${url}/v1/views/latest/stream?key=probe`);
  const reader = sseRes.body!.getReader();
  const sseLoop = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (data === undefined) continue;
        const e = JSON.parse(data.slice(6)) as { value: BenchEvent };
        if (e.value.seq >= 0 && e.value.sentMs >= 0) sse.push(Date.now() - e.value.sentMs);
      }
    }
  })();
  // One poller, one GET in flight at a time: every outstanding probe whose seq it sees is done.
  const outstanding = new Map<number, { sentMs: number; record: boolean }>();
  let polling = true;
  const poller = (async () => {
    while (polling || outstanding.size > 0) {
      if (outstanding.size > 0) {
        const r = await get('/v1/views/latest/keys/probe');
        if (r.status === 200) {
          const seen = (JSON.parse(r.body) as { value: BenchEvent }).value.seq;
          const now = Date.now();
          for (const [seq, o] of outstanding) {
            if (seq > seen && now - o.sentMs < 10_000) continue;
            if (seq <= seen && o.record) api.push(now - o.sentMs);
            outstanding.delete(seq);
          }
        }
      }
      await new Promise((r2) => setTimeout(r2, 1));
    }
  })();
  const users = 10_000;
  let produced = 0;
  let probeSeq = 0;
  const totalMs = warmupMs + seconds * 1000;
  const start = Date.now();
  const inflight = new Set<Promise<void>>();
  let nextProbeMs = start;
  while (Date.now() - start < totalMs) {
    const now = Date.now();
    measuring = now - start >= warmupMs;
    const due = Math.floor(((now - start) * eventRate) / 1000);
    // If the loop fell behind, catch up in requests of at most MAX_EVENTS_PER_POST (ingest's bound is 10,000).
    while (due > produced) {
      const lines: string[] = [];
      for (const end = Math.min(due, produced + MAX_EVENTS_PER_POST); produced < end; produced++) lines.push(JSON.stringify({ user: `u${produced % users}`, sentMs: now, seq: -1 }));
      const p = post(`${lines.join('\n')}\n`).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    if (now >= nextProbeMs) {
      nextProbeMs += 20;
      const seq = probeSeq++;
      const sentMs = Date.now();
      // Warm-up probes carry a negative time so the SSE side skips them.
      outstanding.set(seq, { sentMs, record: measuring });
      const p = post(`${JSON.stringify({ user: 'probe', sentMs: measuring ? sentMs : -1, seq })}\n`).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(inflight);
  polling = false;
  await poller;
  await new Promise((r) => setTimeout(r, 300));
  await reader.cancel().catch(() => undefined);
  await sseLoop;
  const result: FreshnessResult = { api, sse, probes: api.length, achievedRate: produced / (totalMs / 1000) };
  process.send!(result);
  agent.destroy();
  process.exit(0);
}

function quantile(a: readonly number[], p: number): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

// --- helpers ---------------------------------------------------------------------------------------

function def(name: string, kind: ViewDefinition['kind']): ViewDefinition {
  return { name, kind, pipeline: 'bench', topic: viewTopic(name) };
}

async function announce(log: MemoryLog, d: ViewDefinition): Promise<void> {
  await log.ensureTopic(VIEW_REGISTRY_TOPIC, { partitions: 1 });
  await log.ensureTopic(d.topic, { partitions: 2 });
  await log.produce(VIEW_REGISTRY_TOPIC, [{ key: Buffer.from(d.name), value: Buffer.from(JSON.stringify(d)) }]);
}

const clientAt = process.argv.indexOf('--serving-client');
if (clientAt !== -1) {
  const [url, rate, seconds] = process.argv.slice(clientAt + 1);
  await client(url!, Number(rate), Number(seconds));
}
const freshnessAt = process.argv.indexOf('--serving-freshness-client');
if (freshnessAt !== -1) {
  const [url, rate, seconds] = process.argv.slice(freshnessAt + 1);
  await freshnessClient(url!, Number(rate), Number(seconds));
}
