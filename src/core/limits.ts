/**
 * Every bound in Freshet, named in one place. Exceeding a bound means backpressure or a coded error,
 * never unbounded growth. Values here are defaults; most can be overridden per instance.
 */
export const Limits = {
  /** Largest single record (key + value + headers) the log accepts. Kafka's default message.max.bytes is ~1 MiB. */
  maxRecordBytes: 1024 * 1024,
  /** Largest batch the log writes in one append. */
  maxBatchBytes: 16 * 1024 * 1024,
  /** Records in one stored batch at most (so per-batch bookkeeping stays small). */
  maxBatchRecords: 65_536,
  /** Default segment size before the log rolls to a new segment file. */
  segmentBytes: 64 * 1024 * 1024,
  /** One sparse index entry per this many bytes of log (as Kafka's index.interval.bytes). */
  indexIntervalBytes: 4096,
  /** Appends waiting for the writer, per partition, before `FRESHET_LOG_BUSY`. */
  maxPendingAppendsPerPartition: 4096,
  /** Bytes waiting for the writer, per partition, before `FRESHET_LOG_BUSY`. */
  maxPendingAppendBytesPerPartition: 64 * 1024 * 1024,
  /** Default upper bound on bytes returned by one read. */
  defaultReadMaxBytes: 1024 * 1024,
  /** Default upper bound on records returned by one read. */
  defaultReadMaxRecords: 10_000,
  /** Partitions a topic may have. */
  maxPartitions: 1024,
  /** Worker threads one parallel pipeline run may start (`freshet run --workers`). */
  maxWorkers: 64,
  /** Ingest: largest HTTP request body. */
  maxRequestBodyBytes: 16 * 1024 * 1024,
  /** Ingest: most events in one request. */
  maxEventsPerRequest: 10_000,
  /** Ingest: largest single event. */
  maxEventBytes: 1024 * 1024,
  /** Window operators: purged windows remembered between two checkpoints before the next snapshot is full instead of a delta. */
  maxTrackedPurgedWindows: 100_000,
} as const;
