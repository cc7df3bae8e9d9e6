import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { fsyncDirSync, writeFileAtomicSync } from './files.js';
import { listSegmentBases, segmentFileBase } from './segment.js';

/*
 * Crash-safe truncation of a partition (EventLog.truncate), as an intent record that is redone on open:
 *
 *   1. write the marker atomically (temp file, fsync, rename, fsync dir): from here on the new end wins;
 *   2. delete every segment after the cut segment (log and index files), fsync the directory;
 *   3. cut the cut segment at `position`, write `partial` there (the records below the end of a batch
 *      the end falls inside, re-encoded as a smaller batch), fsync it; drop its index files (it is
 *      the active segment now, whose indexes live in memory);
 *   4. bump the truncation epoch (read-only followers reload when it changes), delete the marker.
 *
 * Every step is idempotent, so a crash anywhere after step 1 is finished by the next open; a crash
 * before it leaves the old end. Either way no segment is left half-cut.
 *
 *   marker := magic:u32 ("FTR1") endOffset:f64 segmentBase:f64 position:f64
 *             partialLength:u32 partial:u8{partialLength} crc:u32
 *   crc    := CRC32C of all bytes before it
 *   epoch  := decimal text: how many truncations this partition has had
 */
export const TRUNCATION_MARKER_FILE = 'truncate.marker';
export const TRUNCATION_EPOCH_FILE = 'truncate.epoch';
const MARKER_MAGIC = 0x31525446; // "FTR1" little-endian
const MARKER_FIXED_BYTES = 4 + 8 + 8 + 8 + 4 + 4;

/** What a truncation does to the files of one partition directory. */
export interface TruncationPlan {
  /** The new end: the first offset no longer in the partition. */
  readonly endOffset: number;
  /** Base offset of the segment that is cut (it becomes the active segment). */
  readonly segmentBase: number;
  /** Byte position in that segment where the kept data ends. */
  readonly position: number;
  /** A batch to write at `position` (records of a batch cut in the middle), or empty. */
  readonly partial: Uint8Array;
}

/** Encodes a plan as marker bytes (grammar above). */
export function encodeTruncationMarker(plan: TruncationPlan): Buffer {
  const buf = Buffer.alloc(MARKER_FIXED_BYTES + plan.partial.length);
  buf.writeUInt32LE(MARKER_MAGIC, 0);
  buf.writeDoubleLE(plan.endOffset, 4);
  buf.writeDoubleLE(plan.segmentBase, 12);
  buf.writeDoubleLE(plan.position, 20);
  buf.writeUInt32LE(plan.partial.length, 28);
  buf.set(plan.partial, 32);
  buf.writeUInt32LE(crc32c(buf.subarray(0, buf.length - 4)), buf.length - 4);
  return buf;
}

/** The pending truncation of a partition directory, or null. A damaged marker is corruption. */
export function readTruncationMarker(dir: string): TruncationPlan | null {
  const file = path.join(dir, TRUNCATION_MARKER_FILE);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const valid =
    buf.length >= MARKER_FIXED_BYTES &&
    buf.readUInt32LE(0) === MARKER_MAGIC &&
    buf.length === MARKER_FIXED_BYTES + buf.readUInt32LE(28) &&
    crc32c(buf.subarray(0, buf.length - 4)) === buf.readUInt32LE(buf.length - 4);
  if (!valid) {
    // The marker is renamed into place complete, so damage here is not a torn write.
    throw new FreshetError(ErrorCodes.LOG_CORRUPT, `truncation marker ${file} is damaged (checksum or length)`, { file });
  }
  return {
    endOffset: buf.readDoubleLE(4),
    segmentBase: buf.readDoubleLE(12),
    position: buf.readDoubleLE(20),
    partial: buf.subarray(32, buf.length - 4),
  };
}

/** Step 1: records the intent durably. */
export function writeTruncationMarker(dir: string, plan: TruncationPlan): void {
  writeFileAtomicSync(path.join(dir, TRUNCATION_MARKER_FILE), encodeTruncationMarker(plan));
}

/** Steps 2-4 (idempotent): run after the marker is written, and again on open if it is still there. */
export function applyTruncation(dir: string, plan: TruncationPlan): void {
  for (const base of listSegmentBases(dir)) {
    if (base <= plan.segmentBase) continue;
    const stem = path.join(dir, segmentFileBase(base));
    for (const ext of ['.log', '.index', '.timeindex']) fs.rmSync(stem + ext, { force: true });
  }
  fsyncDirSync(dir);
  const stem = path.join(dir, segmentFileBase(plan.segmentBase));
  // Index files describe the segment as sealed at its old size; the active segment is scanned on open.
  fs.rmSync(`${stem}.index`, { force: true });
  fs.rmSync(`${stem}.timeindex`, { force: true });
  const fd = fs.openSync(`${stem}.log`, 'r+');
  try {
    fs.ftruncateSync(fd, plan.position);
    let written = 0;
    while (written < plan.partial.length) written += fs.writeSync(fd, plan.partial, written, plan.partial.length - written, plan.position + written);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  writeFileAtomicSync(path.join(dir, TRUNCATION_EPOCH_FILE), String(readTruncationEpoch(dir) + 1));
  fs.rmSync(path.join(dir, TRUNCATION_MARKER_FILE), { force: true });
  fsyncDirSync(dir);
}

/** How many truncations the partition has had (0 when never truncated). */
export function readTruncationEpoch(dir: string): number {
  try {
    const n = Number(fs.readFileSync(path.join(dir, TRUNCATION_EPOCH_FILE), 'utf8'));
    return Number.isSafeInteger(n) ? n : 0;
  } catch {
    return 0;
  }
}

/** Leftovers of interrupted atomic writes of the marker or the epoch file. */
export function removeTruncationTempFiles(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(`${TRUNCATION_MARKER_FILE}.tmp-`) || name.startsWith(`${TRUNCATION_EPOCH_FILE}.tmp-`)) fs.rmSync(path.join(dir, name), { force: true });
  }
}
