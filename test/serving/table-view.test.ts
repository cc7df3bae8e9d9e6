import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { ViewUpdate } from '../../src/plan/view-update.js';
import { ViewDatabase } from '../../src/serving/duckdb/database.js';
import { SqlExecutor } from '../../src/serving/duckdb/sql-executor.js';
import { TableView } from '../../src/serving/duckdb/table-view.js';
import type { View } from '../../src/serving/view.js';
import { definition, runViewContract } from './view.case.js';

let db: ViewDatabase | null = null;
let sql: SqlExecutor | null = null;

async function database(): Promise<{ db: ViewDatabase; sql: SqlExecutor }> {
  if (db === null) {
    db = await ViewDatabase.open({ threads: 1, memoryLimit: '256MB' });
    sql = await SqlExecutor.create(db);
  }
  return { db, sql: sql! };
}

/** The table's rows as `key|windowStartMs` -> value (columns and `extra` folded back into one object). */
async function snapshot(view: View): Promise<Map<string, unknown>> {
  const { sql } = await database();
  const r = await sql.query(`SELECT * EXCLUDE (window_end, event_time, final), epoch_ms(window_start) AS ws FROM "${view.name.replaceAll('"', '""')}"`, { maxRows: 100_000 });
  const names = r.columns.map((c) => c.name);
  const out = new Map<string, unknown>();
  for (const row of r.rows) {
    const value: Record<string, unknown> = {};
    let key = '';
    let ws: unknown = null;
    for (let c = 0; c < names.length; c++) {
      const name = names[c]!;
      const v = row[c];
      if (name === 'key') key = v as string;
      else if (name === 'ws') ws = v;
      else if (name === 'window_start') continue;
      else if (name === 'extra') Object.assign(value, v === null ? {} : JSON.parse(v as string));
      else if (v !== null) value[name] = v;
    }
    // Upserts never duplicate a (key, window): a second row is a failure, not a silent overwrite.
    if (out.has(`${key}|${ws}`)) throw new Error(`duplicate row ${key}|${ws}`);
    out.set(`${key}|${ws}`, value);
  }
  return out;
}

runViewContract({
  kind: 'table',
  create: async (def, clock) => TableView.create(def, (await database()).db, clock),
  snapshot,
  cleanup: async () => {
    sql?.close();
    await db?.close();
    db = null;
    sql = null;
  },
});

describe('TableView columns', () => {
  it('infers columns from values, adds new fields later, and keeps mismatched or unknown-typed fields in extra', async () => {
    const { db, sql } = await database();
    const view = await TableView.create(definition('table'), db, new ManualClock(0));
    const u = (key: string, ws: number, value: unknown): ViewUpdate => ({ key, value, eventTimeMs: ws + 1, windowStartMs: ws, windowEndMs: ws + 10, final: true });
    await view.apply({ partition: 0, offsets: [0, 1], updates: [u('a', 0, { revenue: 1.5, city: 'Oslo', ok: true, tags: ['x'] }), u('b', 0, { revenue: null })] });
    expect(view.columns().map((c) => `${c.name}:${c.type}`)).toEqual([
      'key:VARCHAR',
      'window_start:TIMESTAMP',
      'window_end:TIMESTAMP',
      'event_time:TIMESTAMP',
      'final:BOOLEAN',
      'revenue:DOUBLE',
      'city:VARCHAR',
      'ok:BOOLEAN',
      'tags:JSON',
      'extra:JSON',
    ]);
    await view.apply({ partition: 0, offsets: [2, 3], updates: [u('c', 10, { revenue: 'n/a', Revenue: 3, orders: 4 }), u('d', 10, 42)] });
    expect(view.columns().map((c) => c.name)).toContain('orders');
    expect(view.columns().map((c) => c.name)).toContain('value');
    const r = await sql.query(`SELECT key, revenue, orders, value, extra, window_start FROM "${view.name}" ORDER BY key`);
    expect(r.rows).toEqual([
      ['a', 1.5, null, null, null, '1970-01-01 00:00:00'],
      ['b', null, null, null, null, '1970-01-01 00:00:00'],
      ['c', null, 4, null, '{"revenue":"n/a","Revenue":3}', '1970-01-01 00:00:00.01'],
      ['d', null, null, 42, null, '1970-01-01 00:00:00.01'],
    ]);
    expect(view.size()).toBe(4);
    await view.close();
  });

  it('a batch is visible to SQL entirely or not at all (one transaction), and replaces rows by (key, window)', async () => {
    const { db, sql } = await database();
    const view = await TableView.create(definition('table'), db, new ManualClock(0));
    const u = (key: string, ws: number, n: number): ViewUpdate => ({ key, value: { n }, eventTimeMs: ws, windowStartMs: ws, windowEndMs: ws + 10 });
    const first = Array.from({ length: 3000 }, (_, i) => u(`k${Math.floor(i / 10)}`, (i % 10) * 10, i));
    await view.apply({ partition: 0, offsets: first.map((_, i) => i), updates: first });
    const second = first.map((x, i) => u(x.key, x.windowStartMs!, -i));
    const applying = view.apply({ partition: 0, offsets: second.map((_, i) => 3000 + i), updates: second });
    // Concurrent readers: the sum is either all of the first batch's values or all of the second's.
    const sums = new Set<number>();
    const readers = Array.from({ length: 6 }, async () => {
      const r = await sql.query(`SELECT count(*), sum(n) FROM "${view.name}"`);
      expect(r.rows[0]![0]).toBe(3000);
      sums.add(r.rows[0]![1] as number);
    });
    await Promise.all([applying, ...readers]);
    const firstSum = first.reduce((s, x) => s + (x.value as { n: number }).n, 0);
    for (const s of sums) expect([firstSum, -firstSum]).toContain(s);
    const r = await sql.query(`SELECT count(*), sum(n) FROM "${view.name}"`);
    expect(r.rows[0]).toEqual([3000, -firstSum]);
    await view.close();
  });
});
