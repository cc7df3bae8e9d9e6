/**
 * The DuckDB database behind table views and `POST /v1/sql`: ONE DuckDB instance (in memory by
 * default, the views being rebuilt from the log), opened locked down for everybody who uses it:
 *
 *  - `enable_external_access=false`: no file, network, ATTACH of files, COPY TO, INSTALL/LOAD;
 *  - no extension auto-install/auto-load, no community extensions;
 *  - `lock_configuration=true`: no `SET`/`RESET` can undo the above at run time;
 *  - `memory_limit` and `threads` fixed at open.
 *
 * One writer connection (the maintainer's, serialised through `write`) changes tables; SQL readers use
 * their own connections (sql-executor.ts), which additionally refuse every statement that is not a
 * single SELECT (a DuckDB connection itself has no read-only mode: see docs/adr/0010-view-sql-sandbox.md).
 * Readers see only committed transactions, so each applied batch appears atomically.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { ServingLimits } from '../limits.js';

/** Options of `ViewDatabase.open`. */
export interface ViewDatabaseOptions {
  /** A database file, or ':memory:' (default: views are rebuilt from the log at start). */
  readonly path?: string;
  /** DuckDB's memory limit, e.g. '1GB' (default `ServingLimits.defaultDuckDbMemoryLimit`). */
  readonly memoryLimit?: string;
  /** DuckDB worker threads (default: DuckDB's, the core count). */
  readonly threads?: number;
}

/** The settings every Freshet DuckDB instance is opened with (the sandbox; see the file comment). */
export function lockedDownConfig(options: ViewDatabaseOptions): Record<string, string> {
  return {
    enable_external_access: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
    allow_unsigned_extensions: 'false',
    memory_limit: options.memoryLimit ?? ServingLimits.defaultDuckDbMemoryLimit,
    ...(options.threads !== undefined && { threads: String(options.threads) }),
    // Last: once set, no statement can change any setting.
    lock_configuration: 'true',
  };
}

/**
 * The shared DuckDB instance plus its writer connection.
 *
 * @example
 * ```ts
 * const db = await ViewDatabase.open();
 * await db.write((c) => c.run('CREATE TABLE t (x INTEGER)'));
 * const sql = await SqlExecutor.create(db);
 * (await sql.query('SELECT count(*) AS n FROM t')).rows; // [[0]]
 * ```
 */
export class ViewDatabase {
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private tempTables = 0;

  private constructor(
    readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
  ) {}

  static async open(options: ViewDatabaseOptions = {}): Promise<ViewDatabase> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(options.path ?? ':memory:', lockedDownConfig(options));
    } catch (cause) {
      throw new FreshetError(ErrorCodes.INVALID_CONFIG, `cannot open the DuckDB view database: ${(cause as Error).message}`, {}, { cause });
    }
    const writer = await instance.connect();
    await writer.run('CREATE SCHEMA IF NOT EXISTS raw');
    return new ViewDatabase(instance, writer);
  }

  /** Runs `fn` on the writer connection after every earlier write finished (one write at a time). */
  write<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the view database is closed'));
    const next = this.chain.then(() => fn(this.writer));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** A new connection (SQL readers). */
  connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  /** A unique name for a writer-side temporary (staging) table. */
  tempTableName(prefix: string): string {
    return `${prefix}_${++this.tempTables}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain;
    this.closed = true;
    this.writer.closeSync();
    this.instance.closeSync();
  }
}

/** A SQL identifier, double-quoted (embedded quotes doubled). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
