/**
 * Coded errors. Every error Freshet raises on purpose carries a stable `code` (`FRESHET_*`) so callers,
 * HTTP clients and the CLI can react to it without parsing messages.
 *
 * @example
 * ```ts
 * try { await log.read('orders', 9, 0n) } catch (e) {
 *   if (isFreshetError(e, 'FRESHET_UNKNOWN_PARTITION')) console.error(e.message)
 * }
 * ```
 */
export const ErrorCodes = {
  /** A caller broke a documented precondition (bad argument, bad option combination). */
  INVALID_ARGUMENT: 'FRESHET_INVALID_ARGUMENT',
  /** An HTTP route or resource that does not exist. */
  NOT_FOUND: 'FRESHET_NOT_FOUND',
  /** A topic that does not exist was named. */
  UNKNOWN_TOPIC: 'FRESHET_UNKNOWN_TOPIC',
  /** A partition outside `0..partitions-1` was named. */
  UNKNOWN_PARTITION: 'FRESHET_UNKNOWN_PARTITION',
  /** A topic with that name already exists. */
  TOPIC_EXISTS: 'FRESHET_TOPIC_EXISTS',
  /** The requested offset is below the log start (deleted by retention) or beyond the end. */
  OFFSET_OUT_OF_RANGE: 'FRESHET_OFFSET_OUT_OF_RANGE',
  /** A stored batch failed its checksum or its framing is impossible (not a torn tail). */
  LOG_CORRUPT: 'FRESHET_LOG_CORRUPT',
  /** The log was used after `close()`. */
  LOG_CLOSED: 'FRESHET_LOG_CLOSED',
  /** Another live process has the log directory open for writing. */
  LOG_LOCKED: 'FRESHET_LOG_LOCKED',
  /** The bounded append queue is full: the caller must retry later (backpressure). */
  LOG_BUSY: 'FRESHET_LOG_BUSY',
  /** The disk refused a write (ENOSPC, EIO...). Nothing of the failed append was acknowledged. */
  LOG_WRITE_FAILED: 'FRESHET_LOG_WRITE_FAILED',
  /** A record or batch is larger than its configured bound. */
  RECORD_TOO_LARGE: 'FRESHET_RECORD_TOO_LARGE',
  /** A request body could not be parsed as JSON / NDJSON. */
  MALFORMED_JSON: 'FRESHET_MALFORMED_JSON',
  /** A request body is larger than the configured bound. */
  PAYLOAD_TOO_LARGE: 'FRESHET_PAYLOAD_TOO_LARGE',
  /** A request carries more events than the configured bound. */
  TOO_MANY_EVENTS: 'FRESHET_TOO_MANY_EVENTS',
  /** A request's content type is not one ingest accepts. */
  UNSUPPORTED_MEDIA_TYPE: 'FRESHET_UNSUPPORTED_MEDIA_TYPE',
  /** Missing or wrong bearer token. */
  UNAUTHORIZED: 'FRESHET_UNAUTHORIZED',
  /** An event failed its topic's schema. */
  SCHEMA_VIOLATION: 'FRESHET_SCHEMA_VIOLATION',
  /** An event's configured event-time field is present but not a valid time. */
  INVALID_EVENT_TIME: 'FRESHET_INVALID_EVENT_TIME',
  /** A configuration file or option is invalid. */
  INVALID_CONFIG: 'FRESHET_INVALID_CONFIG',
  /** No log exists in the given data directory (read-only opens do not create one). */
  LOG_NOT_FOUND: 'FRESHET_LOG_NOT_FOUND',
  /** The data directory could not be opened or created (permissions, not a directory, I/O error). */
  LOG_OPEN_FAILED: 'FRESHET_LOG_OPEN_FAILED',
  /** A view that does not exist (or has not been announced yet) was named. */
  VIEW_NOT_FOUND: 'FRESHET_VIEW_NOT_FOUND',
  /** A key that a view does not hold was looked up. */
  KEY_NOT_FOUND: 'FRESHET_KEY_NOT_FOUND',
  /** The operation does not apply to this kind of view (e.g. a series query on a key-value view). */
  WRONG_VIEW_KIND: 'FRESHET_WRONG_VIEW_KIND',
  /** A time-series `step` cannot be computed: no mergeable aggregator state, or overlapping windows. */
  STEP_UNSUPPORTED: 'FRESHET_STEP_UNSUPPORTED',
  /** SQL that DuckDB could not parse, bind or run (the message is DuckDB's). */
  SQL_INVALID: 'FRESHET_SQL_INVALID',
  /** SQL that would write, change settings, or touch files, extensions or the network: refused. */
  SQL_FORBIDDEN: 'FRESHET_SQL_FORBIDDEN',
  /** A SQL query ran past its time limit and was interrupted. */
  SQL_TIMEOUT: 'FRESHET_SQL_TIMEOUT',
  /** The query side is at its bound of concurrent queries or streams: retry later. */
  SERVING_BUSY: 'FRESHET_SERVING_BUSY',
  /** A `Last-Event-ID` older than the live-update ring (or from another server run): reload, then subscribe. */
  STREAM_RESUME_GONE: 'FRESHET_STREAM_RESUME_GONE',
  /** A data-quality check failed: a dead letter's code, or the error a check with action `fail` stops its pipeline with. */
  QUALITY_CHECK_FAILED: 'FRESHET_QUALITY_CHECK_FAILED',
  /** No complete, uncorrupted checkpoint could be loaded although checkpoints exist (or the one named is damaged). */
  CHECKPOINT_CORRUPT: 'FRESHET_CHECKPOINT_CORRUPT',
  /** The named checkpoint or savepoint does not exist. */
  CHECKPOINT_NOT_FOUND: 'FRESHET_CHECKPOINT_NOT_FOUND',
  /** Another live process writes this pipeline's checkpoints. */
  CHECKPOINT_LOCKED: 'FRESHET_CHECKPOINT_LOCKED',
  /** A savepoint with that name already exists (delete it first). */
  SAVEPOINT_EXISTS: 'FRESHET_SAVEPOINT_EXISTS',
  /** Saved operator state cannot map onto the new plan (operator kind or state shape changed); names the operator. */
  STATE_INCOMPATIBLE: 'FRESHET_STATE_INCOMPATIBLE',
  /** Saved state belongs to operators no longer in the plan, and allowNonRestoredState is not set. */
  STATE_NOT_RESTORED: 'FRESHET_STATE_NOT_RESTORED',
  /** Stored state has a format version with no migration to the current one. */
  STATE_MIGRATION_MISSING: 'FRESHET_STATE_MIGRATION_MISSING',
  /** A state backend reached a configured bound (entries, dirty keys); use a larger bound or the LMDB backend. */
  STATE_LIMIT_EXCEEDED: 'FRESHET_STATE_LIMIT_EXCEEDED',
  /** A state backend was used after `close()`. */
  STATE_CLOSED: 'FRESHET_STATE_CLOSED',
  /** An alert notification could not be delivered (webhook refused, unreachable after retries, or queue full). */
  ALERT_NOTIFICATION_FAILED: 'FRESHET_ALERT_NOTIFICATION_FAILED',
  /** `freshet dlq replay`: the --fix function threw or returned undefined for a dead letter (named in the message). */
  DLQ_REPLAY_FAILED: 'FRESHET_DLQ_REPLAY_FAILED',
  /** An unexpected error: a bug in Freshet or its environment, reported with its original message. */
  INTERNAL: 'FRESHET_INTERNAL',
  /** An internal invariant did not hold: a bug in Freshet. */
  ASSERTION_FAILED: 'FRESHET_ASSERTION_FAILED',
} as const;

/** Any of Freshet's error codes (`FRESHET_*`). */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** An error with a stable machine-readable code and optional structured details. */
export class FreshetError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FreshetError';
    this.code = code;
    this.details = details;
  }

  /** `CODE: message`, the form the CLI and logs print. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** True when `error` is a FreshetError, optionally with the given code. */
export function isFreshetError(error: unknown, code?: ErrorCode): error is FreshetError {
  return error instanceof FreshetError && (code === undefined || error.code === code);
}
