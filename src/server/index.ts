export { createServer, INGEST_MEDIA_TYPES, type FreshetServer } from './server.js';
export {
  resolveServerOptions,
  RECORD_HEADROOM_BYTES,
  type ServerOptions,
  type IngestTopicOptions,
  type IngestLimits,
  type ResolvedServerOptions,
  type ConfigIssue,
} from './options.js';
export { loadServerConfig, parseServerConfig, serverOptionsFromConfig, type ServerConfig } from './config.js';
export {
  Ingestor,
  IngestHeaders,
  dlqTopicName,
  type IngestOutcome,
  type IngestOffset,
  type IngestRejection,
} from './ingest.js';
export { parseEventTime } from './event-time.js';
export { toHttpError, STATUS_BY_CODE, type ErrorBody } from './http-errors.js';
export { isStandardSchema, type StandardSchemaV1 } from './standard-schema.js';
export { standardSchemaValidator, JsonSchemaCompiler, type EventValidator } from './validators.js';
