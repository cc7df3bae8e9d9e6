/**
 * `freshet serve`: opens the log (taking the data directory's lock) and runs the HTTP server until
 * SIGINT/SIGTERM, then closes the server (waiting for in-flight requests) and the log, and exits 0.
 */
import { Command, Option } from 'commander';
import type { EventLog } from '../../log/log.js';
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
      .addOption(new Option('--auth-token <token>', 'require "Authorization: Bearer <token>" on ingest routes').env('FRESHET_AUTH_TOKEN')),
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
    try {
      log = await openLog({
        dataDir: resolveDataDir(options),
        ...(options.fsync !== undefined && { fsync: options.fsync }),
        ...(options.fsyncIntervalMs !== undefined && { fsyncIntervalMs: options.fsyncIntervalMs }),
      });
      server = createServer(serverOptionsFromConfig(config, log, options.authToken !== undefined ? { auth: { bearerToken: options.authToken } } : {}));
      const url = await server.listen({ port, host });
      await writeOut(`freshet listening on ${url}\n`);
      const received = await signal.promise;
      printErr(`freshet: ${received}: shutting down`);
    } finally {
      signal.dispose();
      try {
        await server?.close();
      } finally {
        await log?.close();
      }
    }
  });
}
