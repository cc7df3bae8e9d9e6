/**
 * The benchmark oracle: DuckDB computes the exact expected output of each query (SQL in
 * nexmark-sql.ts, ysb-sql.ts) over the same generated events, read from the NDJSON the generator wrote
 * next to the log, and compares it with Freshet's output as multisets of rows (order-insensitive,
 * duplicates counted): `EXCEPT ALL` both ways, in SQL, so large outputs never sit in JS memory.
 *
 * @example
 * ```ts
 * const oracle = await Oracle.open();
 * await oracle.load(nexmarkLoadSql('/tmp/events.ndjson'));
 * const result = await oracle.compare(NEXMARK_SQL.q5!, '/tmp/q5-actual.ndjson');
 * if (!result.ok) console.error(formatMismatch(result));
 * oracle.close();
 * ```
 */
import fs from 'node:fs';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { sqlString, sqlStruct } from './nexmark-sql.js';

/** DuckDB column types the oracle's rows use. */
export type OracleType = 'BIGINT' | 'DOUBLE' | 'VARCHAR';

/** One query's expected output, as SQL over the loaded tables. */
export interface OracleQuery {
  readonly name: string;
  readonly sql: string;
  /** Output columns in order, with types: Freshet's rows are read with these. */
  readonly columns: readonly (readonly [string, OracleType])[];
  /** A BIGINT column whose sum checks measured runs cheaply (with the row count). */
  readonly checksumColumn: string;
}

/** Rows and checksum of the expected output. */
export interface OracleSummary {
  readonly rows: number;
  readonly checksum: number;
}

/** The outcome of comparing Freshet's rows with the expected ones. */
export interface Comparison {
  readonly query: string;
  readonly ok: boolean;
  readonly expectedRows: number;
  readonly actualRows: number;
  /** Rows expected but missing from Freshet's output (with multiplicity), and how many in all. */
  readonly missingCount: number;
  readonly missing: readonly Record<string, unknown>[];
  /** Rows in Freshet's output the oracle does not have. */
  readonly unexpectedCount: number;
  readonly unexpected: readonly Record<string, unknown>[];
}

/** Differences shown per side. */
export const MAX_DIFF_ROWS = 10;

/**
 * An in-memory DuckDB holding the generated events and each query's expected rows.
 *
 * @example
 * ```ts
 * const oracle = await Oracle.open();
 * await oracle.load(ysbLoadSql(eventsPath, adsPath));
 * const { rows, checksum } = await oracle.summary(YSB_SQL);
 * oracle.close();
 * ```
 */
export class Oracle {
  private readonly expected = new Set<string>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  /** An in-memory DuckDB (`threads`: at most this many threads; default DuckDB's). */
  static async open(options: { threads?: number } = {}): Promise<Oracle> {
    const instance = await DuckDBInstance.create(':memory:', options.threads !== undefined ? { threads: String(options.threads) } : {});
    return new Oracle(instance, await instance.connect());
  }

  /** Runs loading statements (nexmarkLoadSql, ysbLoadSql); forgets expected outputs computed before. */
  async load(statements: readonly string[]): Promise<void> {
    for (const s of statements) await this.connection.run(s);
    for (const name of this.expected) await this.connection.run(`DROP TABLE IF EXISTS ${table(name)}`);
    this.expected.clear();
  }

  /** Row count and checksum of the expected output (computed once per load). */
  async summary(query: OracleQuery): Promise<OracleSummary> {
    await this.materialise(query);
    const reader = await this.connection.runAndReadAll(`SELECT count(*)::BIGINT AS n, coalesce(sum(${query.checksumColumn}), 0)::BIGINT AS s FROM ${table(query.name)}`);
    const row = reader.getRowObjectsJS()[0]!;
    return { rows: Number(row.n), checksum: Number(row.s) };
  }

  /** Compares the rows in `actualNdjsonPath` (one JSON object per line, the query's columns) with the expected ones. */
  async compare(query: OracleQuery, actualNdjsonPath: string): Promise<Comparison> {
    await this.materialise(query);
    const columns = Object.fromEntries(query.columns.map(([n, t]) => [n, t]));
    const names = query.columns.map(([n]) => n).join(', ');
    const actual = `actual_${query.name}`;
    if (fs.statSync(actualNdjsonPath).size === 0) {
      await this.connection.run(`CREATE OR REPLACE TEMP TABLE ${actual} (${query.columns.map(([n, t]) => `${n} ${t}`).join(', ')})`);
    } else {
      await this.connection.run(
        `CREATE OR REPLACE TEMP TABLE ${actual} AS SELECT ${names} FROM read_json(${sqlString(actualNdjsonPath)}, format = 'newline_delimited', columns = ${sqlStruct(columns)})`,
      );
    }
    const expected = table(query.name);
    const count = async (sql: string) => Number((await this.connection.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM (${sql})`)).getRowObjectsJS()[0]!.n);
    const sample = async (sql: string) =>
      (await this.connection.runAndReadAll(`SELECT * FROM (${sql}) ORDER BY ALL LIMIT ${MAX_DIFF_ROWS}`)).getRowObjectsJS().map(plainRow);
    const missingSql = `SELECT ${names} FROM ${expected} EXCEPT ALL SELECT ${names} FROM ${actual}`;
    const unexpectedSql = `SELECT ${names} FROM ${actual} EXCEPT ALL SELECT ${names} FROM ${expected}`;
    const missingCount = await count(missingSql);
    const unexpectedCount = await count(unexpectedSql);
    const result: Comparison = {
      query: query.name,
      ok: missingCount === 0 && unexpectedCount === 0,
      expectedRows: await count(`SELECT 1 FROM ${expected}`),
      actualRows: await count(`SELECT 1 FROM ${actual}`),
      missingCount,
      missing: missingCount > 0 ? await sample(missingSql) : [],
      unexpectedCount,
      unexpected: unexpectedCount > 0 ? await sample(unexpectedSql) : [],
    };
    await this.connection.run(`DROP TABLE ${actual}`);
    return result;
  }

  /** Drops a query's expected rows (they are recomputed on next use): keeps memory flat over many queries. */
  async forget(query: OracleQuery): Promise<void> {
    await this.connection.run(`DROP TABLE IF EXISTS ${table(query.name)}`);
    this.expected.delete(query.name);
  }

  /** Runs a query and returns its rows as JSON-safe objects (tests, diagnostics). */
  async rows(sql: string): Promise<Record<string, unknown>[]> {
    return (await this.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private async materialise(query: OracleQuery): Promise<void> {
    if (this.expected.has(query.name)) return;
    await this.connection.run(`CREATE OR REPLACE TABLE ${table(query.name)} AS ${query.sql}`);
    this.expected.add(query.name);
  }
}

/** BIGINTs come back as bigint: shown as numbers (exact below 2^53, which every benchmark value is). */
function plainRow(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));
}

function table(queryName: string): string {
  return `expected_${queryName.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/**
 * The first differences of a failed comparison, as a diff: `-` expected but missing, `+` unexpected.
 *
 * @example
 * ```ts
 * if (!comparison.ok) process.stderr.write(`${formatMismatch(comparison)}\n`);
 * ```
 */
export function formatMismatch(c: Comparison): string {
  const lines = [`${c.query}: MISMATCH with the oracle: expected ${c.expectedRows} rows, Freshet gave ${c.actualRows}; ${c.missingCount} missing, ${c.unexpectedCount} unexpected`];
  for (const r of c.missing) lines.push(`  - ${JSON.stringify(r)}`);
  if (c.missingCount > c.missing.length) lines.push(`  - ... ${c.missingCount - c.missing.length} more missing`);
  for (const r of c.unexpected) lines.push(`  + ${JSON.stringify(r)}`);
  if (c.unexpectedCount > c.unexpected.length) lines.push(`  + ... ${c.unexpectedCount - c.unexpected.length} more unexpected`);
  return lines.join('\n');
}
