import type { RecordBatchView } from '../../log/log.js';
import { quoteIdent, type ViewDatabase } from './database.js';

/** The schema raw topic tables live in: `SELECT * FROM raw."clicks"`. */
export const RAW_SCHEMA = 'raw';

/**
 * The raw events of one topic in a DuckDB table `raw."<topic>"` (`partition, "offset", timestamp, key,
 * value JSON`), for SQL over what was ingested. Values that are not valid JSON are stored as NULL.
 * Idempotent by position: records below the partition's recorded offset are skipped.
 *
 * @example
 * ```ts
 * const raw = await RawTopicTable.create('clicks', db);
 * // the maintainer calls raw.apply(batchView) for each read; then:
 * // SELECT value->>'user' AS user, count(*) FROM raw.clicks GROUP BY ALL
 * ```
 */
export class RawTopicTable {
  private readonly positions = new Map<number, number>();
  private readonly table: string;
  private readonly stage: string;
  rows = 0;

  private constructor(
    readonly topic: string,
    private readonly db: ViewDatabase,
  ) {
    this.table = `${RAW_SCHEMA}.${quoteIdent(topic)}`;
    this.stage = db.tempTableName('freshet_raw_stage');
  }

  static async create(topic: string, db: ViewDatabase): Promise<RawTopicTable> {
    const t = new RawTopicTable(topic, db);
    await db.write(async (c) => {
      await c.run(`CREATE OR REPLACE TABLE ${t.table} (partition INTEGER, "offset" BIGINT, timestamp TIMESTAMP, key VARCHAR, value JSON)`);
      await c.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(t.stage)} (p DOUBLE, o DOUBLE, ts DOUBLE, k VARCHAR, v VARCHAR)`);
    });
    return t;
  }

  /** The next offset to read in `partition`. */
  position(partition: number): number {
    return this.positions.get(partition) ?? 0;
  }

  /** Appends the records of `batches` (one partition, consecutive) that were not stored yet. */
  async apply(partition: number, batches: readonly RecordBatchView[]): Promise<void> {
    const next = this.position(partition);
    let last = -1;
    let count = 0;
    await this.db.write(async (c) => {
      const appender = await c.createAppender(this.stage, 'main', 'temp');
      try {
        for (const b of batches) {
          for (let i = 0; i < b.count; i++) {
            const offset = b.offsetAt(i);
            if (offset < next) continue;
            const key = b.keyAt(i);
            const value = b.valueAt(i);
            appender.appendDouble(partition);
            appender.appendDouble(offset);
            appender.appendDouble(b.timestampAt(i));
            if (key === null) appender.appendNull();
            else appender.appendVarchar(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8'));
            if (value === null) appender.appendNull();
            else appender.appendVarchar(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
            appender.endRow();
            last = offset;
            count++;
          }
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      if (count === 0) return;
      try {
        await c.run(
          `INSERT INTO ${this.table} SELECT CAST(p AS INTEGER), CAST(o AS BIGINT), epoch_ms(CAST(ts AS BIGINT)), k, TRY_CAST(v AS JSON) FROM ${quoteIdent(this.stage)}`,
        );
      } finally {
        await c.run(`DELETE FROM ${quoteIdent(this.stage)}`);
      }
    });
    if (last >= 0) {
      this.positions.set(partition, last + 1);
      this.rows += count;
    }
  }
}
