/**
 * Data-quality check specs: what an `expect` plan node carries. Plain data wherever possible (JSON
 * Schemas, field paths, bounds, regex source), so a plan can be described, compared and shown; the only
 * non-serialisable parts are a Standard Schema object, a user id function and a user predicate, which
 * `describeCheck` (src/quality/checks.ts) replaces by a marker as `describePlan` does with functions.
 *
 * Specs here are *resolved*: every optional setting has its value (the builders in src/quality/checks.ts
 * fill defaults and validate), so the runtime never guesses. Make them with `checks.*`, not by hand.
 *
 * @example
 * ```ts
 * import { checks } from 'freshet';
 * const spec: QualityCheck = checks.range('amount', { min: 0, max: 10_000 });
 * // { kind: 'range', field: 'amount', min: 0, max: 10000, minInclusive: true, maxInclusive: true }
 * ```
 */

/**
 * What happens to a record that fails a check: `dlq` (default) sends it to the dead-letter topic and
 * drops it from the stream, `warn` only counts it (the record flows on), `fail` stops the pipeline with
 * FRESHET_QUALITY_CHECK_FAILED. Window checks (completeness, volume) have no record to dead-letter: for
 * them `dlq` means `warn` (a metric and a quality event).
 *
 * @example
 * ```ts
 * const action: QualityAction = 'warn';
 * ```
 */
export type QualityAction = 'dlq' | 'warn' | 'fail';

/** The actions, for validation. */
export const QUALITY_ACTIONS: readonly QualityAction[] = ['dlq', 'warn', 'fail'];

/**
 * A dotted path into a record value: `user.id`, `items.0.price` (array indices are numbers). A missing
 * step reads as `undefined`.
 *
 * @example
 * ```ts
 * const path: FieldPath = 'customer.address.country';
 * ```
 */
export type FieldPath = string;

/** A JSON-safe scalar a `oneOf` check accepts. */
export type Scalar = string | number | boolean | null;

/**
 * The shape of a Standard Schema (zod 4, valibot, arktype...), structurally, so plan/ depends on no
 * validation library (see src/server/standard-schema.ts for the full interface).
 *
 * @example
 * ```ts
 * const schema: StandardSchemaLike = z.object({ id: z.string() });
 * ```
 */
export interface StandardSchemaLike {
  readonly '~standard': { readonly vendor: string; readonly validate: (value: unknown) => unknown };
}

/**
 * The value matches a schema: a JSON Schema (draft-07 or 2020-12, compiled once with ajv) or a Standard
 * Schema. Asynchronous Standard Schemas are refused when the operator first meets one (operators are
 * synchronous); validate those at ingest instead.
 *
 * @example
 * ```ts
 * const a: SchemaCheck = { kind: 'schema', jsonSchema: { type: 'object', required: ['id'] } };
 * const b: SchemaCheck = { kind: 'schema', standardSchema: z.object({ id: z.string() }) };
 * ```
 */
export type SchemaCheck =
  | { readonly kind: 'schema'; readonly jsonSchema: object | boolean }
  | { readonly kind: 'schema'; readonly standardSchema: StandardSchemaLike };

/**
 * Every field is present and not null.
 *
 * @example
 * ```ts
 * const c: NotNullCheck = { kind: 'notNull', fields: ['user', 'order.id'] };
 * ```
 */
export interface NotNullCheck {
  readonly kind: 'notNull';
  readonly fields: readonly FieldPath[];
}

/**
 * The field is a finite number within bounds (null bound = unbounded on that side).
 *
 * @example
 * ```ts
 * const c: RangeCheck = { kind: 'range', field: 'amount', min: 0, max: 100, minInclusive: true, maxInclusive: false };
 * ```
 */
export interface RangeCheck {
  readonly kind: 'range';
  readonly field: FieldPath;
  readonly min: number | null;
  readonly max: number | null;
  readonly minInclusive: boolean;
  readonly maxInclusive: boolean;
}

/**
 * The field equals one of the values (SameValueZero, as a Set compares).
 *
 * @example
 * ```ts
 * const c: OneOfCheck = { kind: 'oneOf', field: 'status', values: ['new', 'paid', 'shipped'] };
 * ```
 */
export interface OneOfCheck {
  readonly kind: 'oneOf';
  readonly field: FieldPath;
  readonly values: readonly Scalar[];
}

/**
 * The field is a string matching a regular expression (kept as source and flags; `g` and `y` are
 * dropped, they would make `test` stateful).
 *
 * @example
 * ```ts
 * const c: PatternCheck = { kind: 'pattern', field: 'email', source: '^[^@]+@[^@]+$', flags: '' };
 * ```
 */
export interface PatternCheck {
  readonly kind: 'pattern';
  readonly field: FieldPath;
  readonly source: string;
  readonly flags: string;
}

/**
 * A user predicate, for rules the declarative kinds do not cover (not serialisable).
 *
 * @example
 * ```ts
 * const c: PredicateCheck = { kind: 'predicate', fn: (v) => (v as Order).paid <= (v as Order).total, reason: 'paid exceeds total' };
 * ```
 */
export interface PredicateCheck {
  readonly kind: 'predicate';
  readonly fn: (value: unknown) => boolean;
  /** The dead letter's reason when `fn` returns false. */
  readonly reason: string;
}

/**
 * De-duplication: a record whose id was already kept within `horizonMs` of event time is a duplicate.
 * State is one entry per id (its kept event time), expired as the watermark passes `keptMs + horizonMs`,
 * and at most `maxKeys` entries (the oldest are evicted first, counted as outcome `evicted`).
 *
 * @example
 * ```ts
 * const c: UniqueCheck = { kind: 'unique', id: 'orderId', horizonMs: 3_600_000, maxKeys: 1_000_000 };
 * ```
 */
export interface UniqueCheck {
  readonly kind: 'unique';
  /** A field path, or a function of the value (its result must be a string or a number). */
  readonly id: FieldPath | ((value: unknown) => string | number);
  readonly horizonMs: number;
  readonly maxKeys: number;
}

/**
 * Freshness: the record's event time is at most so far behind the operator's watermark and/or the wall
 * clock (null = that side is not checked; at least one is set).
 *
 * @example
 * ```ts
 * const c: FreshnessCheck = { kind: 'freshness', maxBehindWatermarkMs: 60_000, maxBehindWallClockMs: null };
 * ```
 */
export interface FreshnessCheck {
  readonly kind: 'freshness';
  readonly maxBehindWatermarkMs: number | null;
  readonly maxBehindWallClockMs: number | null;
}

/**
 * Completeness per tumbling event-time window: for each field, the share of records where it is missing
 * or null must be at most `maxNullShare` (0..1). Raises quality events, never dead letters.
 *
 * @example
 * ```ts
 * const c: CompletenessCheck = { kind: 'completeness', windowMs: 60_000, fields: ['region'], maxNullShare: 0.05 };
 * ```
 */
export interface CompletenessCheck {
  readonly kind: 'completeness';
  readonly windowMs: number;
  readonly fields: readonly FieldPath[];
  readonly maxNullShare: number;
}

/**
 * The anomaly rule on the history of window counts: a window whose count is more than `k` standard
 * deviations (population, floored at `minStddev`) away from the mean of the previous `windows` counts is
 * anomalous; the rule only speaks once `minWindows` counts are known. Every closed window enters the
 * history, anomalous or not.
 *
 * @example
 * ```ts
 * const rule: AnomalyRule = { windows: 30, k: 3, minWindows: 10, minStddev: 1 };
 * ```
 */
export interface AnomalyRule {
  readonly windows: number;
  readonly k: number;
  readonly minWindows: number;
  readonly minStddev: number;
}

/**
 * Volume per tumbling event-time window: the record count must be within [min, max] (null = unbounded),
 * and, with `anomaly`, not an outlier of the recent counts. Windows with no record between two that had
 * some count as 0. Raises quality events, never dead letters.
 *
 * @example
 * ```ts
 * const c: VolumeCheck = { kind: 'volume', windowMs: 60_000, min: 1, max: null, anomaly: { windows: 30, k: 3, minWindows: 10, minStddev: 1 } };
 * ```
 */
export interface VolumeCheck {
  readonly kind: 'volume';
  readonly windowMs: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly anomaly: AnomalyRule | null;
}

/** Checks judged one record at a time (these can dead-letter). */
export type RecordCheck = SchemaCheck | NotNullCheck | RangeCheck | OneOfCheck | PatternCheck | PredicateCheck | UniqueCheck | FreshnessCheck;

/** Checks judged per window (these raise events and metrics). */
export type WindowCheck = CompletenessCheck | VolumeCheck;

/**
 * Any data-quality check: what the `expect` plan node carries.
 *
 * @example
 * ```ts
 * const node = { kind: 'expect', name: 'amount-range', input: 'source-orders', check: checks.range('amount', { min: 0 }), action: 'dlq', stage: 'source-orders' };
 * ```
 */
export type QualityCheck = RecordCheck | WindowCheck;

/**
 * True for the per-window kinds.
 *
 * @example
 * ```ts
 * isWindowCheck(checks.volume({ windowMs: 60_000, min: 1 })) // true
 * ```
 */
export function isWindowCheck(check: QualityCheck): check is WindowCheck {
  return check.kind === 'completeness' || check.kind === 'volume';
}

/**
 * What a check reports to metrics, per batch (never per record): `passed`, `dead_lettered`, `warned`,
 * `failed` (the `fail` action stopped the pipeline) for records; `evicted` (de-duplication state full);
 * `late` (a window check got a record for a window it had closed); `window_passed` and
 * `window_violated` for closed windows.
 *
 * @example
 * ```ts
 * const outcome: QualityOutcome = 'dead_lettered';
 * ```
 */
export type QualityOutcome = 'passed' | 'dead_lettered' | 'warned' | 'failed' | 'evicted' | 'late' | 'window_passed' | 'window_violated';

/**
 * The metrics callback a quality operator calls: `count` records (or windows) of `check` at `stage`
 * had `outcome`. Plain, so the observability layer plugs a Prometheus counter in.
 *
 * @example
 * ```ts
 * const metrics: QualityMetricsFn = (check, stage, outcome, count) => counter.inc({ check, stage, outcome }, count);
 * ```
 */
export type QualityMetricsFn = (check: string, stage: string, outcome: QualityOutcome, count: number) => void;

/**
 * A window check's finding, for alerting and the dashboard: one per broken rule of a closed window.
 *
 * @example
 * ```ts
 * const onEvent: QualityEventFn = (e) => log.warn({ check: e.check, rule: e.rule }, e.message);
 * ```
 */
export interface QualityEvent {
  readonly check: string;
  readonly stage: string;
  readonly rule: 'volume' | 'completeness' | 'anomaly';
  readonly action: QualityAction;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  /** Records in the window. */
  readonly count: number;
  readonly message: string;
  readonly details: Readonly<Record<string, number | string | null>>;
}

/**
 * Receives quality events (see QualityEvent).
 *
 * @example
 * ```ts
 * const events: QualityEvent[] = [];
 * const onEvent: QualityEventFn = (e) => events.push(e);
 * ```
 */
export type QualityEventFn = (event: QualityEvent) => void;
