/**
 * Record-level checks, compiled once from their specs: regexes, JSON Schemas, field paths and value sets
 * are prepared in the constructor, so judging a record is a method call with no allocation unless it
 * fails (the reason string).
 */
import { type ErrorCode, ErrorCodes, FreshetError } from '../core/errors.js';
import type {
  FreshnessCheck,
  NotNullCheck,
  OneOfCheck,
  PatternCheck,
  PredicateCheck,
  RangeCheck,
  RecordCheck,
  Scalar,
  SchemaCheck,
  UniqueCheck,
} from '../plan/quality-check.js';
// The JSON Schema compiler (one ajv per draft, formats, strict schemas) is shared with ingest.
import { JsonSchemaCompiler } from '../server/validators.js';
import { intervalText } from './checks.js';
import { truncateReason } from './dead-letter.js';
import { DedupState } from './dedup.js';
import { type CompiledPath, compileFieldPath, readField } from './field-path.js';

/**
 * A compiled record check. The operator calls `begin` once per batch (with the watermark and the time
 * then), `judge` per record, and `watermark` when its watermark advances.
 *
 * @example
 * ```ts
 * const judge = compileRecordCheck(checks.range('amount', { min: 0 }));
 * judge.begin(-Infinity, Date.now());
 * judge.judge({ amount: -1 }, 0); // 'amount is outside [0, ∞)'
 * ```
 */
export interface RecordJudge {
  /** The dead letter's code. */
  readonly code: ErrorCode;
  begin(watermarkMs: number, nowMs: number): void;
  /** null when the record passes, else why it failed. */
  judge(value: unknown, timestampMs: number): string | null;
  watermark(watermarkMs: number): void;
}

abstract class StatelessJudge implements RecordJudge {
  readonly code: ErrorCode = ErrorCodes.QUALITY_CHECK_FAILED;
  begin(): void {}
  watermark(): void {}
  abstract judge(value: unknown, timestampMs: number): string | null;
}

/** One compiler for the whole process: ajv instances are costly, compiled schemas are cached by ajv. */
let jsonSchemas: JsonSchemaCompiler | undefined;

class SchemaJudge extends StatelessJudge {
  override readonly code: ErrorCode = ErrorCodes.SCHEMA_VIOLATION;
  private readonly validate: (value: unknown) => string | null;

  constructor(check: SchemaCheck, where: string) {
    super();
    if ('standardSchema' in check) {
      const validate = check.standardSchema['~standard'].validate;
      this.validate = (value) => {
        const result = validate(value);
        if (result instanceof Promise) {
          result.catch(() => {}); // never an unhandled rejection
          throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${where}: the schema validates asynchronously; pipeline checks need a synchronous schema (validate async schemas at ingest)`);
        }
        return standardReason(result as StandardResult);
      };
    } else {
      jsonSchemas ??= new JsonSchemaCompiler();
      this.validate = jsonSchemas.compile(check.jsonSchema, where) as (value: unknown) => string | null;
    }
  }

  judge(value: unknown): string | null {
    return this.validate(value);
  }
}

interface StandardResult {
  readonly issues?: readonly { readonly message: string; readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] }[];
}

/** The first few issues as `path: message; ...` (as ingest words them). */
function standardReason(result: StandardResult): string | null {
  if (!result.issues) return null;
  const parts: string[] = [];
  for (const issue of result.issues.slice(0, 5)) {
    const path = issue.path?.map((p) => String(typeof p === 'object' && p !== null ? p.key : p)).join('.');
    parts.push(path ? `${path}: ${issue.message}` : issue.message);
  }
  if (result.issues.length > 5) parts.push(`(${result.issues.length - 5} more)`);
  return truncateReason(parts.join('; ') || 'schema validation failed');
}

class NotNullJudge extends StatelessJudge {
  private readonly paths: readonly CompiledPath[];
  private readonly reasons: readonly string[];
  constructor(check: NotNullCheck) {
    super();
    this.paths = check.fields.map(compileFieldPath);
    this.reasons = check.fields.map((f) => `${f} is missing or null`);
  }
  judge(value: unknown): string | null {
    const paths = this.paths;
    for (let f = 0; f < paths.length; f++) {
      const v = readField(value, paths[f]!);
      if (v === null || v === undefined) return this.reasons[f]!;
    }
    return null;
  }
}

class RangeJudge extends StatelessJudge {
  private readonly path: CompiledPath;
  private readonly min: number;
  private readonly max: number;
  private readonly outside: string;
  private readonly notNumber: string;
  constructor(private readonly check: RangeCheck) {
    super();
    this.path = compileFieldPath(check.field);
    this.min = check.min ?? Number.NEGATIVE_INFINITY;
    this.max = check.max ?? Number.POSITIVE_INFINITY;
    this.outside = `${check.field} is outside ${intervalText(check)}`;
    this.notNumber = `${check.field} is not a number`;
  }
  judge(value: unknown): string | null {
    const v = readField(value, this.path);
    if (typeof v !== 'number' || Number.isNaN(v)) return this.notNumber;
    const { min, max, check } = this;
    if (v < min || (v === min && !check.minInclusive) || v > max || (v === max && !check.maxInclusive)) return this.outside;
    return null;
  }
}

class OneOfJudge extends StatelessJudge {
  private readonly path: CompiledPath;
  private readonly allowed: ReadonlySet<Scalar>;
  private readonly reason: string;
  constructor(check: OneOfCheck) {
    super();
    this.path = compileFieldPath(check.field);
    this.allowed = new Set(check.values);
    this.reason = truncateReason(`${check.field} is not one of ${JSON.stringify(check.values)}`);
  }
  judge(value: unknown): string | null {
    const v = readField(value, this.path);
    // undefined is never allowed (oneOf values are JSON scalars; null is allowed only when listed).
    return v !== undefined && this.allowed.has(v as Scalar) ? null : this.reason;
  }
}

class PatternJudge extends StatelessJudge {
  private readonly path: CompiledPath;
  private readonly regex: RegExp;
  private readonly reason: string;
  private readonly notString: string;
  constructor(check: PatternCheck) {
    super();
    this.path = compileFieldPath(check.field);
    this.regex = new RegExp(check.source, check.flags);
    this.reason = truncateReason(`${check.field} does not match /${check.source}/${check.flags}`);
    this.notString = `${check.field} is not a string`;
  }
  judge(value: unknown): string | null {
    const v = readField(value, this.path);
    if (typeof v !== 'string') return this.notString;
    return this.regex.test(v) ? null : this.reason;
  }
}

class PredicateJudge extends StatelessJudge {
  private readonly reason: string;
  constructor(private readonly check: PredicateCheck) {
    super();
    this.reason = truncateReason(check.reason);
  }
  judge(value: unknown): string | null {
    // A predicate that throws has judged the record bad; the message says how. The try is per record, but
    // V8 keeps non-throwing try blocks cheap, and a user function must never stop the pipeline.
    try {
      return this.check.fn(value) ? null : this.reason;
    } catch (error) {
      return truncateReason(`${this.check.reason} (the predicate threw: ${(error as Error)?.message ?? String(error)})`);
    }
  }
}

class UniqueJudge implements RecordJudge {
  readonly code: ErrorCode = ErrorCodes.QUALITY_CHECK_FAILED;
  readonly state: DedupState;
  private readonly path: CompiledPath | null;
  private readonly idFn: ((value: unknown) => string | number) | null;
  private readonly duplicate: string;
  private readonly noId: string;
  private watermarkMs = Number.NEGATIVE_INFINITY;

  constructor(check: UniqueCheck) {
    this.state = new DedupState(check.horizonMs, check.maxKeys);
    this.path = typeof check.id === 'function' ? null : compileFieldPath(check.id);
    this.idFn = typeof check.id === 'function' ? check.id : null;
    const idName = typeof check.id === 'function' ? 'id' : check.id;
    this.duplicate = `duplicate ${idName} within ${check.horizonMs} ms`;
    this.noId = `${idName} is missing or not a string or number`;
  }

  begin(watermarkMs: number): void {
    this.watermarkMs = watermarkMs;
  }

  judge(value: unknown, timestampMs: number): string | null {
    let id: unknown;
    if (this.idFn !== null) {
      try {
        id = this.idFn(value);
      } catch (error) {
        return truncateReason(`the id function threw: ${(error as Error)?.message ?? String(error)}`);
      }
    } else {
      id = readField(value, this.path!);
    }
    if (typeof id !== 'string' && (typeof id !== 'number' || Number.isNaN(id))) return this.noId;
    return this.state.isDuplicate(id, timestampMs, this.watermarkMs) ? this.duplicate : null;
  }

  watermark(watermarkMs: number): void {
    this.watermarkMs = watermarkMs;
    this.state.expire(watermarkMs);
  }
}

class FreshnessJudge implements RecordJudge {
  readonly code: ErrorCode = ErrorCodes.QUALITY_CHECK_FAILED;
  private readonly maxBehindWatermarkMs: number;
  private readonly maxBehindWallClockMs: number;
  private readonly behindWatermark: string;
  private readonly behindWallClock: string;
  private oldestByWatermarkMs = Number.NEGATIVE_INFINITY;
  private oldestByClockMs = Number.NEGATIVE_INFINITY;

  constructor(check: FreshnessCheck) {
    this.maxBehindWatermarkMs = check.maxBehindWatermarkMs ?? Number.POSITIVE_INFINITY;
    this.maxBehindWallClockMs = check.maxBehindWallClockMs ?? Number.POSITIVE_INFINITY;
    this.behindWatermark = `event time is more than ${check.maxBehindWatermarkMs} ms behind the watermark`;
    this.behindWallClock = `event time is more than ${check.maxBehindWallClockMs} ms behind the wall clock`;
  }

  begin(watermarkMs: number, nowMs: number): void {
    // The oldest event time still fresh, by each reference: one comparison per record.
    this.oldestByWatermarkMs = watermarkMs - this.maxBehindWatermarkMs;
    this.oldestByClockMs = nowMs - this.maxBehindWallClockMs;
  }

  judge(_value: unknown, timestampMs: number): string | null {
    if (timestampMs < this.oldestByWatermarkMs) return this.behindWatermark;
    if (timestampMs < this.oldestByClockMs) return this.behindWallClock;
    return null;
  }

  watermark(): void {}
}

/**
 * Compiles a record check. `where` names it in configuration errors (an invalid JSON Schema).
 *
 * @example
 * ```ts
 * const judge = compileRecordCheck(checks.notNull('id'), "check 'ids'");
 * ```
 */
export function compileRecordCheck(check: RecordCheck, where = 'quality check'): RecordJudge {
  switch (check.kind) {
    case 'schema':
      return new SchemaJudge(check, where);
    case 'notNull':
      return new NotNullJudge(check);
    case 'range':
      return new RangeJudge(check);
    case 'oneOf':
      return new OneOfJudge(check);
    case 'pattern':
      return new PatternJudge(check);
    case 'predicate':
      return new PredicateJudge(check);
    case 'unique':
      return new UniqueJudge(check);
    case 'freshness':
      return new FreshnessJudge(check);
  }
}
