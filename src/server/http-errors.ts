import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, FreshetError, type ErrorCode } from '../core/errors.js';

/** HTTP status of each Freshet error code; codes not listed answer 500. */
export const STATUS_BY_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
  FRESHET_INVALID_ARGUMENT: 400,
  FRESHET_UNKNOWN_TOPIC: 404,
  FRESHET_UNKNOWN_PARTITION: 404,
  FRESHET_TOPIC_EXISTS: 409,
  FRESHET_OFFSET_OUT_OF_RANGE: 416,
  FRESHET_LOG_CORRUPT: 500,
  FRESHET_LOG_LOCKED: 503,
  FRESHET_LOG_CLOSED: 503,
  FRESHET_LOG_BUSY: 503,
  FRESHET_LOG_WRITE_FAILED: 503,
  FRESHET_RECORD_TOO_LARGE: 413,
  FRESHET_MALFORMED_JSON: 400,
  FRESHET_PAYLOAD_TOO_LARGE: 413,
  FRESHET_TOO_MANY_EVENTS: 413,
  FRESHET_UNSUPPORTED_MEDIA_TYPE: 415,
  FRESHET_UNAUTHORIZED: 401,
  FRESHET_SCHEMA_VIOLATION: 422,
  FRESHET_INVALID_EVENT_TIME: 422,
  FRESHET_INVALID_CONFIG: 500,
  FRESHET_ASSERTION_FAILED: 500,
  FRESHET_INTERNAL: 500,
  FRESHET_NOT_FOUND: 404,
  FRESHET_VIEW_NOT_FOUND: 404,
  FRESHET_KEY_NOT_FOUND: 404,
  FRESHET_WRONG_VIEW_KIND: 400,
  FRESHET_STEP_UNSUPPORTED: 400,
  FRESHET_SQL_INVALID: 400,
  FRESHET_SQL_FORBIDDEN: 403,
  FRESHET_SQL_TIMEOUT: 408,
  FRESHET_SERVING_BUSY: 503,
  FRESHET_STREAM_RESUME_GONE: 410,
  FRESHET_CHECKPOINT_NOT_FOUND: 404,
};

/** Codes after which the client should come back later: answered with `Retry-After`. */
const RETRYABLE = new Set<ErrorCode>([ErrorCodes.LOG_BUSY, ErrorCodes.LOG_WRITE_FAILED, ErrorCodes.SERVING_BUSY]);

/** Fastify's own error codes that have a Freshet equivalent. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCodes.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCodes.INVALID_ARGUMENT,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCodes.MALFORMED_JSON,
};

export const UNSUPPORTED_MEDIA_TYPE_MESSAGE = 'send content-type application/json, application/x-ndjson or application/ndjson';

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
  readonly retryable: boolean;
}

/**
 * Maps anything thrown while serving a request to a status and a `{ error: { code, message } }` body.
 * Unknown errors are bugs: 500 FRESHET_INTERNAL with a generic message (details go to the log).
 *
 * @example
 * ```ts
 * toHttpError(new FreshetError('FRESHET_LOG_BUSY', 'queue full')).status // 503
 * ```
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof FreshetError) {
    return {
      status: STATUS_BY_CODE[error.code] ?? 500,
      body: { error: { code: error.code, message: error.message } },
      retryable: RETRYABLE.has(error.code),
    };
  }
  const fe = error as Partial<FastifyError> | null;
  const mapped = typeof fe?.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped !== undefined) {
    const message = mapped === ErrorCodes.UNSUPPORTED_MEDIA_TYPE ? UNSUPPORTED_MEDIA_TYPE_MESSAGE : (fe!.message ?? mapped);
    return { status: STATUS_BY_CODE[mapped] ?? 400, body: { error: { code: mapped, message } }, retryable: false };
  }
  // Other client errors fastify raises (bad URL encoding, aborted body...) keep their own status.
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    return { status, body: { error: { code: ErrorCodes.INVALID_ARGUMENT, message: fe?.message ?? 'bad request' } }, retryable: false };
  }
  return { status: 500, body: { error: { code: ErrorCodes.INTERNAL, message: 'internal error' } }, retryable: false };
}

/** The fastify error handler: every error becomes a JSON error answer; 503s carry `Retry-After`. */
export function errorHandler(retryAfterSeconds: number) {
  return function handle(this: unknown, error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const { status, body, retryable } = toHttpError(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    if (retryable) reply.header('retry-after', String(retryAfterSeconds));
    if (status === 401) reply.header('www-authenticate', 'Bearer');
    void reply.status(status).type('application/json; charset=utf-8').send(body);
  };
}
