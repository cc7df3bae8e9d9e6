import { crc32c } from '@node-rs/crc32';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { Limits } from '../../core/limits.js';
import { type BatchProblem, HEADER_BYTES, baseOffsetAt, batchLengthAt, checkBatch, maxTimestampAt, recordCountAt } from './batch-format.js';
import { writeFileAtomicSync } from './files.js';

/*
 * Index files, written when a segment is sealed (rolled); the active segment's indexes live in memory and
 * are rebuilt by scanning it on open. A missing or damaged index file is rebuilt from the segment.
 *
 *   offsetIndex := magic:u32 ("FIX1") baseOffset:f64 nextOffset:f64 sizeBytes:f64 maxTimestampMs:f64
 *                  entryCount:u32 (relativeOffset:u32 position:u32){entryCount} crc:u32
 *   timeIndex   := magic:u32 ("FTI1") entryCount:u32
 *                  (maxTimestampMs:f64 positionAfter:u32){entryCount} crc:u32
 *   crc         := CRC32C of all bytes before it
 *
 * An offset entry says: the batch holding relativeOffset + baseOffset starts at or after position.
 * A time entry says: every record before positionAfter has a timestamp <= maxTimestampMs.
 */
const OFFSET_INDEX_MAGIC = 0x31584946; // "FIX1" little-endian
const TIME_INDEX_MAGIC = 0x31495446; // "FTI1"

/** Zero-padded to 20 digits, as Kafka names segment files, so names sort by offset. */
export function segmentFileBase(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0');
}

/** Base offsets of the segment files in a partition directory, ascending. */
export function listSegmentBases(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .filter((name) => /^\d{20}\.log$/.test(name))
    .map((name) => Number(name.slice(0, 20)))
    .sort((a, b) => a - b);
}

/** What scanning a segment found at its end. */
export interface ScanTail {
  /** Bytes cut off the end because they were a torn (incomplete or unverifiable) write. */
  readonly truncatedBytes: number;
  readonly problem: BatchProblem;
}

/**
 * One segment file of a partition: record batches appended at its end, with a sparse offset index and
 * a time index kept in memory (and in files once sealed).
 */
export class Segment {
  readonly logFile: string;
  readonly offsetIndexFile: string;
  readonly timeIndexFile: string;
  /** Offset of the next record to be written into this segment. */
  nextOffset: number;
  sizeBytes = 0;
  /** Largest record timestamp in the segment (-Infinity when empty). */
  maxTimestampMs = Number.NEGATIVE_INFINITY;
  sealed = false;

  // Sparse indexes, parallel arrays (entries are appended in increasing order).
  private readonly indexRelOffsets: number[] = [];
  private readonly indexPositions: number[] = [];
  private readonly timeMaxTimestamps: number[] = [];
  private readonly timePositionsAfter: number[] = [];
  private bytesSinceIndexEntry = 0;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    readonly fd: number,
  ) {
    const base = path.join(dir, segmentFileBase(baseOffset));
    this.logFile = `${base}.log`;
    this.offsetIndexFile = `${base}.index`;
    this.timeIndexFile = `${base}.timeindex`;
    this.nextOffset = baseOffset;
  }

  /** Creates a new, empty segment file (fails if it exists). */
  static create(dir: string, baseOffset: number): Segment {
    const fd = fs.openSync(path.join(dir, `${segmentFileBase(baseOffset)}.log`), 'wx+');
    return new Segment(dir, baseOffset, fd);
  }

  /**
   * Opens an existing segment. A sealed segment with valid index files is loaded from them; otherwise the
   * whole segment is scanned and verified. `isLast`: a torn tail is truncated (with the returned report);
   * elsewhere any invalid batch is corruption.
   */
  static open(dir: string, baseOffset: number, isLast: boolean, readOnly: boolean): { segment: Segment; tail: ScanTail | null } {
    const logFile = path.join(dir, `${segmentFileBase(baseOffset)}.log`);
    const fd = fs.openSync(logFile, readOnly ? 'r' : 'r+');
    const segment = new Segment(dir, baseOffset, fd);
    try {
      if (!isLast && segment.loadIndexFiles()) {
        segment.sealed = true;
        return { segment, tail: null };
      }
      const tail = segment.scan(isLast, readOnly);
      segment.sealed = !isLast;
      if (segment.sealed && !readOnly) segment.writeIndexFiles();
      return { segment, tail };
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /** Appends one encoded batch at the end of the file. On failure the file is cut back to its old size. */
  append(batch: Buffer, baseOffset: number, recordCount: number, maxTimestampMs: number): void {
    const position = this.sizeBytes;
    let written = 0;
    try {
      while (written < batch.length) written += fs.writeSync(this.fd, batch, written, batch.length - written, position + written);
    } catch (error) {
      // Never leave half a batch behind: recovery would take it for a torn tail, but readers in this
      // process must not see it either.
      if (written > 0) fs.ftruncateSync(this.fd, position);
      throw error;
    }
    this.indexBatch(position, batch.length, baseOffset, maxTimestampMs);
    this.sizeBytes = position + batch.length;
    this.nextOffset = baseOffset + recordCount;
  }

  /** Reads `length` bytes at `position` into a new buffer (fewer at the end of the segment). */
  readAt(position: number, length: number): Buffer {
    return this.readFileRange(position, Math.max(0, Math.min(length, this.sizeBytes - position)));
  }

  /** File position of a batch at or before the one holding `offset` (offset must be in this segment). */
  positionForOffset(offset: number): number {
    const i = floorIndex(this.indexRelOffsets, offset - this.baseOffset);
    return i < 0 ? 0 : this.indexPositions[i]!;
  }

  /** File position from which a scan finds the first record with timestamp >= `timestampMs`. */
  positionForTimestamp(timestampMs: number): number {
    // The last entry whose max timestamp is still below the target: nothing before its position qualifies.
    let lo = 0;
    let hi = this.timeMaxTimestamps.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timeMaxTimestamps[mid]! < timestampMs) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? 0 : this.timePositionsAfter[found]!;
  }

  /** The file's current size on disk (a follower compares it with what it indexed). */
  fileSize(): number {
    return fs.fstatSync(this.fd).size;
  }

  /** Makes the segment's data durable (synchronously). */
  syncSync(): void {
    fs.fdatasyncSync(this.fd);
  }

  seal(): void {
    this.sealed = true;
    this.writeIndexFiles();
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  deleteFiles(): void {
    fs.closeSync(this.fd);
    for (const f of [this.logFile, this.offsetIndexFile, this.timeIndexFile]) fs.rmSync(f, { force: true });
  }

  /**
   * Follows a file another process is appending to (read-only mode): indexes newly completed batches.
   * Returns true when something new was found.
   */
  refreshFromFile(): boolean {
    const size = fs.fstatSync(this.fd).size;
    if (size <= this.sizeBytes) return false;
    const buf = this.readFileRange(this.sizeBytes, size - this.sizeBytes);
    let p = 0;
    while (checkBatch(buf, p, buf.length) === null && baseOffsetAt(buf, p) === this.nextOffset) {
      const len = batchLengthAt(buf, p);
      this.indexBatch(this.sizeBytes, len, this.nextOffset, maxTimestampAt(buf, p));
      this.nextOffset += recordCountAt(buf, p);
      this.sizeBytes += len;
      p += len;
    }
    return p > 0;
  }

  /** Reads up to `length` bytes at `position` from the file, past the indexed end too (read-only follow). */
  private readFileRange(position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const got = fs.readSync(this.fd, buf, done, length - done, position + done);
      if (got === 0) break;
      done += got;
    }
    return buf.subarray(0, done);
  }

  private indexBatch(position: number, length: number, baseOffset: number, maxTimestampMs: number): void {
    if (maxTimestampMs > this.maxTimestampMs) this.maxTimestampMs = maxTimestampMs;
    if (this.indexPositions.length === 0 || this.bytesSinceIndexEntry >= Limits.indexIntervalBytes) {
      this.indexRelOffsets.push(baseOffset - this.baseOffset);
      this.indexPositions.push(position);
      this.timeMaxTimestamps.push(this.maxTimestampMs);
      this.timePositionsAfter.push(position + length);
      this.bytesSinceIndexEntry = 0;
    } else {
      // Keep the newest time entry exact: it covers everything up to the end of this batch.
      const last = this.timeMaxTimestamps.length - 1;
      this.timeMaxTimestamps[last] = this.maxTimestampMs;
      this.timePositionsAfter[last] = position + length;
    }
    this.bytesSinceIndexEntry += length;
  }

  /** Verifies every batch and rebuilds the in-memory indexes. */
  private scan(isLast: boolean, readOnly: boolean): ScanTail | null {
    const buf = fs.readFileSync(this.logFile);
    let p = 0;
    let problem: BatchProblem = null;
    while (p < buf.length) {
      problem = checkBatch(buf, p, buf.length);
      if (problem === null && baseOffsetAt(buf, p) !== this.nextOffset) problem = 'bad-records';
      if (problem !== null) break;
      const len = batchLengthAt(buf, p);
      this.indexBatch(p, len, this.nextOffset, maxTimestampAt(buf, p));
      this.nextOffset += recordCountAt(buf, p);
      p += len;
    }
    this.sizeBytes = p;
    if (problem === null) return null;
    // An invalid batch followed by a valid one is damage in the middle, not an interrupted write.
    const later = findValidBatchAfter(buf, p + 1, this.nextOffset);
    if (!isLast || later >= 0) {
      throw new FreshetError(
        ErrorCodes.LOG_CORRUPT,
        `corrupt record batch in ${this.logFile} at byte ${p} (expected offset ${this.nextOffset}): ${problem}`,
        { file: this.logFile, position: p, offset: this.nextOffset, problem, nextValidPosition: later },
      );
    }
    const truncatedBytes = buf.length - p;
    if (!readOnly) {
      fs.ftruncateSync(this.fd, p);
      fs.fsyncSync(this.fd);
    }
    return { truncatedBytes, problem };
  }

  private loadIndexFiles(): boolean {
    let offsetIndex: Buffer;
    let timeIndex: Buffer;
    try {
      offsetIndex = fs.readFileSync(this.offsetIndexFile);
      timeIndex = fs.readFileSync(this.timeIndexFile);
    } catch {
      return false;
    }
    if (!hasValidTrailer(offsetIndex, OFFSET_INDEX_MAGIC, 40, 8) || !hasValidTrailer(timeIndex, TIME_INDEX_MAGIC, 8, 12)) return false;
    if (offsetIndex.readDoubleLE(4) !== this.baseOffset) return false;
    const sizeBytes = offsetIndex.readDoubleLE(20);
    if (fs.fstatSync(this.fd).size !== sizeBytes) return false;
    this.nextOffset = offsetIndex.readDoubleLE(12);
    this.sizeBytes = sizeBytes;
    this.maxTimestampMs = offsetIndex.readDoubleLE(28);
    const entries = offsetIndex.readUInt32LE(36);
    for (let i = 0; i < entries; i++) {
      this.indexRelOffsets.push(offsetIndex.readUInt32LE(40 + i * 8));
      this.indexPositions.push(offsetIndex.readUInt32LE(44 + i * 8));
    }
    const timeEntries = timeIndex.readUInt32LE(4);
    for (let i = 0; i < timeEntries; i++) {
      this.timeMaxTimestamps.push(timeIndex.readDoubleLE(8 + i * 12));
      this.timePositionsAfter.push(timeIndex.readUInt32LE(16 + i * 12));
    }
    return true;
  }

  private writeIndexFiles(): void {
    const n = this.indexRelOffsets.length;
    const offsetIndex = Buffer.alloc(40 + n * 8 + 4);
    offsetIndex.writeUInt32LE(OFFSET_INDEX_MAGIC, 0);
    offsetIndex.writeDoubleLE(this.baseOffset, 4);
    offsetIndex.writeDoubleLE(this.nextOffset, 12);
    offsetIndex.writeDoubleLE(this.sizeBytes, 20);
    offsetIndex.writeDoubleLE(this.maxTimestampMs, 28);
    offsetIndex.writeUInt32LE(n, 36);
    for (let i = 0; i < n; i++) {
      offsetIndex.writeUInt32LE(this.indexRelOffsets[i]!, 40 + i * 8);
      offsetIndex.writeUInt32LE(this.indexPositions[i]!, 44 + i * 8);
    }
    offsetIndex.writeUInt32LE(crc32c(offsetIndex.subarray(0, offsetIndex.length - 4)), offsetIndex.length - 4);
    const t = this.timeMaxTimestamps.length;
    const timeIndex = Buffer.alloc(8 + t * 12 + 4);
    timeIndex.writeUInt32LE(TIME_INDEX_MAGIC, 0);
    timeIndex.writeUInt32LE(t, 4);
    for (let i = 0; i < t; i++) {
      timeIndex.writeDoubleLE(this.timeMaxTimestamps[i]!, 8 + i * 12);
      timeIndex.writeUInt32LE(this.timePositionsAfter[i]!, 16 + i * 12);
    }
    timeIndex.writeUInt32LE(crc32c(timeIndex.subarray(0, timeIndex.length - 4)), timeIndex.length - 4);
    writeFileAtomicSync(this.offsetIndexFile, offsetIndex);
    writeFileAtomicSync(this.timeIndexFile, timeIndex);
  }
}

function hasValidTrailer(buf: Buffer, magic: number, headerBytes: number, entryBytes: number): boolean {
  if (buf.length < headerBytes + 4 || buf.readUInt32LE(0) !== magic) return false;
  const entries = buf.readUInt32LE(headerBytes - 4);
  if (buf.length !== headerBytes + entries * entryBytes + 4) return false;
  return crc32c(buf.subarray(0, buf.length - 4)) === buf.readUInt32LE(buf.length - 4);
}

/** Index of the last element <= target in a sorted array, or -1. */
function floorIndex(sorted: readonly number[], target: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= target) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * Looks for a valid batch starting anywhere at or after `from` whose base offset is plausible
 * (>= minOffset). A cheap offset check runs first so the CRC is computed only for likely candidates.
 */
function findValidBatchAfter(buf: Buffer, from: number, minOffset: number): number {
  for (let p = from; p + HEADER_BYTES <= buf.length; p++) {
    const base = baseOffsetAt(buf, p);
    if (base < minOffset || base > minOffset + 2 ** 40) continue;
    if (checkBatch(buf, p, buf.length) === null) return p;
  }
  return -1;
}
