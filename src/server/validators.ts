import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { truncateReason } from '../quality/dead-letter.js';
import { isRfc3339DateTime } from './event-time.js';
import type { StandardSchemaV1 } from './standard-schema.js';

/**
 * Checks one parsed event. Returns `null` when it is valid, else a human-readable reason. Standard
 * Schemas may be asynchronous (async refinements); those return a promise, everything else answers
 * synchronously so the ingest hot path allocates no promise per event.
 */
export type EventValidator = (event: unknown) => string | null | Promise<string | null>;

/** Longest reason kept (it travels in a DLQ header and in the response). */
export { MAX_DLQ_REASON_CHARS as MAX_REASON_CHARS } from '../core/headers.js';
export { truncateReason } from '../quality/dead-letter.js';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

/**
 * Compiles JSON Schemas once, with one shared Ajv instance per draft. Draft-07 is the default;
 * a schema whose `$schema` names 2020-12 is compiled by Ajv2020. Formats (`date-time`, `email`...)
 * come from ajv-formats. Unknown keywords are a configuration error (ajv's strictSchema), so a typo
 * in a schema fails at startup instead of silently validating nothing.
 *
 * @example
 * ```ts
 * const check = new JsonSchemaCompiler().compile({ type: 'object', required: ['id'] }, 'topics.orders.jsonSchema');
 * check({}) // "event must have required property 'id'"
 * ```
 */
export class JsonSchemaCompiler {
  private draft07: Ajv | undefined;
  private draft2020: Ajv | undefined;

  /** Compiles `schema` or throws FRESHET_INVALID_CONFIG naming `where` (e.g. `topics.orders.jsonSchema`). */
  compile(schema: unknown, where: string): EventValidator {
    if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) {
      throw new FreshetError(ErrorCodes.INVALID_CONFIG, `${where} must be a JSON Schema object or boolean`, { path: where });
    }
    let validate: ValidateFunction;
    try {
      validate = this.ajvFor(schema).compile(schema as object | boolean);
    } catch (error) {
      throw new FreshetError(
        ErrorCodes.INVALID_CONFIG,
        `${where} is not a valid JSON Schema: ${(error as Error).message}`,
        { path: where },
        { cause: error },
      );
    }
    const ajv = this.ajvFor(schema);
    return (event) => {
      if (validate(event)) return null;
      return truncateReason(ajvReason(ajv, validate.errors));
    };
  }

  private ajvFor(schema: unknown): Ajv {
    const draft = typeof schema === 'object' && schema !== null ? (schema as { $schema?: unknown }).$schema : undefined;
    if (typeof draft === 'string' && draft.includes('2020-12')) {
      this.draft2020 ??= configure(new Ajv2020(AJV_OPTIONS));
      return this.draft2020;
    }
    this.draft07 ??= configure(new Ajv(AJV_OPTIONS));
    return this.draft07;
  }
}

/** ajv's text, naming the offending property where ajv keeps it in params (additionalProperties). */
function ajvReason(ajv: Ajv, errors: ValidateFunction['errors']): string {
  let text = ajv.errorsText(errors, { dataVar: 'event' });
  const extra = errors?.[0]?.params as { additionalProperty?: unknown } | undefined;
  if (extra && typeof extra.additionalProperty === 'string') text += `: '${extra.additionalProperty}'`;
  return text;
}

const AJV_OPTIONS = {
  // First error only: enough for a DLQ reason, and faster on invalid events.
  allErrors: false,
  strictSchema: true,
  // Type-strictness warnings would go to the console for perfectly valid user schemas.
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
} as const;

function configure(ajv: Ajv): Ajv {
  addFormats(ajv);
  // Same RFC 3339 grammar as ajv-formats' date-time, parsed on char codes instead of three regexes:
  // event schemas very often carry a timestamp, so this runs once per event.
  ajv.addFormat('date-time', { type: 'string', validate: isRfc3339DateTime });
  return ajv;
}

/**
 * Wraps a Standard Schema (zod 4, valibot, arktype...) as an EventValidator.
 *
 * @example
 * ```ts
 * const check = standardSchemaValidator(z.object({ id: z.string() }));
 * check({ id: 1 }); // 'id: Invalid input: expected string, received number'
 * ```
 */
export function standardSchemaValidator(schema: StandardSchemaV1): EventValidator {
  const validate = schema['~standard'].validate;
  return (event) => {
    const result = validate(event);
    if (result instanceof Promise) return result.then(reasonOf);
    return reasonOf(result);
  };
}

function reasonOf(result: StandardSchemaV1.Result<unknown>): string | null {
  if (!result.issues) return null;
  const parts: string[] = [];
  for (const issue of result.issues.slice(0, 5)) {
    const path = issue.path?.map((p) => String(typeof p === 'object' && p !== null ? p.key : p)).join('.');
    parts.push(path ? `${path}: ${issue.message}` : issue.message);
  }
  if (result.issues.length > 5) parts.push(`(${result.issues.length - 5} more)`);
  return truncateReason(parts.join('; ') || 'schema validation failed');
}

