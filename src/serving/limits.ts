/**
 * Every bound of the serving layer (views, query API, live push), named in one place. Exceeding one
 * means a coded error, truncation with a flag, or backpressure: never unbounded growth.
 */
export const ServingLimits = {
  /** Live updates kept per view for SSE `Last-Event-ID` resume; older ids answer FRESHET_STREAM_RESUME_GONE. */
  changeRingSize: 10_000,
  /** Keys in one multi-get (`POST /v1/views/:view/keys`). */
  maxMultiGetKeys: 1_000,
  /** Entries one prefix listing or top-N returns at most (and its default). */
  maxListEntries: 10_000,
  defaultListEntries: 100,
  /** Points one series query returns at most (more: truncated, with a flag). */
  maxSeriesPoints: 100_000,
  /** Rows a SQL query returns by default, and the most a caller may ask for (more: truncated, with a flag). */
  defaultSqlRows: 10_000,
  maxSqlRows: 1_000_000,
  /** Approximate bytes of converted result values one SQL query may return (more: truncated, with a flag). */
  maxSqlResultBytes: 64 * 1024 * 1024,
  /** Time a SQL query may run by default, and the most a caller may ask for (then it is interrupted). */
  defaultSqlTimeoutMs: 5_000,
  maxSqlTimeoutMs: 60_000,
  /** Longest SQL text accepted. */
  maxSqlChars: 100_000,
  /** Reader connections: SQL queries running at once. */
  sqlReaderConnections: 2,
  /** SQL queries waiting for a reader connection before FRESHET_SERVING_BUSY. */
  maxQueuedSqlQueries: 64,
  /** Open SSE streams per server before FRESHET_SERVING_BUSY. */
  maxSseStreams: 1_000,
  /** Bytes buffered for one slow SSE client before it is disconnected (it can resume with Last-Event-ID). */
  maxSseBufferedBytes: 4 * 1024 * 1024,
  /** Default SSE heartbeat (a comment line), so proxies keep the connection open. */
  defaultSseHeartbeatMs: 15_000,
  /** Records read from one view partition per poll. */
  maintainerReadMaxRecords: 10_000,
  /** Wait between polls when no view had new records. */
  defaultMaintainerPollMs: 5,
  /** Columns inferred for a table view from its values (more fields go to the `extra` JSON column). */
  maxTableColumns: 256,
  /** Time-series retention sweep: at most once per this many ms of wall time. */
  retentionSweepIntervalMs: 1_000,
  /** DuckDB memory for views plus queries (DuckDB's own bound; queries past it fail with its error). */
  defaultDuckDbMemoryLimit: '1GB',
} as const;
