import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, FreshetError } from '../../src/core/errors.js';
import { FreshetHeaders } from '../../src/core/headers.js';
import { checks } from '../../src/quality/checks.js';
import { listDeadLetterTopics, readDeadLetters, resolveDeadLetterTopic } from '../../src/quality/dlq-tools.js';
import { OffsetRanges, REPLAY_GROUP, replayDeadLetters, replayLedgerTopic, replayProgress } from '../../src/quality/replay.js';
import { QualityDriver, text } from './quality-harness.js';

const drivers: QualityDriver[] = [];
async function driver(options: Parameters<typeof QualityDriver.create>[0]): Promise<QualityDriver> {
  const d = await QualityDriver.create(options);
  drivers.push(d);
  return d;
}
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

async function topicRecords(d: QualityDriver, topic: string, partition = 0) {
  const { batches } = await d.log.read(topic, partition, 0);
  return batches.flatMap((b) => Array.from({ length: b.count }, (_, i) => b.recordAt(i)));
}

describe('replay', () => {
  it('re-submits dead letters to their original topic and partition, with their key and bytes, once', async () => {
    const d = await driver({ check: checks.range('amount', { min: 0 }), name: 'amount-min', origins: true, partitions: 2 });
    await d.sendRecords([{ key: Buffer.from('k1'), value: Buffer.from('{"amount": -1}'), timestampMs: 42 }, { value: Buffer.from('{"amount":1}') }], 1);
    const before = (await topicRecords(d, 'events', 1)).length;
    const result = await replayDeadLetters(d.log, 'events.dlq');
    expect(result).toMatchObject({ examined: 1, replayed: 1, dropped: 0, skipped: 0, noTarget: 0, byTopic: { events: 1 }, pending: 0 });
    const records = await topicRecords(d, 'events', 1);
    expect(records).toHaveLength(before + 1);
    const replayed = records.at(-1)!;
    expect([text(replayed.key), text(replayed.value), replayed.timestampMs]).toEqual(['k1', '{"amount": -1}', 42]);
    expect(replayed.headers.map((h) => [h.key, text(h.value)])).toEqual([[FreshetHeaders.REPLAY_OF, 'events.dlq/0/0']]);
    expect(await d.log.committedOffsets(REPLAY_GROUP, 'events.dlq')).toEqual([{ topic: 'events.dlq', partition: 0, offset: 1 }]);
    // Not twice.
    expect(await replayDeadLetters(d.log, 'events.dlq')).toMatchObject({ examined: 0, replayed: 0, pending: 0 });
    // The replayed record runs through the check again: still failing, it is dead-lettered again (a new, pending letter).
    await d.process();
    const letters = await readDeadLetters(d.log, 'events.dlq');
    expect(letters.map((l) => [l.dlqOffset, l.partition, l.offset])).toEqual([
      [0, 1, 0],
      [1, 1, 2],
    ]);
    expect((await replayProgress(d.log, 'events.dlq')).pending).toBe(1);
  });

  it('a fix repairs values (they then pass the check) or drops them (null); both count as handled', async () => {
    const d = await driver({ check: checks.range('amount', { min: 0 }), name: 'amount-min', origins: true });
    await d.send([{ id: 1, amount: -5 }, { id: 2, amount: 3 }, { id: 3, amount: -7 }, { id: 4, amount: -1 }]);
    const result = await replayDeadLetters(d.log, 'events.dlq', {
      fix: (v) => {
        const o = v as { id: number; amount: number };
        return o.id === 4 ? null : { ...o, amount: -o.amount };
      },
    });
    expect(result).toMatchObject({ examined: 3, replayed: 2, dropped: 1, pending: 0 });
    await d.process();
    expect(d.passed()).toEqual([
      { id: 2, amount: 3 },
      { id: 1, amount: 5 },
      { id: 3, amount: 7 },
    ]);
    expect(await readDeadLetters(d.log, 'events.dlq')).toHaveLength(3);
  });

  it('--only-reason replays some; the others stay pending and a later replay takes only those (the ledger)', async () => {
    const d = await driver({ check: checks.notNull('a', 'b'), origins: true });
    await d.send([{ b: 1 }, { a: 1 }, { b: 2 }, { a: 2 }, { b: 3 }]);
    // Reasons: a, b, a, b, a missing.
    const first = await replayDeadLetters(d.log, 'events.dlq', { onlyReason: 'B IS MISSING' });
    expect(first).toMatchObject({ examined: 5, replayed: 2, skipped: 3, pending: 3 });
    // Offset 0 is still pending, so the group stays at 0 and the ledger lists 1 and 3.
    expect(await d.log.committedOffsets(REPLAY_GROUP, 'events.dlq')).toEqual([]);
    expect((await topicRecords(d, replayLedgerTopic('events.dlq'))).map((r) => JSON.parse(text(r.value)!))).toEqual([
      { partition: 0, ranges: [[1, 2], [3, 4]] },
    ]);
    const second = await replayDeadLetters(d.log, 'events.dlq');
    expect(second).toMatchObject({ examined: 3, replayed: 3, pending: 0 });
    const replayedOf = (await topicRecords(d, 'events')).slice(5).map((r) => text(r.headers[0]!.value));
    expect(replayedOf).toEqual(['events.dlq/0/1', 'events.dlq/0/3', 'events.dlq/0/0', 'events.dlq/0/2', 'events.dlq/0/4']);
    expect(await d.log.committedOffsets(REPLAY_GROUP, 'events.dlq')).toEqual([{ topic: 'events.dlq', partition: 0, offset: 5 }]);
    expect(await replayDeadLetters(d.log, 'events.dlq')).toMatchObject({ examined: 0, replayed: 0 });
  });

  it('a fix that throws stops the replay with a coded error; what came before it is recorded', async () => {
    const d = await driver({ check: checks.notNull('ok'), origins: true });
    await d.send([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const error = await replayDeadLetters(d.log, 'events.dlq', {
      fix: (v) => {
        if ((v as { n: number }).n === 2) throw new Error('cannot repair 2');
        return { ...(v as object), ok: true };
      },
    }).catch((e: unknown) => e);
    expect((error as FreshetError).code).toBe(ErrorCodes.DLQ_REPLAY_FAILED);
    expect((error as FreshetError).message).toBe('dead letter events.dlq/0/1: the fix threw: cannot repair 2');
    expect(await d.log.committedOffsets(REPLAY_GROUP, 'events.dlq')).toEqual([{ topic: 'events.dlq', partition: 0, offset: 1 }]);
    const rest = await replayDeadLetters(d.log, 'events.dlq', { fix: (v) => ({ ...(v as object), ok: true }) });
    expect(rest).toMatchObject({ replayed: 2, pending: 0 });
    await d.process();
    expect(d.passed<{ n: number }>().map((v) => v.n)).toEqual([1, 2, 3]);
  });

  it('dead letters with no topic to go back to stay pending unless --to names one; dry runs write nothing', async () => {
    const d = await driver({ check: checks.notNull('id'), name: 'joined', sourceTopic: null });
    await d.send([{}, {}]);
    const dlq = 'test-pipeline.joined.dlq';
    expect(await replayDeadLetters(d.log, dlq)).toMatchObject({ replayed: 0, noTarget: 2, pending: 2 });
    const dry = await replayDeadLetters(d.log, dlq, { to: 'events', dryRun: true });
    expect(dry).toMatchObject({ replayed: 2, pending: 0, dryRun: true });
    expect(await d.log.committedOffsets(REPLAY_GROUP, dlq)).toEqual([]);
    expect((await topicRecords(d, 'events')).length).toBe(2);
    await expect(replayDeadLetters(d.log, dlq, { to: 'nope' })).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_TOPIC });
    expect(await replayDeadLetters(d.log, dlq, { to: 'events' })).toMatchObject({ replayed: 2, pending: 0 });
    expect((await topicRecords(d, 'events')).length).toBe(4);
  });

  it('list and resolve: counts, pending, top reasons by frequency', async () => {
    const d = await driver({ check: checks.notNull('a', 'b'), name: 'ab', origins: true });
    await d.send([{ b: 1 }, { a: 1 }, { b: 2 }]);
    expect(await resolveDeadLetterTopic(d.log, 'events')).toBe('events.dlq');
    expect(await resolveDeadLetterTopic(d.log, 'events.dlq')).toBe('events.dlq');
    await expect(resolveDeadLetterTopic(d.log, 'other')).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_TOPIC });
    // A topic of its own name only when it holds dead letters (e.g. `produce --dlq bad-lines`).
    await d.log.createTopic('bad-lines', { partitions: 1 });
    await d.log.produce('bad-lines', [{ value: Buffer.from('x'), headers: [{ key: FreshetHeaders.DLQ_REASON, value: Buffer.from('r') }] }]);
    expect(await resolveDeadLetterTopic(d.log, 'bad-lines')).toBe('bad-lines');
    await d.log.createTopic('plain', { partitions: 1 });
    await d.log.produce('plain', [{ value: Buffer.from('x') }]);
    await expect(resolveDeadLetterTopic(d.log, 'plain')).rejects.toThrow("no dead-letter topic 'plain.dlq' ('plain' holds no dead letters)");
    await replayDeadLetters(d.log, 'events.dlq', { onlyReason: 'b is' });
    const [summary, ...rest] = await listDeadLetterTopics(d.log);
    expect(rest).toEqual([]);
    expect(summary).toEqual({
      topic: 'events.dlq',
      records: 3,
      pending: 2,
      topReasons: [
        { reason: 'a is missing or null', count: 2 },
        { reason: 'b is missing or null', count: 1 },
      ],
      bySource: [{ name: 'ab', count: 3 }],
      scanned: 3,
    });
  });
});

describe('OffsetRanges vs a Set', () => {
  it('has, firstMissingFrom and countWithin agree with a plain set of offsets', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 6 }))), fc.integer({ min: 0, max: 210 }), fc.integer({ min: 0, max: 210 }), (adds, from, to) => {
        const ranges = new OffsetRanges();
        const set = new Set<number>();
        for (const [a, len] of adds) {
          ranges.addRange(a, a + len);
          for (let o = a; o < a + len; o++) set.add(o);
        }
        for (let o = 0; o < 212; o++) expect(ranges.has(o)).toBe(set.has(o));
        let missing = from;
        while (set.has(missing)) missing++;
        expect(ranges.firstMissingFrom(from)).toBe(missing);
        expect(ranges.countWithin(from, to)).toBe([...set].filter((o) => o >= from && o < to).length);
        // Canonical form: sorted, disjoint, not touching.
        const rs = ranges.ranges;
        for (let i = 1; i < rs.length; i++) expect(rs[i]![0]).toBeGreaterThan(rs[i - 1]![1]);
      }),
      { numRuns: 150 },
    );
  });
});
