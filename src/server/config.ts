import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { EventLog } from '../log/log.js';
import {
  commonShape,
  crossFieldIssues,
  limitsShape,
  throwConfigIssues,
  topicDataShape,
  zodIssues,
  type ConfigIssue,
  type IngestLimits,
  type IngestTopicOptions,
  type ServerOptions,
} from './options.js';
import { JsonSchemaCompiler } from './validators.js';

/**
 * The server part of a `freshet.json` config file, validated. Everything here is plain JSON; pass it
 * to `serverOptionsFromConfig` together with a log to get `createServer` options.
 */
export interface ServerConfig {
  readonly host?: string;
  readonly port?: number;
  readonly autoCreateTopics?: boolean;
  readonly defaultPartitions?: number;
  /** Resolved: a `bearerTokenEnv` in the file has been replaced by the variable's value. */
  readonly auth?: { readonly bearerToken: string };
  readonly limits?: IngestLimits;
  readonly retryAfterSeconds?: number;
  readonly logger?: boolean;
  readonly topics?: Readonly<Record<string, Omit<IngestTopicOptions, 'schema'>>>;
}

// The top level is loose: other subsystems (log, pipelines...) keep their own sections in the same
// file. Every section the server owns is strict, so a typo there is an error, not a silent default.
const fileSchema = z.looseObject({
  host: z.string().min(1).optional(),
  port: z.int().min(0).max(65_535).optional(),
  ...commonShape,
  auth: z
    .strictObject({
      bearerToken: z.string().min(1).regex(/^[\x21-\x7e]+$/, 'bearerToken must be printable ASCII without spaces').optional(),
      bearerTokenEnv: z.string().min(1).optional(),
    })
    .optional(),
  limits: limitsShape.optional(),
  topics: z.record(z.string(), z.strictObject(topicDataShape)).optional(),
});

/**
 * Validates a parsed config object: shape (zod), cross-field rules, JSON Schemas compile, and
 * `auth.bearerTokenEnv` names a set variable. Throws FRESHET_INVALID_CONFIG listing every issue.
 *
 * @example
 * ```ts
 * const config = parseServerConfig({ topics: { orders: { partitions: 4, keyField: 'customerId' } } });
 * ```
 */
export function parseServerConfig(input: unknown, env: Readonly<Record<string, string | undefined>> = process.env): ServerConfig {
  const parsed = fileSchema.safeParse(input);
  if (!parsed.success) throwConfigIssues('config', zodIssues(parsed.error));
  const data = parsed.data;
  const issues: ConfigIssue[] = crossFieldIssues(data);

  let auth: { bearerToken: string } | undefined;
  if (data.auth) {
    const { bearerToken, bearerTokenEnv } = data.auth;
    if ((bearerToken === undefined) === (bearerTokenEnv === undefined)) {
      issues.push({ path: 'auth', message: 'set exactly one of bearerToken and bearerTokenEnv' });
    } else if (bearerTokenEnv !== undefined) {
      const value = env[bearerTokenEnv];
      if (!value) issues.push({ path: 'auth.bearerTokenEnv', message: `environment variable ${bearerTokenEnv} is not set` });
      else if (!/^[\x21-\x7e]+$/.test(value)) issues.push({ path: 'auth.bearerTokenEnv', message: `${bearerTokenEnv} must be printable ASCII without spaces` });
      else auth = { bearerToken: value };
    } else {
      auth = { bearerToken: bearerToken! };
    }
  }

  const compiler = new JsonSchemaCompiler();
  for (const [name, topic] of Object.entries(data.topics ?? {})) {
    if (topic.jsonSchema === undefined) continue;
    try {
      compiler.compile(topic.jsonSchema, `topics.${name}.jsonSchema`);
    } catch (error) {
      issues.push({ path: `topics.${name}.jsonSchema`, message: (error as Error).message });
    }
  }
  if (issues.length > 0) throwConfigIssues('config', issues);

  const config: ServerConfig = {
    ...pick(data, ['host', 'port', 'autoCreateTopics', 'defaultPartitions', 'limits', 'retryAfterSeconds', 'logger', 'topics']),
    ...(auth ? { auth } : {}),
  };
  return config;
}

/**
 * Reads and validates a JSON config file (`freshet --config freshet.json`). A missing or unreadable
 * file, invalid JSON or an invalid config all throw FRESHET_INVALID_CONFIG.
 *
 * @example
 * ```ts
 * const config = await loadServerConfig('freshet.json');
 * const server = createServer(serverOptionsFromConfig(config, log));
 * await server.listen({ port: config.port ?? 8080, host: config.host ?? '127.0.0.1' });
 * ```
 */
export async function loadServerConfig(path: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<ServerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new FreshetError(ErrorCodes.INVALID_CONFIG, `cannot read config file ${path}: ${(error as Error).message}`, { path }, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FreshetError(ErrorCodes.INVALID_CONFIG, `config file ${path} is not valid JSON: ${(error as Error).message}`, { path }, { cause: error });
  }
  try {
    return parseServerConfig(json, env);
  } catch (error) {
    if (error instanceof FreshetError) {
      throw new FreshetError(error.code, `${path}: ${error.message}`, { ...error.details, file: path }, { cause: error });
    }
    throw error;
  }
}

/**
 * `createServer` options from a validated config and a log (host and port are for `listen`).
 *
 * @example
 * ```ts
 * const server = createServer(serverOptionsFromConfig(await loadServerConfig('freshet.json'), log));
 * ```
 */
export function serverOptionsFromConfig(config: ServerConfig, log: EventLog, extra: Partial<ServerOptions> = {}): ServerOptions {
  const { host: _host, port: _port, ...rest } = config;
  return { ...rest, ...extra, log };
}

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
