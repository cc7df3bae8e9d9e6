/**
 * `freshet query "<sql>"`: runs read-only SQL against a running server's `POST /v1/sql` and prints the
 * result (a table for people, or JSON / NDJSON / CSV as the server sends it). Talking to the server
 * rather than opening DuckDB here means the query sees exactly the views the server maintains, and the
 * sandbox, limits and auth are the server's (docs/adr/0010-view-sql-sandbox.md).
 */
import { Command, Option } from 'commander';
import { ErrorCodes, FreshetError, type ErrorCode } from '../../core/errors.js';
import { parsePositiveInt } from '../options.js';
import { formatTable, printErr, writeOut } from '../output.js';

/** Default server URL of the query commands (`--url`, env FRESHET_URL). */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

/** Options shared by the commands that talk to a running server. */
export interface ServerClientOptions {
  url: string;
  authToken?: string;
}

/** Adds `--url` and `--auth-token` to a command. */
export function withServerOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'the Freshet server').env('FRESHET_URL').default(DEFAULT_SERVER_URL))
    .addOption(new Option('--auth-token <token>', 'send "Authorization: Bearer <token>"').env('FRESHET_AUTH_TOKEN'));
}

/**
 * Calls the server. A non-2xx answer becomes the FreshetError it carries (same code and message); a
 * server that cannot be reached is FRESHET_INTERNAL naming the URL.
 *
 * @example
 * ```ts
 * const res = await callServer({ url: 'http://127.0.0.1:8080' }, 'v1/views');
 * ```
 */
export async function callServer(options: ServerClientOptions, path: string, init: RequestInit = {}): Promise<Response> {
  const url = new URL(path, options.url.endsWith('/') ? options.url : `${options.url}/`);
  const headers = new Headers(init.headers);
  if (options.authToken !== undefined) headers.set('authorization', `Bearer ${options.authToken}`);
  let response: Response;
  try {
    response = await fetch(url, { ...init, headers });
  } catch (cause) {
    throw new FreshetError(ErrorCodes.INTERNAL, `cannot reach the Freshet server at ${options.url} (is \`freshet serve --views\` running? set --url)`, {}, { cause });
  }
  if (!response.ok) {
    let code: string = ErrorCodes.INTERNAL;
    let message = `HTTP ${response.status}`;
    try {
      const body = (await response.json()) as { error?: { code?: string; message?: string } };
      if (body.error?.code !== undefined) code = body.error.code;
      if (body.error?.message !== undefined) message = body.error.message;
    } catch {
      // not a Freshet error body
    }
    throw new FreshetError(code as ErrorCode, message, { status: response.status });
  }
  return response;
}

interface QueryOptions extends ServerClientOptions {
  format: 'table' | 'json' | 'ndjson' | 'csv';
  maxRows?: number;
  timeoutMs?: number;
}

export function queryCommand(): Command {
  return withServerOptions(
    new Command('query')
      .description('run a read-only SQL query over the views of a running server (POST /v1/sql)')
      .argument('<sql>', 'one SELECT statement, e.g. "SELECT * FROM revenue LIMIT 10"')
      .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json', 'ndjson', 'csv']).default('table'))
      .option('--max-rows <n>', 'at most this many rows (the server truncates and says so)', parsePositiveInt)
      .option('--timeout-ms <ms>', 'interrupt the query after this long', parsePositiveInt),
  ).action(async (sql: string, options: QueryOptions) => {
    const wire = options.format === 'table' ? 'json' : options.format;
    const body = { sql, ...(options.maxRows !== undefined && { maxRows: options.maxRows }), ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) };
    const response = await callServer(options, `v1/sql?format=${wire}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await response.text();
    const truncated = response.headers.get('freshet-truncated') === 'true';
    if (options.format === 'table') {
      const result = JSON.parse(text) as { columns: { name: string }[]; rows: unknown[][] };
      const rows = result.rows.map((row) => row.map(cellText));
      await writeOut(result.rows.length === 0 ? '(no rows)\n' : formatTable(result.columns.map((c) => c.name), rows));
    } else await writeOut(text.endsWith('\n') || text === '' ? text : `${text}\n`);
    if (truncated) printErr(`freshet: warning: the result was truncated at ${response.headers.get('freshet-row-count')} rows (--max-rows, or the server's bound)`);
  });
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
