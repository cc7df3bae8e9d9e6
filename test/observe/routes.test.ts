import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import type { AlertRuleState } from '../../src/observe/alerts.js';
import type { AlertFeedEvent } from '../../src/observe/notifiers.js';
import { Observability } from '../../src/observe/observability.js';
import { parseAlertsConfig } from '../../src/observe/observability.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';

const T0 = 1_767_225_600_000;
const servers: FreshetServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function start(observe?: Observability, auth = false): FreshetServer {
  const server = createServer({ log: new MemoryLog(), ...(observe ? { observe } : {}), ...(auth ? { auth: { bearerToken: 'tok' } } : {}) });
  servers.push(server);
  return server;
}

describe('observe routes on the Freshet server', () => {
  it('serves /metrics in Prometheus text format and counts requests by route pattern and status', async () => {
    const observe = new Observability({ logger: null, processMetrics: false });
    const server = start(observe, true);
    const url = await server.listen({ port: 0 });
    await fetch(`${url}/healthz`);
    await fetch(`${url}/no/such/thing/${Math.random()}`);
    await fetch(`${url}/v1/topics/t1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }); // 401: no token
    await fetch(`${url}/v1/topics/t2/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer tok' }, body: '{"a":1}' });

    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toContain('freshet_http_requests_total{method="GET",route="/healthz",status="200"} 1');
    expect(text).toContain('freshet_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).toContain('freshet_http_requests_total{method="POST",route="/v1/topics/:topic/events",status="401"} 1');
    expect(text).toContain('freshet_http_requests_total{method="POST",route="/v1/topics/:topic/events",status="200"} 1');
    expect(text).toMatch(/freshet_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 1/);
    // /metrics and /v1/alerts stay open when ingest requires a token (as /healthz does).
    expect((await fetch(`${url}/v1/alerts`)).status).toBe(200);
  });

  it('GET /v1/alerts lists rules with their state, instances, receivers and recent notifications', async () => {
    const clock = new ManualClock(T0);
    const observe = new Observability({
      logger: null,
      processMetrics: false,
      clock,
      alerts: parseAlertsConfig({
        evaluationIntervalMs: 1000,
        webhooks: [{ url: 'http://127.0.0.1:9/never', name: 'ops', maxAttempts: 1 }],
        rules: [
          { name: 'TooManyErrors', severity: 'critical', forMs: 0, condition: { kind: 'threshold', metric: 'freshet_operator_errors_total', groupBy: ['pipeline'], op: '>', value: 0 } },
          { name: 'Quiet', condition: { kind: 'absent', metric: 'freshet_operator_records_in_total', match: { pipeline: 'orders' }, windowMs: 60_000 } },
        ],
      }),
    });
    const server = start(observe);
    observe.metrics.pipeline('orders').operator('map').errors(2, 'FRESHET_INTERNAL');
    observe.metrics.pipeline('orders').operator('map').batch(10, 10, 1);
    await observe.alerts.evaluate();
    await observe.alerts.flush(5000); // the receiver is unreachable: one attempt, then given up

    const response = await server.app.inject({ method: 'GET', url: '/v1/alerts' });
    expect(response.statusCode).toBe(200);
    const body = response.json() as { lastEvaluationMs: number; rules: AlertRuleState[]; receivers: unknown[]; recent: AlertFeedEvent[] };
    expect(body.lastEvaluationMs).toBe(T0);
    expect(body.rules.map((r) => [r.name, r.severity, r.state])).toEqual([
      ['TooManyErrors', 'critical', 'firing'],
      ['Quiet', 'warning', 'inactive'],
    ]);
    expect(body.rules[0]!.expr).toBe('sum by (pipeline) (freshet_operator_errors_total) > 0');
    expect(body.rules[0]!.instances).toEqual([
      expect.objectContaining({ groupLabels: { pipeline: 'orders' }, state: 'firing', value: 2, activeAtMs: T0, firedAtMs: T0, resolvedAtMs: null }),
    ]);
    expect(body.receivers).toEqual([{ name: 'ops', pending: 0, lastError: expect.stringMatching(/fetch failed|ECONNREFUSED/) }]);
    expect(body.recent.map((e) => [e.id, e.alertname, e.status])).toEqual([[1, 'TooManyErrors', 'firing']]);

    const events = (await server.app.inject({ method: 'GET', url: '/v1/alerts/events?after=1' })).json() as { events: unknown[] };
    expect(events.events).toEqual([]);
    await observe.close(100);
  });

  it('without an observe option there is no /metrics route', async () => {
    const server = start();
    expect((await server.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });

  it('refuses an observe option that is not an Observability, and a bad alerts section', () => {
    expect(() => createServer({ log: new MemoryLog(), observe: {} as Observability })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG }));
    expect(() => parseAlertsConfig({ rules: [{ name: 'x' }], extra: 1 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG, message: expect.stringMatching(/alerts\.rules\.0\.condition.*alerts: Unrecognized key|alerts\.rules\.0\.condition/) }));
  });
});
