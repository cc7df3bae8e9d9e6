import { type DuckDBConnection, type DuckDBPreparedStatement, DuckDBTypeId, JsonDuckDBValueConverter, StatementType } from '@duckdb/node-api';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { ServingLimits } from '../limits.js';
import type { ViewDatabase } from './database.js';

/** Bounds of one query. */
export interface SqlQueryOptions {
  /** At most this many rows (default `ServingLimits.defaultSqlRows`, capped at `maxSqlRows`); more: `truncated`. */
  readonly maxRows?: number;
  /** Interrupt the query after this many ms (default `defaultSqlTimeoutMs`, capped at `maxSqlTimeoutMs`). */
  readonly timeoutMs?: number;
}

/** A column of a result. */
export interface SqlColumn {
  readonly name: string;
  /** DuckDB's type, e.g. `BIGINT`, `VARCHAR`, `TIMESTAMP`. */
  readonly type: string;
}

/** What a query returns. Values are JSON-ready (integers as numbers when exact, else strings). */
export interface SqlResult {
  readonly columns: readonly SqlColumn[];
  readonly rows: unknown[][];
  /** True when more rows (or bytes) existed than the bounds allowed: `rows` is a prefix. */
  readonly truncated: boolean;
  readonly elapsedMs: number;
}

/** Options of `SqlExecutor.create`. */
export interface SqlExecutorOptions {
  /** Reader connections, i.e. queries running at once (default `ServingLimits.sqlReaderConnections`). */
  readonly connections?: number;
  /** Queries waiting for a connection before FRESHET_SERVING_BUSY (default `ServingLimits.maxQueuedSqlQueries`). */
  readonly maxQueued?: number;
}

/** Statement types a reader may run: SELECT (which includes DESCRIBE, SHOW, SUMMARIZE, PIVOT, FROM-first). */
const ALLOWED = new Set<number>([StatementType.SELECT]);

/** DuckDB integer and decimal types whose JSON form is a string (so exact); turned into numbers when exact. */
const NUMERIC_STRING_TYPES = new Set<number>([DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT, DuckDBTypeId.DECIMAL]);

/**
 * Read-only SQL over the view database for users (`POST /v1/sql`, `freshet query`). Every query:
 * exactly one statement, and it must prepare as a SELECT (anything else: FRESHET_SQL_FORBIDDEN, 403);
 * runs on a reader connection of the locked-down instance (no files, network, extensions, settings);
 * streams its result chunk by chunk and stops at `maxRows` (or `ServingLimits.maxSqlResultBytes`) with
 * `truncated: true`; is interrupted after `timeoutMs` (FRESHET_SQL_TIMEOUT). DuckDB's own errors become
 * FRESHET_SQL_INVALID (400) with DuckDB's message, or FRESHET_SQL_FORBIDDEN for its permission errors.
 *
 * @example
 * ```ts
 * const sql = await SqlExecutor.create(db);
 * const r = await sql.query('SELECT key, revenue FROM "revenue-per-minute" ORDER BY revenue DESC', { maxRows: 10 });
 * r.columns; // [{ name: 'key', type: 'VARCHAR' }, { name: 'revenue', type: 'DOUBLE' }]
 * ```
 */
export class SqlExecutor {
  private readonly idle: DuckDBConnection[];
  private readonly waiters: ((c: DuckDBConnection) => void)[] = [];
  private closed = false;

  private constructor(
    private readonly all: DuckDBConnection[],
    private readonly maxQueued: number,
  ) {
    this.idle = [...all];
  }

  static async create(db: ViewDatabase, options: SqlExecutorOptions = {}): Promise<SqlExecutor> {
    const n = options.connections ?? ServingLimits.sqlReaderConnections;
    if (!Number.isInteger(n) || n < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `connections must be a positive integer, got ${n}`);
    const connections: DuckDBConnection[] = [];
    for (let i = 0; i < n; i++) connections.push(await db.connect());
    return new SqlExecutor(connections, options.maxQueued ?? ServingLimits.maxQueuedSqlQueries);
  }

  async query(sql: string, options: SqlQueryOptions = {}): Promise<SqlResult> {
    if (typeof sql !== 'string' || sql.trim() === '') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'give a SQL query');
    if (sql.length > ServingLimits.maxSqlChars) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `SQL longer than ${ServingLimits.maxSqlChars} characters`);
    const maxRows = bounded('maxRows', options.maxRows, ServingLimits.defaultSqlRows, ServingLimits.maxSqlRows);
    const timeoutMs = bounded('timeoutMs', options.timeoutMs, ServingLimits.defaultSqlTimeoutMs, ServingLimits.maxSqlTimeoutMs);
    const started = performance.now();
    const connection = await this.acquire();
    let prepared: DuckDBPreparedStatement | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      connection.interrupt();
    }, timeoutMs);
    try {
      prepared = await prepareOne(connection, sql);
      const result = await prepared.stream();
      const columns: SqlColumn[] = [];
      const numeric: boolean[] = [];
      for (let c = 0; c < result.columnCount; c++) {
        const type = result.columnType(c);
        columns.push({ name: result.columnName(c), type: type.toString() });
        numeric.push(NUMERIC_STRING_TYPES.has(type.typeId));
      }
      const rows: unknown[][] = [];
      let bytes = 0;
      let truncated = false;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        const chunkRows = chunk.convertRows(JsonDuckDBValueConverter) as unknown[][];
        for (const row of chunkRows) {
          if (rows.length === maxRows || bytes > ServingLimits.maxSqlResultBytes) {
            truncated = true;
            break;
          }
          for (let c = 0; c < row.length; c++) {
            const v = row[c];
            if (numeric[c] && typeof v === 'string') row[c] = exactNumber(v);
            bytes += typeof v === 'string' ? v.length + 2 : typeof v === 'object' && v !== null ? JSON.stringify(v).length : 8;
          }
          rows.push(row);
        }
        if (truncated) break;
      }
      return { columns, rows, truncated, elapsedMs: performance.now() - started };
    } catch (error) {
      if (timedOut) {
        throw new FreshetError(ErrorCodes.SQL_TIMEOUT, `the query ran longer than ${timeoutMs} ms and was interrupted`, { timeoutMs });
      }
      throw toSqlError(error);
    } finally {
      clearTimeout(timer);
      prepared?.destroySync();
      this.release(connection);
    }
  }

  /** Closes the reader connections (queries in flight fail). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.all) c.closeSync();
  }

  private acquire(): Promise<DuckDBConnection> {
    if (this.closed) return Promise.reject(new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the SQL executor is closed'));
    const c = this.idle.pop();
    if (c !== undefined) return Promise.resolve(c);
    if (this.waiters.length >= this.maxQueued) {
      return Promise.reject(new FreshetError(ErrorCodes.SERVING_BUSY, `${this.all.length} queries are running and ${this.waiters.length} waiting; retry later`));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(c: DuckDBConnection): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(c);
    else this.idle.push(c);
  }
}

/** Extracts the statements, refuses all but one SELECT, and returns it prepared. */
async function prepareOne(connection: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  let extracted;
  try {
    extracted = await connection.extractStatements(sql);
  } catch (error) {
    throw toSqlError(error);
  }
  const statements: DuckDBPreparedStatement[] = [];
  try {
    for (let i = 0; i < extracted.count; i++) {
      let p: DuckDBPreparedStatement;
      try {
        p = await extracted.prepare(i);
      } catch (error) {
        // A later statement may fail to bind because it names what an earlier one would create.
        const e = toSqlError(error);
        if (extracted.count > 1 && e.code === ErrorCodes.SQL_INVALID) throw new FreshetError(ErrorCodes.SQL_FORBIDDEN, 'send exactly one SELECT statement per query');
        throw e;
      }
      statements.push(p);
      if (!ALLOWED.has(p.statementType)) {
        throw new FreshetError(ErrorCodes.SQL_FORBIDDEN, `only SELECT queries are allowed, not ${statementTypeName(p.statementType)}`, {
          statementType: statementTypeName(p.statementType),
        });
      }
    }
    if (statements.length !== 1) throw new FreshetError(ErrorCodes.SQL_INVALID, `send exactly one SELECT statement per query, got ${statements.length}`);
    return statements.pop()!;
  } finally {
    for (const p of statements) p.destroySync();
  }
}

function statementTypeName(type: number): string {
  return (StatementType as unknown as Record<number, string>)[type] ?? `statement type ${type}`;
}

/** DuckDB's error as a coded error: permission errors are forbidden, the rest invalid SQL. */
function toSqlError(error: unknown): FreshetError {
  if (error instanceof FreshetError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/^Permission Error|disabled by configuration|configuration has been locked/i.test(message)) {
    return new FreshetError(ErrorCodes.SQL_FORBIDDEN, message);
  }
  return new FreshetError(ErrorCodes.SQL_INVALID, message);
}

function exactNumber(text: string): number | string {
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  if (!text.includes('.') && !text.includes('e') && !Number.isSafeInteger(n)) return text;
  return n;
}

function bounded(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive integer, got ${String(value)}`);
  return Math.min(value, max);
}
