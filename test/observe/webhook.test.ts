import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { AlertManager } from '../../src/observe/alerts.js';
import { GaugeFamily, registerFamily } from '../../src/observe/families.js';
import { createLogger } from '../../src/observe/logger.js';
import { FreshetMetrics } from '../../src/observe/metrics.js';
import type { AlertFeedEvent, WebhookConfig, WebhookPayload } from '../../src/observe/notifiers.js';
import { freePort, Receiver } from './helpers.js';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/** Log lines as parsed JSON objects. */
function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { lines, logger };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A manager with one threshold rule on `test_value`, a ManualClock and the given webhooks. */
function setup(webhooks: WebhookConfig[]) {
  const clock = new ManualClock(T0);
  const metrics = new FreshetMetrics({ clock });
  const { lines, logger } = captureLogger();
  const alerts = new AlertManager({
    registry: metrics.registry,
    clock,
    logger,
    webhooks,
    externalUrl: 'http://freshet.test:8080',
    rules: [
      {
        name: 'QueueDeep',
        severity: 'critical',
        forMs: 2000,
        labels: { team: 'data' },
        annotations: { summary: 'queue {{ $labels.queue }} holds {{ $value }}', runbook: 'docs/operations.md#queues' },
        condition: { kind: 'threshold', metric: 'test_value', groupBy: ['queue'], op: '>', value: 100 },
      },
    ],
  });
  cleanups.push(() => alerts.stop(1000));
  const gauge = registerFamily(metrics.registry, new GaugeFamily({ name: 'test_value', help: 'x', labelNames: ['queue'] }));
  /** Fires then resolves the alert for queue `q1` (pending at T0+1000, firing at T0+4000, resolved at T0+6000). */
  const fireAndResolve = async () => {
    gauge.child('q1').set(250);
    gauge.child('q2').set(5);
    await alerts.evaluate(); // pending at T0+1000
    clock.advance(1000);
    await alerts.evaluate();
    clock.advance(2000);
    await alerts.evaluate(); // held 2 s: firing
    gauge.child('q1').set(50);
    clock.advance(2000);
    await alerts.evaluate(); // resolved
  };
  clock.advance(1000);
  return { clock, metrics, alerts, gauge, lines, fireAndResolve };
}

async function notificationOutcomes(metrics: FreshetMetrics): Promise<Record<string, number>> {
  const snap = (await metrics.registry.getSingleMetric('freshet_alert_notifications_total')!.get()) as { values: { labels: Record<string, string>; value: number }[] };
  return Object.fromEntries(snap.values.map((v) => [`${v.labels.receiver}/${v.labels.outcome}`, v.value]));
}

describe('alert webhook with a real HTTP receiver', () => {
  it('POSTs firing then resolved, in order, with Alertmanager-style payloads', async () => {
    const receiver = new Receiver();
    await receiver.start();
    cleanups.push(() => receiver.stop());
    const { alerts, metrics, lines, fireAndResolve } = setup([{ url: receiver.url, name: 'ops', headers: { authorization: 'Bearer s3cret' } }]);
    const feed: AlertFeedEvent[] = [];
    alerts.feed.subscribe((e) => feed.push(e));

    await fireAndResolve();
    await receiver.waitFor(2);
    await alerts.flush();

    expect(receiver.requests.map((r) => [r.method, r.url, r.headers['content-type'], r.headers.authorization])).toEqual([
      ['POST', '/hook', 'application/json', 'Bearer s3cret'],
      ['POST', '/hook', 'application/json', 'Bearer s3cret'],
    ]);
    const [firing, resolved] = receiver.bodies<WebhookPayload>();
    const labels = { alertname: 'QueueDeep', severity: 'critical', team: 'data', queue: 'q1' };
    expect(firing).toEqual({
      version: '4',
      groupKey: '{}:{alertname="QueueDeep"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'ops',
      groupLabels: { alertname: 'QueueDeep' },
      commonLabels: labels,
      commonAnnotations: { summary: 'queue q1 holds 250', runbook: 'docs/operations.md#queues' },
      externalURL: 'http://freshet.test:8080',
      alerts: [
        {
          status: 'firing',
          labels,
          annotations: { summary: 'queue q1 holds 250', runbook: 'docs/operations.md#queues' },
          startsAt: '2026-01-01T00:00:01.000Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'http://freshet.test:8080/v1/alerts',
          fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
          value: 250,
        },
      ],
    });
    expect(resolved!.status).toBe('resolved');
    expect(resolved!.alerts[0]).toMatchObject({
      status: 'resolved',
      labels,
      startsAt: '2026-01-01T00:00:01.000Z',
      endsAt: '2026-01-01T00:00:06.000Z',
      fingerprint: firing!.alerts[0]!.fingerprint,
      value: 50,
    });
    expect(resolved!.alerts[0]!.annotations.summary).toBe('queue q1 holds 50');

    // The same transitions reached the log (with the alert's ids) and the dashboard feed.
    const alertLines = lines.filter((l) => l.alert !== undefined);
    expect(alertLines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'alert firing: QueueDeep - queue q1 holds 250'],
      ['info', 'alert resolved: QueueDeep - queue q1 holds 50'],
    ]);
    expect(alertLines[0]!.alert).toMatchObject({ name: 'QueueDeep', status: 'firing', labels, value: 250 });
    expect(feed.map((e) => [e.id, e.status, e.labels.queue])).toEqual([
      [1, 'firing', 'q1'],
      [2, 'resolved', 'q1'],
    ]);
    expect(alerts.feed.recent(10, 1).map((e) => e.id)).toEqual([2]);
    expect(await notificationOutcomes(metrics)).toEqual({ 'ops/delivered': 2 });
  });

  it('retries 5xx and 429 with doubling backoff, and keeps resolved after firing', async () => {
    const receiver = new Receiver([500, 429, 503]);
    await receiver.start();
    cleanups.push(() => receiver.stop());
    const { alerts, metrics, fireAndResolve, lines } = setup([{ url: receiver.url, initialBackoffMs: 40, maxBackoffMs: 1000, maxAttempts: 5 }]);
    await fireAndResolve();
    await receiver.waitFor(5);
    await alerts.flush();
    expect(receiver.bodies<WebhookPayload>().map((b) => b.status)).toEqual(['firing', 'firing', 'firing', 'firing', 'resolved']);
    const at = receiver.requests.map((r) => r.atMs);
    // Backoffs 40, 80, 160 ms (timers fire no earlier than asked; allow 5 ms of clock granularity).
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(35);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(75);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(155);
    expect(await notificationOutcomes(metrics)).toEqual({ 'webhook-0/delivered': 2 });
    const retries = lines.filter((l) => l.msg === 'alert webhook failed: retrying');
    expect(retries.map((l) => [l.code, l.error, l.attempt, l.retryInMs])).toEqual([
      [ErrorCodes.ALERT_NOTIFICATION_FAILED, 'HTTP 500', 1, 40],
      [ErrorCodes.ALERT_NOTIFICATION_FAILED, 'HTTP 429', 2, 80],
      [ErrorCodes.ALERT_NOTIFICATION_FAILED, 'HTTP 503', 3, 160],
    ]);
  });

  it('does not retry a 4xx refusal, and gives up on an unreachable receiver after maxAttempts', async () => {
    const refusing = new Receiver([400]);
    await refusing.start();
    cleanups.push(() => refusing.stop());
    const closedPort = await freePort();
    const { alerts, metrics, fireAndResolve, lines } = setup([
      { url: refusing.url, name: 'refusing' },
      { url: `http://127.0.0.1:${closedPort}/hook`, name: 'down', maxAttempts: 3, initialBackoffMs: 10 },
    ]);
    await fireAndResolve();
    await refusing.waitFor(2);
    await alerts.flush();
    expect(refusing.bodies<WebhookPayload>().map((b) => b.status)).toEqual(['firing', 'resolved']);
    expect(await notificationOutcomes(metrics)).toEqual({ 'refusing/rejected': 1, 'refusing/delivered': 1, 'down/failed': 2 });
    expect(lines.filter((l) => l.msg === 'alert webhook refused the notification').map((l) => [l.receiver, l.error])).toEqual([['refusing', 'HTTP 400']]);
    const gaveUp = lines.filter((l) => l.msg === 'alert webhook failed: giving up');
    expect(gaveUp.map((l) => [l.receiver, l.attempt, l.code])).toEqual([
      ['down', 3, ErrorCodes.ALERT_NOTIFICATION_FAILED],
      ['down', 3, ErrorCodes.ALERT_NOTIFICATION_FAILED],
    ]);
    const down = alerts.webhooks.find((w) => w.name === 'down')!;
    expect(down.lastError).toMatch(/fetch failed|ECONNREFUSED/);
    expect(down.pending).toBe(0);
  });

  it('times out a receiver that never answers', async () => {
    const hanging = http.createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    });
    const port = (hanging.address() as AddressInfo).port;
    const { alerts, metrics, gauge, clock } = setup([{ url: `http://127.0.0.1:${port}/`, name: 'slow', timeoutMs: 100, maxAttempts: 2, initialBackoffMs: 10 }]);
    gauge.child('q').set(1000);
    await alerts.evaluate();
    clock.advance(5000);
    await alerts.evaluate();
    const started = Date.now();
    await alerts.flush(5000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(alerts.webhooks[0]!.lastError).toBe('timed out after 100 ms');
    expect(await notificationOutcomes(metrics)).toEqual({ 'slow/failed': 1 });
  });

  it('refuses an invalid webhook config with FRESHET_INVALID_CONFIG', () => {
    expect(() => setup([{ url: 'ftp://example.com/x' }])).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG }));
    expect(() => setup([{ url: 'http://x', maxAttempts: 1000 }])).toThrow(/maxAttempts/);
  });
});
