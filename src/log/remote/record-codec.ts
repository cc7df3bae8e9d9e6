import type { ConsumedRecord, ProducerRecord, RecordBatchView, RecordHeader } from '../log.js';
import { recordFromView } from '../record-batch.js';
import { NO_HEADERS } from '../record-batch.js';

/*
 * Records as they cross a thread boundary: one ArrayBuffer per call (transferred, never copied by
 * postMessage), so a batch costs one message whatever its size. All integers little-endian.
 *
 *   producerRecords := count:u32 producerRecord{count}
 *   producerRecord  := flags:u8 [timestampMs:f64] [keyLength:u32 key:u8{keyLength}]
 *                      [valueLength:u32 value:u8{valueLength}] headerCount:u32 header{headerCount}
 *   flags           := bit 0: has key, bit 1: has value, bit 2: has timestamp
 *                      (an absent timestamp means "append time"; NaN and ±Infinity are kept, so the
 *                      log refuses them exactly as it would locally)
 *
 *   consumedRecords := count:u32 consumedRecord{count}
 *   consumedRecord  := offset:f64 timestampMs:f64 flags:u8 [keyLength:u32 key] [valueLength:u32 value]
 *                      headerCount:u32 header{headerCount}
 *   flags           := bit 0: has key, bit 1: has value
 *
 *   header          := keyLength:u32 key:utf8{keyLength} valueLength:u32 value:u8{valueLength}
 *
 * Lengths are u32 (not the embedded log's u16) so that anything a caller passes reaches the log, which
 * then accepts or refuses it with its own coded error.
 */

const HAS_KEY = 1;
const HAS_VALUE = 2;
const HAS_TIMESTAMP = 4;

function headersBytes(headers: readonly RecordHeader[] | undefined): number {
  let n = 4;
  if (headers) for (let i = 0; i < headers.length; i++) n += 8 + Buffer.byteLength(headers[i]!.key) + headers[i]!.value.length;
  return n;
}

/** A writer over one fresh ArrayBuffer (never a pooled Buffer: it must be transferable). */
class Writer {
  readonly buffer: ArrayBuffer;
  readonly bytes: Buffer;
  private readonly dv: DataView;
  pos = 0;

  constructor(size: number) {
    this.buffer = new ArrayBuffer(size);
    this.bytes = Buffer.from(this.buffer);
    this.dv = new DataView(this.buffer);
  }

  u8(v: number): void {
    this.dv.setUint8(this.pos, v);
    this.pos += 1;
  }
  u32(v: number): void {
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  f64(v: number): void {
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
  bytesField(b: Uint8Array): void {
    this.u32(b.length);
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }
  headers(headers: readonly RecordHeader[] | undefined): void {
    if (!headers) {
      this.u32(0);
      return;
    }
    this.u32(headers.length);
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i]!;
      const keyLength = this.bytes.write(h.key, this.pos + 4, 'utf8');
      this.u32(keyLength);
      this.pos += keyLength;
      this.bytesField(h.value);
    }
  }
}

/** Encodes the records of an append or produce call into one transferable buffer. */
export function encodeProducerRecords(records: readonly ProducerRecord[]): ArrayBuffer {
  let size = 4;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    size += 1 + 8 + (r.key ? 4 + r.key.length : 0) + (r.value ? 4 + r.value.length : 0) + headersBytes(r.headers);
  }
  const w = new Writer(size);
  w.u32(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const hasTimestamp = r.timestampMs !== undefined;
    w.u8((r.key ? HAS_KEY : 0) | (r.value ? HAS_VALUE : 0) | (hasTimestamp ? HAS_TIMESTAMP : 0));
    if (hasTimestamp) w.f64(r.timestampMs!);
    if (r.key) w.bytesField(r.key);
    if (r.value) w.bytesField(r.value);
    w.headers(r.headers);
  }
  return w.buffer;
}

function readHeaders(buf: Buffer, dv: DataView, at: number): { headers: readonly RecordHeader[]; end: number } {
  const count = dv.getUint32(at, true);
  let p = at + 4;
  if (count === 0) return { headers: NO_HEADERS, end: p };
  const headers: RecordHeader[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const keyLength = dv.getUint32(p, true);
    const key = buf.toString('utf8', p + 4, p + 4 + keyLength);
    p += 4 + keyLength;
    const valueLength = dv.getUint32(p, true);
    headers[i] = { key, value: new Uint8Array(buf.buffer, buf.byteOffset + p + 4, valueLength) };
    p += 4 + valueLength;
  }
  return { headers, end: p };
}

/** Decodes `encodeProducerRecords` output; keys, values and header values are views of `buffer`. */
export function decodeProducerRecords(buffer: ArrayBuffer): ProducerRecord[] {
  const buf = Buffer.from(buffer);
  const dv = new DataView(buffer);
  const count = dv.getUint32(0, true);
  const records: ProducerRecord[] = new Array(count);
  let p = 4;
  for (let i = 0; i < count; i++) {
    const flags = dv.getUint8(p);
    p += 1;
    let timestampMs: number | undefined;
    if (flags & HAS_TIMESTAMP) {
      timestampMs = dv.getFloat64(p, true);
      p += 8;
    }
    let key: Uint8Array | null = null;
    if (flags & HAS_KEY) {
      const n = dv.getUint32(p, true);
      key = new Uint8Array(buffer, p + 4, n);
      p += 4 + n;
    }
    let value: Uint8Array | null = null;
    if (flags & HAS_VALUE) {
      const n = dv.getUint32(p, true);
      value = new Uint8Array(buffer, p + 4, n);
      p += 4 + n;
    }
    const { headers, end } = readHeaders(buf, dv, p);
    p = end;
    records[i] = timestampMs === undefined ? { key, value, headers } : { key, value, timestampMs, headers };
  }
  return records;
}

/** Encodes every record of read batches into one transferable buffer (one copy of the bytes). */
export function encodeConsumedRecords(batches: readonly RecordBatchView[]): ArrayBuffer | null {
  let count = 0;
  let size = 4;
  const headerLists: (readonly RecordHeader[])[] = [];
  for (const batch of batches) {
    for (let i = 0; i < batch.count; i++) {
      const key = batch.keyAt(i);
      const value = batch.valueAt(i);
      const headers = batch.headersAt(i);
      headerLists.push(headers);
      size += 17 + (key ? 4 + key.length : 0) + (value ? 4 + value.length : 0) + headersBytes(headers);
      count++;
    }
  }
  if (count === 0) return null;
  const w = new Writer(size);
  w.u32(count);
  let n = 0;
  for (const batch of batches) {
    for (let i = 0; i < batch.count; i++) {
      const key = batch.keyAt(i);
      const value = batch.valueAt(i);
      w.f64(batch.offsetAt(i));
      w.f64(batch.timestampAt(i));
      w.u8((key ? HAS_KEY : 0) | (value ? HAS_VALUE : 0));
      if (key) w.bytesField(key);
      if (value) w.bytesField(value);
      w.headers(headerLists[n++]);
    }
  }
  return w.buffer;
}

/**
 * A RecordBatchView over `encodeConsumedRecords` bytes: one pass on arrival finds every field, then the
 * accessors read in place (keys and values are views of the buffer; headers are decoded on demand).
 * `RemoteLog.read` returns these.
 *
 * @example
 * ```ts
 * const buffer = encodeConsumedRecords(result.batches); // in the thread that owns the log
 * const view = new PackedRecordBatch('orders', 0, buffer!); // after postMessage(buffer, [buffer])
 * view.valueAt(0); // bytes of the first record, without copying
 * ```
 */
export class PackedRecordBatch implements RecordBatchView {
  readonly count: number;
  private readonly buf: Buffer;
  private readonly dv: DataView;
  private readonly offsets: Float64Array;
  private readonly timestamps: Float64Array;
  /** Start of the key / value bytes, -1 for null. */
  private readonly keyStarts: Int32Array;
  private readonly keyLengths: Uint32Array;
  private readonly valueStarts: Int32Array;
  private readonly valueLengths: Uint32Array;
  /** Position of each record's headerCount field. */
  private readonly headerPositions: Uint32Array;

  constructor(
    readonly topic: string,
    readonly partition: number,
    buffer: ArrayBuffer,
  ) {
    const dv = new DataView(buffer);
    const count = dv.getUint32(0, true);
    this.count = count;
    this.buf = Buffer.from(buffer);
    this.dv = dv;
    this.offsets = new Float64Array(count);
    this.timestamps = new Float64Array(count);
    this.keyStarts = new Int32Array(count);
    this.keyLengths = new Uint32Array(count);
    this.valueStarts = new Int32Array(count);
    this.valueLengths = new Uint32Array(count);
    this.headerPositions = new Uint32Array(count);
    let p = 4;
    for (let i = 0; i < count; i++) {
      this.offsets[i] = dv.getFloat64(p, true);
      this.timestamps[i] = dv.getFloat64(p + 8, true);
      const flags = dv.getUint8(p + 16);
      p += 17;
      if (flags & HAS_KEY) {
        const n = dv.getUint32(p, true);
        this.keyStarts[i] = p + 4;
        this.keyLengths[i] = n;
        p += 4 + n;
      } else this.keyStarts[i] = -1;
      if (flags & HAS_VALUE) {
        const n = dv.getUint32(p, true);
        this.valueStarts[i] = p + 4;
        this.valueLengths[i] = n;
        p += 4 + n;
      } else this.valueStarts[i] = -1;
      this.headerPositions[i] = p;
      const headerCount = dv.getUint32(p, true);
      p += 4;
      for (let h = 0; h < headerCount; h++) {
        p += 4 + dv.getUint32(p, true);
        p += 4 + dv.getUint32(p, true);
      }
    }
  }

  offsetAt(index: number): number {
    return this.offsets[index]!;
  }
  timestampAt(index: number): number {
    return this.timestamps[index]!;
  }
  keyAt(index: number): Uint8Array | null {
    const start = this.keyStarts[index]!;
    return start < 0 ? null : new Uint8Array(this.buf.buffer, start, this.keyLengths[index]!);
  }
  valueAt(index: number): Uint8Array | null {
    const start = this.valueStarts[index]!;
    return start < 0 ? null : new Uint8Array(this.buf.buffer, start, this.valueLengths[index]!);
  }
  headersAt(index: number): readonly RecordHeader[] {
    return readHeaders(this.buf, this.dv, this.headerPositions[index]!).headers;
  }
  recordAt(index: number): ConsumedRecord {
    return recordFromView(this, index);
  }
}
