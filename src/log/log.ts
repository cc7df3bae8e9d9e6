/**
 * The event log interface: Kafka's semantics (topics, partitions, offsets, keys, timestamps, headers,
 * consumer-group offsets), so the embedded file log and a Kafka-backed log are interchangeable.
 *
 * Offsets are plain numbers (exact up to 2^53, ~285 years at a million records a second).
 * `latestOffset` is Kafka's high watermark: the offset the next acknowledged record will get; records
 * below it are acknowledged and readable.
 */

/** One record header. Keys are strings, values bytes, duplicates allowed (as in Kafka). */
export interface RecordHeader {
  readonly key: string;
  readonly value: Uint8Array;
}

/** What a producer hands to the log. */
export interface ProducerRecord {
  /** Partitioning key; `null`/absent spreads records over partitions. */
  readonly key?: Uint8Array | null;
  /** The payload; `null` is a tombstone (a delete, for compacted topics and tables). */
  readonly value: Uint8Array | null;
  /** Event time in ms since the epoch; defaults to append (log-append) time. */
  readonly timestampMs?: number;
  readonly headers?: readonly RecordHeader[];
}

/** A record as stored, with its position. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestampMs: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
}

/**
 * A batch of consecutive records of one partition, read lazily: accessors decode one field of one
 * record on demand, so hot paths can skip what they do not use and never allocate a record object.
 * Indices run from 0 to `count - 1`; the record at index i has offset `offsetAt(i)`.
 */
export interface RecordBatchView {
  readonly topic: string;
  readonly partition: number;
  /** Number of records in this view. */
  readonly count: number;
  offsetAt(index: number): number;
  timestampAt(index: number): number;
  keyAt(index: number): Uint8Array | null;
  valueAt(index: number): Uint8Array | null;
  headersAt(index: number): readonly RecordHeader[];
  /** The record at `index` as a plain object (allocates; for tools and tests, not hot paths). */
  recordAt(index: number): ConsumedRecord;
}

/**
 * Bounds of one read. When records are available a read returns between 1 and `maxRecords` of them
 * (at least one even if it alone exceeds `maxBytes`); how bytes are counted toward `maxBytes` is the
 * implementation's (the embedded log counts stored batch bytes), so treat it as approximate.
 */
export interface ReadOptions {
  /** At most this many records (default `Limits.defaultReadMaxRecords`). */
  readonly maxRecords?: number;
  /** Stop after roughly this many bytes. */
  readonly maxBytes?: number;
}

/** What one `read` returns. */
export interface ReadResult {
  /** Consecutive batches starting at the requested offset (possibly empty at the end of the log). */
  readonly batches: readonly RecordBatchView[];
  /** The offset to read from next. */
  readonly nextOffset: number;
  /** The partition's high watermark when the read happened (for lag). */
  readonly highWatermark: number;
}

/** Where an `append` put its records. */
export interface AppendResult {
  readonly topic: string;
  readonly partition: number;
  /** Offset of the first appended record. */
  readonly baseOffset: number;
  /** Offset of the last appended record (`baseOffset + count - 1`). */
  readonly lastOffset: number;
}

/** Per-topic configuration. */
export interface TopicConfig {
  readonly partitions: number;
  /** Delete whole segments whose newest record is older than this (ms); absent = keep forever. */
  readonly retentionMs?: number;
  /** Delete the oldest whole segments while a partition is larger than this (bytes); absent = no bound. */
  readonly retentionBytes?: number;
  /** Roll to a new segment file after this many bytes. */
  readonly segmentBytes?: number;
}

/** One partition as `describeTopic` reports it. */
export interface PartitionInfo {
  readonly partition: number;
  readonly earliestOffset: number;
  readonly latestOffset: number;
  readonly sizeBytes: number;
  readonly segments: number;
}

/** A topic's configuration and partitions. */
export interface TopicDescription {
  readonly name: string;
  readonly config: Required<Pick<TopicConfig, 'partitions'>> & TopicConfig;
  readonly partitions: readonly PartitionInfo[];
}

/** An offset in one partition of one topic (produce results, committed offsets). */
export interface TopicPartitionOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/**
 * The event log. Implementations: the embedded file log (`EmbeddedLog`), an in-memory log for tests
 * (`MemoryLog`), and later Kafka. All pass `test/contract/log.case.ts`.
 *
 * @example
 * ```ts
 * const log = await EmbeddedLog.open({ dataDir: './.freshet' });
 * await log.createTopic('orders', { partitions: 4 });
 * const [ack] = await log.produce('orders', [{ key: enc('c-1'), value: enc('{"total":12}') }]);
 * const { batches } = await log.read('orders', ack.partition, 0);
 * console.log(new TextDecoder().decode(batches[0]!.valueAt(0)!));
 * ```
 */
export interface EventLog {
  createTopic(name: string, config: TopicConfig): Promise<void>;
  /** Creates the topic unless it exists; an existing topic keeps its configuration, whatever `config` says. */
  ensureTopic(name: string, config: TopicConfig): Promise<TopicDescription>;
  deleteTopic(name: string): Promise<void>;
  listTopics(): Promise<readonly string[]>;
  /** Throws `FRESHET_UNKNOWN_TOPIC` for a missing topic. */
  describeTopic(name: string): Promise<TopicDescription>;

  /**
   * Appends records to one partition, in order, as one atomic batch: after a crash either all of them
   * are there or none. Resolves when the fsync policy is met. Concurrent appends to one partition get
   * their offsets in call order (so a caller may pipeline appends without awaiting each one).
   */
  append(topic: string, partition: number, records: readonly ProducerRecord[]): Promise<AppendResult>;
  /**
   * Appends records, choosing each one's partition from its key with Kafka's murmur2 partitioner
   * (records without a key go round-robin). Resolves with one result per record, in input order.
   * Invalid input is refused before anything is written; otherwise it is atomic per append (per
   * partition and per batch-size chunk), not across partitions, as with a Kafka producer.
   */
  produce(topic: string, records: readonly ProducerRecord[]): Promise<readonly TopicPartitionOffset[]>;

  /**
   * Reads from `offset` (inclusive). An offset equal to the high watermark returns no batches. The
   * returned keys, values and headers are views of the log's data: read them, do not modify them.
   */
  read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<ReadResult>;
  /** Oldest readable offset (moves up when retention deletes segments). */
  earliestOffset(topic: string, partition: number): Promise<number>;
  /** The high watermark: one past the last acknowledged record. */
  latestOffset(topic: string, partition: number): Promise<number>;
  /**
   * The earliest offset whose record's timestamp is >= `timestampMs` (Kafka's ListOffsets by time),
   * or `null` when no such record exists.
   */
  offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number | null>;

  /**
   * Removes every record at offset >= `endOffset` from one partition, so the next append gets
   * `endOffset`: how recovery drops output written after the checkpoint it restores (exactly-once).
   * `endOffset` must lie in [earliestOffset, latestOffset] (else FRESHET_OFFSET_OUT_OF_RANGE);
   * `latestOffset` is a no-op. It may cut inside a stored batch. Durable and crash-safe: once it
   * resolves the new end survives a crash; a crash during it leaves the old end or the new one.
   * Appends issued before the call are acknowledged (or fail) first; appends issued while it runs may
   * fail with FRESHET_LOG_BUSY. Committed group offsets are left as they are (as in Kafka).
   *
   * @example
   * ```ts
   * await log.truncate('revenue', 0, checkpoint.outputPositions['revenue/0']);
   * ```
   */
  truncate(topic: string, partition: number, endOffset: number): Promise<void>;

  /** Stores consumer-group offsets atomically (all or none). */
  commitOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** The group's committed offsets (for one topic, or all). */
  committedOffsets(group: string, topic?: string): Promise<readonly TopicPartitionOffset[]>;

  close(): Promise<void>;
}
