/**
 * Batches records for `freshet produce` and keeps several appends in flight, so reading and parsing
 * the next batch overlaps the previous one's write and fsync (the embedded log assigns offsets in
 * call order and group-commits concurrent appends, so order is kept and fsyncs are shared).
 */
import type { EventLog, ProducerRecord } from '../log/log.js';

export interface ProducerOptions {
  readonly topic: string;
  /** Append every record to this partition; absent: the log partitions by key (round-robin without). */
  readonly partition?: number;
  /** Records per append. */
  readonly batchRecords: number;
  /** Approximate value bytes per append. */
  readonly batchBytes: number;
  /** Appends awaiting acknowledgement at most; the next one waits for the oldest. */
  readonly maxInFlight: number;
}

/** Progress counters; `acked*` count what the log acknowledged. */
export interface ProducerStats {
  ackedRecords: number;
  ackedBytes: number;
  /** Input line number of the last acknowledged record (every line up to it is in the log). */
  ackedThroughLine: number;
  /** Records handed to the log, acknowledged or not. */
  sentRecords: number;
}

interface Pending {
  readonly outcome: Promise<unknown>;
  readonly records: number;
  readonly bytes: number;
  readonly lastLine: number;
}

/**
 * Collects records into batches and appends them, at most `maxInFlight` at a time. Call `add` per
 * record, `flush` at the end; on an append failure the next `add`/`flush` rethrows it and `stats`
 * tells exactly what was acknowledged before it.
 */
export class BatchProducer {
  readonly stats: ProducerStats = { ackedRecords: 0, ackedBytes: 0, ackedThroughLine: 0, sentRecords: 0 };
  private batch: ProducerRecord[] = [];
  private batchBytes = 0;
  private batchLastLine = 0;
  private readonly inFlight: Pending[] = [];

  constructor(
    private readonly log: EventLog,
    private readonly options: ProducerOptions,
  ) {}

  /** Adds one record read from `lineNo`; appends the batch when it is full. */
  async add(record: ProducerRecord, lineNo: number): Promise<void> {
    this.batch.push(record);
    this.batchBytes += (record.value?.length ?? 0) + (record.key?.length ?? 0);
    this.batchLastLine = lineNo;
    if (this.batch.length >= this.options.batchRecords || this.batchBytes >= this.options.batchBytes) await this.sendBatch();
  }

  /** Appends what is batched and waits until every append is acknowledged. */
  async flush(): Promise<void> {
    await this.sendBatch();
    while (this.inFlight.length > 0) await this.settleOldest();
  }

  /** Waits for in-flight appends after a failure elsewhere, ignoring their errors (for reporting). */
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) {
      try {
        await this.settleOldest();
      } catch {
        // reported by whoever saw it first
      }
    }
  }

  /** Appends what is batched now, without waiting for it to be acknowledged. */
  async sendPending(): Promise<void> {
    await this.sendBatch();
  }

  private async sendBatch(): Promise<void> {
    if (this.batch.length === 0) return;
    const records = this.batch;
    const bytes = this.batchBytes;
    const lastLine = this.batchLastLine;
    this.batch = [];
    this.batchBytes = 0;
    while (this.inFlight.length >= this.options.maxInFlight) await this.settleOldest();
    const { topic, partition } = this.options;
    // Handlers are attached at once, so a failure is never an unhandled rejection while it waits its turn.
    const outcome = (partition === undefined ? this.log.produce(topic, records) : this.log.append(topic, partition, records)).then(
      () => null,
      (error: unknown) => ({ error }),
    );
    this.stats.sentRecords += records.length;
    this.inFlight.push({ outcome, records: records.length, bytes, lastLine });
  }

  private async settleOldest(): Promise<void> {
    const pending = this.inFlight.shift()!;
    const result = (await pending.outcome) as { error: unknown } | null;
    if (result !== null) {
      // Later appends cannot be acknowledged ahead of this one: drop them from the books.
      throw result.error;
    }
    this.stats.ackedRecords += pending.records;
    this.stats.ackedBytes += pending.bytes;
    this.stats.ackedThroughLine = pending.lastLine;
  }
}
