/**
 * Deterministic, self-verifying records for the crash test: the child process writes them, the parent
 * regenerates them from the identity stored in their value and compares byte for byte.
 *
 *   value := magic:"FRC1" run:u32 producer:u32 seq:u32 partition:u16 index:u16 count:u16
 *            payloadLength:u32 payload:u8{payloadLength} hash:u32
 *   hash  := FNV-1a of every byte before it
 *   payload := pseudoRandomBytes(payloadLength, seed(identity))
 *
 * A record cut short, mixed with another, or shifted would fail the hash or the regeneration.
 */
import type { ProducerRecord } from '../../src/log/log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { enc, fnv1a, mulberry32, pseudoRandomBytes } from './bytes.js';

export const CRASH_TOPIC = 'crash';
export const CRASH_PARTITIONS = 3;
export const CRASH_SEGMENT_BYTES = 4096;
export const CRASH_GROUP = 'crash-group';
const MAGIC = 0x31435246; // "FRC1"
const FIXED_BYTES = 4 + 4 + 4 + 4 + 2 + 2 + 2 + 4;
const BASE_TIME_MS = 1_700_000_000_000;

/** Who wrote a record: one unit is the `count` records a producer sent to one partition in one call. */
export interface RecordIdentity {
  readonly run: number;
  readonly producer: number;
  readonly seq: number;
  readonly partition: number;
  readonly index: number;
  readonly count: number;
}

function seedOf(id: RecordIdentity): number {
  return (fnv1a(new Uint8Array(Uint32Array.from([id.run, id.producer, id.seq, id.partition, id.index, id.count]).buffer)) ^ 0x9e3779b9) >>> 0;
}

/** The record with this identity, always the same bytes. */
export function crashRecord(id: RecordIdentity): ProducerRecord {
  const rnd = mulberry32(seedOf(id));
  const payloadLength = Math.floor(rnd() * 600);
  const payload = pseudoRandomBytes(payloadLength, seedOf(id) + 1);
  const value = new Uint8Array(FIXED_BYTES + payloadLength + 4);
  const dv = new DataView(value.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, id.run, true);
  dv.setUint32(8, id.producer, true);
  dv.setUint32(12, id.seq, true);
  dv.setUint16(16, id.partition, true);
  dv.setUint16(18, id.index, true);
  dv.setUint16(20, id.count, true);
  dv.setUint32(22, payloadLength, true);
  value.set(payload, FIXED_BYTES);
  dv.setUint32(FIXED_BYTES + payloadLength, fnv1a(value.subarray(0, FIXED_BYTES + payloadLength)), true);
  const headerCount = Math.floor(rnd() * 3);
  const headers = Array.from({ length: headerCount }, (_, h) => ({ key: h === 1 ? 'dup' : `h${h}`, value: pseudoRandomBytes(Math.floor(rnd() * 20), seedOf(id) + 2 + h) }));
  if (headerCount > 0) headers.push({ key: 'dup', value: Uint8Array.from([id.index & 0xff]) });
  return {
    key: keyFor(id),
    value,
    // Out of order within and across batches, but deterministic.
    timestampMs: BASE_TIME_MS + id.run * 100_000 + id.seq * 10 + Math.floor(rnd() * 50) - 25,
    headers,
  };
}

/** Keys of the `produce` producer are chosen so that they hash to the identity's partition. */
function keyFor(id: RecordIdentity): Uint8Array | null {
  if (id.producer !== PRODUCE_PRODUCER) return id.index % 3 === 0 ? null : enc(`k-${id.producer}-${id.seq}-${id.index}`);
  return keyForPartition(id.partition, `${id.run}-${id.seq}-${id.index}`);
}

/** The producer id that uses `produce()` (keyed, partitioned by murmur2) instead of `append()`. */
export const PRODUCE_PRODUCER = 99;

const keyCache = new Map<string, Uint8Array>();
/** A key that murmur2-partitions to `partition`, derived from `salt`. */
export function keyForPartition(partition: number, salt: string): Uint8Array {
  const cacheKey = `${partition}/${salt}`;
  const cached = keyCache.get(cacheKey);
  if (cached) return cached;
  for (let i = 0; ; i++) {
    const key = enc(`key-${salt}-${i}`);
    if (partitionForKey(key, CRASH_PARTITIONS) === partition) {
      keyCache.set(cacheKey, key);
      return key;
    }
  }
}

/** The records of one unit. */
export function crashUnit(run: number, producer: number, seq: number, partition: number, count: number): ProducerRecord[] {
  return Array.from({ length: count }, (_, index) => crashRecord({ run, producer, seq, partition, index, count }));
}

/** Reads the identity stored in a value, verifying the magic, framing and hash; throws if any is wrong. */
export function identityOf(value: Uint8Array | null): RecordIdentity {
  if (value === null || value.length < FIXED_BYTES + 4) throw new Error(`not a crash-test value (${value?.length ?? 'null'} bytes)`);
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new Error('bad magic');
  const payloadLength = dv.getUint32(22, true);
  if (value.length !== FIXED_BYTES + payloadLength + 4) throw new Error(`length ${value.length} does not match payload length ${payloadLength}`);
  if (dv.getUint32(FIXED_BYTES + payloadLength, true) !== fnv1a(value.subarray(0, FIXED_BYTES + payloadLength))) throw new Error('hash mismatch');
  return {
    run: dv.getUint32(4, true),
    producer: dv.getUint32(8, true),
    seq: dv.getUint32(12, true),
    partition: dv.getUint16(16, true),
    index: dv.getUint16(18, true),
    count: dv.getUint16(20, true),
  };
}

/** One line the child prints per acknowledged write. */
export type AckLine =
  | { t: 'append'; run: number; producer: number; seq: number; partition: number; baseOffset: number; lastOffset: number; count: number }
  | { t: 'produce'; run: number; producer: number; seq: number; partition: number; offset: number; index: number; count: number }
  | { t: 'commit'; run: number; partition: number; offset: number }
  | { t: 'ready'; run: number };
