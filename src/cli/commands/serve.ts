/**
 * `freshet serve`: opens the log (taking the data directory's lock) and runs the HTTP server until
 * SIGINT/SIGTERM, then closes the server (waiting for in-flight requests) and the log, and exits 0.
 */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { ErrorCodes, isFreshetError } from '../../core/errors.js';
import type { EventLog } from '../../log/log.js';
import type { ViewMaintainer } from '../../serving/maintainer.js';
import type { ServerConfig } from '../../server/config.js';
import type { FreshetServer } from '../../server/server.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, DEFAULT_PORT, type FsyncPolicy, parseFsync, parsePort, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { printErr, writeOut } from '../output.js';
import { shutdownSignal } from '../signals.js';

interface ServeOptions extends CommonOptions {
  port: number;
  host: string;
  config?: string;
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  authToken?: string;
  views?: boolean;
}

const DEFAULT_HOST = '127.0.0.1';

export function serveCommand(): Command {
  const command = withCommonOptions(
    new Command('serve')
      .description('run the HTTP server (ingest, health) on the log in --data-dir')
      .addOption(new Option('--port <port>', 'TCP port (0 = any free port)').env('FRESHET_PORT').default(DEFAULT_PORT).argParser(parsePort))
      .addOption(new Option('--host <host>', 'interface to listen on').env('FRESHET_HOST').default(DEFAULT_HOST))
      .addOption(new Option('-c, --config <file>', 'JSON config file (topics, schemas, limits, auth)').env('FRESHET_CONFIG'))
      .option('--fsync <policy>', 'when an append is acknowledged: always | interval | never (default always)', parseFsync)
      .option('--fsync-interval-ms <ms>', 'with --fsync interval: ms between fsyncs (default 1000)', parsePositiveInt)
      .addOption(new Option('--auth-token <token>', 'require "Authorization: Bearer <token>" on ingest routes').env('FRESHET_AUTH_TOKEN'))
      .option('--views', 'also maintain the views from the log and serve them (GET /v1/views, POST /v1/sql, SSE); if another process holds --data-dir, open it read-only as a query node'),
  );
  return command.action(async (options: ServeOptions) => {
    // Loaded here, not at the top: fastify, zod and ajv would slow down every other command's start.
    const [{ loadServerConfig, serverOptionsFromConfig }, { createServer }] = await Promise.all([
      import('../../server/config.js'),
      import('../../server/server.js'),
    ]);
    // Precedence: command line, then environment, then the config file, then defaults.
    const fromDefault = (name: string): boolean => command.getOptionValueSource(name) === 'default';
    const config: ServerConfig = options.config !== undefined ? await loadServerConfig(options.config) : {};
    const port = fromDefault('port') && config.port !== undefined ? config.port : options.port;
    const host = fromDefault('host') && config.host !== undefined ? config.host : options.host;

    const signal = shutdownSignal();
    let log: EventLog | undefined;
    let server: FreshetServer | undefined;
    let maintainer: ViewMaintainer | undefined;
    // Metrics, alerts (rules from the config file's `alerts` section: docs/observability.md) and logs.
    const { Observability, parseAlertsConfig } = await import('../../observe/index.js');
    const rawConfig: { alerts?: unknown } = options.config !== undefined ? (JSON.parse(await readFile(options.config, 'utf8')) as { alerts?: unknown }) : {};
    const observe = new Observability({ alerts: parseAlertsConfig(rawConfig.alerts ?? {}) });
    try {
      const open = (readOnly: boolean): Promise<EventLog> =>
        openLog({
          dataDir: resolveDataDir(options),
          readOnly,
          ...(options.fsync !== undefined && { fsync: options.fsync }),
          ...(options.fsyncIntervalMs !== undefined && { fsyncIntervalMs: options.fsyncIntervalMs }),
        });
      try {
        log = await open(false);
      } catch (error) {
        // A query node next to the process that writes (freshet run, another serve): follow it read-only.
        if (options.views !== true || !isFreshetError(error, ErrorCodes.LOG_LOCKED)) throw error;
        printErr('freshet: the data directory is held by another process: serving views read-only (ingest is refused)');
        log = await open(true);
      }
      if (options.views === true) {
        const { ViewMaintainer } = await import('../../serving/maintainer.js');
        maintainer = await ViewMaintainer.start({ log, onError: (error, context) => printErr(`freshet: views: ${context}: ${(error as Error).message}`) });
      }
      server = createServer(
        serverOptionsFromConfig(config, log, {
          ...(options.authToken !== undefined && { auth: { bearerToken: options.authToken } }),
          ...(maintainer !== undefined && { views: maintainer }),
          observe,
          dashboard: true,
        }),
      );
      observe.start();
      const url = await server.listen({ port, host });
      await writeOut(`freshet listening on ${url}\n`);
      const received = await signal.promise;
      printErr(`freshet: ${received}: shutting down`);
    } finally {
      signal.dispose();
      try {
        await server?.close();
        await maintainer?.close();
        await observe?.close();
      } finally {
        await log?.close();
      }
    }
  });
}
