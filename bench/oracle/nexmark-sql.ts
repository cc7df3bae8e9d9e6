/**
 * The expected output of every Nexmark query, in DuckDB SQL, written from the queries' standard
 * definitions (Flink's Nexmark SQL) and not from Freshet's code. Tables: `person`, `auction`, `bid`
 * (views over the events the generator wrote, see oracle.ts). Times are epoch ms (BIGINT); a window of
 * size S holds `[start, start + S)` with `start = (dateTime // S) * S` (hopping: every start on the
 * advance grid with start <= dateTime < start + size).
 *
 * Where a definition differs from Flink's text, the comment says so (and Freshet implements the same).
 */
import type { OracleQuery } from './oracle.js';

const BID_COLUMNS = [
  ['auction', 'BIGINT'],
  ['bidder', 'BIGINT'],
  ['price', 'BIGINT'],
  ['dateTime', 'BIGINT'],
  ['extra', 'VARCHAR'],
] as const;

/** The expected output of each Nexmark query, by query name. */
export const NEXMARK_SQL: Readonly<Record<string, OracleQuery>> = Object.freeze({
  q0: {
    name: 'q0',
    sql: 'SELECT auction, bidder, price, dateTime, extra FROM bid',
    columns: BID_COLUMNS,
    checksumColumn: 'price',
  },
  q1: {
    // Flink: 0.908 * price. In double arithmetic on both sides (DuckDB would otherwise use DECIMAL).
    name: 'q1',
    sql: 'SELECT auction, bidder, 0.908::DOUBLE * price AS price, dateTime, extra FROM bid',
    columns: [['auction', 'BIGINT'], ['bidder', 'BIGINT'], ['price', 'DOUBLE'], ['dateTime', 'BIGINT'], ['extra', 'VARCHAR']],
    checksumColumn: 'auction',
  },
  q2: {
    name: 'q2',
    sql: 'SELECT auction, price FROM bid WHERE auction % 123 = 0',
    columns: [['auction', 'BIGINT'], ['price', 'BIGINT']],
    checksumColumn: 'price',
  },
  q3: {
    // An unbounded inner join, as in Flink.
    name: 'q3',
    sql: `SELECT P.name, P.city, P.state, A.id
          FROM auction A JOIN person P ON A.seller = P.id
          WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')`,
    columns: [['name', 'VARCHAR'], ['city', 'VARCHAR'], ['state', 'VARCHAR'], ['id', 'BIGINT']],
    checksumColumn: 'id',
  },
  q4: {
    // The final state of Flink's updating result. AVG as sum::DOUBLE / count: one IEEE division of an
    // exact sum (DuckDB's AVG may divide in extended precision and round twice).
    name: 'q4',
    sql: `SELECT category, sum(final)::DOUBLE / count(*) AS avg FROM (
            SELECT A.id, A.category, max(B.price) AS final
            FROM auction A JOIN bid B ON A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
            GROUP BY A.id, A.category
          ) GROUP BY category`,
    columns: [['category', 'BIGINT'], ['avg', 'DOUBLE']],
    checksumColumn: 'category',
  },
  q5: {
    // HOP(size 10 s, slide 2 s); window_start added to the output so rows of different windows differ.
    name: 'q5',
    sql: `WITH windowed AS (
            SELECT auction, (dateTime // 2000) * 2000 - k * 2000 AS window_start
            FROM bid, range(0, 5) AS t(k)
          ), counts AS (
            SELECT auction, window_start, count(*) AS num FROM windowed GROUP BY auction, window_start
          ), maxes AS (
            SELECT window_start, max(num) AS maxn FROM counts GROUP BY window_start
          )
          SELECT c.auction, c.num, c.window_start FROM counts c JOIN maxes m USING (window_start) WHERE c.num >= m.maxn`,
    columns: [['auction', 'BIGINT'], ['num', 'BIGINT'], ['window_start', 'BIGINT']],
    checksumColumn: 'num',
  },
  q7: {
    // Flink's text keeps bids with dateTime BETWEEN window_end - 10 s AND window_end, which also admits a
    // bid at exactly window_end (the next window's first instant) at the previous window's max price.
    // Here the bids are those of the window itself: [start, end), as the window's max is.
    name: 'q7',
    sql: `WITH maxes AS (SELECT (dateTime // 10000) * 10000 AS ws, max(price) AS maxprice FROM bid GROUP BY ws)
          SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
          FROM bid B JOIN maxes M ON (B.dateTime // 10000) * 10000 = M.ws AND B.price = M.maxprice`,
    columns: [['auction', 'BIGINT'], ['price', 'BIGINT'], ['bidder', 'BIGINT'], ['dateTime', 'BIGINT'], ['extra', 'VARCHAR']],
    checksumColumn: 'price',
  },
  q8: {
    name: 'q8',
    sql: `WITH P AS (SELECT DISTINCT id, name, (dateTime // 10000) * 10000 AS starttime FROM person),
               A AS (SELECT DISTINCT seller, (dateTime // 10000) * 10000 AS starttime FROM auction)
          SELECT P.id, P.name, P.starttime FROM P JOIN A ON P.id = A.seller AND P.starttime = A.starttime`,
    columns: [['id', 'BIGINT'], ['name', 'VARCHAR'], ['starttime', 'BIGINT']],
    checksumColumn: 'id',
  },
  q11: {
    // SESSION(dateTime, 10 s) per bidder: a bid 10 s or more after the previous one starts a new session;
    // a session ends 10 s after its last bid.
    name: 'q11',
    sql: `WITH marked AS (
            SELECT bidder, dateTime,
                   CASE WHEN dateTime - lag(dateTime) OVER (PARTITION BY bidder ORDER BY dateTime) >= 10000 THEN 1 ELSE 0 END AS brk
            FROM bid
          ), numbered AS (
            SELECT bidder, dateTime, sum(brk) OVER (PARTITION BY bidder ORDER BY dateTime ROWS UNBOUNDED PRECEDING) AS sid FROM marked
          )
          SELECT bidder, count(*) AS bid_count, min(dateTime) AS starttime, max(dateTime) + 10000 AS endtime
          FROM numbered GROUP BY bidder, sid`,
    columns: [['bidder', 'BIGINT'], ['bid_count', 'BIGINT'], ['starttime', 'BIGINT'], ['endtime', 'BIGINT']],
    checksumColumn: 'bid_count',
  },
});

/**
 * Loads the generator's NDJSON into `events` and the per-kind views the queries read.
 *
 * @example
 * ```ts
 * await oracle.load(nexmarkLoadSql('/tmp/events.ndjson'));
 * ```
 */
export function nexmarkLoadSql(ndjsonPath: string): string[] {
  const columns = {
    type: 'VARCHAR',
    id: 'BIGINT',
    name: 'VARCHAR',
    emailAddress: 'VARCHAR',
    creditCard: 'VARCHAR',
    city: 'VARCHAR',
    state: 'VARCHAR',
    dateTime: 'BIGINT',
    extra: 'VARCHAR',
    itemName: 'VARCHAR',
    description: 'VARCHAR',
    initialBid: 'BIGINT',
    reserve: 'BIGINT',
    expires: 'BIGINT',
    seller: 'BIGINT',
    category: 'BIGINT',
    auction: 'BIGINT',
    bidder: 'BIGINT',
    price: 'BIGINT',
  };
  return [
    `CREATE OR REPLACE TABLE events AS SELECT * FROM read_json(${sqlString(ndjsonPath)}, format = 'newline_delimited', columns = ${sqlStruct(columns)})`,
    `CREATE OR REPLACE VIEW person AS SELECT id, name, emailAddress, creditCard, city, state, dateTime, extra FROM events WHERE type = 'person'`,
    `CREATE OR REPLACE VIEW auction AS SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra FROM events WHERE type = 'auction'`,
    `CREATE OR REPLACE VIEW bid AS SELECT auction, bidder, price, dateTime, extra FROM events WHERE type = 'bid'`,
  ];
}

/**
 * A SQL string literal.
 *
 * @example
 * ```ts
 * sqlString("it's"); // 'it''s'
 * ```
 */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * A DuckDB struct literal of column types: {name: 'TYPE', ...}.
 *
 * @example
 * ```ts
 * sqlStruct({ a: 'BIGINT' }); // {a: 'BIGINT'}
 * ```
 */
export function sqlStruct(columns: Readonly<Record<string, string>>): string {
  return `{${Object.entries(columns)
    .map(([k, v]) => `${k}: ${sqlString(v)}`)
    .join(', ')}}`;
}
