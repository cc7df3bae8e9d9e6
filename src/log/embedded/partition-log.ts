import fs from 'node:fs';
import path from 'node:path';
import { assert } from '../../core/assert.js';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { Limits } from '../../core/limits.js';
import type { AppendResult, ProducerRecord, RecordBatchView, ReadResult } from '../log.js';
import { validateAppend } from '../topic-config.js';
import { BatchScratch, HEADER_BYTES, StoredBatchView, encodedRecordBytes, baseOffsetAt, batchLengthAt, checkBatch, encodeBatch, maxTimestampAt, recordCountAt } from './batch-format.js';
import { fsyncDirSync } from './files.js';
import { Segment, type ScanTail, listSegmentBases } from './segment.js';
import { TRUNCATION_MARKER_FILE, applyTruncation, readTruncationEpoch, readTruncationMarker, removeTruncationTempFiles, type TruncationPlan, writeTruncationMarker } from './truncation.js';

const scratch = new BatchScratch();

/** When an append counts as acknowledged. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface PartitionLogOptions {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly segmentBytes: number;
  readonly readOnly: boolean;
  readonly maxPendingAppends: number;
  readonly maxPendingAppendBytes: number;
  readonly onWarning: (message: string, details: Record<string, unknown>) => void;
}

interface AckWaiter {
  /** The append is durable once everything below this offset is. */
  readonly endOffset: number;
  readonly bytes: number;
  readonly result: AppendResult;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One partition of the embedded log: an ordered list of segments, the newest of which takes appends.
 *
 * Writes happen synchronously inside `append` (into the page cache), so offsets are assigned in call
 * order. Under fsync `always`, acknowledgements wait for an fdatasync; every append that arrives while
 * one is running shares the next one (group commit). The high watermark (what readers see) is the end
 * of the acknowledged data.
 */
export class PartitionLog {
  private readonly segments: Segment[] = [];
  /** One past the last record written to the file. */
  private writtenEnd = 0;
  /** One past the last acknowledged record: readers see offsets below it. */
  private highWatermark = 0;
  private readonly waiters: AckWaiter[] = [];
  private pendingBytes = 0;
  private syncInFlight = false;
  private syncScheduled = false;
  /** Unsynced writes exist (for the `interval` policy). */
  private dirty = false;
  /** Set after a failed fsync: the page cache state is unknown, so the partition stops taking writes. */
  private failure: FreshetError | null = null;
  /** A truncate() is waiting for earlier appends or running: new appends are refused (LOG_BUSY). */
  private truncating: Promise<void> | null = null;
  /** The partition's truncation count when the segments were loaded (read-only followers reload on change). */
  private truncationEpoch = 0;

  private constructor(private readonly options: PartitionLogOptions) {}

  /** Opens (or creates) the partition directory, recovering the active segment's tail. */
  static open(options: PartitionLogOptions): PartitionLog {
    const log = new PartitionLog(options);
    let pending: TruncationPlan | null = readTruncationMarker(options.dir);
    if (!options.readOnly) {
      removeTruncationTempFiles(options.dir);
      if (pending) {
        // A truncation was interrupted by a crash: its marker says the new end wins, so finish it.
        applyTruncation(options.dir, pending);
        options.onWarning(`finished an interrupted truncation of ${options.topic}/${options.partition} to offset ${pending.endOffset}`, {
          topic: options.topic,
          partition: options.partition,
          endOffset: pending.endOffset,
        });
        pending = null;
      }
    }
    log.truncationEpoch = readTruncationEpoch(options.dir);
    log.loadSegments(log.segments, pending);
    return log;
  }

  /**
   * Opens the segment files into `into` and sets the ends. `pending`: a read-only follower sees a
   * truncation the writer has not finished as already done (records from its end on are hidden).
   */
  private loadSegments(into: Segment[], pending: TruncationPlan | null): void {
    const options = this.options;
    const log = this;
    const bases = listSegmentBases(options.dir);
    if (bases.length === 0) {
      if (options.readOnly) {
        throw new FreshetError(ErrorCodes.LOG_CORRUPT, `partition directory ${options.dir} has no segment`, { dir: options.dir });
      }
      into.push(Segment.create(options.dir, 0));
      fsyncDirSync(options.dir);
    }
    try {
      for (let i = 0; i < bases.length; i++) {
        const isLast = i === bases.length - 1;
        const { segment, tail } = Segment.open(options.dir, bases[i]!, isLast, options.readOnly);
        into.push(segment);
        const previous = into[into.length - 2];
        if (previous && previous.nextOffset !== segment.baseOffset) {
          throw new FreshetError(
            ErrorCodes.LOG_CORRUPT,
            `segments of ${options.topic}/${options.partition} are not contiguous: ${previous.logFile} ends at offset ${previous.nextOffset}, next segment starts at ${segment.baseOffset}`,
            { topic: options.topic, partition: options.partition, file: segment.logFile },
          );
        }
        if (tail) log.reportTornTail(segment, tail);
      }
    } catch (error) {
      // Opening failed part-way (corruption): close what was opened.
      for (const s of into) s.close();
      into.length = 0;
      throw error;
    }
    const end = into[into.length - 1]!.nextOffset;
    log.writtenEnd = pending ? Math.min(end, pending.endOffset) : end;
    log.highWatermark = log.writtenEnd;
  }

  get earliestOffset(): number {
    return this.segments[0]!.baseOffset;
  }

  /** The earliest offset as of now: a read-only follower first picks up the writer's deletions. */
  currentEarliestOffset(): number {
    if (this.options.readOnly) this.refresh();
    return this.segments[0]!.baseOffset;
  }

  get latestOffset(): number {
    if (this.options.readOnly) this.refresh();
    return this.highWatermark;
  }

  get sizeBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.sizeBytes;
    return n;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /** Appends records as one batch; see the class comment for when it resolves. */
  append(records: readonly ProducerRecord[], nowMs: number): Promise<AppendResult> {
    const { topic, partition } = this.options;
    if (this.options.readOnly) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the log was opened read-only');
    if (this.failure) throw this.failure;
    validateAppend(records, encodedRecordBytes);
    if (this.truncating) {
      throw new FreshetError(ErrorCodes.LOG_BUSY, `${topic}/${partition} is being truncated; retry later`, { topic, partition, retryAfterMs: 10 });
    }
    if (this.waiters.length >= this.options.maxPendingAppends || this.pendingBytes >= this.options.maxPendingAppendBytes) {
      throw new FreshetError(ErrorCodes.LOG_BUSY, `${topic}/${partition} has ${this.waiters.length} appends waiting for fsync; retry later`, {
        topic,
        partition,
        retryAfterMs: 100,
      });
    }
    const baseOffset = this.writtenEnd;
    // Encoded into the shared scratch buffer and written out before this method returns.
    const batch = encodeBatch(baseOffset, records, nowMs, scratch);
    if (batch.length > Limits.maxBatchBytes) {
      throw new FreshetError(ErrorCodes.RECORD_TOO_LARGE, `batch of ${batch.length} bytes exceeds the ${Limits.maxBatchBytes}-byte limit`);
    }
    try {
      this.rollIfFull(batch.length);
      this.active.append(batch, baseOffset, records.length, maxTimestampAt(batch, 0));
    } catch (error) {
      if (error instanceof FreshetError) throw error;
      throw new FreshetError(ErrorCodes.LOG_WRITE_FAILED, `writing to ${this.active.logFile} failed: ${(error as Error).message}`, { topic, partition }, { cause: error });
    }
    this.writtenEnd = baseOffset + records.length;
    const result: AppendResult = { topic, partition, baseOffset, lastOffset: this.writtenEnd - 1 };
    if (this.options.fsync !== 'always') {
      this.highWatermark = this.writtenEnd;
      this.dirty = true;
      return Promise.resolve(result);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.waiters.push({ endOffset: this.writtenEnd, bytes: batch.length, result, resolve, reject });
      this.pendingBytes += batch.length;
      this.scheduleSync();
    });
  }

  /** Reads acknowledged records from `offset`; see EventLog.read. */
  read(offset: number, maxRecords: number, maxBytes: number): ReadResult {
    const { topic, partition } = this.options;
    if (this.options.readOnly) this.refresh();
    const highWatermark = this.highWatermark;
    if (!Number.isInteger(offset) || offset < this.earliestOffset || offset > highWatermark) {
      throw new FreshetError(
        ErrorCodes.OFFSET_OUT_OF_RANGE,
        `offset ${offset} is outside [${this.earliestOffset}, ${highWatermark}] of ${topic}/${partition}`,
        { topic, partition, offset, earliestOffset: this.earliestOffset, latestOffset: highWatermark },
      );
    }
    const batches: RecordBatchView[] = [];
    let next = offset;
    let remaining = Math.min(maxRecords, highWatermark - offset);
    let budget = maxBytes;
    let segmentIndex = this.segmentIndexFor(offset);
    while (remaining > 0 && segmentIndex < this.segments.length && (budget > 0 || batches.length === 0)) {
      const segment = this.segments[segmentIndex]!;
      if (next >= segment.nextOffset) {
        segmentIndex++;
        continue;
      }
      let position = segment.positionForOffset(next);
      let chunkBytes = Math.max(budget, HEADER_BYTES);
      // Read chunks of this segment until the budget is spent or the segment ends.
      while (remaining > 0 && position < segment.sizeBytes && (budget > 0 || batches.length === 0)) {
        const chunk = segment.readAt(position, chunkBytes);
        let p = 0;
        while (remaining > 0 && p + HEADER_BYTES <= chunk.length && (budget > 0 || batches.length === 0)) {
          const length = batchLengthAt(chunk, p);
          if (p + length > chunk.length) break;
          const base = baseOffsetAt(chunk, p);
          const count = recordCountAt(chunk, p);
          if (base + count > next) {
            const problem = checkBatch(chunk, p, chunk.length);
            if (problem !== null || base > next) this.throwCorrupt(segment, position + p, next, problem ?? 'offset-gap');
            const startIndex = next - base;
            const endIndex = Math.min(count, startIndex + remaining);
            batches.push(new StoredBatchView(topic, partition, chunk, p, startIndex, endIndex));
            remaining -= endIndex - startIndex;
            next += endIndex - startIndex;
            budget -= length;
          }
          p += length;
        }
        if (p === 0) {
          // The next batch is larger than the chunk: read exactly that batch.
          if (chunk.length < HEADER_BYTES) this.throwCorrupt(segment, position, next, 'short-header');
          const length = batchLengthAt(chunk, 0);
          if (length <= chunk.length || position + length > segment.sizeBytes) this.throwCorrupt(segment, position, next, 'bad-length');
          chunkBytes = length;
          continue;
        }
        position += p;
        chunkBytes = Math.max(budget, HEADER_BYTES);
      }
      segmentIndex++;
    }
    return { batches, nextOffset: next, highWatermark };
  }

  /** See EventLog.offsetForTimestamp. */
  offsetForTimestamp(timestampMs: number): number | null {
    if (this.options.readOnly) this.refresh();
    for (const segment of this.segments) {
      if (segment.maxTimestampMs < timestampMs || segment.baseOffset >= this.highWatermark) continue;
      let position = segment.positionForTimestamp(timestampMs);
      while (position < segment.sizeBytes) {
        const header = segment.readAt(position, HEADER_BYTES);
        const length = batchLengthAt(header, 0);
        const base = baseOffsetAt(header, 0);
        if (base >= this.highWatermark) return null;
        if (maxTimestampAt(header, 0) >= timestampMs) {
          const chunk = segment.readAt(position, length);
          const problem = checkBatch(chunk, 0, chunk.length);
          if (problem !== null) this.throwCorrupt(segment, position, base, problem);
          const view = new StoredBatchView(this.options.topic, this.options.partition, chunk, 0, 0, recordCountAt(chunk, 0));
          for (let i = 0; i < view.count; i++) {
            if (view.offsetAt(i) >= this.highWatermark) return null;
            if (view.timestampAt(i) >= timestampMs) return view.offsetAt(i);
          }
        }
        position += length;
      }
    }
    return null;
  }

  /**
   * Deletes whole sealed segments from the start: those whose newest record is older than
   * `nowMs - retentionMs`, then the oldest while the partition stays at or above `retentionBytes`
   * without them (Kafka's rule). Returns the number of segments deleted.
   */
  enforceRetention(nowMs: number, retentionMs: number | undefined, retentionBytes: number | undefined): number {
    // An fdatasync may still be running on a sealed segment's descriptor: close nothing under it.
    if (this.syncInFlight || this.syncScheduled) return 0;
    let deleted = 0;
    let size = this.sizeBytes;
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const expired = retentionMs !== undefined && oldest.maxTimestampMs < nowMs - retentionMs;
      const oversize = retentionBytes !== undefined && size - oldest.sizeBytes >= retentionBytes;
      if (!expired && !oversize) break;
      this.segments.shift();
      size -= oldest.sizeBytes;
      oldest.deleteFiles();
      deleted++;
    }
    if (deleted > 0) fsyncDirSync(this.options.dir);
    return deleted;
  }

  /**
   * Removes every record at offset >= `endOffset` (see EventLog.truncate and truncation.ts for the
   * crash-safe protocol). Waits until every append issued before it is acknowledged; appends issued
   * meanwhile fail with FRESHET_LOG_BUSY. Concurrent truncations run one after the other.
   */
  async truncate(endOffset: number): Promise<void> {
    if (this.options.readOnly) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the log was opened read-only');
    if (this.failure) throw this.failure;
    const previous = this.truncating;
    const run = (async () => {
      if (previous) await previous.catch(() => undefined);
      // Earlier appends settle first, so no acknowledgement is pending for a record about to be cut.
      while (this.waiters.length > 0 || this.syncInFlight || this.syncScheduled) await new Promise((r) => setImmediate(r));
      if (this.failure) throw this.failure;
      this.truncateNow(endOffset);
    })();
    this.truncating = run;
    try {
      await run;
    } finally {
      if (this.truncating === run) this.truncating = null;
    }
  }

  private truncateNow(endOffset: number): void {
    const { topic, partition, dir } = this.options;
    const earliest = this.earliestOffset;
    if (!Number.isInteger(endOffset) || endOffset < earliest || endOffset > this.highWatermark) {
      throw new FreshetError(
        ErrorCodes.OFFSET_OUT_OF_RANGE,
        `cannot truncate ${topic}/${partition} to ${endOffset}: the end must be an offset in [${earliest}, ${this.highWatermark}]`,
        { topic, partition, offset: endOffset, earliestOffset: earliest, latestOffset: this.highWatermark },
      );
    }
    assert(this.highWatermark === this.writtenEnd, 'no unacknowledged write is pending during a truncation');
    if (endOffset === this.writtenEnd) return;
    // The cut segment: the one holding endOffset, or the one ending exactly there (then nothing is cut
    // inside it and every later segment goes).
    let index = this.segmentIndexFor(endOffset);
    if (index > 0 && this.segments[index]!.baseOffset === endOffset) index--;
    const segment = this.segments[index]!;
    let position = segment.sizeBytes;
    let partial: Uint8Array = new Uint8Array(0);
    if (endOffset < segment.nextOffset) {
      position = segment.positionForOffset(endOffset);
      for (;;) {
        const header = segment.readAt(position, HEADER_BYTES);
        if (header.length < HEADER_BYTES) this.throwCorrupt(segment, position, endOffset, 'short-header');
        const base = baseOffsetAt(header, 0);
        const count = recordCountAt(header, 0);
        const length = batchLengthAt(header, 0);
        if (base + count <= endOffset) {
          position += length;
          continue;
        }
        if (base < endOffset) {
          // The end falls inside this batch: keep its first records as a smaller batch.
          const batch = segment.readAt(position, length);
          const problem = checkBatch(batch, 0, batch.length);
          if (problem !== null) this.throwCorrupt(segment, position, base, problem);
          const view = new StoredBatchView(topic, partition, batch, 0, 0, endOffset - base);
          const kept: ProducerRecord[] = [];
          for (let i = 0; i < view.count; i++) kept.push(view.recordAt(i));
          partial = encodeBatch(base, kept, 0);
        }
        break;
      }
    }
    const plan: TruncationPlan = { endOffset, segmentBase: segment.baseOffset, position, partial };
    try {
      writeTruncationMarker(dir, plan);
      // Descriptors of the segments about to change or go are closed first; the cut one is reopened.
      for (const s of this.segments.splice(index)) s.close();
      applyTruncation(dir, plan);
      const { segment: reopened } = Segment.open(dir, plan.segmentBase, true, false);
      this.segments.push(reopened);
    } catch (error) {
      // The files are in an unknown state until the next open redoes the marker: take no more writes.
      const failure =
        error instanceof FreshetError
          ? error
          : new FreshetError(ErrorCodes.LOG_WRITE_FAILED, `truncating ${topic}/${partition} failed: ${(error as Error).message}`, { topic, partition }, { cause: error });
      this.failure = failure;
      throw failure;
    }
    assert(this.active.nextOffset === endOffset, 'a truncated partition ends at the requested offset');
    this.writtenEnd = endOffset;
    this.highWatermark = endOffset;
    this.dirty = false;
    this.truncationEpoch = readTruncationEpoch(dir);
  }

  /** Waits for pending acknowledgements, syncs (unless fsync is `never`) and closes the files. */
  async close(): Promise<void> {
    while (this.syncInFlight || this.syncScheduled) await new Promise((r) => setImmediate(r));
    if (!this.options.readOnly && this.options.fsync !== 'never' && this.failure === null) this.active.syncSync();
    for (const s of this.segments) s.close();
  }

  /** Starts an async fdatasync if one is due (the `interval` policy's timer calls this). */
  syncIfDirty(): void {
    if (this.dirty && !this.syncInFlight && this.failure === null) this.startSync();
  }

  private scheduleSync(): void {
    if (this.syncInFlight || this.syncScheduled) return;
    // Let appends issued in the same turn of the event loop join this fsync.
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      this.startSync();
    });
  }

  private startSync(): void {
    const coveredEnd = this.writtenEnd;
    const segment = this.active;
    this.syncInFlight = true;
    this.dirty = false;
    fs.fdatasync(segment.fd, (error) => {
      this.syncInFlight = false;
      if (error) {
        this.fail(new FreshetError(ErrorCodes.LOG_WRITE_FAILED, `fsync of ${segment.logFile} failed: ${error.message}`, { file: segment.logFile }, { cause: error }));
        return;
      }
      this.acknowledgeUpTo(coveredEnd);
      if (this.waiters.length > 0) this.scheduleSync();
    });
  }

  private acknowledgeUpTo(endOffset: number): void {
    // A segment roll syncs and acknowledges on the spot, so an fsync that was already running can
    // finish covering less than is acknowledged: the high watermark only moves forward.
    if (endOffset > this.highWatermark) this.highWatermark = endOffset;
    assert(this.highWatermark <= this.writtenEnd, 'nothing unwritten is acknowledged');
    while (this.waiters.length > 0 && this.waiters[0]!.endOffset <= this.highWatermark) {
      const w = this.waiters.shift()!;
      this.pendingBytes -= w.bytes;
      w.resolve(w.result);
    }
  }

  private fail(error: FreshetError): void {
    this.failure = error;
    for (const w of this.waiters.splice(0)) w.reject(error);
    this.pendingBytes = 0;
  }

  private rollIfFull(batchBytes: number): void {
    const active = this.active;
    if (active.sizeBytes === 0 || active.sizeBytes + batchBytes <= this.options.segmentBytes) return;
    if (this.options.fsync !== 'never') {
      // Everything written so far lives in the old segment: make it durable before moving on, and
      // acknowledge whoever waited for it.
      active.syncSync();
      if (this.options.fsync === 'always') this.acknowledgeUpTo(this.writtenEnd);
    }
    active.seal();
    this.segments.push(Segment.create(this.options.dir, this.writtenEnd));
    if (this.options.fsync !== 'never') fsyncDirSync(this.options.dir);
  }

  /** Read-only mode: picks up batches and segments another process has appended since. */
  private refresh(): void {
    if (this.truncatedSinceLoad()) {
      this.reload();
      return;
    }
    let grew = this.active.refreshFromFile();
    const bases = listSegmentBases(this.options.dir);
    // Segments the writer deleted (retention): let go of their descriptors, so the disk space is freed.
    const present = new Set(bases);
    while (this.segments.length > 1 && !present.has(this.segments[0]!.baseOffset)) this.segments.shift()!.close();
    for (const base of bases) {
      if (base !== this.active.nextOffset || base === this.active.baseOffset) continue;
      const { segment } = Segment.open(this.options.dir, base, true, true);
      this.active.sealed = true;
      this.segments.push(segment);
      grew = true;
    }
    if (grew) {
      this.writtenEnd = this.active.nextOffset;
      this.highWatermark = this.writtenEnd;
    }
  }

  /** Read-only mode: the writer truncated (or is truncating) the partition since we loaded it. */
  private truncatedSinceLoad(): boolean {
    const dir = this.options.dir;
    if (fs.existsSync(path.join(dir, TRUNCATION_MARKER_FILE))) return true;
    if (readTruncationEpoch(dir) !== this.truncationEpoch) return true;
    return this.active.fileSize() < this.active.sizeBytes;
  }

  /** Read-only mode: drops every segment and loads the directory again (after a truncation). */
  private reload(): void {
    const fresh: Segment[] = [];
    let epoch: number;
    try {
      epoch = readTruncationEpoch(this.options.dir);
      this.loadSegments(fresh, readTruncationMarker(this.options.dir));
    } catch {
      return; // the writer is in the middle of changing files: the next call tries again
    }
    for (const s of this.segments.splice(0, this.segments.length, ...fresh)) s.close();
    this.truncationEpoch = epoch;
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private throwCorrupt(segment: Segment, position: number, offset: number, problem: string): never {
    throw new FreshetError(ErrorCodes.LOG_CORRUPT, `corrupt record batch in ${segment.logFile} at byte ${position} (offset ${offset}): ${problem}`, {
      file: segment.logFile,
      position,
      offset,
      problem,
    });
  }

  private reportTornTail(segment: Segment, tail: ScanTail): void {
    this.options.onWarning(`truncated a torn write of ${tail.truncatedBytes} bytes at the end of ${segment.logFile} (${tail.problem})`, {
      topic: this.options.topic,
      partition: this.options.partition,
      file: segment.logFile,
      truncatedBytes: tail.truncatedBytes,
      readOnly: this.options.readOnly,
    });
  }
}
