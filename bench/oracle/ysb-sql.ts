/**
 * The expected output of the YSB query in DuckDB SQL: views per campaign per 10 s tumbling window
 * `[start, start + 10 s)`, `start = (event_time // 10000) * 10000`, joining ads to campaigns.
 */
import type { OracleQuery } from './oracle.js';
import { sqlString, sqlStruct } from './nexmark-sql.js';

/** The expected output of the YSB query. */
export const YSB_SQL: OracleQuery = {
  name: 'ysb',
  sql: `SELECT a.campaign_id, (e.event_time // 10000) * 10000 AS window_start, count(*) AS views
        FROM ysb_events e JOIN ysb_ads a ON e.ad_id = a.ad_id
        WHERE e.event_type = 'view'
        GROUP BY a.campaign_id, window_start`,
  columns: [['campaign_id', 'VARCHAR'], ['window_start', 'BIGINT'], ['views', 'BIGINT']],
  checksumColumn: 'views',
};

/**
 * Loads the generated events and the ads table (both NDJSON).
 *
 * @example
 * ```ts
 * await oracle.load(ysbLoadSql('/tmp/events.ndjson', '/tmp/ads.ndjson'));
 * ```
 */
export function ysbLoadSql(eventsPath: string, adsPath: string): string[] {
  const events = { user_id: 'VARCHAR', page_id: 'VARCHAR', ad_id: 'VARCHAR', ad_type: 'VARCHAR', event_type: 'VARCHAR', event_time: 'BIGINT', ip_address: 'VARCHAR' };
  return [
    `CREATE OR REPLACE TABLE ysb_events AS SELECT * FROM read_json(${sqlString(eventsPath)}, format = 'newline_delimited', columns = ${sqlStruct(events)})`,
    `CREATE OR REPLACE TABLE ysb_ads AS SELECT * FROM read_json(${sqlString(adsPath)}, format = 'newline_delimited', columns = ${sqlStruct({ ad_id: 'VARCHAR', campaign_id: 'VARCHAR' })})`,
  ];
}
