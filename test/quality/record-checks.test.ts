import { unpack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCodes, FreshetError } from '../../src/core/errors.js';
import { FreshetHeaders } from '../../src/core/headers.js';
import { checks } from '../../src/quality/checks.js';
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

/** Raw JSON records with odd spacing, so "original bytes" cannot be confused with a re-encoding. */
function raw(...texts: string[]) {
  return texts.map((t, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(t), timestampMs: 5_000 + i }));
}

describe('validity checks dead-letter failing records with the original bytes and the reason headers', () => {
  it('schema (JSON Schema): the DLQ record is byte-identical to the input, with reason, code, check, stage, topic, partition, offset', async () => {
    const d = await driver({
      check: checks.schema({ type: 'object', required: ['id'], properties: { id: { type: 'string' } } }),
      name: 'orders-schema',
      origins: true,
      partitions: 2,
    });
    await d.sendRecords(raw('{ "id" : "a" }', '{"id": 7}', '{  "x":1}'), 1);
    expect(d.passed()).toEqual([{ id: 'a' }]);
    const letters = await d.deadLetters();
    expect(letters.map((l) => text(l.value))).toEqual(['{"id": 7}', '{  "x":1}']);
    expect(letters.map((l) => text(l.key))).toEqual(['k1', 'k2']);
    expect(letters.map((l) => l.timestampMs)).toEqual([5_001, 5_002]);
    expect(letters[0]!.headers).toEqual({
      [FreshetHeaders.DLQ_REASON]: 'event/id must be string',
      [FreshetHeaders.DLQ_CODE]: ErrorCodes.SCHEMA_VIOLATION,
      [FreshetHeaders.DLQ_STAGE]: 'source-events',
      [FreshetHeaders.DLQ_TOPIC]: 'events',
      [FreshetHeaders.DLQ_PARTITION]: '1',
      [FreshetHeaders.DLQ_OFFSET]: '1',
      [FreshetHeaders.DLQ_CHECK]: 'orders-schema',
      [FreshetHeaders.DLQ_PAYLOAD]: 'original',
    });
    expect(letters[1]!.reason).toBe("event must have required property 'id'");
    expect(letters[1]!.offset).toBe(2);
    expect(d.outcomes()).toEqual({ passed: 1, dead_lettered: 2 });
    expect(d.metrics.every((m) => m.check === 'orders-schema' && m.stage === 'source-events')).toBe(true);
  });

  it('schema (Standard Schema, zod) without origins: the value is re-encoded as JSON and marked so', async () => {
    const d = await driver({ check: checks.schema(z.object({ id: z.string(), n: z.number().int() })), name: 'zod-check' });
    await d.send([{ id: 'ok', n: 1 }, { id: 'bad', n: 1.5 }]);
    expect(d.passed()).toEqual([{ id: 'ok', n: 1 }]);
    const [letter, ...rest] = await d.deadLetters();
    expect(rest).toEqual([]);
    expect(text(letter!.value)).toBe('{"id":"bad","n":1.5}');
    expect(letter!.payload).toBe('json');
    expect(letter!.code).toBe(ErrorCodes.SCHEMA_VIOLATION);
    expect(letter!.reason).toMatch(/^n: /);
    expect(letter!.topic).toBe('events');
    expect(letter!.partition).toBeUndefined();
    expect(letter!.offset).toBeUndefined();
  });

  it('notNull: missing, null and nested fields', async () => {
    const d = await driver({ check: checks.notNull('id', 'customer.id'), name: 'ids', origins: true });
    await d.send([{ id: 1, customer: { id: 2 } }, { id: null, customer: { id: 2 } }, { id: 1 }, { id: 0, customer: { id: '' } }, { id: 1, customer: null }]);
    expect(d.passed()).toEqual([{ id: 1, customer: { id: 2 } }, { id: 0, customer: { id: '' } }]);
    const letters = await d.deadLetters();
    expect(letters.map((l) => [l.offset, l.reason, l.code])).toEqual([
      [1, 'id is missing or null', ErrorCodes.QUALITY_CHECK_FAILED],
      [2, 'customer.id is missing or null', ErrorCodes.QUALITY_CHECK_FAILED],
      [4, 'customer.id is missing or null', ErrorCodes.QUALITY_CHECK_FAILED],
    ]);
    expect(letters.map((l) => JSON.parse(text(l.value)!))).toEqual([{ id: null, customer: { id: 2 } }, { id: 1 }, { id: 1, customer: null }]);
  });

  it('range: inclusive and exclusive bounds, non-numbers', async () => {
    const d = await driver({ check: checks.range('p', { min: 0, max: 1, maxInclusive: false }), name: 'share', origins: true });
    const values = [0, 0.5, 1, -0.001, 0.999, '0.5', null, Number.NaN];
    await d.send(values.map((p) => ({ p })));
    expect(d.passed<{ p: number }>().map((v) => v.p)).toEqual([0, 0.5, 0.999]);
    const letters = await d.deadLetters();
    // NaN is written as null by JSON: a missing number, as the reason says.
    expect(letters.map((l) => [text(l.value), l.reason])).toEqual([
      ['{"p":1}', 'p is outside [0, 1)'],
      ['{"p":-0.001}', 'p is outside [0, 1)'],
      ['{"p":"0.5"}', 'p is not a number'],
      ['{"p":null}', 'p is not a number'],
      ['{"p":null}', 'p is not a number'],
    ]);
    const exclusiveMin = await driver({ check: checks.range('p', { min: 0, minInclusive: false }) });
    await exclusiveMin.send([{ p: 0 }, { p: 1e-9 }, { p: 1e300 }]);
    expect(exclusiveMin.passed<{ p: number }>().map((v) => v.p)).toEqual([1e-9, 1e300]);
    expect((await exclusiveMin.deadLetters()).map((l) => l.reason)).toEqual(['p is outside (0, ∞)']);
  });

  it('oneOf: scalars compared exactly (1 is not "1"; null only when listed)', async () => {
    const d = await driver({ check: checks.oneOf('s', ['a', 1, null]), origins: true });
    await d.send([{ s: 'a' }, { s: 1 }, { s: null }, { s: '1' }, {}, { s: 'A' }, { s: true }]);
    expect(d.passed()).toEqual([{ s: 'a' }, { s: 1 }, { s: null }]);
    const letters = await d.deadLetters();
    expect(letters.map((l) => text(l.value))).toEqual(['{"s":"1"}', '{}', '{"s":"A"}', '{"s":true}']);
    expect(new Set(letters.map((l) => l.reason))).toEqual(new Set(['s is not one of ["a",1,null]']));
  });

  it('pattern: compiled once; g/y flags dropped so results do not depend on the previous record', async () => {
    const d = await driver({ check: checks.pattern('sku', /^[A-Z]{3}-\d{2}$/gi), origins: true });
    await d.send([{ sku: 'ABC-12' }, { sku: 'abc-12' }, { sku: 'ABC-12' }, { sku: 'ABC-123' }, { sku: 12 }]);
    expect(d.passed()).toEqual([{ sku: 'ABC-12' }, { sku: 'abc-12' }, { sku: 'ABC-12' }]);
    expect((await d.deadLetters()).map((l) => l.reason)).toEqual(['sku does not match /^[A-Z]{3}-\\d{2}$/i', 'sku is not a string']);
  });

  it('predicate: false or a throw dead-letters the record', async () => {
    const d = await driver({ check: checks.predicate((o: { paid: number; total: number }) => o.paid <= o.total, 'paid exceeds total'), origins: true });
    await d.send([{ paid: 1, total: 2 }, { paid: 3, total: 2 }]);
    await d.sendRecords([{ value: Buffer.from('null'), timestampMs: 1 }]);
    expect(d.passed()).toEqual([{ paid: 1, total: 2 }]);
    const reasons = (await d.deadLetters()).map((l) => l.reason);
    expect(reasons[0]).toBe('paid exceeds total');
    expect(reasons[1]).toMatch(/^paid exceeds total \(the predicate threw: /);
  });
});

describe('uniqueness', () => {
  it('duplicates within the horizon go to the DLQ; after it (by event time or watermark) the id is new again', async () => {
    const d = await driver({ check: checks.unique('id', { horizonMs: 1_000 }), name: 'dedup', eventTimeField: 'ts', origins: true });
    await d.send([
      { id: 'a', ts: 10_000 },
      { id: 'a', ts: 10_500 }, // duplicate
      { id: 'b', ts: 10_600 },
      { id: 'a', ts: 11_000 }, // duplicate: exactly the horizon
      { id: 'a', ts: 11_001 }, // new: 1,001 ms after the kept one
      { id: 'a', ts: 9_999 }, // out of order: 1,002 ms before the newest kept (11,001), so kept; 11,001 stays the reference
    ]);
    expect(d.passed<{ ts: number }>().map((v) => v.ts)).toEqual([10_000, 10_600, 11_001, 9_999]);
    const letters = await d.deadLetters();
    expect(letters.map((l) => [l.offset, l.reason, l.check])).toEqual([
      [1, 'duplicate id within 1000 ms', 'dedup'],
      [3, 'duplicate id within 1000 ms', 'dedup'],
    ]);
    // State: a (11,001) and b (10,600). The watermark (now 11,001) expires b only once it passes 10,600 + 1,000.
    expect(d.operator.dedupState!.size).toBe(2);
    await d.send([{ id: 'z', ts: 11_700 }]);
    expect(d.operator.dedupState!.size).toBe(2); // b expired at watermark 11,700, z added
    await d.send([{ id: 'b', ts: 11_650 }]);
    expect(d.passed<{ id: string }>().map((v) => v.id).slice(-1)).toEqual(['b']);
  });

  it('the state is bounded: beyond maxKeys the oldest ids are evicted and counted', async () => {
    const d = await driver({ check: checks.unique('id', { horizonMs: 1_000_000, maxKeys: 3 }), eventTimeField: 'ts' });
    await d.send([1, 2, 3, 4, 5].map((id) => ({ id, ts: id })));
    expect(d.operator.dedupState!.size).toBe(3);
    expect(d.outcomes()).toEqual({ passed: 5, evicted: 2 });
    // 1 and 2 were evicted: seen as new; 5 is still known.
    await d.send([{ id: 1, ts: 6 }, { id: 5, ts: 7 }]);
    expect(d.passed<{ id: number }>().map((v) => v.id)).toEqual([1, 2, 3, 4, 5, 1]);
    expect((await d.deadLetters()).map((l) => JSON.parse(text(l.value)!))).toEqual([{ id: 5, ts: 7 }]);
  });

  it('an id function; a missing id is a failure of its own', async () => {
    const d = await driver({ check: checks.unique((v: { a: string; b: number }) => `${v.a}/${v.b}`, { horizonMs: 60_000 }) });
    await d.send([{ a: 'x', b: 1 }, { a: 'x', b: 2 }, { a: 'x', b: 1 }]);
    expect(d.passed()).toHaveLength(2);
    const path = await driver({ check: checks.unique('id', { horizonMs: 60_000 }) });
    await path.send([{ id: { nested: true } }, {}]);
    expect((await path.deadLetters()).map((l) => l.reason)).toEqual(['id is missing or not a string or number', 'id is missing or not a string or number']);
  });
});

describe('freshness', () => {
  it('behind the watermark: judged against the watermark when the batch arrives', async () => {
    const d = await driver({ check: checks.freshness({ maxBehindWatermarkMs: 1_000 }), eventTimeField: 'ts', origins: true });
    await d.send([{ ts: 10_000 }]); // watermark becomes 10,000 after this round
    await d.send([{ ts: 9_000 }, { ts: 8_999 }, { ts: 20_000 }]);
    expect(d.passed<{ ts: number }>().map((v) => v.ts)).toEqual([10_000, 9_000, 20_000]);
    const [letter] = await d.deadLetters();
    expect([text(letter!.value), letter!.reason]).toEqual(['{"ts":8999}', 'event time is more than 1000 ms behind the watermark']);
  });

  it('behind the wall clock (the injected clock)', async () => {
    const d = await driver({ check: checks.freshness({ maxBehindWallClockMs: 60_000 }), eventTimeField: 'ts', startMs: 1_000_000 });
    await d.send([{ ts: 940_000 }, { ts: 939_999 }]);
    d.clock.advance(1);
    await d.send([{ ts: 940_000 }]);
    expect(d.passed<{ ts: number }>().map((v) => v.ts)).toEqual([940_000]);
    expect((await d.deadLetters()).map((l) => l.reason)).toEqual([
      'event time is more than 60000 ms behind the wall clock',
      'event time is more than 60000 ms behind the wall clock',
    ]);
  });
});

describe('actions', () => {
  it('warn: the record flows on, only the metric says it failed; nothing is dead-lettered', async () => {
    const d = await driver({ check: checks.range('x', { max: 10 }), action: 'warn', name: 'x-max' });
    await d.send([{ x: 1 }, { x: 11 }, { x: 12 }]);
    expect(d.passed()).toEqual([{ x: 1 }, { x: 11 }, { x: 12 }]);
    expect(d.outcomes()).toEqual({ passed: 1, warned: 2 });
    expect(await d.log.listTopics()).toEqual(['events']);
  });

  it('fail: the pipeline stops with FRESHET_QUALITY_CHECK_FAILED naming the check, the stage and the record', async () => {
    const d = await driver({ check: checks.notNull('id'), action: 'fail', name: 'must-have-id', origins: true });
    const error = await d.send([{ id: 1 }, { id: 2 }, {}, { id: 3 }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FreshetError);
    expect((error as FreshetError).code).toBe(ErrorCodes.QUALITY_CHECK_FAILED);
    expect((error as FreshetError).message).toBe("quality check 'must-have-id' failed at stage 'source-events' (events/0@2): id is missing or null");
    expect((error as FreshetError).details).toMatchObject({ check: 'must-have-id', stage: 'source-events', topic: 'events', partition: 0, offset: 2 });
    expect(d.outcomes()).toEqual({ passed: 2, failed: 1 });
  });

  it('a check with no single source topic dead-letters to <pipeline>.<check>.dlq without a replay topic', async () => {
    const d = await driver({ check: checks.notNull('id'), name: 'after join', sourceTopic: null });
    await d.send([{}]);
    expect(await d.deadLetters()).toEqual([]);
    const [letter] = await d.deadLetters('test-pipeline.after_join.dlq');
    expect(letter!.topic).toBeUndefined();
    expect(letter!.check).toBe('after join');
    expect(text(letter!.value)).toBe('{}');
  });

  it('msgpack sources: re-encoded dead letters are msgpack', async () => {
    const { pack } = await import('msgpackr');
    const d = await driver({ check: checks.range('n', { min: 0 }), format: 'msgpack' });
    await d.sendRecords([{ value: pack({ n: -1 }) }, { value: pack({ n: 1 }) }]);
    const [letter] = await d.deadLetters();
    expect(letter!.payload).toBe('msgpack');
    expect(unpack(letter!.value!)).toEqual({ n: -1 });
  });

  it('an asynchronous Standard Schema is refused with a clear error', async () => {
    const asyncSchema = z.object({ id: z.string() }).refine(async () => true);
    const d = await driver({ check: checks.schema(asyncSchema), name: 'async' });
    const error = await d.send([{ id: 'x' }]).catch((e: unknown) => e);
    expect((error as FreshetError).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect((error as FreshetError).message).toMatch(/quality check 'async'.*synchronous/);
  });
});

describe('the operator forwards untouched batches as they are', () => {
  it('a batch where every record passes is the same batch object downstream', async () => {
    const d = await driver({ check: checks.notNull('id') });
    const seen: unknown[] = [];
    d.operator.outputs.push({ operator: { name: 'spy', outputs: [], push: (b) => seen.push(b), watermark: () => {} }, input: 0 });
    const batch = { values: [{ id: 1 }, { id: 2 }], timestamps: [1, 2], keys: null };
    d.operator.push(batch);
    expect(seen[0]).toBe(batch);
    d.operator.push({ values: [{ id: 1 }, {}, { id: 3 }], timestamps: [1, 2, 3], keys: ['a', 'b', 'c'] });
    expect(seen[1]).toEqual({ values: [{ id: 1 }, { id: 3 }], timestamps: [1, 3], keys: ['a', 'c'] });
  });
});
