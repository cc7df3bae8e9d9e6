/**
 * Reading for `freshet tail`: one cursor per partition, and a merge that interleaves partitions by
 * timestamp while keeping each partition's own order.
 */
import { ErrorCodes, isFreshetError } from '../core/errors.js';
import type { ConsumedRecord, EventLog } from '../log/log.js';
import { recordsOf } from '../log/record-batch.js';

/** Records fetched per read of one partition. */
const READ_MAX_RECORDS = 1000;
/** Bytes fetched per read of one partition (roughly). */
const READ_MAX_BYTES = 1024 * 1024;

/** A position in one partition plus the records fetched from it and not yet printed. */
export class PartitionCursor {
  private records: readonly ConsumedRecord[] = [];
  private index = 0;

  /**
   * @param position next offset to fetch
   * @param end stop before this offset (Infinity when following)
   * @param onWarning told when retention deleted records under the cursor
   */
  constructor(
    private readonly log: EventLog,
    readonly topic: string,
    readonly partition: number,
    private position: number,
    private readonly end: number,
    private readonly onWarning: (message: string) => void,
  ) {}

  /** No fetched record is waiting. */
  get empty(): boolean {
    return this.index >= this.records.length;
  }

  head(): ConsumedRecord {
    return this.records[this.index]!;
  }

  next(): ConsumedRecord {
    return this.records[this.index++]!;
  }

  /** Fetches the next records if there are any now; returns how many. */
  async fetch(): Promise<number> {
    if (this.position >= this.end) return 0;
    // An explicit start offset may lie beyond the end: wait until the log reaches it.
    if (this.position >= (await this.log.latestOffset(this.topic, this.partition))) return 0;
    const maxRecords = Math.min(READ_MAX_RECORDS, this.end - this.position);
    let result;
    try {
      result = await this.log.read(this.topic, this.partition, this.position, { maxRecords, maxBytes: READ_MAX_BYTES });
    } catch (error) {
      if (!isFreshetError(error, ErrorCodes.OFFSET_OUT_OF_RANGE)) throw error;
      const earliest = await this.log.earliestOffset(this.topic, this.partition);
      if (earliest <= this.position) throw error;
      this.onWarning(`partition ${this.partition}: offsets ${this.position}-${earliest - 1} were deleted by retention; continuing at ${earliest}`);
      this.position = earliest;
      return this.fetch();
    }
    let records = recordsOf(result.batches);
    if (records.length > 0 && records[records.length - 1]!.offset >= this.end) records = records.filter((r) => r.offset < this.end);
    this.records = records;
    this.index = 0;
    this.position = records.length > 0 ? records[records.length - 1]!.offset + 1 : result.nextOffset;
    return records.length;
  }
}

/**
 * The cursor whose next record comes first: smallest timestamp, then lowest partition. Only cursors
 * with a waiting record take part, so each partition's records keep their log order.
 */
export function earliestHead(cursors: readonly PartitionCursor[]): PartitionCursor | undefined {
  let best: PartitionCursor | undefined;
  let bestTs = Infinity;
  for (const c of cursors) {
    if (c.empty) continue;
    const ts = c.head().timestampMs;
    if (ts < bestTs) {
      best = c;
      bestTs = ts;
    }
  }
  return best;
}
