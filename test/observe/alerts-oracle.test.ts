import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Aggregation, AlertRuleConfig, CompareOp, LabelMatcher } from '../../src/observe/alert-rules.js';
import { AlertManager, RESOLVED_RETENTION_MS } from '../../src/observe/alerts.js';
import { GaugeFamily, registerFamily } from '../../src/observe/families.js';
import { FreshetMetrics } from '../../src/observe/metrics.js';
import type { AlertNotification, AlertNotifier } from '../../src/observe/notifiers.js';

/**
 * Oracle test: the AlertManager (incremental: pruned per-series histories, a state per instance) must
 * agree, at every evaluation, with a brute-force reference that recomputes every condition from the
 * whole history and derives each state from its declarative definition ("firing at t iff the condition
 * has held at every evaluation since some t0 with t - t0 >= forMs").
 */

const SERIES = [
  { pipeline: 'a', topic: 'x' },
  { pipeline: 'a', topic: 'y' },
  { pipeline: 'b', topic: 'x' },
  { pipeline: 'b', topic: 'y' },
] as const;
type SeriesLabels = (typeof SERIES)[number];
type State = 'inactive' | 'pending' | 'firing' | 'resolved';
const T0 = 1_767_225_600_000;
const INTERVAL_MS = 1000;

interface Step {
  readonly dtMs: number;
  /** Value per SERIES index; null = the series does not exist at this evaluation. */
  readonly values: readonly (number | null)[];
}

// --- the reference: straightforward, whole-history, no incremental state except the state walk ---

function matches(labels: SeriesLabels, match: Readonly<Record<string, LabelMatcher>> | undefined): boolean {
  for (const [name, m] of Object.entries(match ?? {})) {
    const v = (labels as Record<string, string>)[name] ?? '';
    if (typeof m === 'string' ? v !== m : 'ne' in m ? v === m.ne : 're' in m ? !new RegExp(`^(?:${m.re})$`).test(v) : new RegExp(`^(?:${m.nre})$`).test(v)) return false;
  }
  return true;
}

function agg(values: number[], how: Aggregation): number {
  if (how === 'count') return values.length;
  if (how === 'max') return Math.max(...values);
  if (how === 'min') return Math.min(...values);
  const sum = values.reduce((s, v) => s + v, 0);
  return how === 'sum' ? sum : sum / values.length;
}

function cmp(a: number, op: CompareOp, b: number): boolean {
  return op === '>' ? a > b : op === '>=' ? a >= b : op === '<' ? a < b : op === '<=' ? a <= b : op === '==' ? a === b : a !== b;
}

function bruteRate(samples: { t: number; v: number }[]): number | null {
  if (samples.length < 2 || samples[samples.length - 1]!.t - samples[0]!.t <= 0) return null;
  let increase = 0;
  for (let k = 1; k < samples.length; k++) increase += samples[k]!.v >= samples[k - 1]!.v ? samples[k]!.v - samples[k - 1]!.v : samples[k]!.v;
  return increase / ((samples[samples.length - 1]!.t - samples[0]!.t) / 1000);
}

function groupKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Per evaluation: each group's (condition, value). */
function referenceConditions(rule: AlertRuleConfig, times: number[], steps: readonly Step[]): Map<string, { active: boolean; value: number | null }>[] {
  const c = rule.condition;
  const groupBy = c.kind === 'absent' ? [] : [...new Set(c.groupBy ?? [])];
  const sums: number[] = [];
  const out: Map<string, { active: boolean; value: number | null }>[] = [];
  for (let i = 0; i < steps.length; i++) {
    const t = times[i]!;
    const present = SERIES.map((labels, s) => ({ labels, s, v: steps[i]!.values[s]! })).filter((x) => x.v !== null && matches(x.labels, c.match));
    const result = new Map<string, { active: boolean; value: number | null }>();
    if (c.kind === 'absent') {
      const sum = present.reduce((acc, x) => acc + x.v, 0);
      sums.push(sum);
      let active = present.length === 0;
      if (c.windowMs !== undefined) {
        let base = -1;
        for (let j = 0; j < i; j++) if (times[j]! <= t - c.windowMs) base = j;
        if (base >= 0 && sum <= sums[base]!) active = true;
      }
      result.set(groupKey({}), { active, value: present.length === 0 ? null : sum });
    } else {
      const perSeries: { labels: SeriesLabels; v: number }[] = [];
      for (const x of present) {
        if (c.kind === 'threshold') perSeries.push({ labels: x.labels, v: x.v });
        else {
          const samples: { t: number; v: number }[] = [];
          for (let j = 0; j <= i; j++) {
            const v = steps[j]!.values[x.s];
            if (v !== null && v !== undefined && times[j]! >= t - c.windowMs) samples.push({ t: times[j]!, v });
          }
          const r = bruteRate(samples);
          if (r !== null) perSeries.push({ labels: x.labels, v: r });
        }
      }
      const groups = new Map<string, number[]>();
      for (const x of perSeries) {
        const labels: Record<string, string> = {};
        for (const name of groupBy) labels[name] = (x.labels as Record<string, string>)[name]!;
        const key = groupKey(labels);
        groups.set(key, [...(groups.get(key) ?? []), x.v]);
      }
      if (groupBy.length === 0 && groups.size === 0) result.set(groupKey({}), { active: false, value: null });
      for (const [key, values] of groups) {
        const value = agg(values, c.aggregate ?? 'sum');
        result.set(key, { active: cmp(value, c.op, c.value), value });
      }
    }
    out.push(result);
  }
  return out;
}

function reference(rule: AlertRuleConfig, steps: readonly Step[]): { states: Map<string, State>[]; notes: string[][] } {
  const times: number[] = [];
  let t = T0;
  for (const s of steps) times.push((t += s.dtMs));
  const conditions = referenceConditions(rule, times, steps);
  const keys = new Set<string>();
  for (const m of conditions) for (const k of m.keys()) keys.add(k);
  const states = steps.map(() => new Map<string, State>());
  const notes: string[][] = steps.map(() => []);
  for (const key of keys) {
    let prev: State = 'inactive';
    let resolvedAt = 0;
    for (let i = 0; i < steps.length; i++) {
      const here = conditions[i]!.get(key);
      const active = here?.active ?? false;
      const value = here?.value ?? null;
      let state: State;
      if (active) {
        // Start of the run of consecutive true evaluations ending at i.
        let start = i;
        while (start > 0 && (conditions[start - 1]!.get(key)?.active ?? false)) start--;
        state = times[i]! - times[start]! >= (rule.forMs ?? 0) ? 'firing' : 'pending';
        if (state === 'firing' && prev !== 'firing') notes[i]!.push(`firing|${key}|${round(value)}`);
      } else if (prev === 'firing') {
        state = 'resolved';
        resolvedAt = times[i]!;
        notes[i]!.push(`resolved|${key}|${round(value)}`);
      } else if (prev === 'resolved' && times[i]! - resolvedAt < RESOLVED_RETENTION_MS) state = 'resolved';
      else state = 'inactive';
      if (state !== 'inactive') states[i]!.set(key, state);
      prev = state;
    }
  }
  return { states, notes: notes.map((n) => n.sort()) };
}

function round(v: number | null): string {
  return v === null ? 'null' : v.toPrecision(10);
}

// --- the system under test, driven through a real registry ---

class Capture implements AlertNotifier {
  readonly name = 'capture';
  seen: AlertNotification[] = [];
  notify(n: AlertNotification): void {
    this.seen.push(n);
  }
}

async function actual(rule: AlertRuleConfig, steps: readonly Step[]): Promise<{ states: Map<string, State>[]; notes: string[][] }> {
  const clock = new ManualClock(T0);
  const metrics = new FreshetMetrics({ clock });
  const gauge = registerFamily(metrics.registry, new GaugeFamily({ name: 'oracle_value', help: 'x', labelNames: ['pipeline', 'topic'] }));
  const capture = new Capture();
  const alerts = new AlertManager({ registry: metrics.registry, rules: [rule], clock, evaluationIntervalMs: INTERVAL_MS, notifiers: [capture], logger: null });
  const states: Map<string, State>[] = [];
  const notes: string[][] = [];
  for (const step of steps) {
    step.values.forEach((v, s) => {
      const { pipeline, topic } = SERIES[s]!;
      if (v === null) gauge.remove(pipeline, topic);
      else gauge.child(pipeline, topic).set(v);
    });
    clock.advance(step.dtMs);
    capture.seen = [];
    await alerts.evaluate();
    expect(alerts.status().lastError).toBeNull();
    const m = new Map<string, State>();
    for (const inst of alerts.list()[0]!.instances) if (inst.state !== 'inactive') m.set(groupKey(inst.groupLabels), inst.state);
    states.push(m);
    notes.push(capture.seen.map((n) => `${n.status}|${groupKey(Object.fromEntries(Object.entries(n.labels).filter(([k]) => k === 'pipeline' || k === 'topic')))}|${round(n.value)}`).sort());
    for (const n of capture.seen) expect(n.atMs).toBe(clock.nowMs());
  }
  return { states, notes };
}

// --- generators ---

const matchArb = fc.constantFrom<Record<string, LabelMatcher> | undefined>(
  undefined,
  { pipeline: 'a' },
  { topic: { ne: 'x' } },
  { pipeline: { re: 'a|b' } },
  { topic: { nre: 'y' } },
  { pipeline: 'c' },
);
const groupByArb = fc.constantFrom<string[] | undefined>(undefined, [], ['pipeline'], ['topic'], ['pipeline', 'topic']);
const aggArb = fc.constantFrom<Aggregation | undefined>(undefined, 'sum', 'max', 'min', 'avg', 'count');
const opArb = fc.constantFrom<CompareOp>('>', '>=', '<', '<=', '==', '!=');
const forArb = fc.constantFrom(0, 1000, 2500, 6000);
const metric = 'oracle_value';

const ruleArb: fc.Arbitrary<AlertRuleConfig> = fc.oneof(
  fc.record({ match: matchArb, groupBy: groupByArb, aggregate: aggArb, op: opArb, value: fc.integer({ min: 0, max: 25 }), forMs: forArb }).map(({ forMs, ...c }) => ({
    name: 'Oracle',
    forMs,
    condition: { kind: 'threshold' as const, metric, ...clean(c) },
  })),
  // Rate thresholds end in .37: no rate of these integer counters over these windows can equal one, so
  // float summation order cannot flip a comparison.
  fc
    .record({ match: matchArb, groupBy: groupByArb, aggregate: aggArb, op: fc.constantFrom<CompareOp>('>', '>=', '<', '<='), value: fc.constantFrom(0.37, 1.37, 2.37, 4.37), windowMs: fc.constantFrom(2000, 5000, 10_000), forMs: forArb })
    .map(({ forMs, ...c }) => ({ name: 'Oracle', forMs, condition: { kind: 'rate' as const, metric, ...clean(c) } })),
  fc.record({ match: matchArb, windowMs: fc.constantFrom<number | undefined>(undefined, 1000, 3000, 6000), forMs: forArb }).map(({ forMs, ...c }) => ({
    name: 'Oracle',
    forMs,
    condition: { kind: 'absent' as const, metric, ...clean(c) },
  })),
);

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const rawStepsArb = fc.array(
  fc.record({
    dtMs: fc.constantFrom(500, 1000, 1000, 2000, 3000, RESOLVED_RETENTION_MS, RESOLVED_RETENTION_MS + 1),
    values: fc.array(fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 5, arbitrary: fc.integer({ min: 0, max: 10 }) }), { minLength: 4, maxLength: 4 }),
  }),
  { minLength: 1, maxLength: 40 },
);

/** Counter-like sequences: each raw r adds r - 1, and r = 0 resets the counter to 0. */
function asCounters(steps: readonly Step[]): Step[] {
  const counters = [0, 0, 0, 0];
  return steps.map((s) => ({
    dtMs: s.dtMs,
    values: s.values.map((r, i) => {
      if (r === null) return null;
      counters[i] = r === 0 ? 0 : counters[i]! + r - 1;
      return counters[i]!;
    }),
  }));
}

describe('AlertManager vs a brute-force reference evaluator', () => {
  it('agrees on every state and every notification over random rules and metric sequences', async () => {
    await fc.assert(
      fc.asyncProperty(ruleArb, rawStepsArb, fc.boolean(), async (rule, raw, counters) => {
        const steps = rule.condition.kind === 'rate' || counters ? asCounters(raw) : raw;
        const want = reference(rule, steps);
        const got = await actual(rule, steps);
        for (let i = 0; i < steps.length; i++) {
          expect(Object.fromEntries(got.states[i]!), `states at evaluation ${i}`).toEqual(Object.fromEntries(want.states[i]!));
          expect(got.notes[i], `notifications at evaluation ${i}`).toEqual(want.notes[i]);
        }
      }),
      { numRuns: 400 },
    );
  });
});
