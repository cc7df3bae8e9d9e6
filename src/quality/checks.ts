/**
 * Builders of data-quality check specs (`checks.range(...)` and friends): they validate their arguments
 * with coded errors, fill every default, and return the plain spec an `expect` plan node carries (see
 * src/plan/quality-check.ts).
 */
import { ErrorCodes, FreshetError } from '../core/errors.js';
import {
  type AnomalyRule,
  type CompletenessCheck,
  type FieldPath,
  type FreshnessCheck,
  type NotNullCheck,
  type OneOfCheck,
  type PatternCheck,
  type PredicateCheck,
  type QualityAction,
  QUALITY_ACTIONS,
  type QualityCheck,
  type RangeCheck,
  type Scalar,
  type SchemaCheck,
  type StandardSchemaLike,
  type UniqueCheck,
  type VolumeCheck,
} from '../plan/quality-check.js';
import { compileFieldPath } from './field-path.js';
import { QualityLimits } from './limits.js';

/** Anomaly rule defaults: the last 30 windows, 3 standard deviations, speaking after 10 windows, σ ≥ 1. */
export const DEFAULT_ANOMALY_RULE: AnomalyRule = { windows: 30, k: 3, minWindows: 10, minStddev: 1 };

/** Options of `checks.range`. */
export interface RangeOptions {
  readonly min?: number;
  readonly max?: number;
  /** Default true. */
  readonly minInclusive?: boolean;
  /** Default true. */
  readonly maxInclusive?: boolean;
}

/** Options of `checks.unique`. */
export interface UniqueOptions {
  /** How long (event time) an id is remembered. */
  readonly horizonMs: number;
  /** Ids kept at most (default QualityLimits.defaultMaxDedupKeys). */
  readonly maxKeys?: number;
}

/** Options of `checks.freshness`: at least one bound. */
export interface FreshnessOptions {
  readonly maxBehindWatermarkMs?: number;
  readonly maxBehindWallClockMs?: number;
}

/** Options of `checks.completeness`. */
export interface CompletenessOptions {
  readonly windowMs: number;
  readonly fields: readonly FieldPath[];
  /** The highest acceptable share (0..1) of missing/null values per field per window. */
  readonly maxNullShare: number;
}

/** Options of `checks.volume`: bounds and/or the anomaly rule. */
export interface VolumeOptions {
  readonly windowMs: number;
  readonly min?: number;
  readonly max?: number;
  /** `true` for DEFAULT_ANOMALY_RULE, or some of its settings. */
  readonly anomaly?: boolean | Partial<AnomalyRule>;
}

/**
 * The check builders. Each returns a resolved, validated spec for `.expect(check, { action, name })`.
 *
 * @example
 * ```ts
 * import { checks } from 'freshet';
 * p.source<Order>('orders', { eventTime: 'ts' })
 *   .expect(checks.notNull('id', 'customer.id'), { name: 'ids-present' })
 *   .expect(checks.range('total', { min: 0 }), { name: 'total-non-negative' })
 *   .expect(checks.unique('id', { horizonMs: 3_600_000 }), { name: 'no-duplicate-orders' })
 *   .expect(checks.volume({ windowMs: 60_000, min: 1, anomaly: true }), { name: 'orders-volume', action: 'warn' });
 * ```
 */
export const checks = {
  /**
   * The value matches a Standard Schema (zod 4, valibot...) or a JSON Schema object.
   *
   * @example
   * ```ts
   * checks.schema(z.object({ id: z.string() }));
   * checks.schema({ type: 'object', required: ['id'] });
   * ```
   */
  schema(schema: StandardSchemaLike | object | boolean): SchemaCheck {
    return validateCheck(isStandardSchemaLike(schema) ? { kind: 'schema', standardSchema: schema } : { kind: 'schema', jsonSchema: schema });
  },

  /**
   * Every field is present and not null.
   *
   * @example
   * ```ts
   * checks.notNull('id', 'customer.id');
   * ```
   */
  notNull(...fields: FieldPath[]): NotNullCheck {
    return validateCheck({ kind: 'notNull', fields });
  },

  /**
   * The field is a finite number within [min, max] (bounds inclusive unless said otherwise).
   *
   * @example
   * ```ts
   * checks.range('discount', { min: 0, max: 1, maxInclusive: false });
   * ```
   */
  range(field: FieldPath, options: RangeOptions): RangeCheck {
    return validateCheck({
      kind: 'range',
      field,
      min: options.min ?? null,
      max: options.max ?? null,
      minInclusive: options.minInclusive ?? true,
      maxInclusive: options.maxInclusive ?? true,
    });
  },

  /**
   * The field is one of the values.
   *
   * @example
   * ```ts
   * checks.oneOf('currency', ['EUR', 'USD', 'GBP']);
   * ```
   */
  oneOf(field: FieldPath, values: readonly Scalar[]): OneOfCheck {
    return validateCheck({ kind: 'oneOf', field, values: [...values] });
  },

  /**
   * The field is a string matching the pattern.
   *
   * @example
   * ```ts
   * checks.pattern('sku', /^[A-Z]{3}-\d{4}$/);
   * ```
   */
  pattern(field: FieldPath, pattern: RegExp | string): PatternCheck {
    const source = typeof pattern === 'string' ? pattern : pattern.source;
    const flags = typeof pattern === 'string' ? '' : pattern.flags.replace(/[gy]/g, '');
    return validateCheck({ kind: 'pattern', field, source, flags });
  },

  /**
   * A user predicate; `reason` is the dead letter's reason when it returns false (or throws).
   *
   * @example
   * ```ts
   * checks.predicate((o: Order) => o.paid <= o.total, 'paid exceeds total');
   * ```
   */
  predicate<T>(fn: (value: T) => boolean, reason: string): PredicateCheck {
    return validateCheck({ kind: 'predicate', fn: fn as (value: unknown) => boolean, reason });
  },

  /**
   * De-duplication by id within a horizon of event time.
   *
   * @example
   * ```ts
   * checks.unique('eventId', { horizonMs: 10 * 60_000 });
   * checks.unique((o: Order) => `${o.customer}/${o.number}`, { horizonMs: 86_400_000, maxKeys: 2_000_000 });
   * ```
   */
  unique<T>(id: FieldPath | ((value: T) => string | number), options: UniqueOptions): UniqueCheck {
    return validateCheck({
      kind: 'unique',
      id: id as UniqueCheck['id'],
      horizonMs: options.horizonMs,
      maxKeys: options.maxKeys ?? QualityLimits.defaultMaxDedupKeys,
    });
  },

  /**
   * Event time at most this far behind the watermark and/or the wall clock.
   *
   * @example
   * ```ts
   * checks.freshness({ maxBehindWallClockMs: 5 * 60_000 });
   * ```
   */
  freshness(options: FreshnessOptions): FreshnessCheck {
    return validateCheck({
      kind: 'freshness',
      maxBehindWatermarkMs: options.maxBehindWatermarkMs ?? null,
      maxBehindWallClockMs: options.maxBehindWallClockMs ?? null,
    });
  },

  /**
   * The share of missing/null values per field per tumbling window stays at or below a bound.
   *
   * @example
   * ```ts
   * checks.completeness({ windowMs: 60_000, fields: ['region', 'customer.id'], maxNullShare: 0.01 });
   * ```
   */
  completeness(options: CompletenessOptions): CompletenessCheck {
    return validateCheck({ kind: 'completeness', windowMs: options.windowMs, fields: [...options.fields], maxNullShare: options.maxNullShare });
  },

  /**
   * The count per tumbling window within [min, max], and/or not an anomaly of the recent counts.
   *
   * @example
   * ```ts
   * checks.volume({ windowMs: 60_000, min: 100, anomaly: { windows: 60, k: 4 } });
   * ```
   */
  volume(options: VolumeOptions): VolumeCheck {
    const a = options.anomaly;
    const anomaly = a === undefined || a === false ? null : a === true ? DEFAULT_ANOMALY_RULE : resolveAnomaly(a);
    return validateCheck({ kind: 'volume', windowMs: options.windowMs, min: options.min ?? null, max: options.max ?? null, anomaly });
  },
} as const;

function resolveAnomaly(a: Partial<AnomalyRule>): AnomalyRule {
  const windows = a.windows ?? DEFAULT_ANOMALY_RULE.windows;
  return {
    windows,
    k: a.k ?? DEFAULT_ANOMALY_RULE.k,
    minWindows: a.minWindows ?? Math.min(windows, DEFAULT_ANOMALY_RULE.minWindows),
    minStddev: a.minStddev ?? DEFAULT_ANOMALY_RULE.minStddev,
  };
}

function isStandardSchemaLike(value: unknown): value is StandardSchemaLike {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const props = (value as { '~standard'?: { validate?: unknown } })['~standard'];
  return typeof props === 'object' && props !== null && typeof props.validate === 'function';
}

function invalid(message: string): FreshetError {
  return new FreshetError(ErrorCodes.INVALID_ARGUMENT, message);
}

function requirePositiveMs(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw invalid(`${what} must be a positive integer (ms), got ${String(value)}`);
}

function requireFields(fields: unknown, what: string): void {
  if (!Array.isArray(fields) || fields.length === 0) throw invalid(`${what} needs at least one field path`);
  if (fields.length > QualityLimits.maxFields) throw invalid(`${what} has ${fields.length} fields; at most ${QualityLimits.maxFields}`);
  for (const f of fields) compileFieldPath(f as FieldPath);
}

/**
 * Checks a spec (also a hand-written one) and returns it; throws FRESHET_INVALID_ARGUMENT naming the
 * problem. The operator calls it again, so a plan from anywhere is checked before it runs.
 *
 * @example
 * ```ts
 * validateCheck({ kind: 'range', field: 'x', min: 5, max: 1, minInclusive: true, maxInclusive: true }); // throws: min > max
 * ```
 */
export function validateCheck<C extends QualityCheck>(check: C): C {
  if (typeof check !== 'object' || check === null) throw invalid('a quality check must be an object (use checks.*)');
  const c = check as QualityCheck;
  switch (c.kind) {
    case 'schema':
      if ('standardSchema' in c) {
        if (!isStandardSchemaLike(c.standardSchema)) throw invalid('checks.schema: standardSchema has no ~standard.validate');
      } else if (typeof c.jsonSchema !== 'boolean' && (typeof c.jsonSchema !== 'object' || c.jsonSchema === null || Array.isArray(c.jsonSchema))) {
        throw invalid('checks.schema: expected a Standard Schema (zod, valibot...) or a JSON Schema object');
      }
      break;
    case 'notNull':
      requireFields(c.fields, 'checks.notNull');
      break;
    case 'range':
      compileFieldPath(c.field);
      if (c.min === null && c.max === null) throw invalid(`checks.range('${c.field}') needs min and/or max`);
      for (const [name, bound] of [['min', c.min], ['max', c.max]] as const) {
        if (bound !== null && (typeof bound !== 'number' || Number.isNaN(bound))) throw invalid(`checks.range('${c.field}'): ${name} must be a number`);
      }
      if (c.min !== null && c.max !== null && c.min > c.max) throw invalid(`checks.range('${c.field}'): min ${c.min} is above max ${c.max}`);
      break;
    case 'oneOf':
      compileFieldPath(c.field);
      if (!Array.isArray(c.values) || c.values.length === 0) throw invalid(`checks.oneOf('${c.field}') needs at least one value`);
      if (c.values.length > QualityLimits.maxOneOfValues) throw invalid(`checks.oneOf('${c.field}'): at most ${QualityLimits.maxOneOfValues} values`);
      for (const v of c.values) {
        if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          throw invalid(`checks.oneOf('${c.field}'): values must be strings, numbers, booleans or null`);
        }
      }
      break;
    case 'pattern':
      compileFieldPath(c.field);
      try {
        new RegExp(c.source, c.flags);
      } catch (error) {
        throw invalid(`checks.pattern('${c.field}'): ${(error as Error).message}`);
      }
      if (/[gy]/.test(c.flags)) throw invalid(`checks.pattern('${c.field}'): flags g and y make a pattern stateful; drop them`);
      break;
    case 'predicate':
      if (typeof c.fn !== 'function') throw invalid('checks.predicate needs a function');
      if (typeof c.reason !== 'string' || c.reason.length === 0) throw invalid('checks.predicate needs a reason');
      break;
    case 'unique':
      if (typeof c.id !== 'function') compileFieldPath(c.id);
      requirePositiveMs(c.horizonMs, 'checks.unique horizonMs');
      if (!Number.isSafeInteger(c.maxKeys) || c.maxKeys < 1 || c.maxKeys > QualityLimits.maxDedupKeys) {
        throw invalid(`checks.unique maxKeys must be an integer in [1, ${QualityLimits.maxDedupKeys}], got ${c.maxKeys}`);
      }
      break;
    case 'freshness':
      if (c.maxBehindWatermarkMs === null && c.maxBehindWallClockMs === null) throw invalid('checks.freshness needs maxBehindWatermarkMs and/or maxBehindWallClockMs');
      if (c.maxBehindWatermarkMs !== null) requirePositiveMs(c.maxBehindWatermarkMs, 'checks.freshness maxBehindWatermarkMs');
      if (c.maxBehindWallClockMs !== null) requirePositiveMs(c.maxBehindWallClockMs, 'checks.freshness maxBehindWallClockMs');
      break;
    case 'completeness':
      requirePositiveMs(c.windowMs, 'checks.completeness windowMs');
      requireFields(c.fields, 'checks.completeness');
      if (typeof c.maxNullShare !== 'number' || !(c.maxNullShare >= 0 && c.maxNullShare <= 1)) {
        throw invalid(`checks.completeness maxNullShare must be in [0, 1], got ${String(c.maxNullShare)}`);
      }
      break;
    case 'volume': {
      requirePositiveMs(c.windowMs, 'checks.volume windowMs');
      for (const [name, bound] of [['min', c.min], ['max', c.max]] as const) {
        if (bound !== null && (!Number.isSafeInteger(bound) || bound < 0)) throw invalid(`checks.volume ${name} must be a non-negative integer`);
      }
      if (c.min !== null && c.max !== null && c.min > c.max) throw invalid(`checks.volume: min ${c.min} is above max ${c.max}`);
      const a = c.anomaly;
      if (a !== null) {
        if (!Number.isSafeInteger(a.windows) || a.windows < 2 || a.windows > QualityLimits.maxAnomalyWindows) {
          throw invalid(`checks.volume anomaly.windows must be an integer in [2, ${QualityLimits.maxAnomalyWindows}]`);
        }
        if (!Number.isSafeInteger(a.minWindows) || a.minWindows < 2 || a.minWindows > a.windows) throw invalid('checks.volume anomaly.minWindows must be an integer in [2, windows]');
        if (typeof a.k !== 'number' || !(a.k > 0) || !Number.isFinite(a.k)) throw invalid('checks.volume anomaly.k must be a positive number');
        if (typeof a.minStddev !== 'number' || !(a.minStddev >= 0) || !Number.isFinite(a.minStddev)) throw invalid('checks.volume anomaly.minStddev must be >= 0');
      }
      if (c.min === null && c.max === null && a === null) throw invalid('checks.volume needs min, max and/or anomaly');
      break;
    }
    default:
      throw invalid(`unknown quality check kind '${String((c as { kind?: unknown }).kind)}'`);
  }
  return check;
}

/**
 * Checks an action name.
 *
 * @example
 * ```ts
 * validateAction('warn'); // 'warn'
 * ```
 */
export function validateAction(action: unknown): QualityAction {
  if (!QUALITY_ACTIONS.includes(action as QualityAction)) throw invalid(`a quality action is one of ${QUALITY_ACTIONS.join(', ')}; got ${String(action)}`);
  return action as QualityAction;
}

/**
 * The spec as JSON-safe data: a Standard Schema becomes `{ standardSchema: '<vendor>' }`, functions
 * become `"fn"` (as `describePlan` does). Stable across runs.
 *
 * @example
 * ```ts
 * describeCheck(checks.schema(z.object({}))) // { kind: 'schema', standardSchema: 'zod' }
 * ```
 */
export function describeCheck(check: QualityCheck): unknown {
  if (check.kind === 'schema' && 'standardSchema' in check) return { kind: 'schema', standardSchema: check.standardSchema['~standard'].vendor };
  return Object.fromEntries(Object.entries(check).map(([k, v]) => [k, typeof v === 'function' ? 'fn' : v]));
}

/**
 * A human summary of a check, used in messages and docs: `range(amount in [0, 100])`.
 *
 * @example
 * ```ts
 * summarizeCheck(checks.notNull('id')) // 'notNull(id)'
 * ```
 */
export function summarizeCheck(check: QualityCheck): string {
  switch (check.kind) {
    case 'schema':
      return 'standardSchema' in check ? `schema(${check.standardSchema['~standard'].vendor})` : 'schema(json)';
    case 'notNull':
      return `notNull(${check.fields.join(', ')})`;
    case 'range':
      return `range(${check.field} in ${intervalText(check)})`;
    case 'oneOf':
      return `oneOf(${check.field})`;
    case 'pattern':
      return `pattern(${check.field} ~ /${check.source}/${check.flags})`;
    case 'predicate':
      return `predicate(${check.reason})`;
    case 'unique':
      return `unique(${typeof check.id === 'function' ? 'fn' : check.id} within ${check.horizonMs} ms)`;
    case 'freshness':
      return `freshness(${[check.maxBehindWatermarkMs !== null ? `watermark ${check.maxBehindWatermarkMs} ms` : '', check.maxBehindWallClockMs !== null ? `wall clock ${check.maxBehindWallClockMs} ms` : ''].filter(Boolean).join(', ')})`;
    case 'completeness':
      return `completeness(${check.fields.join(', ')} null share <= ${check.maxNullShare} per ${check.windowMs} ms)`;
    case 'volume':
      return `volume(per ${check.windowMs} ms)`;
  }
}

/**
 * A range's interval in math notation: `[0, 100)`, `(-∞, 5]`.
 *
 * @example
 * ```ts
 * intervalText(checks.range('x', { min: 0 })) // '[0, ∞)'
 * ```
 */
export function intervalText(check: RangeCheck): string {
  const lo = check.min === null ? '(-∞' : `${check.minInclusive ? '[' : '('}${check.min}`;
  const hi = check.max === null ? '∞)' : `${check.max}${check.maxInclusive ? ']' : ')'}`;
  return `${lo}, ${hi}`;
}
