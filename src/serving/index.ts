/**
 * The serving layer (CQRS query side): views rebuilt from results topics, read-only SQL, live push.
 * See docs/api.md.
 */
export { type View, type ViewUpdateBatch, type ViewFreshness, type PartitionPosition, type ViewChange, type ViewColumn, type ChangeListener, ChangeFeed, BaseView } from './view.js';
export { KvView, type KvEntry, type KvListOptions, type KvTopOptions } from './kv-view.js';
export { TimeSeriesView, type SeriesPoint, type StepPoint, type SeriesRange } from './timeseries-view.js';
export { TableView, TABLE_SYSTEM_COLUMNS } from './duckdb/table-view.js';
export { ViewDatabase, type ViewDatabaseOptions } from './duckdb/database.js';
export { SqlExecutor, type SqlExecutorOptions, type SqlQueryOptions, type SqlResult, type SqlColumn } from './duckdb/sql-executor.js';
export { RawTopicTable, RAW_SCHEMA } from './duckdb/raw-topic-table.js';
export { ViewMaintainer, type ViewMaintainerOptions, type ViewCatalog, type ViewInfo, type PartitionFreshness } from './maintainer.js';
export { ServingLimits } from './limits.js';
