import { z } from 'zod';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { ObserveLimits } from './limits.js';

/**
 * Alert rules: plain JSON-able config objects (they live in the pipeline config file under `alerts`),
 * validated with zod, resolved into `AlertRule`s with compiled matchers. Conditions read any metric of
 * the registry, Prometheus-style: a metric name, label matchers, an aggregation over matching series.
 */

/** Matches one label: a string is equality; `{ ne }` inequality; `{ re }` / `{ nre }` a fully anchored regex (not) matching. */
export type LabelMatcher = string | { readonly ne: string } | { readonly re: string } | { readonly nre: string };

/** How matching series are combined into one value (per `groupBy` group). */
export type Aggregation = 'sum' | 'max' | 'min' | 'avg' | 'count';

/** Comparison of the aggregated value with the rule's `value`. */
export type CompareOp = '>' | '>=' | '<' | '<=' | '==' | '!=';

interface SelectorConfig {
  /** A metric name as exported, e.g. `freshet_consumer_lag_records`, or a histogram's `..._count` / `..._sum` / `..._bucket`. */
  readonly metric: string;
  /** Label matchers; series must match all of them. */
  readonly match?: Readonly<Record<string, LabelMatcher>>;
}

/** The aggregated current value of matching series, compared with `value`. */
export interface ThresholdCondition extends SelectorConfig {
  readonly kind: 'threshold';
  /** Default `sum`. */
  readonly aggregate?: Aggregation;
  /** One alert instance per distinct combination of these labels (default: one for the rule). */
  readonly groupBy?: readonly string[];
  readonly op: CompareOp;
  readonly value: number;
}

/**
 * The per-second increase of each matching series over the last `windowMs` (counter resets handled:
 * a drop counts as a restart from 0), aggregated (default `sum`) and compared with `value`. A series
 * needs two samples in the window (evaluations at least `windowMs / 2` apart in practice).
 */
export interface RateCondition extends SelectorConfig {
  readonly kind: 'rate';
  readonly windowMs: number;
  readonly aggregate?: Aggregation;
  readonly groupBy?: readonly string[];
  readonly op: CompareOp;
  readonly value: number;
}

/**
 * True when no series matches; with `windowMs`, also when the sum of matching series has not
 * increased over the last `windowMs` (no new records, no scrapes of a source...).
 */
export interface AbsentCondition extends SelectorConfig {
  readonly kind: 'absent';
  readonly windowMs?: number;
}

/** Any alert condition. */
export type AlertCondition = ThresholdCondition | RateCondition | AbsentCondition;

/** Alert severities, most severe first. */
export type AlertSeverity = 'critical' | 'warning' | 'info';

/**
 * One alert rule, as written in config.
 *
 * @example
 * ```ts
 * const rule: AlertRuleConfig = {
 *   name: 'ConsumerLagHigh',
 *   severity: 'critical',
 *   forMs: 30_000,
 *   condition: { kind: 'threshold', metric: 'freshet_consumer_lag_records', match: { pipeline: 'revenue' }, groupBy: ['topic'], op: '>', value: 10_000 },
 *   annotations: { summary: 'revenue is {{ $value }} records behind on {{ $labels.topic }}' },
 * };
 * ```
 */
export interface AlertRuleConfig {
  /** The `alertname`: letters, digits and `_`, starting with a letter. Unique per manager. */
  readonly name: string;
  /** Default `warning`. */
  readonly severity?: AlertSeverity;
  /** How long the condition must hold before the alert fires (default 0: on the first true evaluation). */
  readonly forMs?: number;
  /** Added to the alert's labels (routing keys for the receiver: team, service...). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Texts for humans; `{{ $value }}` and `{{ $labels.<name> }}` are replaced. */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly condition: AlertCondition;
}

/** A compiled label matcher. */
export interface CompiledMatcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
  readonly regex: RegExp | null;
}

/** The resolved twin of AlertRuleConfig: defaults applied, matchers compiled. */
export interface AlertRule {
  readonly name: string;
  readonly severity: AlertSeverity;
  readonly forMs: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly condition: AlertCondition;
  readonly matchers: readonly CompiledMatcher[];
  readonly aggregate: Aggregation;
  readonly groupBy: readonly string[];
  /** The condition in PromQL-like notation, e.g. `sum by (topic) (freshet_consumer_lag_records{pipeline="x"}) > 10000`. */
  readonly expr: string;
}

// --- validation ---

const ALERT_NAME = /^[a-zA-Z][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Longest window or `forMs` accepted: a week. */
export const MAX_ALERT_DURATION_MS = 7 * 24 * 3600 * 1000;

const labelName = z.string().regex(LABEL_NAME, 'label names are letters, digits and _, not starting with a digit');
const matcherShape = z.union([
  z.string(),
  z.strictObject({ ne: z.string() }),
  z.strictObject({ re: z.string() }),
  z.strictObject({ nre: z.string() }),
]);
const selector = {
  metric: z.string().regex(METRIC_NAME, 'not a valid Prometheus metric name'),
  match: z.record(labelName, matcherShape).optional(),
};
const duration = z.int().min(0).max(MAX_ALERT_DURATION_MS);
const positiveDuration = z.int().min(1).max(MAX_ALERT_DURATION_MS);
const aggregate = z.enum(['sum', 'max', 'min', 'avg', 'count']).optional();
const op = z.enum(['>', '>=', '<', '<=', '==', '!=']);
const groupBy = z.array(labelName).max(16).optional();
const finite = z.number().refine(Number.isFinite, 'must be a finite number');

const conditionShape = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('threshold'), ...selector, aggregate, groupBy, op, value: finite }),
  z.strictObject({ kind: z.literal('rate'), ...selector, windowMs: positiveDuration, aggregate, groupBy, op, value: finite }),
  z.strictObject({ kind: z.literal('absent'), ...selector, windowMs: positiveDuration.optional() }),
]);

/** The zod shape of one rule (reused by config-file parsers). */
export const alertRuleShape = z.strictObject({
  name: z.string().regex(ALERT_NAME, 'alert names are letters, digits and _, starting with a letter').max(200),
  severity: z.enum(['critical', 'warning', 'info']).optional(),
  forMs: duration.optional(),
  labels: z.record(labelName, z.string().max(1024)).optional(),
  annotations: z.record(labelName, z.string().max(4096)).optional(),
  condition: conditionShape,
});

/** The zod shape of a rule list. */
export const alertRulesShape = z.array(alertRuleShape).max(ObserveLimits.maxAlertRules);

/**
 * Validates rules (shape, unique names, regexes that compile, labels that do not collide with
 * `alertname`/`severity`) and resolves them. Throws FRESHET_INVALID_CONFIG listing every problem.
 *
 * @example
 * ```ts
 * const [rule] = parseAlertRules([{ name: 'NoInput', forMs: 60_000, condition: { kind: 'absent', metric: 'freshet_operator_records_in_total', windowMs: 60_000 } }]);
 * rule.expr // 'absent or not increasing over 60000ms: sum(freshet_operator_records_in_total)'
 * ```
 */
export function parseAlertRules(input: unknown): AlertRule[] {
  const parsed = alertRulesShape.safeParse(input);
  if (!parsed.success) {
    const list = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new FreshetError(ErrorCodes.INVALID_CONFIG, `invalid alert rules: ${list.join('; ')}`, { issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) });
  }
  const issues: { path: string; message: string }[] = [];
  const names = new Set<string>();
  const rules: AlertRule[] = [];
  parsed.data.forEach((config, index) => {
    const at = String(index);
    if (names.has(config.name)) issues.push({ path: `${at}.name`, message: `duplicate alert name '${config.name}'` });
    names.add(config.name);
    for (const reserved of ['alertname', 'severity']) {
      if (config.labels !== undefined && Object.hasOwn(config.labels, reserved)) issues.push({ path: `${at}.labels.${reserved}`, message: `'${reserved}' is set by the rule itself` });
    }
    const matchers: CompiledMatcher[] = [];
    for (const [label, m] of Object.entries(config.condition.match ?? {})) {
      try {
        matchers.push(compileMatcher(label, m));
      } catch (error) {
        issues.push({ path: `${at}.condition.match.${label}`, message: (error as Error).message });
      }
    }
    const condition = config.condition as AlertCondition;
    const rule: AlertRule = {
      name: config.name,
      severity: config.severity ?? 'warning',
      forMs: config.forMs ?? 0,
      labels: config.labels ?? {},
      annotations: config.annotations ?? {},
      condition,
      matchers,
      aggregate: condition.kind === 'absent' ? 'sum' : (condition.aggregate ?? 'sum'),
      groupBy: condition.kind === 'absent' ? [] : [...new Set(condition.groupBy ?? [])],
      expr: '',
    };
    rules.push({ ...rule, expr: describeCondition(rule) });
  });
  if (issues.length > 0) {
    throw new FreshetError(ErrorCodes.INVALID_CONFIG, `invalid alert rules: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
  }
  return rules;
}

function compileMatcher(label: string, m: LabelMatcher): CompiledMatcher {
  if (typeof m === 'string') return { label, op: '=', value: m, regex: null };
  if ('ne' in m) return { label, op: '!=', value: m.ne, regex: null };
  // Anchored like PromQL: the whole label value must match.
  if ('re' in m) return { label, op: '=~', value: m.re, regex: new RegExp(`^(?:${m.re})$`) };
  return { label, op: '!~', value: m.nre, regex: new RegExp(`^(?:${m.nre})$`) };
}

/**
 * True when a series' labels satisfy every matcher (a missing label reads as the empty string, as in PromQL).
 *
 * @example
 * ```ts
 * matchesAll({ pipeline: 'orders', topic: 'o1' }, rule.matchers) // true or false
 * ```
 */
export function matchesAll(labels: Readonly<Record<string, string | number>>, matchers: readonly CompiledMatcher[]): boolean {
  for (const m of matchers) {
    const raw = labels[m.label];
    const v = raw === undefined ? '' : String(raw);
    switch (m.op) {
      case '=':
        if (v !== m.value) return false;
        break;
      case '!=':
        if (v === m.value) return false;
        break;
      case '=~':
        if (!m.regex!.test(v)) return false;
        break;
      case '!~':
        if (m.regex!.test(v)) return false;
        break;
    }
  }
  return true;
}

/**
 * Combines values with an aggregation; `null` for an empty list (no series: no result, as in PromQL).
 *
 * @example
 * ```ts
 * aggregateValues([3, 9], 'max') // 9
 * ```
 */
export function aggregateValues(values: readonly number[], how: Aggregation): number | null {
  if (values.length === 0) return null;
  switch (how) {
    case 'count':
      return values.length;
    case 'sum':
    case 'avg': {
      let s = 0;
      for (const v of values) s += v;
      return how === 'sum' ? s : s / values.length;
    }
    case 'max': {
      let m = -Infinity;
      for (const v of values) if (v > m) m = v;
      return m;
    }
    case 'min': {
      let m = Infinity;
      for (const v of values) if (v < m) m = v;
      return m;
    }
  }
}

/**
 * `left op right`.
 *
 * @example
 * ```ts
 * compare(12, '>', 10) // true
 * ```
 */
export function compare(left: number, op: CompareOp, right: number): boolean {
  switch (op) {
    case '>':
      return left > right;
    case '>=':
      return left >= right;
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '==':
      return left === right;
    case '!=':
      return left !== right;
  }
}

/**
 * Per-second increase of one series over samples in time order: a drop is a counter reset (the new
 * value counts from 0). `null` with fewer than two samples or no elapsed time.
 *
 * @example
 * ```ts
 * ratePerSecond([{ tMs: 0, value: 10 }, { tMs: 2000, value: 30 }]) // 10
 * ```
 */
export function ratePerSecond(samples: readonly { readonly tMs: number; readonly value: number }[]): number | null {
  if (samples.length < 2) return null;
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const elapsedMs = last.tMs - first.tMs;
  if (elapsedMs <= 0) return null;
  let increase = 0;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!.value;
    const cur = samples[i]!.value;
    increase += cur >= prev ? cur - prev : cur;
  }
  return increase / (elapsedMs / 1000);
}

function selectorText(rule: Pick<AlertRule, 'condition' | 'matchers'>): string {
  const inner = rule.matchers.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(',');
  return inner === '' ? rule.condition.metric : `${rule.condition.metric}{${inner}}`;
}

function describeCondition(rule: AlertRule): string {
  const c = rule.condition;
  const by = rule.groupBy.length > 0 ? ` by (${rule.groupBy.join(', ')})` : '';
  switch (c.kind) {
    case 'threshold':
      return `${rule.aggregate}${by} (${selectorText(rule)}) ${c.op} ${c.value}`;
    case 'rate':
      return `${rule.aggregate}${by} (rate(${selectorText(rule)}[${c.windowMs}ms])) ${c.op} ${c.value}`;
    case 'absent':
      return c.windowMs === undefined ? `absent(${selectorText(rule)})` : `absent or not increasing over ${c.windowMs}ms: sum(${selectorText(rule)})`;
  }
}
