import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { Limits } from '../core/limits.js';
import type { EventLog } from '../log/log.js';
import type { ViewCatalog } from '../serving/maintainer.js';
import type { RunningPipeline } from './pipelines-routes.js';
import type { Observability } from '../observe/observability.js';
import { validateTopicName } from '../log/topic-config.js';
import { isStandardSchema, type StandardSchemaV1 } from './standard-schema.js';
import { JsonSchemaCompiler, standardSchemaValidator, type EventValidator } from './validators.js';

/** How one topic is ingested. */
export interface IngestTopicOptions {
  /** Partitions the topic is created with (an existing topic keeps its own count). */
  readonly partitions: number;
  /** Any Standard Schema (zod 4, valibot, arktype...). Mutually exclusive with `jsonSchema`. */
  readonly schema?: StandardSchemaV1;
  /** A JSON Schema (draft-07, or 2020-12 when `$schema` says so), compiled once with ajv. */
  readonly jsonSchema?: Record<string, unknown> | boolean;
  /** Top-level event field holding the event time: an ISO-8601 string with offset, or epoch ms. */
  readonly eventTimeField?: string;
  /** Top-level event field used as the record key (string or number): same key, same partition. */
  readonly keyField?: string;
}

/** Request bounds. Defaults come from `Limits` in src/core/limits.ts. */
export interface IngestLimits {
  /** Largest request body (default `Limits.maxRequestBodyBytes`). Larger: 413 FRESHET_PAYLOAD_TOO_LARGE. */
  readonly maxBodyBytes?: number;
  /** Most events in one request (default `Limits.maxEventsPerRequest`). More: 413 FRESHET_TOO_MANY_EVENTS. */
  readonly maxEventsPerRequest?: number;
  /**
   * Largest single event in bytes (default `Limits.maxEventBytes` less `RECORD_HEADROOM_BYTES`, so a
   * maximal event plus its headers still fits the log's record bound). Larger: 413 FRESHET_RECORD_TOO_LARGE.
   */
  readonly maxEventBytes?: number;
}

/** Options of `createServer`. */
export interface ServerOptions {
  /** Where events go: any EventLog implementation. The server never closes it. */
  readonly log: EventLog;
  /** Per-topic ingest configuration. Configured topics are created when the server starts. */
  readonly topics?: Readonly<Record<string, IngestTopicOptions>>;
  /** Create unknown topics on first use (default true); when false they answer 404 FRESHET_UNKNOWN_TOPIC. */
  readonly autoCreateTopics?: boolean;
  /** Partitions of auto-created topics (default 1, as Kafka's num.partitions). */
  readonly defaultPartitions?: number;
  /** Bearer-token auth for the ingest routes (off when absent; /healthz and /readyz stay open). */
  readonly auth?: { readonly bearerToken: string };
  readonly limits?: IngestLimits;
  /** Source of ingest time (default the system clock). */
  readonly clock?: Clock;
  /** `Retry-After` seconds sent with 503 when the log is busy (default 1). */
  readonly retryAfterSeconds?: number;
  /** Fastify's request logger (default off: ingest is a hot path). */
  readonly logger?: boolean;
  /** Metrics, alerts and logs: adds `GET /metrics`, `GET /v1/alerts` and HTTP request metrics (see src/server/observe-routes.ts). */
  readonly observe?: Observability;
  /** Views to serve (`/v1/views...`, `POST /v1/sql`, SSE; see src/server/query-routes.ts): a `ViewMaintainer`. */
  readonly views?: ViewCatalog;
  /** Serve the web dashboard (web/) at `/` (see src/server/dashboard-routes.ts). Default false. */
  readonly dashboard?: boolean;
  /** The pipelines running in this process: adds `GET /v1/pipelines` and `GET /v1/dead-letters` (src/server/pipelines-routes.ts). */
  readonly pipelines?: () => readonly RunningPipeline[];
}

/**
 * Bytes kept free under `Limits.maxRecordBytes` for the headers ingest adds (`freshet.ingest.ms`, and
 * the DLQ headers whose reason is bounded by MAX_REASON_CHARS), so a maximal event always fits.
 */
export const RECORD_HEADROOM_BYTES = 4096;

/** Longest topic name that still leaves room for the `.dlq` suffix within Kafka's 249 characters. */
export const MAX_INGEST_TOPIC_NAME_CHARS = 249 - '.dlq'.length;

/** The resolved twin of IngestTopicOptions: validators compiled, absent fields made explicit. */
export interface ResolvedTopicOptions {
  readonly partitions: number;
  readonly validator: EventValidator | null;
  readonly eventTimeField: string | null;
  readonly keyField: string | null;
}

/** The resolved twin of ServerOptions: every default applied, every option checked. */
export interface ResolvedServerOptions {
  readonly log: EventLog;
  readonly topics: ReadonlyMap<string, ResolvedTopicOptions>;
  readonly autoCreateTopics: boolean;
  readonly defaultPartitions: number;
  readonly bearerToken: string | null;
  readonly limits: Required<IngestLimits>;
  readonly clock: Clock;
  readonly retryAfterSeconds: number;
  readonly logger: boolean;
}

// --- shapes shared by the programmatic options and the JSON config file (src/server/config.ts) ---

const positiveInt = z.int().positive();
const fieldName = z.string().min(1).max(256);

export const limitsShape = z.strictObject({
  maxBodyBytes: positiveInt.optional(),
  maxEventsPerRequest: positiveInt.optional(),
  maxEventBytes: positiveInt.optional(),
});

export const authShape = z.strictObject({
  bearerToken: z
    .string()
    .min(1)
    .regex(/^[\x21-\x7e]+$/, 'bearerToken must be printable ASCII without spaces'),
});

const partitionsShape = z.int().min(1).max(Limits.maxPartitions);
const jsonSchemaShape = z.union([z.record(z.string(), z.unknown()), z.boolean()]);

export const topicDataShape = {
  partitions: partitionsShape,
  jsonSchema: jsonSchemaShape.optional(),
  eventTimeField: fieldName.optional(),
  keyField: fieldName.optional(),
};

export const commonShape = {
  autoCreateTopics: z.boolean().optional(),
  defaultPartitions: partitionsShape.optional(),
  auth: authShape.optional(),
  limits: limitsShape.optional(),
  retryAfterSeconds: z.int().min(0).max(3600).optional(),
  logger: z.boolean().optional(),
};

const optionsSchema = z.strictObject({
  log: z.custom<EventLog>(
    (v) => typeof v === 'object' && v !== null && typeof (v as EventLog).append === 'function',
    'log must be an EventLog',
  ),
  topics: z
    .record(
      z.string(),
      z.strictObject({
        ...topicDataShape,
        schema: z.custom<StandardSchemaV1>(isStandardSchema, 'schema must be a Standard Schema (with ~standard.validate)').optional(),
      }),
    )
    .optional(),
  clock: z.custom<Clock>((v) => typeof v === 'object' && v !== null && typeof (v as Clock).nowMs === 'function', 'clock must have nowMs()').optional(),
  dashboard: z.boolean().optional(),
  pipelines: z.custom<() => readonly RunningPipeline[]>((v) => typeof v === 'function', 'pipelines must be a function returning the running pipelines').optional(),
  views: z.custom<ViewCatalog>((v) => typeof v === 'object' && v !== null && typeof (v as ViewCatalog).view === 'function', 'views must be a ViewCatalog (a ViewMaintainer)').optional(),
  observe: z.custom<Observability>((v) => typeof v === 'object' && v !== null && typeof (v as Observability).metrics?.registry === 'object', 'observe must be an Observability').optional(),
  ...commonShape,
});

/** One problem found in options or a config file. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Turns zod issues into ConfigIssues with dotted paths. */
export function zodIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** Throws FRESHET_INVALID_CONFIG listing every issue. */
export function throwConfigIssues(what: string, issues: readonly ConfigIssue[]): never {
  const list = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
  throw new FreshetError(ErrorCodes.INVALID_CONFIG, `invalid ${what}: ${list}`, { issues });
}

interface TopicDataForChecks {
  readonly jsonSchema?: unknown;
  readonly schema?: unknown;
  readonly eventTimeField?: string | undefined;
  readonly keyField?: string | undefined;
}

/**
 * Checks that involve more than one field (the shape itself is checked by zod first): limits that
 * contradict each other or the log's own bounds, topic names the log would refuse, a schema that
 * can never contain the configured event-time or key field.
 */
export function crossFieldIssues(options: {
  readonly limits?: IngestLimits | undefined;
  readonly topics?: Readonly<Record<string, TopicDataForChecks>> | undefined;
}): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const limits = resolveLimits(options.limits);
  if (limits.maxEventBytes > limits.maxBodyBytes) {
    issues.push({ path: 'limits.maxEventBytes', message: `must not exceed limits.maxBodyBytes (${limits.maxBodyBytes})` });
  }
  const maxEventBytesCap = Limits.maxRecordBytes - RECORD_HEADROOM_BYTES;
  if (limits.maxEventBytes > maxEventBytesCap) {
    issues.push({
      path: 'limits.maxEventBytes',
      message: `must not exceed ${maxEventBytesCap} (the log's record bound ${Limits.maxRecordBytes} less ${RECORD_HEADROOM_BYTES} bytes for headers)`,
    });
  }
  if (limits.maxEventsPerRequest > Limits.maxBatchRecords) {
    issues.push({ path: 'limits.maxEventsPerRequest', message: `must not exceed the log's batch bound ${Limits.maxBatchRecords}` });
  }
  for (const [name, topic] of Object.entries(options.topics ?? {})) {
    const at = `topics.${name}`;
    try {
      validateTopicName(name);
    } catch (error) {
      issues.push({ path: at, message: (error as Error).message });
    }
    if (name.length > MAX_INGEST_TOPIC_NAME_CHARS) {
      issues.push({ path: at, message: `topic names must be at most ${MAX_INGEST_TOPIC_NAME_CHARS} characters so '<topic>.dlq' is valid` });
    }
    if (topic.schema !== undefined && topic.jsonSchema !== undefined) {
      issues.push({ path: at, message: 'set either schema or jsonSchema, not both' });
    }
    // A closed JSON Schema (additionalProperties: false) that does not list the field can never hold it.
    const js = topic.jsonSchema;
    if (typeof js === 'object' && js !== null && (js as { additionalProperties?: unknown }).additionalProperties === false) {
      const props = (js as { properties?: Record<string, unknown> }).properties ?? {};
      for (const field of ['eventTimeField', 'keyField'] as const) {
        const value = topic[field];
        if (value !== undefined && !Object.hasOwn(props, value)) {
          issues.push({ path: `${at}.${field}`, message: `'${value}' is not among jsonSchema.properties, which allows no other fields` });
        }
      }
    }
  }
  return issues;
}

function resolveLimits(limits: IngestLimits | undefined): Required<IngestLimits> {
  return {
    maxBodyBytes: limits?.maxBodyBytes ?? Limits.maxRequestBodyBytes,
    maxEventsPerRequest: limits?.maxEventsPerRequest ?? Limits.maxEventsPerRequest,
    maxEventBytes: limits?.maxEventBytes ?? Math.min(Limits.maxEventBytes, Limits.maxRecordBytes - RECORD_HEADROOM_BYTES),
  };
}

/**
 * Checks `options` (shape, then cross-field rules) and compiles every schema once. Throws
 * FRESHET_INVALID_CONFIG listing all problems. `createServer` calls it; call it yourself to check
 * options without starting anything.
 *
 * @example
 * ```ts
 * const resolved = resolveServerOptions({ log, topics: { orders: { partitions: 4 } } });
 * resolved.limits.maxEventsPerRequest // 10_000
 * ```
 */
export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throwConfigIssues('server options', zodIssues(parsed.error));
  const issues = crossFieldIssues(options);
  if (issues.length > 0) throwConfigIssues('server options', issues);

  const compiler = new JsonSchemaCompiler();
  const topics = new Map<string, ResolvedTopicOptions>();
  for (const [name, t] of Object.entries(options.topics ?? {})) {
    let validator: EventValidator | null = null;
    if (t.schema) validator = standardSchemaValidator(t.schema);
    else if (t.jsonSchema !== undefined) validator = compiler.compile(t.jsonSchema, `topics.${name}.jsonSchema`);
    topics.set(name, {
      partitions: t.partitions,
      validator,
      eventTimeField: t.eventTimeField ?? null,
      keyField: t.keyField ?? null,
    });
  }
  return {
    log: options.log,
    topics,
    autoCreateTopics: options.autoCreateTopics ?? true,
    defaultPartitions: options.defaultPartitions ?? 1,
    bearerToken: options.auth?.bearerToken ?? null,
    limits: resolveLimits(options.limits),
    clock: options.clock ?? systemClock,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
    logger: options.logger ?? false,
  };
}
