import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { FreshetHeaders } from '../../src/core/headers.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { CounterFamily, GaugeFamily, HistogramFamily, OVERFLOW_LABEL_VALUE, registerFamily } from '../../src/observe/families.js';
import { logLagSource } from '../../src/observe/lag.js';
import { LATENCY_BUCKETS_SECONDS, FreshetMetrics, MetricNames } from '../../src/observe/metrics.js';
import { noopPipelineMetrics } from '../../src/observe/pipeline-metrics.js';
import { TempDirs } from '../helpers/temp-dir.js';

const T0 = 1_767_225_600_000;

interface JsonMetric {
  name: string;
  type: string;
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

async function json(metrics: FreshetMetrics, name: string): Promise<JsonMetric> {
  const all = (await metrics.registry.getMetricsAsJSON()) as unknown as JsonMetric[];
  const found = all.find((m) => m.name === name);
  if (found === undefined) throw new Error(`no metric ${name}`);
  return found;
}

/** Value of the sample with exactly these labels (and metricName, for histograms). */
async function valueOf(metrics: FreshetMetrics, name: string, labels: Record<string, string>, metricName?: string): Promise<number | undefined> {
  const m = await json(metrics, name);
  return m.values.find((v) => (metricName === undefined || v.metricName === metricName) && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x) && Object.keys(v.labels).length === Object.keys(labels).length)?.value;
}

describe('FreshetMetrics', () => {
  it('keeps its own registry per instance (never the global one)', async () => {
    const a = new FreshetMetrics();
    const b = new FreshetMetrics();
    a.operatorBatch('p', 'o', 5, 5, 1);
    expect(a.registry).not.toBe(b.registry);
    expect(await valueOf(a, MetricNames.recordsIn, { pipeline: 'p', operator: 'o' })).toBe(5);
    expect(await valueOf(b, MetricNames.recordsIn, { pipeline: 'p', operator: 'o' })).toBeUndefined();
    const { register } = await import('prom-client');
    expect(register.getSingleMetric(MetricNames.recordsIn)).toBeUndefined();
  });

  it('reports every family through PipelineMetrics handles', async () => {
    const clock = new ManualClock(T0);
    const metrics = new FreshetMetrics({ clock });
    const pm = metrics.pipeline('orders');
    expect(metrics.pipeline('orders')).toBe(pm);
    const window = pm.operator('window');
    expect(pm.operator('window')).toBe(window);
    window.batch(100, 4, 2);
    window.batch(50, 1, 0.5);
    window.errors(3, 'FRESHET_INTERNAL');
    window.lateEvents(2, 'accepted');
    window.lateEvents(1, 'side-output');
    window.watermark(T0 - 7_000);
    pm.latency('revenue', 'ingest').observeSince(T0, [T0 - 20, T0 - 30, T0 - 2_000]);
    pm.latency('revenue', 'event').observe([65_000], 0, 1);
    pm.deadLetters('source', 'FRESHET_SCHEMA_VIOLATION', 4);
    pm.deadLetters('source', 'FRESHET_SCHEMA_VIOLATION', 1);
    pm.qualityChecks('source', 'amount-positive', 95, 5);
    pm.qualityChecks('source', 'amount-positive', 10, 0);
    pm.checkpointCompleted(250, 8192);
    pm.checkpointFailed(1000);
    pm.viewUpdated('revenue', T0 - 3_000);
    clock.advance(1_000);

    const labels = { pipeline: 'orders', operator: 'window' };
    expect(await valueOf(metrics, MetricNames.recordsIn, labels)).toBe(150);
    expect(await valueOf(metrics, MetricNames.recordsOut, labels)).toBe(5);
    expect(await valueOf(metrics, MetricNames.batchDuration, labels, `${MetricNames.batchDuration}_count`)).toBe(2);
    expect(await valueOf(metrics, MetricNames.batchDuration, labels, `${MetricNames.batchDuration}_sum`)).toBeCloseTo(0.0025, 12);
    expect(await valueOf(metrics, MetricNames.operatorErrors, { ...labels, code: 'FRESHET_INTERNAL' })).toBe(3);
    expect(await valueOf(metrics, MetricNames.lateEvents, { ...labels, handling: 'accepted' })).toBe(2);
    expect(await valueOf(metrics, MetricNames.lateEvents, { ...labels, handling: 'side-output' })).toBe(1);
    expect(await valueOf(metrics, MetricNames.watermarkLag, labels)).toBe(8); // computed at scrape time: 7 s + 1 s
    const stage = { pipeline: 'orders', stage: 'revenue' };
    expect(await valueOf(metrics, MetricNames.endToEndLatency, { ...stage, le: '0.025' }, `${MetricNames.endToEndLatency}_bucket`)).toBe(1);
    expect(await valueOf(metrics, MetricNames.endToEndLatency, { ...stage, le: '0.05' }, `${MetricNames.endToEndLatency}_bucket`)).toBe(2);
    expect(await valueOf(metrics, MetricNames.endToEndLatency, { ...stage, le: '+Inf' }, `${MetricNames.endToEndLatency}_bucket`)).toBe(3);
    expect(await valueOf(metrics, MetricNames.endToEndLatency, stage, `${MetricNames.endToEndLatency}_sum`)).toBeCloseTo(2.05, 12);
    expect(await valueOf(metrics, MetricNames.eventTimeLatency, { ...stage, le: '60' }, `${MetricNames.eventTimeLatency}_bucket`)).toBe(0);
    expect(await valueOf(metrics, MetricNames.eventTimeLatency, { ...stage, le: '120' }, `${MetricNames.eventTimeLatency}_bucket`)).toBe(1);
    expect(await valueOf(metrics, MetricNames.deadLetters, { pipeline: 'orders', stage: 'source', reason: 'FRESHET_SCHEMA_VIOLATION' })).toBe(5);
    expect(await valueOf(metrics, MetricNames.qualityChecks, { pipeline: 'orders', stage: 'source', check: 'amount-positive', outcome: 'pass' })).toBe(105);
    expect(await valueOf(metrics, MetricNames.qualityChecks, { pipeline: 'orders', stage: 'source', check: 'amount-positive', outcome: 'fail' })).toBe(5);
    expect(await valueOf(metrics, MetricNames.checkpoints, { pipeline: 'orders', outcome: 'completed' })).toBe(1);
    expect(await valueOf(metrics, MetricNames.checkpoints, { pipeline: 'orders', outcome: 'failed' })).toBe(1);
    expect(await valueOf(metrics, MetricNames.checkpointSize, { pipeline: 'orders' })).toBe(8192);
    expect(await valueOf(metrics, MetricNames.checkpointDuration, { pipeline: 'orders' }, `${MetricNames.checkpointDuration}_sum`)).toBe(1.25);
    expect(await valueOf(metrics, MetricNames.viewFreshness, { pipeline: 'orders', view: 'revenue' })).toBe(4);
    metrics.ingestEvents('orders', 98, 2);
    metrics.ingestEvents('orders', 10, 0);
    expect(await valueOf(metrics, MetricNames.ingestEvents, { topic: 'orders', outcome: 'accepted' })).toBe(108);
    expect(await valueOf(metrics, MetricNames.ingestEvents, { topic: 'orders', outcome: 'rejected' })).toBe(2);
  });

  it('refuses impossible counter increments and unknown latency origins with coded errors', () => {
    const pm = new FreshetMetrics().pipeline('p');
    expect(() => pm.operator('o').batch(-1, 0, 0)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => pm.operator('o').batch(Number.NaN, 0, 0)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => pm.latency('s', 'wall' as 'event')).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => new CounterFamily({ name: 'bad-name', help: '', labelNames: [] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => new CounterFamily({ name: 'ok_total', help: '', labelNames: ['le'] })).toThrow(/label name/);
    expect(() => new HistogramFamily({ name: 'h', help: '', labelNames: [], buckets: [1, 1] })).toThrow(/strictly increasing/);
  });

  it('collapses label combinations past the series bound into one _overflow series, counted', async () => {
    const metrics = new FreshetMetrics({ maxSeriesPerFamily: 3 });
    for (let i = 0; i < 10; i++) metrics.operatorBatch('p', `op-${i}`, 1, 1, 0);
    const m = await json(metrics, MetricNames.recordsIn);
    expect(m.values.map((v) => [v.labels.operator, v.value])).toEqual([
      ['op-0', 1],
      ['op-1', 1],
      ['op-2', 1],
      [OVERFLOW_LABEL_VALUE, 7],
    ]);
    expect(await valueOf(metrics, MetricNames.seriesOverflow, { metric: MetricNames.recordsIn })).toBe(1);
  });

  it('resetMetrics zeroes series in place: cached handles keep reporting', async () => {
    const metrics = new FreshetMetrics();
    const op = metrics.pipeline('p').operator('o');
    op.batch(5, 5, 1);
    metrics.registry.resetMetrics();
    expect(await valueOf(metrics, MetricNames.recordsIn, { pipeline: 'p', operator: 'o' })).toBe(0);
    op.batch(2, 2, 1);
    expect(await valueOf(metrics, MetricNames.recordsIn, { pipeline: 'p', operator: 'o' })).toBe(2);
    expect(await valueOf(metrics, MetricNames.batchDuration, { pipeline: 'p', operator: 'o' }, `${MetricNames.batchDuration}_count`)).toBe(1);
  });

  it('the no-op PipelineMetrics accepts every call and records nothing', () => {
    const op = noopPipelineMetrics.operator('x');
    op.batch(1, 1, 1);
    op.errors(1, 'E');
    op.lateEvents(1, 'dropped');
    op.watermark(1);
    noopPipelineMetrics.latency('s', 'ingest').observe([1]);
    noopPipelineMetrics.latency('s', 'event').observeSince(1, [0]);
    noopPipelineMetrics.deadLetters('s', 'r', 1);
    noopPipelineMetrics.qualityChecks('s', 'c', 1, 1);
    noopPipelineMetrics.checkpointCompleted(1, 1);
    noopPipelineMetrics.checkpointFailed(1);
    noopPipelineMetrics.viewUpdated('v', 1);
    noopPipelineMetrics.registerLagSource(() => [])();
  });
});

describe('histogram buckets vs a brute-force count', () => {
  it('observeMany / observeAgesMany put every value where Prometheus le semantics say', async () => {
    const buckets = [0.001, 0.01, 0.1, 1, 10];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom(...buckets.map((b) => b * 1000)), fc.constant(Number.POSITIVE_INFINITY)), { maxLength: 200 }),
        fc.nat(20),
        async (valuesMs, skip) => {
          const family = new HistogramFamily({ name: 'h_seconds', help: 'h', labelNames: ['k'], buckets });
          const start = Math.min(skip, valuesMs.length);
          family.child('many').observeMany(valuesMs, 0.001, start, valuesMs.length);
          family.child('ages').observeAgesMany(1e6, valuesMs.map((v) => 1e6 - v), 0.001, start, valuesMs.length);
          const single = family.child('single');
          for (const v of valuesMs.slice(start)) single.observe(v * 0.001);
          const used = valuesMs.slice(start).map((v) => v * 0.001).filter(Number.isFinite);
          const snap = await family.get();
          for (const k of ['many', 'single', 'ages']) {
            const of = snap.values.filter((v) => v.labels.k === k);
            // The ages child computes (1e6 - (1e6 - v)) * 0.001: allow float noise at bucket edges only there.
            if (k !== 'ages') {
              for (const b of buckets) expect(of.find((v) => v.labels.le === b)!.value).toBe(used.filter((u) => u <= b).length);
            }
            expect(of.find((v) => v.labels.le === '+Inf')!.value).toBe(used.length);
            expect(of.find((v) => v.metricName === 'h_seconds_count')!.value).toBe(used.length);
            expect(of.find((v) => v.metricName === 'h_seconds_sum')!.value).toBeCloseTo(used.reduce((s, u) => s + u, 0), 6);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('default latency buckets are increasing and span 1 ms to 1 h', () => {
    expect(LATENCY_BUCKETS_SECONDS[0]).toBe(0.001);
    expect(LATENCY_BUCKETS_SECONDS.at(-1)).toBe(3600);
  });
});

describe('lag sources (pulled at scrape time)', () => {
  it('computes lag in records and seconds from a real log, only when scraped', async () => {
    const clock = new ManualClock(T0);
    const log = new MemoryLog(clock);
    await log.createTopic('orders', { partitions: 2 });
    const ingestHeader = (ms: number) => [{ key: FreshetHeaders.INGEST_MS, value: Buffer.from(String(ms)) }];
    // Event times are old (T0 - 1 h); the ingest header says when they arrived: lag seconds uses the latter.
    await log.append('orders', 0, [
      { value: Buffer.from('a'), timestampMs: T0 - 3_600_000, headers: ingestHeader(T0 - 30_000) },
      { value: Buffer.from('b'), timestampMs: T0 - 3_600_000, headers: ingestHeader(T0 - 20_000) },
      { value: Buffer.from('c'), timestampMs: T0 - 3_600_000, headers: ingestHeader(T0 - 10_000) },
    ]);
    await log.append('orders', 1, [{ value: Buffer.from('d'), timestampMs: T0 - 5_000 }]);
    const positions = [
      { topic: 'orders', partition: 0, offset: 1 },
      { topic: 'orders', partition: 1, offset: 1 },
    ];
    const metrics = new FreshetMetrics({ clock });
    let calls = 0;
    const source = logLagSource(log, () => positions, clock);
    const remove = metrics.pipeline('revenue').registerLagSource(async () => {
      calls++;
      return source();
    });
    expect(calls).toBe(0);
    const text = await metrics.text();
    expect(calls).toBe(1); // both lag gauges share one run per scrape
    expect(text).toContain('freshet_consumer_lag_records{pipeline="revenue",topic="orders",partition="0"} 2');
    expect(text).toContain('freshet_consumer_lag_seconds{pipeline="revenue",topic="orders",partition="0"} 20');
    expect(text).toContain('freshet_consumer_lag_records{pipeline="revenue",topic="orders",partition="1"} 0');
    expect(text).toContain('freshet_consumer_lag_seconds{pipeline="revenue",topic="orders",partition="1"} 0');

    positions[0] = { topic: 'orders', partition: 0, offset: 0 };
    clock.advance(5_000);
    expect(await valueOf(metrics, MetricNames.consumerLagSeconds, { pipeline: 'revenue', topic: 'orders', partition: '0' })).toBe(35);
    expect(calls).toBe(2);

    remove();
    expect((await json(metrics, MetricNames.consumerLagRecords)).values).toEqual([]);
  });

  it('falls back to the record timestamp on an embedded log without ingest headers', async () => {
    const dirs = new TempDirs();
    const log = await EmbeddedLog.open({ dataDir: dirs.make() });
    try {
      await log.createTopic('t', { partitions: 1 });
      const clock = new ManualClock(T0);
      await log.append('t', 0, [{ value: Buffer.from('x'), timestampMs: T0 - 2_500 }, { value: Buffer.from('y'), timestampMs: T0 - 1_000 }]);
      const lags = await logLagSource(log, () => [{ topic: 't', partition: 0, offset: 0 }], clock)();
      expect(lags).toEqual([{ topic: 't', partition: 0, lagRecords: 2, lagSeconds: 2.5 }]);
    } finally {
      await log.close();
      dirs.cleanup();
    }
  });

  it('a failing or hanging lag source is skipped and counted; the scrape still answers', async () => {
    const metrics = new FreshetMetrics({ lagSourceTimeoutMs: 50 });
    metrics.pipeline('bad').registerLagSource(() => {
      throw new Error('boom');
    });
    metrics.pipeline('slow').registerLagSource(() => new Promise(() => {}));
    metrics.pipeline('good').registerLagSource(() => [{ topic: 't', partition: 0, lagRecords: 7 }]);
    const text = await metrics.text();
    expect(text).toContain('freshet_consumer_lag_records{pipeline="good",topic="t",partition="0"} 7');
    expect(text).not.toContain('freshet_consumer_lag_seconds{pipeline="good"');
    expect(text).toContain('freshet_lag_source_failures_total{pipeline="bad"} 1');
    expect(text).toContain('freshet_lag_source_failures_total{pipeline="slow"} 1');
  });

  it('other subsystems can add their own families to the same registry', async () => {
    const metrics = new FreshetMetrics();
    const g = registerFamily(metrics.registry, new GaugeFamily({ name: 'freshet_serving_views', help: 'Views.', labelNames: [] }));
    g.child().set(3);
    expect(await metrics.text()).toContain('freshet_serving_views 3');
  });
});
