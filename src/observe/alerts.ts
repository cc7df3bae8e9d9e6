import type { Logger } from 'pino';
import type { Metric, Registry } from 'prom-client';
import { type Clock, systemClock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import {
  aggregateValues,
  type AlertRule,
  type AlertRuleConfig,
  type AlertSeverity,
  compare,
  matchesAll,
  parseAlertRules,
  ratePerSecond,
} from './alert-rules.js';
import { CounterFamily, GaugeFamily, type MetricSample, type MetricSnapshot, registerFamily } from './families.js';
import { ObserveLimits } from './limits.js';
import {
  AlertFeed,
  type AlertNotification,
  type AlertNotifier,
  type DeliveryOutcome,
  fingerprintOf,
  LogNotifier,
  type WebhookConfig,
  WebhookNotifier,
} from './notifiers.js';

/** Where an alert instance is in its life, as in Prometheus (plus `resolved`: inactive after firing). */
export type AlertState = 'inactive' | 'pending' | 'firing' | 'resolved';

/** Default time between evaluations. */
export const DEFAULT_EVALUATION_INTERVAL_MS = 5_000;
/** A resolved instance is listed (state `resolved`) this long, then forgotten (Prometheus' resolved retention). */
export const RESOLVED_RETENTION_MS = 15 * 60_000;
/** Default bound on waiting for webhook deliveries when the manager stops. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

/** One alert instance (a rule, or one `groupBy` group of it) as listed by `GET /v1/alerts`. */
export interface AlertInstanceState {
  /** The `groupBy` labels of this instance (`{}` for an ungrouped rule). */
  readonly groupLabels: Readonly<Record<string, string>>;
  /** All labels notifications carry. */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: AlertState;
  /** The condition's last value (`null`: no matching series). */
  readonly value: number | null;
  readonly activeAtMs: number | null;
  readonly firedAtMs: number | null;
  readonly resolvedAtMs: number | null;
  readonly fingerprint: string;
}

/** One rule with its instances, as listed by `GET /v1/alerts`. */
export interface AlertRuleState {
  readonly name: string;
  readonly severity: AlertSeverity;
  readonly forMs: number;
  readonly expr: string;
  readonly condition: AlertRule['condition'];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** The most advanced state among instances (firing > pending > resolved > inactive). */
  readonly state: AlertState;
  readonly instances: readonly AlertInstanceState[];
}

/** Options of `new AlertManager()`. */
export interface AlertManagerOptions {
  /** The registry conditions read (usually `FreshetMetrics.registry`). The manager adds its own metrics there. */
  readonly registry: Registry;
  /** Rules as configured (validated here; FRESHET_INVALID_CONFIG on problems). */
  readonly rules: readonly AlertRuleConfig[];
  /** "Now" for evaluation, `forMs` and rate windows (default the system clock; a ManualClock in tests). */
  readonly clock?: Clock;
  /** Time between evaluations once `start()`ed (default 5 s). */
  readonly evaluationIntervalMs?: number;
  readonly webhooks?: readonly WebhookConfig[];
  /** Structured log: also a notifier (firing/resolved lines) unless `null`. */
  readonly logger?: Logger | null;
  /** The dashboard's feed (default a new one: `manager.feed`). */
  readonly feed?: AlertFeed;
  /** Extra notifiers (tests, custom integrations). */
  readonly notifiers?: readonly AlertNotifier[];
  /** Base URL of this Freshet, sent as `externalURL` in webhook payloads. */
  readonly externalUrl?: string;
}

interface Instance {
  readonly key: string;
  readonly groupLabels: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly fingerprint: string;
  state: AlertState;
  value: number | null;
  activeAtMs: number | null;
  firedAtMs: number | null;
  resolvedAtMs: number | null;
  annotations: Record<string, string>;
}

interface Sample {
  readonly tMs: number;
  readonly value: number;
}

interface RuleRuntime {
  readonly rule: AlertRule;
  readonly instances: Map<string, Instance>;
  /** rate: samples per series (key = its sorted labels), pruned to the window. */
  readonly seriesHistory: Map<string, { labels: Readonly<Record<string, string | number>>; samples: Sample[] }>;
  /** absent with a window: the summed value at each evaluation. */
  readonly sumHistory: Sample[];
  overflowLogged: boolean;
}

/** One evaluated group: its labels and the condition's value (`null` = no data, condition false). */
interface GroupResult {
  readonly labels: Record<string, string>;
  readonly value: number | null;
  readonly active: boolean;
}

const STATE_RANK: Record<AlertState, number> = { inactive: 0, resolved: 1, pending: 2, firing: 3 };

/**
 * Evaluates alert rules against the registry's current values on an interval and notifies webhooks,
 * the log and the dashboard feed. Each rule (or each `groupBy` group) is an instance that moves
 * inactive → pending (condition true) → firing (held `forMs`) → resolved (condition false again), as in
 * Prometheus; `forMs: 0` fires on the first true evaluation. Notifications go out on firing and on
 * resolved. Deterministic under a ManualClock: call `evaluate()` yourself.
 *
 * @example
 * ```ts
 * const alerts = new AlertManager({
 *   registry: metrics.registry,
 *   rules: [{ name: 'OperatorErrors', severity: 'critical', forMs: 10_000,
 *             condition: { kind: 'rate', metric: 'freshet_operator_errors_total', windowMs: 60_000, groupBy: ['pipeline'], op: '>', value: 1 } }],
 *   webhooks: [{ url: 'http://alerts.internal/hook' }],
 *   logger,
 * });
 * alerts.start();          // evaluates every 5 s
 * alerts.list();           // what GET /v1/alerts answers
 * await alerts.stop();
 * ```
 */
export class AlertManager {
  readonly rules: readonly AlertRule[];
  readonly feed: AlertFeed;
  readonly evaluationIntervalMs: number;
  private readonly registry: Registry;
  private readonly clock: Clock;
  private readonly logger: Logger | null;
  private readonly runtimes: RuleRuntime[];
  private readonly notifiers: AlertNotifier[];
  readonly webhooks: readonly WebhookNotifier[];
  private timer: NodeJS.Timeout | null = null;
  private evaluating: Promise<void> | null = null;
  private lastEvaluationMs: number | null = null;
  private lastEvaluationError: string | null = null;
  private readonly notificationsTotal: CounterFamily | null;
  private statesFamily: GaugeFamily | null = null;

  constructor(options: AlertManagerOptions) {
    this.rules = parseAlertRules(options.rules);
    this.registry = options.registry;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? null;
    this.evaluationIntervalMs = options.evaluationIntervalMs ?? DEFAULT_EVALUATION_INTERVAL_MS;
    if (!Number.isInteger(this.evaluationIntervalMs) || this.evaluationIntervalMs < 1) {
      throw new FreshetError(ErrorCodes.INVALID_CONFIG, `evaluationIntervalMs must be a positive integer, got ${this.evaluationIntervalMs}`);
    }
    const issues: string[] = [];
    for (const rule of this.rules) {
      const c = rule.condition;
      // A rate needs two samples inside its window.
      if (c.kind === 'rate' && c.windowMs < 2 * this.evaluationIntervalMs) {
        issues.push(`${rule.name}: windowMs ${c.windowMs} must be at least twice evaluationIntervalMs (${this.evaluationIntervalMs}) to hold two samples`);
      }
      if (c.kind === 'absent' && c.windowMs !== undefined && c.windowMs < this.evaluationIntervalMs) {
        issues.push(`${rule.name}: windowMs ${c.windowMs} must be at least evaluationIntervalMs (${this.evaluationIntervalMs})`);
      }
    }
    if (issues.length > 0) throw new FreshetError(ErrorCodes.INVALID_CONFIG, `invalid alert rules: ${issues.join('; ')}`);

    this.runtimes = this.rules.map((rule) => ({ rule, instances: new Map(), seriesHistory: new Map(), sumHistory: [], overflowLogged: false }));
    this.feed = options.feed ?? new AlertFeed(this.logger);

    // The manager's own metrics, unless another manager already registered them on this registry.
    this.notificationsTotal = this.registry.getSingleMetric('freshet_alert_notifications_total')
      ? null
      : registerFamily(
          this.registry,
          new CounterFamily({ name: 'freshet_alert_notifications_total', help: 'Alert notifications by receiver and outcome (delivered, failed, rejected, dropped).', labelNames: ['receiver', 'outcome'] }),
        );
    if (!this.registry.getSingleMetric('freshet_alerts')) {
      this.statesFamily = registerFamily(
        this.registry,
        new GaugeFamily({
          name: 'freshet_alerts',
          help: 'Alert instances by rule and state (pending, firing), as Prometheus ALERTS.',
          labelNames: ['alertname', 'severity', 'alertstate'],
          collect: () => this.collectStates(),
        }),
      );
    }

    const onOutcome = (receiver: string, outcome: DeliveryOutcome): void => this.notificationsTotal?.child(receiver, outcome).inc();
    this.webhooks = (options.webhooks ?? []).map(
      (config, i) => new WebhookNotifier(config, i, { externalUrl: options.externalUrl ?? '', logger: this.logger, onOutcome }),
    );
    this.notifiers = [...this.webhooks, this.feed, ...(this.logger !== null ? [new LogNotifier(this.logger)] : []), ...(options.notifiers ?? [])];
  }

  /** Evaluates every `evaluationIntervalMs` until `stop()` (an evaluation still running is not overlapped). */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.evaluating === null) void this.evaluate();
    }, this.evaluationIntervalMs);
    this.timer.unref();
  }

  /** Stops evaluating, then waits (at most `timeoutMs`) for webhooks to deliver what is queued. */
  async stop(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.evaluating;
    await Promise.all(this.notifiers.map((n) => n.flush?.(timeoutMs)));
    await Promise.all(this.notifiers.map((n) => n.close?.()));
  }

  /** Waits (at most `timeoutMs`) until every webhook queue is empty. */
  async flush(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    await Promise.all(this.notifiers.map((n) => n.flush?.(timeoutMs)));
  }

  /**
   * One evaluation at `clock.nowMs()`: reads the metrics the rules name, updates every instance and
   * sends notifications for transitions. Never throws (a failure is logged and shown by `list()`).
   */
  evaluate(): Promise<void> {
    if (this.evaluating !== null) return this.evaluating;
    const run = this.evaluateNow().finally(() => {
      this.evaluating = null;
    });
    this.evaluating = run;
    return run;
  }

  /** Every rule with its state and instances (what `GET /v1/alerts` answers). */
  list(): AlertRuleState[] {
    return this.runtimes.map(({ rule, instances }) => {
      let state: AlertState = 'inactive';
      const list: AlertInstanceState[] = [];
      for (const i of instances.values()) {
        if (STATE_RANK[i.state] > STATE_RANK[state]) state = i.state;
        list.push({
          groupLabels: i.groupLabels,
          labels: i.labels,
          annotations: i.annotations,
          state: i.state,
          value: i.value,
          activeAtMs: i.activeAtMs,
          firedAtMs: i.firedAtMs,
          resolvedAtMs: i.resolvedAtMs,
          fingerprint: i.fingerprint,
        });
      }
      return { name: rule.name, severity: rule.severity, forMs: rule.forMs, expr: rule.expr, condition: rule.condition, labels: rule.labels, annotations: rule.annotations, state, instances: list };
    });
  }

  /** When the last evaluation ran and whether it failed, for `GET /v1/alerts`. */
  status(): { readonly lastEvaluationMs: number | null; readonly lastError: string | null; readonly evaluationIntervalMs: number } {
    return { lastEvaluationMs: this.lastEvaluationMs, lastError: this.lastEvaluationError, evaluationIntervalMs: this.evaluationIntervalMs };
  }

  private async evaluateNow(): Promise<void> {
    const nowMs = this.clock.nowMs();
    try {
      const samples = await this.readMetrics();
      for (const rt of this.runtimes) this.evaluateRule(rt, samples.get(rt.rule.condition.metric) ?? [], nowMs);
      this.lastEvaluationError = null;
    } catch (error) {
      this.lastEvaluationError = (error as Error).message;
      this.logger?.error({ err: error }, 'alert evaluation failed');
    }
    this.lastEvaluationMs = nowMs;
  }

  /** The current samples of every metric the rules name (histogram `_bucket/_sum/_count` resolved to their family). */
  private async readMetrics(): Promise<Map<string, MetricSample[]>> {
    const names = new Set(this.rules.map((r) => r.condition.metric));
    const byFamily = new Map<string, Promise<MetricSnapshot | null>>();
    const out = new Map<string, MetricSample[]>();
    await Promise.all(
      [...names].map(async (name) => {
        const family = this.familyOf(name);
        if (family === null) {
          out.set(name, []);
          return;
        }
        let snapshot = byFamily.get(family.name);
        if (snapshot === undefined) {
          snapshot = Promise.resolve(family.metric.get() as unknown as Promise<MetricSnapshot>);
          byFamily.set(family.name, snapshot);
        }
        const snap = await snapshot;
        out.set(name, (snap?.values ?? []).filter((v) => (v.metricName ?? snap!.name) === name));
      }),
    );
    return out;
  }

  private familyOf(name: string): { name: string; metric: Metric } | null {
    const direct = this.registry.getSingleMetric(name);
    if (direct !== undefined) return { name, metric: direct };
    const m = /^(.*)_(bucket|sum|count)$/.exec(name);
    if (m !== null) {
      const base = this.registry.getSingleMetric(m[1]!);
      if (base !== undefined) return { name: m[1]!, metric: base };
    }
    return null;
  }

  private evaluateRule(rt: RuleRuntime, all: readonly MetricSample[], nowMs: number): void {
    const { rule } = rt;
    const matching = all.filter((s) => matchesAll(s.labels, rule.matchers));
    let groups: GroupResult[];
    switch (rule.condition.kind) {
      case 'threshold': {
        const c = rule.condition;
        groups = this.groupAndAggregate(rule, matching.map((s) => ({ labels: s.labels, value: s.value }))).map((g) => ({
          ...g,
          active: g.value !== null && compare(g.value, c.op, c.value),
        }));
        break;
      }
      case 'rate': {
        const c = rule.condition;
        const rates = this.updateRates(rt, matching, nowMs, c.windowMs);
        groups = this.groupAndAggregate(rule, rates).map((g) => ({ ...g, active: g.value !== null && compare(g.value, c.op, c.value) }));
        break;
      }
      case 'absent': {
        const c = rule.condition;
        let sum = 0;
        for (const s of matching) sum += s.value;
        let active = matching.length === 0;
        if (c.windowMs !== undefined) {
          const h = rt.sumHistory;
          const cutoff = nowMs - c.windowMs;
          let base: Sample | undefined;
          for (const sample of h) if (sample.tMs <= cutoff) base = sample;
          if (base !== undefined && sum <= base.value) active = true;
          h.push({ tMs: nowMs, value: sum });
          // Keep the window plus the latest sample before it (the next evaluation's base).
          let firstInWindow = h.findIndex((sample) => sample.tMs > cutoff);
          if (firstInWindow === -1) firstInWindow = h.length;
          const dropTo = Math.max(0, firstInWindow - 1, h.length - ObserveLimits.maxHistorySamplesPerSeries);
          if (dropTo > 0) h.splice(0, dropTo);
        }
        groups = [{ labels: {}, value: matching.length === 0 ? null : sum, active }];
        break;
      }
    }
    this.advance(rt, groups, nowMs);
  }

  /** Appends this evaluation's sample to each matching series' history; returns each present series' rate. */
  private updateRates(rt: RuleRuntime, matching: readonly MetricSample[], nowMs: number, windowMs: number): { labels: Readonly<Record<string, string | number>>; value: number }[] {
    const cutoff = nowMs - windowMs;
    const rates: { labels: Readonly<Record<string, string | number>>; value: number }[] = [];
    for (const s of matching) {
      const key = seriesKey(s.labels);
      let entry = rt.seriesHistory.get(key);
      if (entry === undefined) {
        if (rt.seriesHistory.size >= ObserveLimits.maxInstancesPerRule * 10) continue;
        entry = { labels: s.labels, samples: [] };
        rt.seriesHistory.set(key, entry);
      }
      entry.samples.push({ tMs: nowMs, value: s.value });
      const rate = ratePerSecond(entry.samples.filter((x) => x.tMs >= cutoff));
      if (rate !== null) rates.push({ labels: s.labels, value: rate });
    }
    // Prune samples that left the window; forget series with none left.
    for (const [key, entry] of rt.seriesHistory) {
      const first = entry.samples.findIndex((x) => x.tMs >= cutoff);
      if (first === -1) rt.seriesHistory.delete(key);
      else {
        const dropTo = Math.max(first, entry.samples.length - ObserveLimits.maxHistorySamplesPerSeries);
        if (dropTo > 0) entry.samples.splice(0, dropTo);
      }
    }
    return rates;
  }

  /** Groups series by the rule's `groupBy` labels and aggregates each group. */
  private groupAndAggregate(rule: AlertRule, series: readonly { labels: Readonly<Record<string, string | number>>; value: number }[]): { labels: Record<string, string>; value: number | null }[] {
    const groups = new Map<string, { labels: Record<string, string>; values: number[] }>();
    for (const s of series) {
      const labels: Record<string, string> = {};
      for (const name of rule.groupBy) labels[name] = s.labels[name] === undefined ? '' : String(s.labels[name]);
      const key = seriesKey(labels);
      let g = groups.get(key);
      if (g === undefined) {
        g = { labels, values: [] };
        groups.set(key, g);
      }
      g.values.push(s.value);
    }
    // An ungrouped rule always has its one instance (with no value when nothing matches).
    if (rule.groupBy.length === 0 && groups.size === 0) return [{ labels: {}, value: null }];
    return [...groups.values()].map((g) => ({ labels: g.labels, value: aggregateValues(g.values, rule.aggregate) }));
  }

  /** The state machine: applies this evaluation's group results to the rule's instances. */
  private advance(rt: RuleRuntime, groups: readonly GroupResult[], nowMs: number): void {
    const { rule, instances } = rt;
    const seen = new Set<string>();
    for (const g of groups) {
      const key = seriesKey(g.labels);
      seen.add(key);
      let inst = instances.get(key);
      if (inst === undefined) {
        if (!g.active && rule.groupBy.length > 0) continue; // inactive groups are not tracked
        if (instances.size >= ObserveLimits.maxInstancesPerRule) {
          if (!rt.overflowLogged) this.logger?.warn({ alertname: rule.name, max: ObserveLimits.maxInstancesPerRule }, 'alert rule has too many instances: ignoring new groups');
          rt.overflowLogged = true;
          continue;
        }
        const labels = { ...rule.labels, ...g.labels, alertname: rule.name, severity: rule.severity };
        inst = { key, groupLabels: g.labels, labels, fingerprint: fingerprintOf(labels), state: 'inactive', value: null, activeAtMs: null, firedAtMs: null, resolvedAtMs: null, annotations: {} };
        instances.set(key, inst);
      }
      inst.value = g.value;
      this.step(rule, inst, g.active, nowMs);
    }
    // Instances whose group vanished: the condition no longer holds for them.
    for (const [key, inst] of instances) {
      if (!seen.has(key)) {
        inst.value = null;
        this.step(rule, inst, false, nowMs);
      }
      const forget =
        rule.groupBy.length > 0 && (inst.state === 'inactive' || (inst.state === 'resolved' && nowMs - inst.resolvedAtMs! >= RESOLVED_RETENTION_MS));
      if (forget) instances.delete(key);
      else if (inst.state === 'resolved' && nowMs - inst.resolvedAtMs! >= RESOLVED_RETENTION_MS) inst.state = 'inactive';
    }
  }

  private step(rule: AlertRule, inst: Instance, active: boolean, nowMs: number): void {
    inst.annotations = renderAnnotations(rule, inst.labels, inst.value);
    if (active) {
      if (inst.state === 'inactive' || inst.state === 'resolved') {
        inst.state = 'pending';
        inst.activeAtMs = nowMs;
        inst.firedAtMs = null;
        inst.resolvedAtMs = null;
      }
      if (inst.state === 'pending' && nowMs - inst.activeAtMs! >= rule.forMs) {
        inst.state = 'firing';
        inst.firedAtMs = nowMs;
        this.notify(rule, inst, 'firing', nowMs);
      }
    } else if (inst.state === 'firing') {
      inst.state = 'resolved';
      inst.resolvedAtMs = nowMs;
      this.notify(rule, inst, 'resolved', nowMs);
    } else if (inst.state === 'pending') {
      inst.state = 'inactive';
      inst.activeAtMs = null;
    }
  }

  private notify(rule: AlertRule, inst: Instance, status: 'firing' | 'resolved', nowMs: number): void {
    const notification: AlertNotification = {
      status,
      labels: inst.labels,
      annotations: inst.annotations,
      alertname: rule.name,
      severity: rule.severity,
      value: inst.value,
      startsAtMs: inst.activeAtMs!,
      endsAtMs: status === 'resolved' ? nowMs : null,
      atMs: nowMs,
      fingerprint: inst.fingerprint,
      expr: rule.expr,
    };
    for (const notifier of this.notifiers) {
      try {
        notifier.notify(notification);
      } catch (error) {
        this.logger?.error({ err: error, notifier: notifier.name }, 'alert notifier threw');
      }
    }
  }

  private collectStates(): void {
    const family = this.statesFamily!;
    family.clear();
    for (const { rule, instances } of this.runtimes) {
      let pending = 0;
      let firing = 0;
      for (const i of instances.values()) {
        if (i.state === 'pending') pending++;
        else if (i.state === 'firing') firing++;
      }
      family.child(rule.name, rule.severity, 'pending').set(pending);
      family.child(rule.name, rule.severity, 'firing').set(firing);
    }
  }
}

/** Canonical key of a label set (sorted names). */
function seriesKey(labels: Readonly<Record<string, string | number>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${String(labels[k])}`)
    .join('\u0001');
}

const TEMPLATE = /\{\{\s*\$(value|labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*\}\}/g;

/** Fills `{{ $value }}` and `{{ $labels.x }}`; a rule without a summary gets one from its condition. */
function renderAnnotations(rule: AlertRule, labels: Readonly<Record<string, string>>, value: number | null): Record<string, string> {
  const valueText = value === null ? 'no data' : String(Number(value.toPrecision(6)));
  const out: Record<string, string> = {};
  for (const [k, text] of Object.entries(rule.annotations)) {
    out[k] = text.replace(TEMPLATE, (_m, what: string, label: string | undefined) => (what === 'value' ? valueText : (labels[label!] ?? '')));
  }
  out.summary ??= `${rule.name}: ${rule.expr} (value ${valueText})`;
  return out;
}
