/**
 * The EventLog contract: every implementation (MemoryLog, EmbeddedLog, later Kafka) runs this suite.
 * It pins Kafka's semantics as `src/log/log.ts` documents them: topics and their validation, atomic
 * appends with contiguous offsets, bounded reads, byte-exact records, offsetForTimestamp,
 * Kafka-compatible key partitioning, consumer-group offsets, close, and (when the factory can
 * reopen) durability of all of it.
 *
 * @example
 * ```ts
 * describeLogContract('MemoryLog', { open: async () => new MemoryLog(clock), clock });
 * ```
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { Limits } from '../../src/core/limits.js';
import type { EventLog, ProducerRecord, TopicConfig } from '../../src/log/log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { allByteValues, bytes, enc, hex, pseudoRandomBytes } from '../helpers/bytes.js';
import { checkedRecords, expectCode, expected, type PlainRecord, readAll, sortOffsets, withTimeout } from '../helpers/log-helpers.js';

export interface LogContractFactory {
  /** A new, empty log. Called once or more per test; the suite closes what it opens. */
  open(): Promise<EventLog>;
  /** Closes `log` and opens the same storage again (durable implementations only). */
  reopen?(log: EventLog): Promise<EventLog>;
  /** The clock the opened logs use, when it is a manual one (lets the suite check append time exactly). */
  clock?: ManualClock;
}

const {
  INVALID_ARGUMENT,
  TOPIC_EXISTS,
  UNKNOWN_TOPIC,
  UNKNOWN_PARTITION,
  OFFSET_OUT_OF_RANGE,
  RECORD_TOO_LARGE,
  LOG_CLOSED,
} = ErrorCodes;

/** Partition numbers that never name a partition of a 3-partition topic. */
const BAD_PARTITIONS = [-1, 3, 4, 1.5, Number.NaN, 1024];

/** A value record with a fixed timestamp (so expectations need no clock). */
function rec(value: string, timestampMs = 1_000, extra: Partial<ProducerRecord> = {}): ProducerRecord {
  return { value: enc(value), timestampMs, ...extra };
}

function recs(prefix: string, n: number, timestampMs = 1_000): ProducerRecord[] {
  return Array.from({ length: n }, (_, i) => rec(`${prefix}-${i}`, timestampMs + i));
}

export function describeLogContract(name: string, factory: LogContractFactory): void {
  describe(`EventLog contract: ${name}`, () => {
    let opened: EventLog[] = [];

    async function open(): Promise<EventLog> {
      const log = await factory.open();
      opened.push(log);
      return log;
    }

    async function reopen(log: EventLog): Promise<EventLog> {
      if (!factory.reopen) throw new Error('factory cannot reopen');
      const next = await factory.reopen(log);
      opened.push(next);
      return next;
    }

    /** The records appended in order from offset `base` of one partition, as they must read back. */
    function expectedRun(topic: string, partition: number, base: number, records: readonly ProducerRecord[], appendTimeMs?: number): PlainRecord[] {
      return records.map((r, i) => expected(topic, partition, base + i, r, appendTimeMs));
    }

    beforeEach(() => {
      factory.clock?.set(1_700_000_000_000);
    });

    afterEach(async () => {
      for (const log of opened.reverse()) await log.close().catch(() => undefined);
      opened = [];
    });

    // ---------------------------------------------------------------------------------------------
    describe('topics', () => {
      it('a new log has no topics', async () => {
        const log = await open();
        expect(await log.listTopics()).toEqual([]);
      });

      it('createTopic makes a topic that listTopics and describeTopic report, with empty partitions', async () => {
        const log = await open();
        const config: TopicConfig = { partitions: 3, retentionMs: 86_400_000, retentionBytes: 10_000_000, segmentBytes: 4096 };
        await log.createTopic('orders', config);
        expect(await log.listTopics()).toEqual(['orders']);
        const d = await log.describeTopic('orders');
        expect(d.name).toBe('orders');
        expect(d.config).toEqual(config);
        expect(d.partitions.map((p) => [p.partition, p.earliestOffset, p.latestOffset])).toEqual([
          [0, 0, 0],
          [1, 0, 0],
          [2, 0, 0],
        ]);
        for (const p of d.partitions) {
          expect(Number.isInteger(p.sizeBytes) && p.sizeBytes >= 0).toBe(true);
          expect(Number.isInteger(p.segments) && p.segments >= 0).toBe(true);
        }
      });

      it('describeTopic echoes a minimal config without inventing optional fields', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const d = await log.describeTopic('t');
        expect(d.config.partitions).toBe(1);
        expect(d.config.retentionMs).toBeUndefined();
        expect(d.config.retentionBytes).toBeUndefined();
      });

      it('listTopics reports every topic (as a set)', async () => {
        const log = await open();
        for (const t of ['zeta', 'alpha', 'm.i_d-1']) await log.createTopic(t, { partitions: 1 });
        expect([...(await log.listTopics())].sort()).toEqual(['alpha', 'm.i_d-1', 'zeta']);
      });

      it('createTopic on an existing topic fails with FRESHET_TOPIC_EXISTS and changes nothing', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2 });
        await log.append('t', 1, [rec('keep')]);
        await expectCode(() => log.createTopic('t', { partitions: 5 }), TOPIC_EXISTS);
        await expectCode(() => log.createTopic('t', { partitions: 2 }), TOPIC_EXISTS);
        const d = await log.describeTopic('t');
        expect(d.config).toEqual({ partitions: 2 });
        expect(d.partitions.map((p) => p.latestOffset)).toEqual([0, 1]);
      });

      it('ensureTopic creates a missing topic and returns its description', async () => {
        const log = await open();
        const d = await log.ensureTopic('t', { partitions: 2, segmentBytes: 2048 });
        expect(d.name).toBe('t');
        expect(d.config).toEqual({ partitions: 2, segmentBytes: 2048 });
        expect(d.partitions.map((p) => [p.partition, p.earliestOffset, p.latestOffset])).toEqual([
          [0, 0, 0],
          [1, 0, 0],
        ]);
        expect(await log.listTopics()).toEqual(['t']);
      });

      it('ensureTopic on an existing topic returns it unchanged (config and data), even with another config', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2, retentionMs: 1000 });
        await log.append('t', 0, recs('x', 3));
        const d = await log.ensureTopic('t', { partitions: 7 });
        expect(d.config).toEqual({ partitions: 2, retentionMs: 1000 });
        expect(d.partitions.map((p) => p.latestOffset)).toEqual([3, 0]);
        expect(await readAll(log, 't', 0)).toEqual(expectedRun('t', 0, 0, recs('x', 3)));
      });

      it('ensureTopic validates the name and, for a missing topic, the config', async () => {
        const log = await open();
        await expectCode(() => log.ensureTopic('bad name', { partitions: 1 }), INVALID_ARGUMENT);
        await expectCode(() => log.ensureTopic('ok', { partitions: 0 }), INVALID_ARGUMENT);
        expect(await log.listTopics()).toEqual([]);
      });

      const invalidNames = ['', '.', '..', 'a b', 'a/b', 'a\\b', 'a:b', 'ü', 'tab\t', 'x'.repeat(250), 'nul\u0000'];
      it.each(invalidNames.map((n): [string, string] => [JSON.stringify(n).slice(0, 40), n]))('rejects the invalid topic name %s with FRESHET_INVALID_ARGUMENT', async (_label, topicName) => {
        const log = await open();
        await expectCode(() => log.createTopic(topicName, { partitions: 1 }), INVALID_ARGUMENT);
        expect(await log.listTopics()).toEqual([]);
      });

      it('accepts every name Kafka accepts: 1-249 of [a-zA-Z0-9._-], except . and ..', async () => {
        const log = await open();
        const names = ['a', 'Z', '0', '-', '_', '...', 'a.b_c-D9', 'x'.repeat(249)];
        for (const n of names) await log.createTopic(n, { partitions: 1 });
        expect([...(await log.listTopics())].sort()).toEqual([...names].sort());
        for (const n of names) expect((await log.describeTopic(n)).name).toBe(n);
      });

      const invalidConfigs: [string, TopicConfig][] = [
        ['partitions 0', { partitions: 0 }],
        ['partitions -1', { partitions: -1 }],
        ['partitions 1.5', { partitions: 1.5 }],
        ['partitions NaN', { partitions: Number.NaN }],
        [`partitions ${Limits.maxPartitions + 1}`, { partitions: Limits.maxPartitions + 1 }],
        ['partitions missing', {} as TopicConfig],
        ['retentionMs 0', { partitions: 1, retentionMs: 0 }],
        ['retentionMs -1', { partitions: 1, retentionMs: -1 }],
        ['retentionMs 1.5', { partitions: 1, retentionMs: 1.5 }],
        ['retentionBytes 0', { partitions: 1, retentionBytes: 0 }],
        ['retentionBytes Infinity', { partitions: 1, retentionBytes: Number.POSITIVE_INFINITY }],
        ['segmentBytes 1023', { partitions: 1, segmentBytes: 1023 }],
        ['segmentBytes 0', { partitions: 1, segmentBytes: 0 }],
        ['segmentBytes 2048.5', { partitions: 1, segmentBytes: 2048.5 }],
      ];
      it.each(invalidConfigs)('rejects the invalid config (%s) with FRESHET_INVALID_ARGUMENT', async (_label, config) => {
        const log = await open();
        await expectCode(() => log.createTopic('t', config), INVALID_ARGUMENT);
        expect(await log.listTopics()).toEqual([]);
        // The name is still free.
        await log.createTopic('t', { partitions: 1 });
      });

      it(`accepts the boundary configs: ${Limits.maxPartitions} partitions, segmentBytes 1024`, async () => {
        const log = await open();
        await log.createTopic('wide', { partitions: Limits.maxPartitions });
        await log.createTopic('small', { partitions: 1, segmentBytes: 1024 });
        const d = await log.describeTopic('wide');
        expect(d.partitions).toHaveLength(Limits.maxPartitions);
        expect(d.partitions[Limits.maxPartitions - 1]!.partition).toBe(Limits.maxPartitions - 1);
        const ack = await log.append('wide', Limits.maxPartitions - 1, [rec('last')]);
        expect(ack.baseOffset).toBe(0);
      });

      it('deleteTopic removes the topic and its records; the name can be created again from offset 0', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2 });
        await log.createTopic('other', { partitions: 1 });
        await log.append('t', 0, recs('old', 5));
        await log.deleteTopic('t');
        expect(await log.listTopics()).toEqual(['other']);
        await expectCode(() => log.describeTopic('t'), UNKNOWN_TOPIC);
        await expectCode(() => log.read('t', 0, 0), UNKNOWN_TOPIC);
        await expectCode(() => log.append('t', 0, [rec('x')]), UNKNOWN_TOPIC);
        await log.createTopic('t', { partitions: 3 });
        const d = await log.describeTopic('t');
        expect(d.config).toEqual({ partitions: 3 });
        expect(d.partitions.map((p) => [p.earliestOffset, p.latestOffset])).toEqual([
          [0, 0],
          [0, 0],
          [0, 0],
        ]);
        expect(await readAll(log, 't', 0)).toEqual([]);
        const ack = await log.append('t', 0, [rec('new')]);
        expect(ack.baseOffset).toBe(0);
        expect(await readAll(log, 't', 0)).toEqual(expectedRun('t', 0, 0, [rec('new')]));
      });

      it('concurrent ensureTopic calls for one name all resolve to the same topic', async () => {
        const log = await open();
        const results = await Promise.all(Array.from({ length: 5 }, () => log.ensureTopic('t', { partitions: 3 })));
        for (const d of results) expect(d.config).toEqual({ partitions: 3 });
        expect(await log.listTopics()).toEqual(['t']);
      });

      it('deleteTopic of a missing topic fails with FRESHET_UNKNOWN_TOPIC', async () => {
        const log = await open();
        await expectCode(() => log.deleteTopic('nope'), UNKNOWN_TOPIC);
      });

      it('topics whose names differ only in case or punctuation are distinct', async () => {
        const log = await open();
        const names = ['orders', 'Orders', 'a.b', 'a_b', 'a-1', 'a'];
        await log.createTopic('a', { partitions: 12 });
        for (const n of names.filter((n) => n !== 'a')) await log.createTopic(n, { partitions: 1 });
        for (const n of names) await log.append(n, 0, [rec(`in ${n}`)]);
        // Partition 10 of 'a' and partition 0 of 'a-1' must not collide (Kafka-style `topic-partition` dirs).
        await log.append('a', 10, [rec('a/10')]);
        for (const n of names) expect(await readAll(log, n, 0)).toEqual(expectedRun(n, 0, 0, [rec(`in ${n}`)]));
        expect(await readAll(log, 'a', 10)).toEqual(expectedRun('a', 10, 0, [rec('a/10')]));
        expect(await readAll(log, 'a', 1)).toEqual([]);
      });

      it('every partition-scoped call on a missing topic fails with FRESHET_UNKNOWN_TOPIC', async () => {
        const log = await open();
        await log.createTopic('exists', { partitions: 1 });
        await expectCode(() => log.describeTopic('nope'), UNKNOWN_TOPIC);
        await expectCode(() => log.append('nope', 0, [rec('x')]), UNKNOWN_TOPIC);
        await expectCode(() => log.produce('nope', [rec('x')]), UNKNOWN_TOPIC);
        await expectCode(() => log.read('nope', 0, 0), UNKNOWN_TOPIC);
        await expectCode(() => log.earliestOffset('nope', 0), UNKNOWN_TOPIC);
        await expectCode(() => log.latestOffset('nope', 0), UNKNOWN_TOPIC);
        await expectCode(() => log.offsetForTimestamp('nope', 0, 0), UNKNOWN_TOPIC);
        await expectCode(() => log.commitOffsets('g', [{ topic: 'nope', partition: 0, offset: 0 }]), UNKNOWN_TOPIC);
        expect(await log.listTopics()).toEqual(['exists']);
      });

      it.each(BAD_PARTITIONS.map((p): [string, number] => [String(p), p]))('partition %s of a 3-partition topic fails with FRESHET_UNKNOWN_PARTITION everywhere', async (_label, p) => {
        const log = await open();
        await log.createTopic('t', { partitions: 3 });
        await expectCode(() => log.append('t', p, [rec('x')]), UNKNOWN_PARTITION);
        await expectCode(() => log.read('t', p, 0), UNKNOWN_PARTITION);
        await expectCode(() => log.earliestOffset('t', p), UNKNOWN_PARTITION);
        await expectCode(() => log.latestOffset('t', p), UNKNOWN_PARTITION);
        await expectCode(() => log.offsetForTimestamp('t', p, 0), UNKNOWN_PARTITION);
        await expectCode(() => log.commitOffsets('g', [{ topic: 't', partition: p, offset: 0 }]), UNKNOWN_PARTITION);
        expect((await log.describeTopic('t')).partitions.map((x) => x.latestOffset)).toEqual([0, 0, 0]);
        expect(await log.committedOffsets('g')).toEqual([]);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('append', () => {
      it('returns contiguous offsets per partition, starting at 0', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2 });
        expect(await log.append('t', 0, recs('a', 3))).toEqual({ topic: 't', partition: 0, baseOffset: 0, lastOffset: 2 });
        expect(await log.append('t', 0, recs('b', 2))).toEqual({ topic: 't', partition: 0, baseOffset: 3, lastOffset: 4 });
        expect(await log.append('t', 1, recs('c', 1))).toEqual({ topic: 't', partition: 1, baseOffset: 0, lastOffset: 0 });
        expect(await log.append('t', 0, recs('d', 1))).toEqual({ topic: 't', partition: 0, baseOffset: 5, lastOffset: 5 });
        expect(await log.latestOffset('t', 0)).toBe(6);
        expect(await log.latestOffset('t', 1)).toBe(1);
        expect(await readAll(log, 't', 0)).toEqual([
          ...expectedRun('t', 0, 0, recs('a', 3)),
          ...expectedRun('t', 0, 3, recs('b', 2)),
          ...expectedRun('t', 0, 5, recs('d', 1)),
        ]);
        expect(await readAll(log, 't', 1)).toEqual(expectedRun('t', 1, 0, recs('c', 1)));
      });

      it('concurrent appends to one partition get disjoint contiguous ranges and are never interleaved', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
        const batches = Array.from({ length: 40 }, (_, b) => Array.from({ length: 1 + ((b * 7) % 9) }, (_, i) => rec(`b${b}-r${i}-${'x'.repeat(b * 3)}`, 5_000 + b)));
        const acks = await Promise.all(batches.map((records) => log.append('t', 0, records)));
        const total = batches.reduce((n, b) => n + b.length, 0);
        const covered = new Array<number>(total).fill(0);
        acks.forEach((ack, b) => {
          expect(ack.lastOffset - ack.baseOffset + 1).toBe(batches[b]!.length);
          for (let o = ack.baseOffset; o <= ack.lastOffset; o++) covered[o]!++;
        });
        expect(covered.every((c) => c === 1)).toBe(true);
        expect(await log.latestOffset('t', 0)).toBe(total);
        const all = await readAll(log, 't', 0);
        acks.forEach((ack, b) => {
          expect(all.slice(ack.baseOffset, ack.lastOffset + 1)).toEqual(expectedRun('t', 0, ack.baseOffset, batches[b]!));
        });
      });

      it('concurrent appends to different partitions and topics do not disturb each other', async () => {
        const log = await open();
        await log.createTopic('a', { partitions: 3 });
        await log.createTopic('b', { partitions: 2 });
        const targets: [string, number][] = [
          ['a', 0],
          ['a', 1],
          ['a', 2],
          ['b', 0],
          ['b', 1],
        ];
        await Promise.all(
          targets.flatMap(([t, p]) => Array.from({ length: 5 }, (_, i) => log.append(t, p, [rec(`${t}${p}-${i}`, 10 + i)]))),
        );
        for (const [t, p] of targets) {
          const values = (await readAll(log, t, p)).map((r) => r.value);
          expect(values.sort()).toEqual(Array.from({ length: 5 }, (_, i) => hex(enc(`${t}${p}-${i}`))).sort());
        }
      });

      it('appends racing a segment roll (while an earlier fsync is in flight) all resolve with contiguous offsets', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
        const written: ProducerRecord[] = [];
        for (let round = 0; round < 4; round++) {
          const small1 = rec(`small-${round}-1`, round);
          const small2 = rec(`small-${round}-2`, round);
          const big = { value: pseudoRandomBytes(900, round), timestampMs: round };
          const first = log.append('t', 0, [small1]);
          // One macrotask: an implementation that syncs in the background has started that sync now.
          await new Promise((resolve) => setImmediate(resolve));
          const second = log.append('t', 0, [small2]);
          const third = log.append('t', 0, [big]); // does not fit the segment: rolls
          const acks = await withTimeout(Promise.all([first, second, third]), 5_000, `round ${round} appends`);
          expect(acks.map((a) => [a.baseOffset, a.lastOffset])).toEqual([0, 1, 2].map((i) => [written.length + i, written.length + i]));
          written.push(small1, small2, big);
        }
        expect(await readAll(log, 't', 0)).toEqual(expectedRun('t', 0, 0, written));
      });

      it('an empty append fails with FRESHET_INVALID_ARGUMENT and appends nothing', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        await expectCode(() => log.append('t', 0, []), INVALID_ARGUMENT);
        expect(await log.latestOffset('t', 0)).toBe(0);
      });

      it('a record larger than Limits.maxRecordBytes fails with FRESHET_RECORD_TOO_LARGE and nothing of its batch is appended', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        await log.append('t', 0, [rec('before')]);
        const tooBigValue = { value: new Uint8Array(Limits.maxRecordBytes + 1), timestampMs: 1 };
        await expectCode(() => log.append('t', 0, [tooBigValue]), RECORD_TOO_LARGE);
        await expectCode(() => log.append('t', 0, [rec('ok-1'), rec('ok-2'), tooBigValue]), RECORD_TOO_LARGE);
        // Key + value + headers count together.
        const half = Limits.maxRecordBytes / 2;
        await expectCode(() => log.append('t', 0, [{ key: new Uint8Array(half), value: new Uint8Array(half), headers: [{ key: 'h', value: bytes(1) }] }]), RECORD_TOO_LARGE);
        await expectCode(() => log.append('t', 0, [{ value: new Uint8Array(half), headers: [{ key: 'a', value: new Uint8Array(half) }] }]), RECORD_TOO_LARGE);
        expect(await log.latestOffset('t', 0)).toBe(1);
        expect(await readAll(log, 't', 0)).toEqual(expectedRun('t', 0, 0, [rec('before')]));
        const after = await log.append('t', 0, [rec('after')]);
        expect(after.baseOffset).toBe(1);
      });

      it('a record of exactly Limits.maxRecordBytes is accepted and round-trips', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const key = pseudoRandomBytes(1000, 1);
        const headerValue = pseudoRandomBytes(500, 2);
        const value = pseudoRandomBytes(Limits.maxRecordBytes - 1000 - 500 - 2, 3);
        const r: ProducerRecord = { key, value, timestampMs: 42, headers: [{ key: 'hk', value: headerValue }] };
        await log.append('t', 0, [r]);
        expect(await readAll(log, 't', 0)).toEqual([expected('t', 0, 0, r)]);
      });

      it('stores copies: mutating the producer buffers after append does not change the log', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const key = enc('key');
        const value = enc('value');
        const header = enc('header');
        const r: ProducerRecord = { key, value, timestampMs: 7, headers: [{ key: 'h', value: header }] };
        const want = expected('t', 0, 0, r);
        await log.append('t', 0, [r]);
        key.fill(0);
        value.fill(0);
        header.fill(0);
        expect(await readAll(log, 't', 0)).toEqual([want]);
      });

      it('a non-finite timestamp fails with FRESHET_INVALID_ARGUMENT and nothing of its batch is appended', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          await expectCode(() => log.append('t', 0, [rec('ok', 1), rec('bad', bad)]), INVALID_ARGUMENT);
        }
        expect(await log.latestOffset('t', 0)).toBe(0);
      });

      it(`an append of more than Limits.maxBatchRecords (${Limits.maxBatchRecords}) records fails with FRESHET_RECORD_TOO_LARGE; exactly that many is fine`, async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const tiny: ProducerRecord = { value: bytes(1), timestampMs: 1 };
        await expectCode(() => log.append('t', 0, new Array<ProducerRecord>(Limits.maxBatchRecords + 1).fill(tiny)), RECORD_TOO_LARGE);
        expect(await log.latestOffset('t', 0)).toBe(0);
        const ack = await log.append('t', 0, new Array<ProducerRecord>(Limits.maxBatchRecords).fill(tiny));
        expect(ack).toEqual({ topic: 't', partition: 0, baseOffset: 0, lastOffset: Limits.maxBatchRecords - 1 });
      });

      it(`an append larger than Limits.maxBatchBytes (${Limits.maxBatchBytes}) fails with FRESHET_RECORD_TOO_LARGE and appends nothing`, async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const value = new Uint8Array(Limits.maxRecordBytes - 100);
        const count = Math.ceil(Limits.maxBatchBytes / value.length) + 1;
        await expectCode(() => log.append('t', 0, new Array<ProducerRecord>(count).fill({ value, timestampMs: 1 })), RECORD_TOO_LARGE);
        expect(await log.latestOffset('t', 0)).toBe(0);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('records round-trip byte-exact', () => {
      it('keys, values, null values (tombstones), empty bytes and headers', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const records: ProducerRecord[] = [
          { value: enc('no key'), timestampMs: 1 },
          { key: null, value: enc('null key'), timestampMs: 2 },
          { key: enc('k'), value: null, timestampMs: 3 },
          { key: new Uint8Array(0), value: new Uint8Array(0), timestampMs: 4 },
          { key: null, value: null, timestampMs: 5 },
          { key: allByteValues(), value: allByteValues(), timestampMs: 6 },
          { key: bytes(0), value: bytes(0, 0, 0), timestampMs: 7 },
          { value: bytes(0xff, 0xfe, 0xc3), timestampMs: 8, headers: [] },
          {
            key: enc('h'),
            value: enc('with headers'),
            timestampMs: 9,
            headers: [
              { key: 'dup', value: enc('first') },
              { key: 'bin', value: allByteValues() },
              { key: 'dup', value: enc('second') },
              { key: '', value: new Uint8Array(0) },
              { key: 'ключ-🔑', value: bytes(0) },
              { key: 'dup', value: enc('third') },
            ],
          },
          { value: pseudoRandomBytes(100_000, 99), key: pseudoRandomBytes(3000, 98), timestampMs: 10 },
        ];
        await log.append('t', 0, records.slice(0, 4));
        await log.append('t', 0, records.slice(4, 5));
        await log.append('t', 0, records.slice(5));
        const got = await readAll(log, 't', 0);
        expect(got).toEqual(expectedRun('t', 0, 0, records));
        // The distinctions Kafka makes: null vs empty key/value, no headers vs empty list.
        expect(got[0]!.key).toBeNull();
        expect(got[2]!.value).toBeNull();
        expect(got[3]!.key).toBe('');
        expect(got[3]!.value).toBe('');
        expect(got[8]!.headers.map((h) => h.key)).toEqual(['dup', 'bin', 'dup', '', 'ключ-🔑', 'dup']);
      });

      it('many records in one batch keep their order and individual content', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
        const records: ProducerRecord[] = Array.from({ length: 500 }, (_, i) => ({
          key: i % 3 === 0 ? null : enc(`k${i}`),
          value: i % 7 === 0 ? null : pseudoRandomBytes(i % 50, i),
          timestampMs: 1_000_000 + ((i * 7919) % 1000),
          headers: i % 5 === 0 ? [{ key: `h${i}`, value: pseudoRandomBytes(i % 4, i + 1) }] : [],
        }));
        await log.append('t', 0, records);
        expect(await readAll(log, 't', 0)).toEqual(expectedRun('t', 0, 0, records));
      });

      /** The record round-trips, or is refused with a coded size/argument error and nothing is appended. */
      async function roundTripsOrRefused(log: EventLog, r: ProducerRecord): Promise<void> {
        const before = await log.latestOffset('t', 0);
        let ack;
        try {
          ack = await log.append('t', 0, [r]);
        } catch (e) {
          expect([RECORD_TOO_LARGE, INVALID_ARGUMENT], String(e)).toContain((e as { code?: string }).code);
          expect(await log.latestOffset('t', 0)).toBe(before);
          return;
        }
        const got = await readAll(log, 't', 0, ack.baseOffset);
        const want = expected('t', 0, ack.baseOffset, r);
        expect(got).toHaveLength(1);
        // Counts and key lengths first, so a mismatch does not print a 100 000-line diff.
        expect(got[0]!.headers.length, 'header count').toBe(want.headers.length);
        expect(got[0]!.headers.map((h) => h.key.length), 'header key lengths').toEqual(want.headers.map((h) => h.key.length));
        expect(got).toEqual([want]);
      }

      it('a record with 70 000 headers round-trips, or is refused with a coded error and nothing appended', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const headers = Array.from({ length: 70_000 }, (_, i) => ({ key: i % 2 ? '' : 'k', value: i % 3 ? new Uint8Array(0) : bytes(i & 0xff) }));
        await roundTripsOrRefused(log, { value: enc('v'), timestampMs: 1, headers });
        await log.append('t', 0, [rec('still usable')]);
      });

      it('a header key of 70 000 bytes round-trips, or is refused with a coded error and nothing appended', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        await roundTripsOrRefused(log, { value: enc('v'), timestampMs: 2, headers: [{ key: 'k'.repeat(70_000), value: bytes(1) }] });
        await log.append('t', 0, [rec('still usable')]);
      });

      it('header keys that are not ASCII round-trip', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const r: ProducerRecord = { value: enc('v'), timestampMs: 3, headers: ['é', '日本語', '🔑🔑', 'a\u0000b', ' '].map((key, i) => ({ key, value: bytes(i) })) };
        await roundTripsOrRefused(log, r);
        expect(await log.latestOffset('t', 0)).toBe(1);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('timestamps', () => {
      it('explicit timestamps are kept as given, in any order', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const stamps = [1_700_000_000_500, 0, 1_700_000_000_100, 2 ** 47, 1_699_999_999_999, 1_700_000_000_100];
        const records = stamps.map((timestampMs, i) => rec(`r${i}`, timestampMs));
        await log.append('t', 0, records);
        expect((await readAll(log, 't', 0)).map((r) => r.timestampMs)).toEqual(stamps);
      });

      it('a record without a timestamp gets the append time', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const clock = factory.clock;
        if (clock) {
          clock.set(1_700_000_123_456);
          await log.append('t', 0, [{ value: enc('a') }, { value: enc('b'), timestampMs: 5 }, { value: enc('c') }]);
          clock.advance(10_000);
          await log.append('t', 0, [{ value: enc('d') }]);
          expect((await readAll(log, 't', 0)).map((r) => r.timestampMs)).toEqual([1_700_000_123_456, 5, 1_700_000_123_456, 1_700_000_133_456]);
        } else {
          const before = Date.now();
          await log.append('t', 0, [{ value: enc('a') }, { value: enc('b'), timestampMs: 5 }]);
          const after = Date.now();
          const [a, b] = await readAll(log, 't', 0);
          expect(a!.timestampMs).toBeGreaterThanOrEqual(before);
          expect(a!.timestampMs).toBeLessThanOrEqual(after);
          expect(b!.timestampMs).toBe(5);
        }
      });

      it('produce() also defaults timestamps to the append time', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2 });
        const before = factory.clock ? factory.clock.nowMs() : Date.now();
        const [ack] = await log.produce('t', [{ key: enc('k'), value: enc('v') }]);
        const after = factory.clock ? factory.clock.nowMs() : Date.now();
        const [r] = checkedRecords(await log.read('t', ack!.partition, ack!.offset, { maxRecords: 1 }), 't', ack!.partition, ack!.offset);
        expect(r!.timestampMs).toBeGreaterThanOrEqual(before);
        expect(r!.timestampMs).toBeLessThanOrEqual(after);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('read', () => {
      async function seeded(): Promise<{ log: EventLog; all: PlainRecord[] }> {
        const log = await open();
        await log.createTopic('t', { partitions: 2, segmentBytes: 1024 });
        const batches = [recs('a', 4, 100), recs('b', 1, 200), recs('c', 10, 300), recs('d', 3, 400)];
        const all: PlainRecord[] = [];
        for (const b of batches) {
          const ack = await log.append('t', 1, b);
          all.push(...expectedRun('t', 1, ack.baseOffset, b));
        }
        return { log, all };
      }

      it('reads from every offset return exactly the records from that offset on, in order', async () => {
        const { log, all } = await seeded();
        for (let offset = 0; offset < all.length; offset++) {
          expect(await readAll(log, 't', 1, offset)).toEqual(all.slice(offset));
          const first = checkedRecords(await log.read('t', 1, offset), 't', 1, offset);
          expect(first.length).toBeGreaterThan(0);
          expect(first).toEqual(all.slice(offset, offset + first.length));
        }
      });

      it('a read at the high watermark returns no batches, nextOffset = highWatermark', async () => {
        const { log, all } = await seeded();
        const result = await log.read('t', 1, all.length);
        expect(result.batches).toEqual([]);
        expect(result.nextOffset).toBe(all.length);
        expect(result.highWatermark).toBe(all.length);
        const empty = await log.read('t', 0, 0);
        expect(empty.batches).toEqual([]);
        expect(empty.nextOffset).toBe(0);
        expect(empty.highWatermark).toBe(0);
      });

      it('reports the high watermark with every read', async () => {
        const { log, all } = await seeded();
        for (const offset of [0, 5, all.length - 1]) {
          expect((await log.read('t', 1, offset, { maxRecords: 1 })).highWatermark).toBe(all.length);
        }
        expect(await log.latestOffset('t', 1)).toBe(all.length);
      });

      it('offsets outside [earliest, highWatermark] fail with FRESHET_OFFSET_OUT_OF_RANGE', async () => {
        const { log, all } = await seeded();
        await expectCode(() => log.read('t', 1, all.length + 1), OFFSET_OUT_OF_RANGE);
        await expectCode(() => log.read('t', 1, 1_000_000), OFFSET_OUT_OF_RANGE);
        await expectCode(() => log.read('t', 1, -1), OFFSET_OUT_OF_RANGE);
        await expectCode(() => log.read('t', 0, 1), OFFSET_OUT_OF_RANGE);
        // A non-integer offset names no record: either code is acceptable, silence is not.
        await expectCode(() => log.read('t', 1, 1.5), [OFFSET_OUT_OF_RANGE, INVALID_ARGUMENT]);
        await expectCode(() => log.read('t', 1, Number.NaN), [OFFSET_OUT_OF_RANGE, INVALID_ARGUMENT]);
      });

      it.each([1, 2, 3, 5, 7, 100])('maxRecords %i: never more records, at least one, exact content', async (maxRecords) => {
        const { log, all } = await seeded();
        for (let offset = 0; offset < all.length; offset++) {
          const got = checkedRecords(await log.read('t', 1, offset, { maxRecords }), 't', 1, offset);
          expect(got.length).toBeGreaterThanOrEqual(1);
          expect(got.length).toBeLessThanOrEqual(maxRecords);
          expect(got).toEqual(all.slice(offset, offset + got.length));
        }
        expect(await readAll(log, 't', 1, 0, { maxRecords })).toEqual(all);
      });

      it('maxRecords cuts inside one large stored batch', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const records = recs('big', 50);
        await log.append('t', 0, records);
        const want = expectedRun('t', 0, 0, records);
        const got = checkedRecords(await log.read('t', 0, 10, { maxRecords: 5 }), 't', 0, 10);
        expect(got.length).toBeGreaterThanOrEqual(1);
        expect(got.length).toBeLessThanOrEqual(5);
        expect(got).toEqual(want.slice(10, 10 + got.length));
        const one = checkedRecords(await log.read('t', 0, 49, { maxRecords: 1 }), 't', 0, 49);
        expect(one).toEqual([want[49]]);
      });

      it('maxBytes smaller than one batch still returns at least one record', async () => {
        const { log, all } = await seeded();
        for (const offset of [0, 2, 4, 5, 10, all.length - 1]) {
          const got = checkedRecords(await log.read('t', 1, offset, { maxBytes: 1 }), 't', 1, offset);
          expect(got.length).toBeGreaterThanOrEqual(1);
          expect(got).toEqual(all.slice(offset, offset + got.length));
        }
        expect(await readAll(log, 't', 1, 0, { maxBytes: 1 })).toEqual(all);
      });

      it('maxBytes bounds a read (roughly): 1000-byte records, maxBytes 3000 → at most 4 records', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const records = Array.from({ length: 20 }, (_, i) => ({ value: pseudoRandomBytes(1000, i), timestampMs: i }));
        for (const r of records) await log.append('t', 0, [r]);
        const got = checkedRecords(await log.read('t', 0, 0, { maxBytes: 3000 }), 't', 0, 0);
        expect(got.length).toBeGreaterThanOrEqual(1);
        expect(got.length, 'maxBytes 3000 over 1000-byte records returned too many records').toBeLessThanOrEqual(4);
        expect(got).toEqual(expectedRun('t', 0, 0, records).slice(0, got.length));
      });

      it('maxRecords and maxBytes together: the tighter bound wins, content exact', async () => {
        const { log, all } = await seeded();
        const got = checkedRecords(await log.read('t', 1, 3, { maxRecords: 2, maxBytes: 1_000_000 }), 't', 1, 3);
        expect(got.length).toBeGreaterThanOrEqual(1);
        expect(got.length).toBeLessThanOrEqual(2);
        expect(got).toEqual(all.slice(3, 3 + got.length));
      });

      it('maxRecords or maxBytes below 1 fail with FRESHET_INVALID_ARGUMENT (a zero-record read would never progress)', async () => {
        const { log } = await seeded();
        for (const options of [{ maxRecords: 0 }, { maxRecords: -1 }, { maxBytes: 0 }, { maxBytes: -5 }, { maxRecords: Number.NaN }]) {
          try {
            await expectCode(() => log.read('t', 1, 0, options), INVALID_ARGUMENT);
          } catch (e) {
            throw new Error(`read with ${JSON.stringify(options)}: ${(e as Error).message}`);
          }
        }
      });

      it('records appended after a read are seen by the next read from nextOffset', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        await log.append('t', 0, recs('a', 2));
        const first = await log.read('t', 0, 0);
        expect(first.nextOffset).toBe(2);
        await log.append('t', 0, recs('b', 3, 50));
        expect(await readAll(log, 't', 0, first.nextOffset)).toEqual(expectedRun('t', 0, 2, recs('b', 3, 50)));
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('earliest / latest offsets and offsetForTimestamp', () => {
      it('earliest and latest offsets of empty and written partitions', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2 });
        expect([await log.earliestOffset('t', 0), await log.latestOffset('t', 0)]).toEqual([0, 0]);
        await log.append('t', 0, recs('a', 7));
        expect([await log.earliestOffset('t', 0), await log.latestOffset('t', 0)]).toEqual([0, 7]);
        expect([await log.earliestOffset('t', 1), await log.latestOffset('t', 1)]).toEqual([0, 0]);
        const d = await log.describeTopic('t');
        expect(d.partitions.map((p) => [p.earliestOffset, p.latestOffset])).toEqual([
          [0, 7],
          [0, 0],
        ]);
        expect(d.partitions[0]!.sizeBytes).toBeGreaterThan(0);
      });

      it('returns the earliest offset whose timestamp is >= the target, with out-of-order timestamps', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
        //              offset:    0    1    2    3    4    5    6    7
        const stamps = [100, 300, 200, 400, 150, 400, 50, 500];
        await log.append('t', 0, stamps.slice(0, 3).map((ts, i) => rec(`r${i}`, ts)));
        await log.append('t', 0, [rec('r3', stamps[3])]);
        await log.append('t', 0, stamps.slice(4).map((ts, i) => rec(`r${i + 4}-${'p'.repeat(400)}`, ts)));
        const cases: [number, number | null][] = [
          [-1, 0],
          [0, 0],
          [50, 0],
          [100, 0],
          [101, 1],
          [150, 1],
          [200, 1],
          [300, 1],
          [301, 3],
          [400, 3],
          [401, 7],
          [500, 7],
          [501, null],
          [Number.MAX_SAFE_INTEGER, null],
        ];
        for (const [target, want] of cases) expect([target, await log.offsetForTimestamp('t', 0, target)]).toEqual([target, want]);
      });

      it('picks the first of equal timestamps and finds records in later batches', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
        for (let b = 0; b < 30; b++) await log.append('t', 0, [rec(`x${b}-${'y'.repeat(100)}`, 1000 + Math.floor(b / 3) * 10)]);
        expect(await log.offsetForTimestamp('t', 0, 1000)).toBe(0);
        expect(await log.offsetForTimestamp('t', 0, 1001)).toBe(3);
        expect(await log.offsetForTimestamp('t', 0, 1050)).toBe(15);
        expect(await log.offsetForTimestamp('t', 0, 1090)).toBe(27);
        expect(await log.offsetForTimestamp('t', 0, 1091)).toBeNull();
      });

      it('is null on an empty partition', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2 });
        await log.append('t', 1, [rec('x', 10)]);
        expect(await log.offsetForTimestamp('t', 0, 0)).toBeNull();
        expect(await log.offsetForTimestamp('t', 1, 11)).toBeNull();
        expect(await log.offsetForTimestamp('t', 1, 10)).toBe(0);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('produce', () => {
      it("puts keyed records where Kafka's murmur2 partitioner does, in input order", async () => {
        const log = await open();
        const n = 12;
        await log.createTopic('t', { partitions: n });
        const keys = ['foobar', '21', 'customer-1', 'customer-2', 'customer-1', '', 'a-little-bit-long-string', 'zzz', 'foobar'];
        const records = keys.map((k, i) => ({ key: enc(k), value: enc(`v${i}`), timestampMs: 100 + i }));
        const acks = await log.produce('t', records);
        expect(acks).toHaveLength(records.length);
        const nextPerPartition = new Map<number, number>();
        acks.forEach((ack, i) => {
          expect(ack.topic).toBe('t');
          expect(ack.partition).toBe(partitionForKey(records[i]!.key, n));
          const want = nextPerPartition.get(ack.partition) ?? 0;
          expect(ack.offset).toBe(want);
          nextPerPartition.set(ack.partition, want + 1);
        });
        // Independent of partitionForKey: Kafka's published murmur2('foobar') = -790332482.
        expect(acks[0]!.partition).toBe((-790332482 & 0x7fffffff) % n);
        expect(acks[1]!.partition).toBe((-973932308 & 0x7fffffff) % n);
        for (const [i, ack] of acks.entries()) {
          const [got] = checkedRecords(await log.read('t', ack.partition, ack.offset, { maxRecords: 1 }), 't', ack.partition, ack.offset);
          expect(got).toEqual(expected('t', ack.partition, ack.offset, records[i]!));
        }
        for (let p = 0; p < n; p++) expect(await log.latestOffset('t', p)).toBe(nextPerPartition.get(p) ?? 0);
      });

      it('an empty (non-null) key is hashed like any key, not spread', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 7 });
        const want = partitionForKey(new Uint8Array(0), 7);
        for (let i = 0; i < 5; i++) {
          const [ack] = await log.produce('t', [{ key: new Uint8Array(0), value: enc(`e${i}`) }]);
          expect(ack!.partition).toBe(want);
        }
      });

      it('the same key always goes to the same partition across calls', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 5 });
        const seen = new Map<string, number>();
        for (let round = 0; round < 3; round++) {
          const acks = await log.produce(
            't',
            Array.from({ length: 20 }, (_, i) => ({ key: enc(`key-${i}`), value: enc(`${round}`) })),
          );
          acks.forEach((ack, i) => {
            const prev = seen.get(`key-${i}`);
            if (prev !== undefined) expect(ack.partition).toBe(prev);
            seen.set(`key-${i}`, ack.partition);
          });
        }
      });

      it('spreads records without a key evenly (round-robin), within and across calls', async () => {
        const log = await open();
        const n = 4;
        await log.createTopic('t', { partitions: n });
        const acks = await log.produce('t', Array.from({ length: 4 * n }, (_, i) => ({ value: enc(`v${i}`), key: i % 2 ? null : undefined })));
        const counts = new Array<number>(n).fill(0);
        for (const a of acks) counts[a.partition]!++;
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(Math.min(...counts)).toBeGreaterThan(0);
        const single = new Array<number>(n).fill(0);
        for (let i = 0; i < 2 * n; i++) {
          const [a] = await log.produce('t', [{ value: enc(`s${i}`) }]);
          single[a!.partition]!++;
        }
        expect(Math.max(...single) - Math.min(...single), `per-call spread ${single}`).toBeLessThanOrEqual(1);
        // Every ack names the record that was produced.
        for (const [i, a] of acks.entries()) {
          const [got] = checkedRecords(await log.read('t', a.partition, a.offset, { maxRecords: 1 }), 't', a.partition, a.offset);
          expect(got!.value).toBe(hex(enc(`v${i}`)));
        }
      });

      it(`many records with one key (more than Limits.maxBatchRecords) are all produced, in order`, async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 3 });
        const key = enc('hot-key');
        const p = partitionForKey(key, 3);
        const count = Limits.maxBatchRecords + 10;
        const records = Array.from({ length: count }, (_, i) => ({ key, value: enc(String(i)), timestampMs: 1 }));
        const acks = await log.produce('t', records);
        expect(acks.every((a, i) => a.partition === p && a.offset === i)).toBe(true);
        expect(await log.latestOffset('t', p)).toBe(count);
        const last = checkedRecords(await log.read('t', p, count - 1), 't', p, count - 1);
        expect(last).toEqual([expected('t', p, count - 1, records[count - 1]!)]);
      });

      it('large records with one key adding up to more than Limits.maxBatchBytes are all produced', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 2 });
        const key = enc('k');
        const p = partitionForKey(key, 2);
        const count = Math.ceil(Limits.maxBatchBytes / (Limits.maxRecordBytes - 100)) + 1;
        const records = Array.from({ length: count }, (_, i) => ({ key, value: pseudoRandomBytes(Limits.maxRecordBytes - 100, i), timestampMs: i }));
        const acks = await log.produce('t', records);
        expect(acks.map((a) => [a.partition, a.offset])).toEqual(records.map((_, i) => [p, i]));
        expect(await readAll(log, 't', p, count - 2)).toEqual(expectedRun('t', p, 0, records).slice(count - 2));
      });

      it('a too-large record fails the produce with FRESHET_RECORD_TOO_LARGE before anything is appended', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 3 });
        // Keys chosen so the good and the bad record land in different partitions.
        const keyOk = enc('a');
        let n = 0;
        while (partitionForKey(enc(`b${n}`), 3) === partitionForKey(keyOk, 3)) n++;
        const ok = { key: keyOk, value: enc('fine') };
        const big = { key: enc(`b${n}`), value: new Uint8Array(Limits.maxRecordBytes + 1) };
        await expectCode(() => log.produce('t', [ok, big]), RECORD_TOO_LARGE);
        await expectCode(() => log.produce('t', [{ value: enc('spread') }, { value: enc('spread') }, { value: new Uint8Array(Limits.maxRecordBytes + 1) }]), RECORD_TOO_LARGE);
        // Give an implementation that wrote part of it time to acknowledge that part (e.g. after an fsync).
        await new Promise((resolve) => setTimeout(resolve, 50));
        for (let p = 0; p < 3; p++) expect(await log.latestOffset('t', p), `partition ${p} got part of a failed produce`).toBe(0);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('consumer group offsets', () => {
      async function twoTopics(): Promise<EventLog> {
        const log = await open();
        await log.createTopic('a', { partitions: 3 });
        await log.createTopic('b', { partitions: 2 });
        return log;
      }

      it('an unknown group has no offsets', async () => {
        const log = await twoTopics();
        expect(await log.committedOffsets('nobody')).toEqual([]);
        expect(await log.committedOffsets('nobody', 'a')).toEqual([]);
      });

      it('commits and fetches, for all topics or one', async () => {
        const log = await twoTopics();
        await log.commitOffsets('g', [
          { topic: 'b', partition: 1, offset: 9 },
          { topic: 'a', partition: 0, offset: 5 },
          { topic: 'a', partition: 2, offset: 0 },
        ]);
        expect(sortOffsets(await log.committedOffsets('g'))).toEqual([
          { topic: 'a', partition: 0, offset: 5 },
          { topic: 'a', partition: 2, offset: 0 },
          { topic: 'b', partition: 1, offset: 9 },
        ]);
        expect(sortOffsets(await log.committedOffsets('g', 'a'))).toEqual([
          { topic: 'a', partition: 0, offset: 5 },
          { topic: 'a', partition: 2, offset: 0 },
        ]);
        expect(await log.committedOffsets('g', 'b')).toEqual([{ topic: 'b', partition: 1, offset: 9 }]);
      });

      it('a later commit overwrites only the partitions it names (and may move backwards, as in Kafka)', async () => {
        const log = await twoTopics();
        await log.commitOffsets('g', [
          { topic: 'a', partition: 0, offset: 5 },
          { topic: 'a', partition: 1, offset: 6 },
        ]);
        await log.commitOffsets('g', [{ topic: 'a', partition: 0, offset: 10 }]);
        await log.commitOffsets('g', [{ topic: 'a', partition: 1, offset: 2 }]);
        expect(sortOffsets(await log.committedOffsets('g'))).toEqual([
          { topic: 'a', partition: 0, offset: 10 },
          { topic: 'a', partition: 1, offset: 2 },
        ]);
        await log.commitOffsets('g', []);
        expect(sortOffsets(await log.committedOffsets('g'))).toHaveLength(2);
      });

      it('groups are independent', async () => {
        const log = await twoTopics();
        await log.commitOffsets('g1', [{ topic: 'a', partition: 0, offset: 1 }]);
        await log.commitOffsets('g2', [{ topic: 'a', partition: 0, offset: 2 }]);
        await log.commitOffsets('g2', [{ topic: 'b', partition: 0, offset: 3 }]);
        expect(await log.committedOffsets('g1')).toEqual([{ topic: 'a', partition: 0, offset: 1 }]);
        expect(sortOffsets(await log.committedOffsets('g2'))).toEqual([
          { topic: 'a', partition: 0, offset: 2 },
          { topic: 'b', partition: 0, offset: 3 },
        ]);
      });

      it('group names are opaque strings: punctuation, unicode and long names work and stay distinct', async () => {
        const log = await twoTopics();
        const groups = ['g', 'G', 'a/b', '../x', '.', 'with space', 'üñí', '日本語-🔑', 'é'.repeat(120), 'x'.repeat(249), '%2F', 'a%2Fb'];
        for (const [i, g] of groups.entries()) {
          try {
            await log.commitOffsets(g, [{ topic: 'a', partition: 0, offset: i }]);
          } catch (e) {
            throw new Error(`commitOffsets(${JSON.stringify(g).slice(0, 30)}): ${String(e)}`);
          }
        }
        for (const [i, g] of groups.entries()) expect([g.slice(0, 20), await log.committedOffsets(g)]).toEqual([g.slice(0, 20), [{ topic: 'a', partition: 0, offset: i }]]);
      });

      it('an empty group name fails with FRESHET_INVALID_ARGUMENT', async () => {
        const log = await twoTopics();
        await expectCode(() => log.commitOffsets('', [{ topic: 'a', partition: 0, offset: 1 }]), INVALID_ARGUMENT);
      });

      it('a negative or non-integer offset fails with FRESHET_INVALID_ARGUMENT and commits nothing', async () => {
        const log = await twoTopics();
        await log.commitOffsets('g', [{ topic: 'a', partition: 0, offset: 5 }]);
        for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expectCode(
            () =>
              log.commitOffsets('g', [
                { topic: 'a', partition: 0, offset: 6 },
                { topic: 'a', partition: 1, offset: bad },
              ]),
            INVALID_ARGUMENT,
          );
        }
        expect(await log.committedOffsets('g')).toEqual([{ topic: 'a', partition: 0, offset: 5 }]);
      });

      it('is all-or-none: an unknown topic or partition anywhere in the request commits nothing', async () => {
        const log = await twoTopics();
        await log.commitOffsets('g', [{ topic: 'a', partition: 0, offset: 5 }]);
        await expectCode(
          () =>
            log.commitOffsets('g', [
              { topic: 'a', partition: 0, offset: 99 },
              { topic: 'a', partition: 1, offset: 99 },
              { topic: 'missing', partition: 0, offset: 1 },
            ]),
          UNKNOWN_TOPIC,
        );
        await expectCode(
          () =>
            log.commitOffsets('g', [
              { topic: 'a', partition: 0, offset: 99 },
              { topic: 'b', partition: 2, offset: 1 },
            ]),
          UNKNOWN_PARTITION,
        );
        await expectCode(() => log.commitOffsets('fresh', [{ topic: 'a', partition: 0, offset: 1 }, { topic: 'a', partition: 3, offset: 1 }]), UNKNOWN_PARTITION);
        expect(await log.committedOffsets('g')).toEqual([{ topic: 'a', partition: 0, offset: 5 }]);
        expect(await log.committedOffsets('fresh')).toEqual([]);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('truncate', () => {
      /** Partition 1 of 't' holds 18 records in 4 batches: a0-a3 (0-3), b0 (4), c0-c9 (5-14), d0-d2 (15-17). */
      async function seeded(segmentBytes = 1024): Promise<{ log: EventLog; all: PlainRecord[] }> {
        const log = await open();
        await log.createTopic('t', { partitions: 2, segmentBytes });
        const batches = [recs('a', 4, 100), recs('b', 1, 200), recs('c', 10, 300), recs('d', 3, 400)];
        const all: PlainRecord[] = [];
        for (const b of batches) {
          const ack = await log.append('t', 1, b);
          all.push(...expectedRun('t', 1, ack.baseOffset, b));
        }
        await log.append('t', 0, recs('other', 3, 50));
        return { log, all };
      }

      it.each([0, 1, 4, 5, 9, 14, 15, 17, 18])('to %i: keeps exactly the records below it, and the next append gets that offset', async (end) => {
        const { log, all } = await seeded();
        await log.truncate('t', 1, end);
        expect(await log.latestOffset('t', 1)).toBe(end);
        expect(await log.earliestOffset('t', 1)).toBe(0);
        expect(await readAll(log, 't', 1)).toEqual(all.slice(0, end));
        for (let from = 0; from <= end; from++) expect(await readAll(log, 't', 1, from)).toEqual(all.slice(from, end));
        await expectCode(() => log.read('t', 1, end + 1), OFFSET_OUT_OF_RANGE);
        const d = await log.describeTopic('t');
        expect(d.partitions[1]!.latestOffset).toBe(end);
        const next = [rec('next-0', 900), rec('next-1', 901)];
        const ack = await log.append('t', 1, next);
        expect(ack.baseOffset).toBe(end);
        expect(await readAll(log, 't', 1)).toEqual([...all.slice(0, end), ...expectedRun('t', 1, end, next)]);
        // The other partition is untouched.
        expect(await readAll(log, 't', 0)).toEqual(expectedRun('t', 0, 0, recs('other', 3, 50)));
      });

      it('the end offset is a no-op; outside [earliest, latest] or not an integer fails and changes nothing', async () => {
        const { log, all } = await seeded();
        await log.truncate('t', 1, all.length);
        expect(await readAll(log, 't', 1)).toEqual(all);
        await expectCode(() => log.truncate('t', 1, all.length + 1), OFFSET_OUT_OF_RANGE);
        await expectCode(() => log.truncate('t', 1, -1), OFFSET_OUT_OF_RANGE);
        await expectCode(() => log.truncate('t', 1, 2.5), [OFFSET_OUT_OF_RANGE, INVALID_ARGUMENT]);
        await expectCode(() => log.truncate('t', 1, Number.NaN), [OFFSET_OUT_OF_RANGE, INVALID_ARGUMENT]);
        await expectCode(() => log.truncate('t', 0, 4), OFFSET_OUT_OF_RANGE);
        expect(await readAll(log, 't', 1)).toEqual(all);
        expect(await log.latestOffset('t', 0)).toBe(3);
      });

      it('unknown topics and partitions fail with their codes', async () => {
        const { log } = await seeded();
        await expectCode(() => log.truncate('nope', 0, 0), UNKNOWN_TOPIC);
        for (const p of [-1, 2, 1.5]) await expectCode(() => log.truncate('t', p, 0), UNKNOWN_PARTITION);
      });

      it('repeated truncations and appends keep the partition contiguous', async () => {
        const { log, all } = await seeded();
        const want = all.slice();
        for (const [end, n] of [[16, 5], [3, 2], [5, 30], [20, 1], [0, 4], [4, 0]] as const) {
          await log.truncate('t', 1, end);
          want.length = end;
          if (n > 0) {
            const more = recs(`r${end}`, n, 1_000 + end);
            await log.append('t', 1, more);
            want.push(...expectedRun('t', 1, end, more));
          }
          expect(await readAll(log, 't', 1)).toEqual(want);
          expect(await log.latestOffset('t', 1)).toBe(want.length);
        }
      });

      it('offsetForTimestamp no longer finds removed records', async () => {
        const { log } = await seeded();
        expect(await log.offsetForTimestamp('t', 1, 400)).toBe(15);
        await log.truncate('t', 1, 15);
        expect(await log.offsetForTimestamp('t', 1, 400)).toBeNull();
        expect(await log.offsetForTimestamp('t', 1, 305)).toBe(10);
        await log.truncate('t', 1, 7);
        expect(await log.offsetForTimestamp('t', 1, 305)).toBeNull();
        expect(await log.offsetForTimestamp('t', 1, 301)).toBe(6);
      });

      it('appends issued before a truncate land before it and are removed by it', async () => {
        const { log, all } = await seeded();
        const pending = [log.append('t', 1, [rec('p0')]), log.append('t', 1, [rec('p1')])];
        await log.truncate('t', 1, 10);
        const acks = await Promise.all(pending);
        expect(acks.map((a) => a.baseOffset)).toEqual([18, 19]);
        expect(await readAll(log, 't', 1)).toEqual(all.slice(0, 10));
        expect((await log.append('t', 1, [rec('after')])).baseOffset).toBe(10);
      });

      it('committed group offsets are left as they are', async () => {
        const { log } = await seeded();
        await log.commitOffsets('g', [{ topic: 't', partition: 1, offset: 17 }]);
        await log.truncate('t', 1, 4);
        expect(await log.committedOffsets('g', 't')).toEqual([{ topic: 't', partition: 1, offset: 17 }]);
      });

      it('records with keys, null values and headers keep every byte when a batch is cut in the middle', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const records: ProducerRecord[] = Array.from({ length: 9 }, (_, i) => ({
          key: i % 3 === 0 ? null : enc(`key-${i}`),
          value: i % 4 === 0 ? null : pseudoRandomBytes(5 + i * 11, i),
          timestampMs: 5_000 - i * 7,
          headers: i % 2 === 0 ? [{ key: `h${i}`, value: bytes(i, 0, 255) }, { key: `h${i}`, value: new Uint8Array(0) }] : [],
        }));
        await log.append('t', 0, records);
        await log.truncate('t', 0, 6);
        expect(await readAll(log, 't', 0)).toEqual(expectedRun('t', 0, 0, records.slice(0, 6)));
        expect(await log.offsetForTimestamp('t', 0, 4_966)).toBe(0);
      });
    });

    // ---------------------------------------------------------------------------------------------
    describe('close', () => {
      it('every call after close fails with FRESHET_LOG_CLOSED', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        await log.append('t', 0, [rec('x')]);
        await log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 1 }]);
        await log.close();
        const calls: [string, () => Promise<unknown>][] = [
          ['createTopic', () => log.createTopic('u', { partitions: 1 })],
          ['ensureTopic existing', () => log.ensureTopic('t', { partitions: 1 })],
          ['ensureTopic missing', () => log.ensureTopic('u', { partitions: 1 })],
          ['deleteTopic', () => log.deleteTopic('t')],
          ['listTopics', () => log.listTopics()],
          ['describeTopic', () => log.describeTopic('t')],
          ['append', () => log.append('t', 0, [rec('y')])],
          ['produce', () => log.produce('t', [rec('y')])],
          ['read', () => log.read('t', 0, 0)],
          ['earliestOffset', () => log.earliestOffset('t', 0)],
          ['latestOffset', () => log.latestOffset('t', 0)],
          ['offsetForTimestamp', () => log.offsetForTimestamp('t', 0, 0)],
          ['truncate', () => log.truncate('t', 0, 0)],
          ['commitOffsets', () => log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 0 }])],
          ['committedOffsets', () => log.committedOffsets('g')],
        ];
        for (const [label, call] of calls) {
          try {
            await expectCode(call, LOG_CLOSED);
          } catch (e) {
            throw new Error(`${label} after close: ${(e as Error).message}`);
          }
        }
      });

      it('close is idempotent', async () => {
        const log = await open();
        await log.close();
        await log.close();
      });

      it('appends in flight when close is called either complete or fail with a coded error', async () => {
        const log = await open();
        await log.createTopic('t', { partitions: 1 });
        const pending = Array.from({ length: 10 }, (_, i) => log.append('t', 0, [rec(`p${i}`)]));
        const closing = log.close();
        const settled = await Promise.allSettled(pending);
        await closing;
        for (const s of settled) {
          if (s.status === 'rejected') expect(typeof (s.reason as { code?: unknown }).code, String(s.reason)).toBe('string');
        }
        if (factory.reopen) {
          const again = await reopen(log);
          const acked = settled.filter((s) => s.status === 'fulfilled').length;
          expect(await again.latestOffset('t', 0)).toBeGreaterThanOrEqual(acked);
        }
      });
    });

    // ---------------------------------------------------------------------------------------------
    if (factory.reopen) {
      describe('durability across reopen', () => {
        it('topics, configs, records, offsets and group offsets survive a reopen', async () => {
          let log = await open();
          const configA: TopicConfig = { partitions: 3, retentionMs: 3_600_000, segmentBytes: 1024 };
          const configB: TopicConfig = { partitions: 1, retentionBytes: 1_000_000 };
          await log.createTopic('a', configA);
          await log.createTopic('b', configB);
          await log.createTopic('empty', { partitions: 2 });
          const recordsA0: ProducerRecord[] = Array.from({ length: 60 }, (_, i) => ({
            key: i % 4 === 0 ? null : enc(`k${i}`),
            value: i % 9 === 0 ? null : pseudoRandomBytes(10 + ((i * 37) % 90), i),
            timestampMs: 10_000 + ((i * 7919) % 500),
            headers: i % 3 === 0 ? [{ key: 'dup', value: bytes(i) }, { key: 'dup', value: allByteValues() }] : [],
          }));
          for (let i = 0; i < recordsA0.length; i += 7) await log.append('a', 0, recordsA0.slice(i, i + 7));
          const recordsA2 = [{ key: new Uint8Array(0), value: new Uint8Array(0), timestampMs: 0 }];
          await log.append('a', 2, recordsA2);
          const recordsB = recs('b', 5, 77);
          await log.append('b', 0, recordsB);
          await log.commitOffsets('g', [
            { topic: 'a', partition: 0, offset: 17 },
            { topic: 'b', partition: 0, offset: 5 },
          ]);
          await log.commitOffsets('h', [{ topic: 'a', partition: 2, offset: 1 }]);
          const before = {
            topics: [...(await log.listTopics())].sort(),
            a: await log.describeTopic('a'),
            b: await log.describeTopic('b'),
            empty: await log.describeTopic('empty'),
          };

          log = await reopen(log);
          expect([...(await log.listTopics())].sort()).toEqual(before.topics);
          const a = await log.describeTopic('a');
          expect(a.config).toEqual(configA);
          expect((await log.describeTopic('b')).config).toEqual(configB);
          expect((await log.describeTopic('empty')).config).toEqual({ partitions: 2 });
          expect(a.partitions.map((p) => [p.partition, p.earliestOffset, p.latestOffset])).toEqual(
            before.a.partitions.map((p) => [p.partition, p.earliestOffset, p.latestOffset]),
          );
          expect(a.partitions.map((p) => [p.earliestOffset, p.latestOffset])).toEqual([
            [0, 60],
            [0, 0],
            [0, 1],
          ]);
          expect(await readAll(log, 'a', 0)).toEqual(expectedRun('a', 0, 0, recordsA0));
          for (const from of [1, 6, 7, 8, 33, 59]) expect(await readAll(log, 'a', 0, from, { maxRecords: 3 })).toEqual(expectedRun('a', 0, 0, recordsA0).slice(from));
          expect(await readAll(log, 'a', 1)).toEqual([]);
          expect(await readAll(log, 'a', 2)).toEqual(expectedRun('a', 2, 0, recordsA2));
          expect(await readAll(log, 'b', 0)).toEqual(expectedRun('b', 0, 0, recordsB));
          expect(sortOffsets(await log.committedOffsets('g'))).toEqual([
            { topic: 'a', partition: 0, offset: 17 },
            { topic: 'b', partition: 0, offset: 5 },
          ]);
          expect(await log.committedOffsets('h')).toEqual([{ topic: 'a', partition: 2, offset: 1 }]);
          const firstAtOrAfter = (t: number) => recordsA0.findIndex((r) => r.timestampMs! >= t);
          for (const t of [0, 10_000, 10_250, 10_499, 10_500]) {
            const want = firstAtOrAfter(t);
            expect(await log.offsetForTimestamp('a', 0, t)).toBe(want === -1 ? null : want);
          }
        });

        it('appends after a reopen continue at the high watermark, across several reopens', async () => {
          let log = await open();
          await log.createTopic('t', { partitions: 2, segmentBytes: 1024 });
          const all: PlainRecord[] = [];
          for (let round = 0; round < 4; round++) {
            const records = Array.from({ length: 5 + round * 11 }, (_, i) => rec(`round${round}-${i}-${'z'.repeat(i * 5)}`, round * 1000 + i));
            const ack = await log.append('t', 1, records);
            expect(ack.baseOffset).toBe(all.length);
            all.push(...expectedRun('t', 1, ack.baseOffset, records));
            log = await reopen(log);
            expect(await log.latestOffset('t', 1)).toBe(all.length);
            expect(await readAll(log, 't', 1)).toEqual(all);
          }
          expect(await log.latestOffset('t', 0)).toBe(0);
        });

        it('default (append-time) timestamps are stored, not recomputed on reopen', async () => {
          let log = await open();
          await log.createTopic('t', { partitions: 1 });
          await log.append('t', 0, [{ value: enc('x') }]);
          const [before] = await readAll(log, 't', 0);
          factory.clock?.advance(123_456);
          log = await reopen(log);
          expect(await readAll(log, 't', 0)).toEqual([before]);
        });

        it('a reopen right after createTopic keeps the empty topic; ensureTopic then returns it unchanged', async () => {
          let log = await open();
          await log.createTopic('t', { partitions: 4, segmentBytes: 2048 });
          log = await reopen(log);
          const d = await log.ensureTopic('t', { partitions: 1 });
          expect(d.config).toEqual({ partitions: 4, segmentBytes: 2048 });
          expect(d.partitions.map((p) => [p.earliestOffset, p.latestOffset])).toEqual([
            [0, 0],
            [0, 0],
            [0, 0],
            [0, 0],
          ]);
          await expectCode(() => log.createTopic('t', { partitions: 4 }), TOPIC_EXISTS);
        });

        it('a deleted topic stays deleted; a recreated one has only its new records', async () => {
          let log = await open();
          await log.createTopic('gone', { partitions: 1 });
          await log.createTopic('again', { partitions: 2 });
          await log.append('gone', 0, recs('g', 3));
          await log.append('again', 1, recs('old', 4));
          await log.deleteTopic('gone');
          await log.deleteTopic('again');
          await log.createTopic('again', { partitions: 1 });
          await log.append('again', 0, recs('new', 2));
          log = await reopen(log);
          expect([...(await log.listTopics())].sort()).toEqual(['again']);
          await expectCode(() => log.describeTopic('gone'), UNKNOWN_TOPIC);
          expect((await log.describeTopic('again')).config).toEqual({ partitions: 1 });
          expect(await readAll(log, 'again', 0)).toEqual(expectedRun('again', 0, 0, recs('new', 2)));
          await expectCode(() => log.read('again', 1, 0), UNKNOWN_PARTITION);
        });

        it('many small segments: every record survives and reads from any offset work after reopen', async () => {
          let log = await open();
          await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
          const records: ProducerRecord[] = Array.from({ length: 300 }, (_, i) => ({ key: enc(`k${i % 13}`), value: pseudoRandomBytes(20 + (i % 80), i), timestampMs: 1000 + i }));
          for (let i = 0; i < records.length; i += 1 + (i % 4)) await log.append('t', 0, records.slice(i, i + 1 + (i % 4)));
          const want = expectedRun('t', 0, 0, records);
          expect(await readAll(log, 't', 0)).toEqual(want);
          log = await reopen(log);
          expect(await readAll(log, 't', 0)).toEqual(want);
          for (const from of [0, 1, 99, 150, 151, 298, 299, 300]) expect(await readAll(log, 't', 0, from)).toEqual(want.slice(from));
          expect(await log.offsetForTimestamp('t', 0, 1200)).toBe(200);
          const ack = await log.append('t', 0, [rec('tail', 5)]);
          expect(ack.baseOffset).toBe(300);
        });

        it('a truncation survives a reopen, across segments, and appends continue at its end', async () => {
          let log = await open();
          await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
          const records: ProducerRecord[] = Array.from({ length: 200 }, (_, i) => ({ key: enc(`k${i % 7}`), value: pseudoRandomBytes(30 + (i % 50), i), timestampMs: 1000 + i }));
          for (let i = 0; i < records.length; i += 5) await log.append('t', 0, records.slice(i, i + 5));
          const want = expectedRun('t', 0, 0, records);
          await log.truncate('t', 0, 123);
          log = await reopen(log);
          expect(await log.latestOffset('t', 0)).toBe(123);
          expect(await readAll(log, 't', 0)).toEqual(want.slice(0, 123));
          const more = recs('more', 40, 9_000);
          await log.append('t', 0, more);
          log = await reopen(log);
          expect(await readAll(log, 't', 0)).toEqual([...want.slice(0, 123), ...expectedRun('t', 0, 123, more)]);
          await log.truncate('t', 0, 0);
          log = await reopen(log);
          expect(await readAll(log, 't', 0)).toEqual([]);
          expect((await log.append('t', 0, [rec('first')])).baseOffset).toBe(0);
        });

        it('group offsets committed repeatedly keep only the latest value after reopen', async () => {
          let log = await open();
          await log.createTopic('t', { partitions: 2 });
          for (let i = 0; i < 50; i++) await log.commitOffsets('g', [{ topic: 't', partition: i % 2, offset: i }]);
          log = await reopen(log);
          expect(sortOffsets(await log.committedOffsets('g'))).toEqual([
            { topic: 't', partition: 0, offset: 48 },
            { topic: 't', partition: 1, offset: 49 },
          ]);
          await log.commitOffsets('g', [{ topic: 't', partition: 0, offset: 1 }]);
          log = await reopen(log);
          expect(sortOffsets(await log.committedOffsets('g', 't'))).toEqual([
            { topic: 't', partition: 0, offset: 1 },
            { topic: 't', partition: 1, offset: 49 },
          ]);
        });
      });
    }
  });
}
