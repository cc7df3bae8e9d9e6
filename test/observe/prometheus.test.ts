import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { Observability } from '../../src/observe/observability.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';
import { TempDirs } from '../helpers/temp-dir.js';
import { freePort } from './helpers.js';

/**
 * A real Prometheus server (Debian's `prometheus` package) scrapes a real Freshet server over HTTP,
 * and its query API must return Freshet's values: the proof that `/metrics` is valid exposition format,
 * label escaping included.
 */
const PROMETHEUS = '/usr/bin/prometheus';
const hasPrometheus = fs.existsSync(PROMETHEUS);
if (!hasPrometheus) console.warn(`SKIPPED test/observe/prometheus.test.ts: ${PROMETHEUS} is absent (apt-get install -y prometheus)`);

const WEIRD_OPERATOR = 'quote" back\\slash\nnewline';

interface Target {
  health: string;
  lastError: string;
  lastScrape: string;
  labels: Record<string, string>;
  scrapeUrl: string;
}

describe.skipIf(!hasPrometheus)('a real Prometheus scraping Freshet', () => {
  const dirs = new TempDirs();
  let server: FreshetServer;
  let observe: Observability;
  let prometheus: ChildProcess;
  let promUrl = '';
  let promLog = '';

  beforeAll(async () => {
    observe = new Observability({
      logger: null,
      processMetrics: true,
      alerts: { rules: [{ name: 'ManyRecords', severity: 'info', condition: { kind: 'threshold', metric: 'freshet_operator_records_in_total', match: { pipeline: 'orders' }, op: '>', value: 1000 } }] },
    });
    server = createServer({ log: new MemoryLog(), observe });
    const freshetUrl = await server.listen({ port: 0 });

    // What a running pipeline would report.
    const pm = observe.metrics.pipeline('orders');
    pm.operator('window').batch(1000, 10, 2.5);
    pm.operator('window').batch(234, 3, 1.5);
    pm.operator('window').watermark(Date.now() - 5_000);
    pm.operator('window').lateEvents(7, 'side-output');
    pm.latency('revenue-view', 'ingest').observe(new Float64Array(100).fill(40)); // 40 ms each
    pm.latency('revenue-view', 'event').observeSince(Date.now(), [Date.now() - 61_000, Date.now() - 65_000]);
    pm.registerLagSource(() => [{ topic: 'orders', partition: 3, lagRecords: 42, lagSeconds: 1.5 }]);
    pm.qualityChecks('orders-source', 'amount-positive', 90, 10);
    pm.deadLetters('orders-source', 'FRESHET_SCHEMA_VIOLATION', 10);
    pm.checkpointCompleted(12, 4096);
    pm.viewUpdated('revenue-view', Date.now());
    observe.metrics.pipeline('escaping').operator(WEIRD_OPERATOR).batch(5, 5, 0.1);
    await observe.alerts.evaluate();
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${freshetUrl}/v1/topics/clicks/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"ann"}' });
      expect(response.status).toBe(200);
    }

    const dir = dirs.make('freshet-prometheus-');
    const freshetPort = new URL(freshetUrl).port;
    const configFile = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(
      configFile,
      ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', '  - job_name: freshet', '    static_configs:', `      - targets: ['127.0.0.1:${freshetPort}']`, ''].join('\n'),
    );
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(
      PROMETHEUS,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
  });

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await server?.close();
    await observe?.close();
    dirs.cleanup();
  });

  /** Polls Prometheus until its target has been scraped twice (so every series exists), or fails with its log. */
  async function waitForScrapes(): Promise<Target> {
    const deadline = Date.now() + 30_000;
    let firstScrape = '';
    for (;;) {
      try {
        const body = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as { data: { activeTargets: Target[] } };
        const target = body.data.activeTargets[0];
        if (target !== undefined && target.lastScrape !== '0001-01-01T00:00:00Z' && target.health !== 'unknown') {
          if (firstScrape === '') firstScrape = target.lastScrape;
          else if (target.lastScrape !== firstScrape) return target;
        }
      } catch {
        // not listening yet
      }
      if (prometheus.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus did not scrape (exit ${prometheus.exitCode}):\n${promLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    expect(body.status, body.error).toBe('success');
    return body.data.result;
  }

  async function single(promql: string): Promise<number> {
    const result = await query(promql);
    expect(result, `${promql} returned ${JSON.stringify(result)}`).toHaveLength(1);
    return Number(result[0]!.value[1]);
  }

  it('scrapes /metrics without errors and answers queries with Freshet’s values', async () => {
    const target = await waitForScrapes();
    expect(target.health).toBe('up');
    expect(target.lastError).toBe('');
    expect(target.scrapeUrl).toMatch(/\/metrics$/);

    expect(await single('up{job="freshet"}')).toBe(1);
    expect(await single('freshet_operator_records_in_total{pipeline="orders",operator="window"}')).toBe(1234);
    expect(await single('freshet_operator_records_out_total{pipeline="orders",operator="window"}')).toBe(13);
    expect(await single('freshet_operator_batch_duration_seconds_count{pipeline="orders",operator="window"}')).toBe(2);
    expect(await single('freshet_operator_batch_duration_seconds_sum{pipeline="orders",operator="window"}')).toBeCloseTo(0.004, 9);
    expect(await single('freshet_late_events_total{pipeline="orders",handling="side-output"}')).toBe(7);
    expect(await single('freshet_consumer_lag_records{pipeline="orders",topic="orders",partition="3"}')).toBe(42);
    expect(await single('freshet_consumer_lag_seconds{pipeline="orders",topic="orders",partition="3"}')).toBe(1.5);
    expect(await single('freshet_quality_checks_total{check="amount-positive",outcome="fail"}')).toBe(10);
    expect(await single('freshet_dead_letters_total{reason="FRESHET_SCHEMA_VIOLATION"}')).toBe(10);
    expect(await single('freshet_checkpoint_size_bytes{pipeline="orders"}')).toBe(4096);
    expect(await single('freshet_checkpoints_total{pipeline="orders",outcome="completed"}')).toBe(1);
    expect(await single('freshet_alerts{alertname="ManyRecords",alertstate="firing"}')).toBe(1);
    expect(await single('freshet_watermark_lag_seconds{pipeline="orders"}')).toBeGreaterThan(4);
    expect(await single('freshet_view_freshness_seconds{view="revenue-view"}')).toBeGreaterThanOrEqual(0);

    // Histograms: PromQL's own quantile over Freshet's buckets (100 values of 40 ms lie in (25 ms, 50 ms]).
    const p90 = await single('histogram_quantile(0.9, freshet_end_to_end_latency_seconds_bucket{pipeline="orders",stage="revenue-view"})');
    expect(p90).toBeGreaterThan(0.025);
    expect(p90).toBeLessThanOrEqual(0.05);
    const eventP50 = await single('histogram_quantile(0.5, freshet_event_time_latency_seconds_bucket{pipeline="orders"})');
    expect(eventP50).toBeGreaterThan(60);
    expect(eventP50).toBeLessThanOrEqual(120);

    // HTTP request metrics by route pattern (3 ingests), and the scrapes themselves.
    expect(await single('freshet_http_requests_total{method="POST",route="/v1/topics/:topic/events",status="200"}')).toBe(3);
    expect(await single('freshet_http_requests_total{method="GET",route="/metrics",status="200"}')).toBeGreaterThanOrEqual(1);

    // Label escaping survives the round trip.
    const weird = await query('freshet_operator_records_in_total{pipeline="escaping"}');
    expect(weird).toHaveLength(1);
    expect(weird[0]!.metric.operator).toBe(WEIRD_OPERATOR);

    // prom-client's process metrics come through the same registry.
    expect((await query('process_resident_memory_bytes{job="freshet"}')).length).toBe(1);
    expect(await single('scrape_samples_scraped{job="freshet"}')).toBeGreaterThan(100);
  });
});
