import { expect } from 'vitest';
import type { ConsumedRecord, EventLog, ProducerRecord, ReadOptions, ReadResult, RecordBatchView } from '../../src/log/log.js';
import { hex } from './bytes.js';

/** A record with its bytes as hex: what tests compare (exact, readable in diffs). */
export interface PlainRecord {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  key: string | null;
  value: string | null;
  headers: { key: string; value: string }[];
}

/** The plain form of a consumed record. */
export function plain(r: ConsumedRecord): PlainRecord {
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestampMs: r.timestampMs,
    key: hex(r.key),
    value: hex(r.value),
    headers: r.headers.map((h) => ({ key: h.key, value: hex(h.value)! })),
  };
}

/** What a produced record must read back as, at a given position. */
export function expected(topic: string, partition: number, offset: number, r: ProducerRecord, appendTimeMs?: number): PlainRecord {
  const timestampMs = r.timestampMs ?? appendTimeMs;
  if (timestampMs === undefined) throw new Error('expected(): record has no timestamp and no append time was given');
  return {
    topic,
    partition,
    offset,
    timestampMs,
    key: hex(r.key ?? null),
    value: hex(r.value),
    headers: (r.headers ?? []).map((h) => ({ key: h.key, value: hex(h.value)! })),
  };
}

/**
 * Plain records of a batch view, read field by field through the lazy accessors AND through
 * `recordAt`; both must agree (an implementation may serve them from different code paths).
 */
export function plainBatch(batch: RecordBatchView): PlainRecord[] {
  const out: PlainRecord[] = [];
  for (let i = 0; i < batch.count; i++) {
    const viaAccessors = plain({
      topic: batch.topic,
      partition: batch.partition,
      offset: batch.offsetAt(i),
      timestampMs: batch.timestampAt(i),
      key: batch.keyAt(i),
      value: batch.valueAt(i),
      headers: batch.headersAt(i),
    });
    const viaRecordAt = plain(batch.recordAt(i));
    expect(viaRecordAt, `recordAt(${i}) and the field accessors disagree`).toEqual(viaAccessors);
    out.push(viaAccessors);
  }
  return out;
}

/**
 * Checks the shape every read result must have — batches are non-empty, of the right topic and
 * partition, consecutive from `offset`, and `nextOffset` is one past the last record — and returns
 * the records in plain form.
 */
export function checkedRecords(result: ReadResult, topic: string, partition: number, offset: number): PlainRecord[] {
  const out: PlainRecord[] = [];
  let next = offset;
  for (const batch of result.batches) {
    expect(batch.topic).toBe(topic);
    expect(batch.partition).toBe(partition);
    expect(batch.count, 'a returned batch view must hold at least one record').toBeGreaterThan(0);
    for (const r of plainBatch(batch)) {
      expect(r.offset, 'records of a read must be consecutive from the requested offset').toBe(next);
      expect(r.topic).toBe(topic);
      expect(r.partition).toBe(partition);
      next++;
      out.push(r);
    }
  }
  expect(result.nextOffset, 'nextOffset must be one past the last record returned').toBe(next);
  expect(result.highWatermark).toBeGreaterThanOrEqual(next);
  return out;
}

/** Reads a partition from `from` (default: earliest) to the high watermark, checking every read's shape. */
export async function readAll(log: EventLog, topic: string, partition: number, from?: number, options?: ReadOptions): Promise<PlainRecord[]> {
  let offset = from ?? (await log.earliestOffset(topic, partition));
  const out: PlainRecord[] = [];
  for (let guard = 0; guard < 1_000_000; guard++) {
    const result = await log.read(topic, partition, offset, options);
    const records = checkedRecords(result, topic, partition, offset);
    if (records.length === 0) {
      expect(result.nextOffset, 'an empty read must be at the high watermark').toBe(result.highWatermark);
      return out;
    }
    out.push(...records);
    offset = result.nextOffset;
  }
  throw new Error('readAll: no end after 1e6 reads');
}

/** Asserts that the call rejects (or throws) with a FreshetError-style `code` (one of `codes`). */
export async function expectCode(call: () => unknown, codes: string | readonly string[]): Promise<unknown> {
  const allowed = typeof codes === 'string' ? [codes] : codes;
  let error: unknown;
  let threw = false;
  try {
    await call();
  } catch (e) {
    threw = true;
    error = e;
  }
  if (!threw) throw new Error(`expected a rejection with ${allowed.join(' or ')}, but the call succeeded`);
  const code = (error as { code?: unknown } | null)?.code;
  if (!allowed.includes(code as string)) {
    throw new Error(`expected ${allowed.join(' or ')}, got ${String(code)}: ${String((error as Error)?.stack ?? error)}`);
  }
  expect(error).toBeInstanceOf(Error);
  return error;
}

/** Sorts committed offsets by topic then partition (the interface does not promise an order). */
export function sortOffsets<T extends { topic: string; partition: number }>(offsets: readonly T[]): T[] {
  return [...offsets].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
}

/** Rejects if `promise` has not settled within `ms` (so a hang fails fast with a clear message). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
