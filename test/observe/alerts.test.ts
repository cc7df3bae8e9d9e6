import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { FreshetError } from '../../src/core/errors.js';
import type { AlertRuleConfig } from '../../src/observe/alert-rules.js';
import { parseAlertRules, ratePerSecond } from '../../src/observe/alert-rules.js';
import { AlertManager, RESOLVED_RETENTION_MS } from '../../src/observe/alerts.js';
import { GaugeFamily, registerFamily } from '../../src/observe/families.js';
import { FreshetMetrics } from '../../src/observe/metrics.js';
import type { AlertNotification, AlertNotifier } from '../../src/observe/notifiers.js';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/** Collects notifications in order. */
class Capture implements AlertNotifier {
  readonly name = 'capture';
  readonly seen: AlertNotification[] = [];
  notify(n: AlertNotification): void {
    this.seen.push(n);
  }
  statuses(): string[] {
    return this.seen.map((n) => `${n.status}@${n.atMs - T0}`);
  }
}

function setup(rules: AlertRuleConfig[], evaluationIntervalMs = 1000) {
  const clock = new ManualClock(T0);
  const metrics = new FreshetMetrics({ clock });
  const capture = new Capture();
  const alerts = new AlertManager({ registry: metrics.registry, rules, clock, evaluationIntervalMs, notifiers: [capture], logger: null });
  const gauge = registerFamily(metrics.registry, new GaugeFamily({ name: 'test_value', help: 'test', labelNames: ['pipeline', 'topic'] }));
  /** Advances the clock by `ms`, then evaluates. */
  const tick = async (ms: number) => {
    clock.advance(ms);
    await alerts.evaluate();
  };
  const state = (name = rules[0]!.name) => alerts.list().find((r) => r.name === name)!.state;
  return { clock, metrics, capture, alerts, gauge, tick, state };
}

describe('alert rules: validation', () => {
  function codeOf(fn: () => unknown): string {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(FreshetError);
      return `${(error as FreshetError).code}: ${(error as FreshetError).message}`;
    }
    throw new Error('expected an error');
  }

  it('resolves defaults and describes the condition', () => {
    const [rule] = parseAlertRules([
      { name: 'LagHigh', condition: { kind: 'threshold', metric: 'freshet_consumer_lag_records', match: { pipeline: 'p', topic: { re: 'o.*' } }, groupBy: ['topic'], op: '>', value: 10 } },
    ]);
    expect(rule).toMatchObject({ name: 'LagHigh', severity: 'warning', forMs: 0, aggregate: 'sum', groupBy: ['topic'] });
    expect(rule!.expr).toBe('sum by (topic) (freshet_consumer_lag_records{pipeline="p",topic=~"o.*"}) > 10');
  });

  it('refuses bad rules with FRESHET_INVALID_CONFIG, listing every problem', () => {
    const message = codeOf(() =>
      parseAlertRules([
        { name: 'A', condition: { kind: 'threshold', metric: 'x', op: '>', value: 1 } },
        { name: 'A', labels: { severity: 'x' }, condition: { kind: 'threshold', metric: 'x', match: { l: { re: '(' } }, op: '>', value: 1 } },
      ]),
    );
    expect(message).toMatch(/^FRESHET_INVALID_CONFIG/);
    expect(message).toContain("duplicate alert name 'A'");
    expect(message).toContain('1.labels.severity');
    expect(message).toContain('1.condition.match.l');
    expect(codeOf(() => parseAlertRules([{ name: 'B', condition: { kind: 'nope', metric: 'x' } }]))).toMatch(/^FRESHET_INVALID_CONFIG.*0\.condition/);
    expect(codeOf(() => parseAlertRules([{ name: '1bad', condition: { kind: 'absent', metric: 'x' } }]))).toMatch(/0\.name/);
    expect(codeOf(() => parseAlertRules([{ name: 'C', condition: { kind: 'absent', metric: 'bad-name' } }]))).toMatch(/0\.condition\.metric/);
    expect(codeOf(() => parseAlertRules([{ name: 'D', forMs: -1, condition: { kind: 'absent', metric: 'x' } }]))).toMatch(/0\.forMs/);
    expect(codeOf(() => parseAlertRules([{ name: 'E', condition: { kind: 'absent', metric: 'x', groupBy: ['a'] } } as unknown as AlertRuleConfig]))).toMatch(/groupBy|Unrecognized/);
    // A rate window that cannot hold two samples at the evaluation interval.
    expect(codeOf(() => setup([{ name: 'F', condition: { kind: 'rate', metric: 'x', windowMs: 1500, op: '>', value: 1 } }], 1000))).toMatch(/twice evaluationIntervalMs/);
  });

  it('computes a counter rate over resets', () => {
    expect(ratePerSecond([{ tMs: 0, value: 10 }])).toBeNull();
    expect(ratePerSecond([{ tMs: 0, value: 10 }, { tMs: 2000, value: 30 }])).toBe(10);
    // 10 → 30 (+20), reset to 5 (+5): 25 over 5 s.
    expect(ratePerSecond([{ tMs: 0, value: 10 }, { tMs: 2000, value: 30 }, { tMs: 5000, value: 5 }])).toBe(5);
  });
});

describe('alert state machine (ManualClock)', () => {
  it('threshold held forMs: inactive → pending → firing → resolved, a blip shorter than forMs never fires', async () => {
    const { gauge, tick, state, capture, alerts } = setup([
      { name: 'High', forMs: 3000, severity: 'critical', labels: { team: 'data' }, annotations: { summary: '{{ $labels.alertname }} at {{ $value }}' }, condition: { kind: 'threshold', metric: 'test_value', op: '>', value: 5 } },
    ]);
    const v = gauge.child('a', 'x');
    v.set(1);
    await tick(0);
    expect(state()).toBe('inactive');
    v.set(9); // blip: true for 2 s only
    await tick(1000);
    expect(state()).toBe('pending');
    await tick(2000);
    expect(state()).toBe('pending');
    v.set(2);
    await tick(1000);
    expect(state()).toBe('inactive');
    expect(capture.seen).toEqual([]);

    v.set(7);
    await tick(1000); // t=5000 pending since 5000
    await tick(2000); // 2 s held
    expect(state()).toBe('pending');
    await tick(1000); // 3 s held: fires
    expect(state()).toBe('firing');
    await tick(1000);
    expect(state()).toBe('firing'); // no second notification
    v.set(5); // 5 > 5 is false
    await tick(1000);
    expect(state()).toBe('resolved');
    expect(capture.statuses()).toEqual(['firing@8000', 'resolved@10000']);
    const [firing, resolved] = capture.seen;
    expect(firing!.labels).toEqual({ alertname: 'High', severity: 'critical', team: 'data' });
    expect(firing!.annotations.summary).toBe('High at 7');
    expect(firing!.startsAtMs).toBe(T0 + 5000);
    expect(firing!.endsAtMs).toBeNull();
    expect(resolved!.endsAtMs).toBe(T0 + 10_000);
    expect(resolved!.value).toBe(5);
    expect(resolved!.fingerprint).toBe(firing!.fingerprint);
    const listed = alerts.list()[0]!;
    expect(listed.instances[0]).toMatchObject({ state: 'resolved', activeAtMs: T0 + 5000, firedAtMs: T0 + 8000, resolvedAtMs: T0 + 10_000, value: 5 });
    // Resolved is remembered for RESOLVED_RETENTION_MS, then the rule reads inactive.
    await tick(RESOLVED_RETENTION_MS);
    expect(state()).toBe('inactive');
  });

  it('forMs 0 fires on the first true evaluation; no series means no value (condition false)', async () => {
    const { gauge, tick, state, capture } = setup([{ name: 'Any', condition: { kind: 'threshold', metric: 'test_value', aggregate: 'max', op: '>=', value: 0 } }]);
    await tick(0);
    expect(state()).toBe('inactive');
    gauge.child('a', 'x').set(0);
    await tick(1000);
    expect(state()).toBe('firing');
    gauge.remove('a', 'x');
    await tick(1000);
    expect(state()).toBe('resolved');
    expect(capture.seen.map((n) => [n.status, n.value])).toEqual([
      ['firing', 0],
      ['resolved', null],
    ]);
  });

  it('groupBy: one instance per group, each with its own labels and state', async () => {
    const { gauge, tick, alerts, capture } = setup([{ name: 'PerPipeline', condition: { kind: 'threshold', metric: 'test_value', groupBy: ['pipeline'], op: '>', value: 10 } }]);
    gauge.child('a', 'x').set(6);
    gauge.child('a', 'y').set(6); // a sums to 12
    gauge.child('b', 'x').set(3);
    await tick(1000);
    const rule = alerts.list()[0]!;
    expect(rule.state).toBe('firing');
    expect(rule.instances.map((i) => [i.groupLabels, i.state, i.value])).toEqual([[{ pipeline: 'a' }, 'firing', 12]]);
    expect(capture.seen[0]!.labels).toEqual({ alertname: 'PerPipeline', severity: 'warning', pipeline: 'a' });
    gauge.child('b', 'x').set(30);
    gauge.child('a', 'y').set(0);
    await tick(1000);
    expect(capture.statuses()).toEqual(['firing@1000', 'resolved@2000', 'firing@2000']);
    expect(capture.seen.slice(1).map((n) => n.labels.pipeline)).toEqual(['a', 'b']);
  });

  it('rate: per-second increase over the window, summed over series', async () => {
    const { metrics, tick, state, capture } = setup([
      { name: 'Errors', forMs: 2000, condition: { kind: 'rate', metric: 'freshet_operator_errors_total', match: { pipeline: 'p' }, windowMs: 4000, op: '>', value: 2 } },
    ]);
    const op = metrics.pipeline('p').operator('map');
    const other = metrics.pipeline('q').operator('map');
    await tick(0);
    op.errors(1, 'E');
    await tick(1000); // one sample of the series: no rate yet
    expect(state()).toBe('inactive');
    op.errors(3, 'E');
    other.errors(1000, 'E'); // another pipeline: not matched
    await tick(1000); // rate 3/s
    expect(state()).toBe('pending');
    op.errors(3, 'E');
    await tick(1000);
    op.errors(3, 'E');
    await tick(1000); // held 2 s
    expect(state()).toBe('firing');
    await tick(1000); // no increase in the last second: 4 s window still sees 9 over 4 s = 2.25/s
    expect(state()).toBe('firing');
    await tick(1000); // window [2000..6000]: 4 → 10: 6 over 4 s = 1.5/s
    expect(state()).toBe('resolved');
    expect(capture.statuses()).toEqual(['firing@4000', 'resolved@6000']);
    expect(capture.seen[0]!.value).toBe(3);
  });

  it('absent: fires when nothing matches, and (with windowMs) when the sum stops increasing', async () => {
    const { metrics, tick, capture, state } = setup([
      { name: 'NoSeries', condition: { kind: 'absent', metric: 'freshet_operator_records_in_total', match: { pipeline: 'p' } } },
      { name: 'Stalled', forMs: 1000, condition: { kind: 'absent', metric: 'freshet_operator_records_in_total', match: { pipeline: 'p' }, windowMs: 3000 } },
    ]);
    await tick(0);
    expect(state('NoSeries')).toBe('firing');
    expect(state('Stalled')).toBe('pending');
    const op = metrics.pipeline('p').operator('src');
    op.batch(10, 10, 1);
    await tick(1000);
    expect(state('NoSeries')).toBe('resolved');
    expect(state('Stalled')).toBe('inactive');
    for (let i = 0; i < 3; i++) {
      op.batch(10, 10, 1);
      await tick(1000);
      expect(state('Stalled')).toBe('inactive');
    }
    // Stops increasing: after 3 s without growth the condition holds, after forMs more it fires.
    await tick(1000);
    await tick(1000);
    expect(state('Stalled')).toBe('inactive');
    await tick(1000); // t=7000: sum(7000)=40 <= sum(4000)=40
    expect(state('Stalled')).toBe('pending');
    await tick(1000);
    expect(state('Stalled')).toBe('firing');
    op.batch(1, 1, 1);
    await tick(1000);
    expect(state('Stalled')).toBe('resolved');
    expect(capture.seen.map((n) => `${n.alertname}:${n.status}@${n.atMs - T0}`)).toEqual(['NoSeries:firing@0', 'NoSeries:resolved@1000', 'Stalled:firing@8000', 'Stalled:resolved@9000']);
  });

  it('reads histogram series (_count, _bucket) and prom-client metrics of the same registry', async () => {
    const { metrics, tick, state } = setup([
      { name: 'SlowBatches', condition: { kind: 'threshold', metric: 'freshet_operator_batch_duration_seconds_bucket', match: { le: '+Inf' }, op: '>=', value: 2 } },
      { name: 'Batches', condition: { kind: 'threshold', metric: 'freshet_operator_batch_duration_seconds_count', op: '==', value: 2 } },
    ]);
    metrics.operatorBatch('p', 'o', 1, 1, 5);
    await tick(1000);
    expect(state('Batches')).toBe('inactive');
    metrics.operatorBatch('p', 'o', 1, 1, 5);
    await tick(1000);
    expect(state('Batches')).toBe('firing');
    expect(state('SlowBatches')).toBe('firing');
  });

  it('exports freshet_alerts and reports evaluation status', async () => {
    const { gauge, tick, metrics, alerts } = setup([{ name: 'High', forMs: 5000, condition: { kind: 'threshold', metric: 'test_value', op: '>', value: 0 } }]);
    gauge.child('a', 'x').set(1);
    await tick(1000);
    const text = await metrics.registry.metrics();
    expect(text).toContain('freshet_alerts{alertname="High",severity="warning",alertstate="pending"} 1');
    expect(text).toContain('freshet_alerts{alertname="High",severity="warning",alertstate="firing"} 0');
    expect(alerts.status()).toEqual({ lastEvaluationMs: T0 + 1000, lastError: null, evaluationIntervalMs: 1000 });
  });

  it('evaluates on its interval once started', async () => {
    const metrics = new FreshetMetrics();
    const capture = new Capture();
    const alerts = new AlertManager({ registry: metrics.registry, rules: [{ name: 'Absent', condition: { kind: 'absent', metric: 'nothing_here' } }], evaluationIntervalMs: 20, notifiers: [capture], logger: null });
    alerts.start();
    await new Promise((r) => setTimeout(r, 200));
    await alerts.stop();
    expect(capture.seen.map((n) => n.status)).toEqual(['firing']);
    expect(alerts.status().lastEvaluationMs).not.toBeNull();
  });
});
