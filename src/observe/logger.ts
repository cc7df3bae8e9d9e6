import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import { ErrorCodes, FreshetError } from '../core/errors.js';

/** Environment variable that sets the log level of `createLogger` (default `info`). */
export const LOG_LEVEL_ENV = 'FRESHET_LOG_LEVEL';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** `fatal`..`trace` or `silent`. Default: `$FRESHET_LOG_LEVEL`, else `info`. */
  readonly level?: Level | 'silent';
  /** Where lines go (default stdout). A file: `pino.destination('/var/log/freshet.log')`. */
  readonly destination?: DestinationStream;
  /** Fields on every line (default `{ service: 'freshet' }`). */
  readonly base?: Readonly<Record<string, unknown>>;
  /** Environment to read the level from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Freshet's root logger: one JSON object per line (pino), `level` as a name, `time` in ms since the
 * epoch, `err` serialised with its `code`. Fastify takes it as is: `Fastify({ loggerInstance: logger })`.
 * Throws FRESHET_INVALID_CONFIG for an unknown level.
 *
 * @example
 * ```ts
 * const logger = createLogger();                       // FRESHET_LOG_LEVEL=debug to see more
 * logger.info({ topic: 'orders' }, 'topic created');
 * // {"level":"info","time":1767261600000,"service":"freshet","topic":"orders","msg":"topic created"}
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const fromEnv = env[LOG_LEVEL_ENV];
  const level = options.level ?? (fromEnv === undefined || fromEnv === '' ? 'info' : fromEnv.trim().toLowerCase());
  if (!LEVELS.includes(level)) {
    throw new FreshetError(ErrorCodes.INVALID_CONFIG, `invalid log level '${level}'${options.level === undefined ? ` in ${LOG_LEVEL_ENV}` : ''}: use one of ${LEVELS.join(', ')}`);
  }
  const config = {
    level,
    base: { service: 'freshet', ...options.base },
    // Level names ("info") rather than numbers: what log pipelines (Loki, Elasticsearch) index best.
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err },
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/** Ids a pipeline's log lines carry. */
export interface PipelineLogContext {
  readonly pipeline: string;
  readonly operator?: string;
  readonly checkpointId?: string | number;
  /** Worker index of a parallel run. */
  readonly worker?: number;
}

/**
 * A child logger whose every line carries the pipeline's ids (`pipeline`, and `operator`,
 * `checkpointId`, `worker` when given), so one pipeline's lines can be filtered out of a shared log.
 *
 * @example
 * ```ts
 * const log = pipelineLogger(root, { pipeline: 'revenue', operator: 'window' });
 * log.warn({ lateEvents: 12 }, 'late events sent to the side output');
 * checkpointLogger(log, 42).info({ durationMs: 18 }, 'checkpoint completed');
 * ```
 */
export function pipelineLogger(root: Logger, context: PipelineLogContext): Logger {
  const bindings: Record<string, string | number> = { pipeline: context.pipeline };
  if (context.operator !== undefined) bindings.operator = context.operator;
  if (context.checkpointId !== undefined) bindings.checkpointId = context.checkpointId;
  if (context.worker !== undefined) bindings.worker = context.worker;
  return root.child(bindings);
}

/**
 * A child logger for one checkpoint (adds `checkpointId`).
 *
 * @example
 * ```ts
 * checkpointLogger(pipelineLog, 7).info({ sizeBytes: 4096 }, 'checkpoint completed');
 * ```
 */
export function checkpointLogger(logger: Logger, checkpointId: string | number): Logger {
  return logger.child({ checkpointId });
}

/**
 * A logger that writes nothing (the default where no logger is given).
 *
 * @example
 * ```ts
 * const logger = options.logger ?? silentLogger();
 * ```
 */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
