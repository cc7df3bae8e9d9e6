import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { type Clock, systemClock } from '../../core/clock.js';
import type { ViewDefinition, ViewUpdate } from '../../plan/view-update.js';
import { ServingLimits } from '../limits.js';
import { BaseView, type ViewColumn } from '../view.js';
import { quoteIdent, type ViewDatabase } from './database.js';

/** Columns every table view has, before the value's own fields. */
export const TABLE_SYSTEM_COLUMNS: readonly ViewColumn[] = [
  { name: 'key', type: 'VARCHAR' },
  { name: 'window_start', type: 'TIMESTAMP' },
  { name: 'window_end', type: 'TIMESTAMP' },
  { name: 'event_time', type: 'TIMESTAMP' },
  { name: 'final', type: 'BOOLEAN' },
];

/** The JSON column holding value fields that have no column of their own (or not of their type). */
export const EXTRA_COLUMN = 'extra';

type FieldType = 'DOUBLE' | 'BOOLEAN' | 'VARCHAR' | 'JSON';

interface FieldColumn {
  readonly field: string;
  readonly type: FieldType;
  /** Its name in the staging table (c0, c1...: no quoting issues). */
  readonly stage: string;
}

const RESERVED = new Set([...TABLE_SYSTEM_COLUMNS.map((c) => c.name), EXTRA_COLUMN]);

/**
 * The columnar view: a DuckDB table named after the view, for ad-hoc SQL. Layout:
 * `key, window_start, window_end, event_time, final, <one column per value field>, extra JSON`.
 * Value fields become columns as they first appear (numbers DOUBLE, booleans BOOLEAN, strings VARCHAR,
 * objects and arrays JSON; a non-object value is the field `value`); a field whose type differs from its
 * column's, or beyond `ServingLimits.maxTableColumns`, goes to `extra`.
 *
 * Each batch is appended with DuckDB's Appender into a connection-private staging table, then, in one
 * transaction, the rows it replaces are deleted (by key and window start) and the staged rows inserted:
 * readers see a batch entirely or not at all, and replays upsert instead of duplicating. Rows that are
 * certainly new (a key's first row, or a window later than any of the key's) skip the delete.
 *
 * @example
 * ```ts
 * const db = await ViewDatabase.open();
 * const view = await TableView.create({ name: 'revenue', kind: 'table', pipeline: 'p', topic: viewTopic('revenue') }, db);
 * await view.apply({ partition: 0, offsets: [0], updates: [{ key: 'ann', value: { revenue: 12 }, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000 }] });
 * // SELECT key, window_start, revenue FROM "revenue"
 * ```
 */
export class TableView extends BaseView {
  private readonly fields = new Map<string, FieldColumn>();
  /** Lower-cased column names in use: DuckDB matches identifiers case-insensitively. */
  private readonly taken = new Set<string>(RESERVED);
  /** Per key, the largest window start stored (-Infinity: windowless): rows beyond it are new. */
  private readonly maxWindow = new Map<string, number>();
  private rows = 0;
  private readonly table: string;
  private readonly stage: string;

  private constructor(
    definition: ViewDefinition,
    private readonly db: ViewDatabase,
    clock: Clock,
  ) {
    super(definition, clock);
    this.table = quoteIdent(definition.name);
    this.stage = quoteIdent(db.tempTableName('freshet_stage'));
  }

  /** Creates the view's table (replacing any table of that name: the view is rebuilt from the log). */
  static async create(definition: ViewDefinition, db: ViewDatabase, clock: Clock = systemClock): Promise<TableView> {
    const view = new TableView(definition, db, clock);
    await db.write(async (c) => {
      await c.run(`CREATE OR REPLACE TABLE ${view.table} (key VARCHAR NOT NULL, window_start TIMESTAMP, window_end TIMESTAMP, event_time TIMESTAMP, final BOOLEAN, ${EXTRA_COLUMN} JSON)`);
      await c.run(`CREATE OR REPLACE TEMP TABLE ${view.stage} (key VARCHAR, ws DOUBLE, we DOUBLE, et DOUBLE, final BOOLEAN, del BOOLEAN, rep BOOLEAN, extra VARCHAR)`);
    });
    return view;
  }

  override columns(): readonly ViewColumn[] {
    return [...TABLE_SYSTEM_COLUMNS, ...[...this.fields.values()].map((f) => ({ name: f.field, type: f.type })), { name: EXTRA_COLUMN, type: 'JSON' }];
  }

  size(): number {
    return this.rows;
  }

  override async close(): Promise<void> {
    await super.close();
  }

  /** Drops the table (when the view is removed or redefined with another kind). */
  async drop(): Promise<void> {
    await this.close();
    await this.db.write(async (c) => {
      await c.run(`DROP TABLE IF EXISTS ${this.table}`);
      await c.run(`DROP TABLE IF EXISTS ${this.stage}`);
    });
  }

  protected async applyRange(updates: readonly ViewUpdate[], from: number, to: number): Promise<void> {
    // The last update per (key, window) in this batch wins; earlier ones would be replaced anyway.
    const last = new Map<string, number>();
    for (let i = from; i < to; i++) {
      const u = updates[i]!;
      last.set(u.windowStartMs === undefined ? u.key : `${u.key}\u0000${u.windowStartMs}`, i);
    }
    const kept = [...last.values()].sort((a, b) => a - b);
    const newFields = this.newFields(updates, kept);
    const fields = [...this.fields.values(), ...newFields];
    const replace: boolean[] = new Array(kept.length);
    let anyReplace = false;
    for (let j = 0; j < kept.length; j++) {
      const u = updates[kept[j]!]!;
      const w = u.windowStartMs ?? -Infinity;
      const max = this.maxWindow.get(u.key);
      replace[j] = max !== undefined && w <= max;
      if (replace[j]) anyReplace = true;
      if (max === undefined || w > max) this.maxWindow.set(u.key, w);
    }
    await this.db.write(async (c) => {
      for (const f of newFields) {
        await c.run(`ALTER TABLE ${this.table} ADD COLUMN ${quoteIdent(f.field)} ${f.type}`);
        await c.run(`ALTER TABLE ${this.stage} ADD COLUMN ${f.stage} ${f.type === 'JSON' ? 'VARCHAR' : f.type}`);
        this.fields.set(f.field, f);
        this.taken.add(f.field.toLowerCase());
      }
      const appender = await c.createAppender(unquote(this.stage), 'main', 'temp');
      try {
        for (let j = 0; j < kept.length; j++) appendRow(appender, updates[kept[j]!]!, replace[j]!, fields);
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      await this.upsert(c, fields, anyReplace);
    });
  }

  private async upsert(c: DuckDBConnection, fields: readonly FieldColumn[], anyReplace: boolean): Promise<void> {
    const ts = (col: string): string => `epoch_ms(CAST(${col} AS BIGINT))`;
    const values = fields.map((f) => (f.type === 'JSON' ? `CAST(${f.stage} AS JSON)` : f.stage));
    const targets = fields.map((f) => quoteIdent(f.field));
    await c.run('BEGIN TRANSACTION');
    try {
      if (anyReplace) {
        const deleted = await c.run(
          `DELETE FROM ${this.table} AS t USING ${this.stage} AS s WHERE s.rep AND t.key = s.key AND t.window_start IS NOT DISTINCT FROM ${ts('s.ws')}`,
        );
        this.rows -= deleted.rowsChanged;
      }
      const inserted = await c.run(
        `INSERT INTO ${this.table} (key, window_start, window_end, event_time, final, ${[...targets, EXTRA_COLUMN].join(', ')}) ` +
          `SELECT key, ${ts('ws')}, ${ts('we')}, ${ts('et')}, final, ${[...values, `CAST(extra AS JSON)`].join(', ')} FROM ${this.stage} WHERE NOT del`,
      );
      this.rows += inserted.rowsChanged;
      await c.run('COMMIT');
    } catch (error) {
      await c.run('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await c.run(`DELETE FROM ${this.stage}`);
    }
  }

  /** Fields seen for the first time in this batch that get a column. */
  private newFields(updates: readonly ViewUpdate[], kept: readonly number[]): FieldColumn[] {
    const out: FieldColumn[] = [];
    const seen = new Set<string>();
    for (const i of kept) {
      const u = updates[i]!;
      if (u.deleted === true) continue;
      const value = asRecord(u.value);
      for (const field in value) {
        if (this.fields.has(field) || seen.has(field)) continue;
        const type = fieldType(value[field]);
        if (type === null) continue; // null/undefined: wait for a value that shows the type
        const lower = field.toLowerCase();
        if (this.taken.has(lower) || this.fields.size + out.length >= ServingLimits.maxTableColumns) continue;
        seen.add(field);
        this.taken.add(lower);
        out.push({ field, type, stage: `c${this.fields.size + out.length}` });
      }
    }
    // Reserve the names now; `fields` is updated once the columns exist.
    for (const f of out) this.taken.delete(f.field.toLowerCase());
    return out;
  }
}

function appendRow(a: DuckDBAppender, u: ViewUpdate, replace: boolean, fields: readonly FieldColumn[]): void {
  a.appendVarchar(u.key);
  appendNumber(a, u.windowStartMs);
  appendNumber(a, u.windowEndMs);
  appendNumber(a, u.eventTimeMs);
  if (u.final === undefined) a.appendNull();
  else a.appendBoolean(u.final);
  a.appendBoolean(u.deleted === true);
  a.appendBoolean(replace);
  const value = u.deleted === true ? {} : asRecord(u.value);
  // `extra` comes before the field columns in the staging table (added later with ALTER TABLE).
  let extra: Record<string, unknown> | null = null;
  const used = fields.length > 0 ? new Set<string>() : null;
  const cells: unknown[] = new Array(fields.length);
  for (let f = 0; f < fields.length; f++) {
    const col = fields[f]!;
    const v = value[col.field];
    used!.add(col.field);
    cells[f] = v == null ? null : fieldType(v) === col.type || (col.type === 'JSON' && v !== undefined) ? v : MISMATCH;
    if (cells[f] === MISMATCH) (extra ??= {})[col.field] = v;
  }
  for (const field in value) {
    if (used !== null && used.has(field)) continue;
    if (value[field] === undefined) continue;
    (extra ??= {})[field] = value[field];
  }
  if (extra === null) a.appendNull();
  else a.appendVarchar(JSON.stringify(extra, jsonSafe));
  for (let f = 0; f < fields.length; f++) {
    const v = cells[f];
    if (v === null || v === MISMATCH) {
      a.appendNull();
      continue;
    }
    switch (fields[f]!.type) {
      case 'DOUBLE':
        a.appendDouble(Number(v));
        break;
      case 'BOOLEAN':
        a.appendBoolean(v as boolean);
        break;
      case 'VARCHAR':
        a.appendVarchar(v as string);
        break;
      case 'JSON':
        a.appendVarchar(JSON.stringify(v, jsonSafe));
        break;
    }
  }
  a.endRow();
}

const MISMATCH = Symbol('mismatch');

function appendNumber(a: DuckDBAppender, v: number | undefined): void {
  if (v === undefined || !Number.isFinite(v)) a.appendNull();
  else a.appendDouble(v);
}

function fieldType(v: unknown): FieldType | null {
  switch (typeof v) {
    case 'number':
    case 'bigint':
      return 'DOUBLE';
    case 'boolean':
      return 'BOOLEAN';
    case 'string':
      return 'VARCHAR';
    case 'object':
      return v === null ? null : 'JSON';
    default:
      return null;
  }
}

/** A value as the record of its fields: a plain object as is, anything else as `{ value }`. */
function asRecord(v: unknown): Record<string, unknown> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) return v as Record<string, unknown>;
  return v === undefined ? {} : { value: v };
}

function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return v;
}

function unquote(quoted: string): string {
  return quoted.slice(1, -1).replaceAll('""', '"');
}
