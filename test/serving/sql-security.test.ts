import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';
import { ViewDatabase } from '../../src/serving/duckdb/database.js';
import { SqlExecutor } from '../../src/serving/duckdb/sql-executor.js';
import { ViewMaintainer } from '../../src/serving/maintainer.js';
import { TempDirs } from '../helpers/temp-dir.js';
import { announce, writeUpdates } from './helpers.js';

const dirs = new TempDirs();
let log: MemoryLog;
let maintainer: ViewMaintainer;
let server: FreshetServer;
let dir: string;

beforeAll(async () => {
  dir = dirs.make('freshet-sql-');
  log = new MemoryLog();
  maintainer = await ViewMaintainer.start({ log, database: { threads: 2, memoryLimit: '256MB' } });
  server = createServer({ log, views: maintainer });
  await server.app.ready();
  await announce(log, 'sales', 'table');
  await writeUpdates(log, 'sales', [
    { key: 'oslo', value: { revenue: 10 }, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000 },
    { key: 'rome', value: { revenue: 25 }, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000 },
  ]);
  await maintainer.catchUp();
});

afterAll(async () => {
  await server.close();
  await maintainer.close();
  dirs.cleanup();
});

async function sql(query: string, extra: Record<string, unknown> = {}) {
  const r = await server.app.inject({ method: 'POST', url: '/v1/sql', payload: { sql: query, ...extra } });
  return { status: r.statusCode, body: r.json() as { error?: { code: string; message: string }; rows?: unknown[][]; truncated?: boolean }, raw: r.body };
}

describe('POST /v1/sql sandbox', () => {
  const target = (name: string): string => path.join(dir, name).replaceAll("'", "''");
  const refused: [string, () => string][] = [
    ['INSERT', () => `INSERT INTO sales (key) VALUES ('evil')`],
    ['UPDATE', () => `UPDATE sales SET revenue = 0`],
    ['DELETE', () => `DELETE FROM sales`],
    ['CREATE TABLE', () => `CREATE TABLE evil (x INTEGER)`],
    ['CREATE TABLE AS', () => `CREATE TABLE evil AS SELECT * FROM sales`],
    ['CREATE MACRO', () => `CREATE MACRO evil(a) AS a`],
    ['DROP', () => `DROP TABLE sales`],
    ['ALTER', () => `ALTER TABLE sales ADD COLUMN evil INTEGER`],
    ['ATTACH a file', () => `ATTACH '${target('x.db')}' AS x`],
    ['ATTACH in memory', () => `ATTACH ':memory:' AS x`],
    ['DETACH', () => `DETACH memory`],
    ['COPY TO', () => `COPY (SELECT * FROM sales) TO '${target('out.csv')}'`],
    ['COPY FROM', () => `COPY sales FROM '/etc/passwd'`],
    ['EXPORT DATABASE', () => `EXPORT DATABASE '${target('export')}'`],
    ["read_csv('/etc/passwd')", () => `SELECT * FROM read_csv('/etc/passwd')`],
    ['read_text', () => `SELECT * FROM read_text('/etc/passwd')`],
    ['read_blob', () => `SELECT * FROM read_blob('/etc/hostname')`],
    ['glob', () => `SELECT * FROM glob('/etc/*')`],
    ['a file as a table', () => `SELECT * FROM '/etc/passwd'`],
    ['http', () => `SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')`],
    ['s3', () => `SELECT * FROM read_parquet('s3://bucket/x.parquet')`],
    ['INSTALL', () => `INSTALL httpfs`],
    ['LOAD', () => `LOAD httpfs`],
    ['SET enable_external_access', () => `SET enable_external_access = true`],
    ['SET memory_limit', () => `SET memory_limit = '100GB'`],
    ['RESET', () => `RESET threads`],
    ['SET VARIABLE', () => `SET VARIABLE x = 1`],
    ['PRAGMA', () => `PRAGMA enable_profiling`],
    ['CALL', () => `CALL checkpoint()`],
    ['CREATE SECRET', () => `CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')`],
    ['BEGIN', () => `BEGIN TRANSACTION`],
    ['VACUUM', () => `VACUUM`],
    ['USE', () => `USE system`],
    ['a write after a SELECT', () => `SELECT 1; DROP TABLE sales`],
    ['a write hidden in query()', () => `SELECT * FROM query('DROP TABLE sales')`],
  ];

  for (const [name, statement] of refused) {
    it(`refuses ${name}`, async () => {
      const r = await sql(statement());
      expect(r.status, r.raw).toBeGreaterThanOrEqual(400);
      expect(r.status, r.raw).toBeLessThan(500);
      expect(['FRESHET_SQL_FORBIDDEN', 'FRESHET_SQL_INVALID']).toContain(r.body.error!.code);
      expect(r.raw).not.toMatch(/root:/);
    });
  }

  it('answers 403 FRESHET_SQL_FORBIDDEN for writes and file access, with the reason', async () => {
    const write = await sql(`INSERT INTO sales (key) VALUES ('evil')`);
    expect([write.status, write.body.error!.code]).toEqual([403, 'FRESHET_SQL_FORBIDDEN']);
    expect(write.body.error!.message).toMatch(/only SELECT .* not INSERT/);
    const file = await sql(`SELECT * FROM read_csv('/etc/passwd')`);
    expect([file.status, file.body.error!.code]).toEqual([403, 'FRESHET_SQL_FORBIDDEN']);
    expect(file.body.error!.message).toMatch(/Permission Error/);
    const install = await sql('INSTALL httpfs');
    expect(install.status).toBe(403);
  });

  it('left nothing behind: the table is intact, no file was written, settings unchanged', async () => {
    const r = await sql('SELECT count(*) AS n, sum(revenue) AS revenue FROM sales');
    expect(r.body.rows).toEqual([[2, 35]]);
    expect(fs.readdirSync(dir)).toEqual([]);
    const s = await sql(`SELECT value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration') ORDER BY name`);
    expect(s.body.rows).toEqual([['false'], ['true']]);
    const tables = await sql(`SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1`);
    expect(tables.body.rows).toEqual([['sales']]);
    // The maintainer's staging tables are private to its connection.
    const staging = await sql(`SELECT count(*) FROM duckdb_tables() WHERE temporary`);
    expect(staging.body.rows).toEqual([[0]]);
  });

  it('cuts off a cartesian-product bomb by the timeout, and a huge result by the row limit; the server keeps answering', async () => {
    const started = Date.now();
    const bomb = await sql('SELECT count(*) FROM range(1000000000) a, range(1000000000) b', { timeoutMs: 300 });
    expect([bomb.status, bomb.body.error!.code]).toEqual([408, 'FRESHET_SQL_TIMEOUT']);
    expect(Date.now() - started).toBeLessThan(5_000);
    const wide = await sql('SELECT * FROM range(1000000) a, range(1000000) b', { maxRows: 1000 });
    expect([wide.status, wide.body.rows!.length, wide.body.truncated]).toEqual([200, 1000, true]);
    const sorted = await sql('SELECT a.range * b.range AS x FROM range(100000) a, range(100000) b ORDER BY x DESC', { timeoutMs: 300 });
    expect(sorted.status).toBe(408);
    const health = await server.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    const after = await sql('SELECT 42 AS answer');
    expect(after.body.rows).toEqual([[42]]);
  });

  it('bounds concurrent queries: past the queue, FRESHET_SERVING_BUSY', async () => {
    const db = await ViewDatabase.open({ threads: 1 });
    const exec = await SqlExecutor.create(db, { connections: 1, maxQueued: 1 });
    const slow = exec.query('SELECT count(*) FROM range(1000000000) a, range(1000000000) b', { timeoutMs: 300 });
    const queued = exec.query('SELECT 1');
    await expect(exec.query('SELECT 2')).rejects.toMatchObject({ code: 'FRESHET_SERVING_BUSY' });
    await expect(slow).rejects.toMatchObject({ code: 'FRESHET_SQL_TIMEOUT' });
    expect((await queued).rows).toEqual([[1]]);
    exec.close();
    await db.close();
  });
});
