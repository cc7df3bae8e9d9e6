import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCodes, FreshetError } from '../../src/core/errors.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';
import type { ServerOptions } from '../../src/server/options.js';
import { countRecords, FlakyLog, header, ndjson, readTopic, readValues, text } from './helpers.js';

const NOW_MS = Date.UTC(2024, 4, 1, 12, 0, 0);
const JSON_CT = { 'content-type': 'application/json' };
const NDJSON_CT = { 'content-type': 'application/x-ndjson' };

let server: FreshetServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function start(options: Partial<ServerOptions> & { log?: ServerOptions['log'] } = {}) {
  const log = (options.log as MemoryLog | undefined) ?? new MemoryLog();
  const clock = new ManualClock(NOW_MS);
  server = createServer({ clock, ...options, log });
  return { log, clock, app: server.app };
}

function post(app: FreshetServer['app'], topic: string, payload: string | Buffer, headers: Record<string, string> = NDJSON_CT) {
  return app.inject({ method: 'POST', url: `/v1/topics/${topic}/events`, headers, payload });
}

describe('formats', () => {
  it('stores a single JSON object with its original bytes', async () => {
    const { log, app } = start();
    const body = '{"id": 1,  "spaced":  true}';
    const res = await post(app, 'clicks', body, JSON_CT);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accepted: 1, rejected: [], offsets: [{ index: 0, partition: 0, offset: 0 }] });
    expect(await readValues(log, 'clicks')).toEqual([body]);
  });

  it('stores each element of a JSON array as one event, in order', async () => {
    const { log, app } = start();
    const res = await post(app, 'clicks', JSON.stringify([{ a: 1 }, { a: 2 }, { a: 3 }]), JSON_CT);
    expect(res.statusCode).toBe(200);
    expect(res.json().accepted).toBe(3);
    expect(res.json().offsets).toEqual([0, 1, 2].map((i) => ({ index: i, partition: 0, offset: i })));
    expect((await readValues(log, 'clicks')).map((v) => JSON.parse(v))).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('stores NDJSON lines byte for byte, skipping blank lines and accepting CRLF', async () => {
    const { log, app } = start();
    const lines = ['{"b":2,  "a":1}', '{"x":"é ü 日本"}', '{ "n" : 1.50 }'];
    const res = await post(app, 'clicks', `${lines[0]}\r\n\n${lines[1]}\n   \n${lines[2]}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 3, rejected: [] });
    expect(await readValues(log, 'clicks')).toEqual(lines);
  });

  it('accepts application/ndjson and charset parameters', async () => {
    const { log, app } = start();
    expect((await post(app, 't', '{"a":1}\n', { 'content-type': 'application/ndjson' })).statusCode).toBe(200);
    expect((await post(app, 't', '{"a":2}', { 'content-type': 'application/json; charset=utf-8' })).statusCode).toBe(200);
    expect(await readValues(log, 't')).toEqual(['{"a":1}', '{"a":2}']);
  });

  it('answers an empty NDJSON body and an empty array with nothing accepted', async () => {
    const { log, app } = start();
    expect((await post(app, 't', '\n\n')).json()).toEqual({ accepted: 0, rejected: [], offsets: [] });
    expect((await post(app, 't', '[]', JSON_CT)).json()).toEqual({ accepted: 0, rejected: [], offsets: [] });
    expect(await countRecords(log, 't')).toBe(0);
  });

  it('stamps every record with freshet.ingest.ms', async () => {
    const { log, app, clock } = start();
    clock.set(NOW_MS + 1234);
    await post(app, 't', ndjson([{ a: 1 }, { a: 2 }]));
    const records = await readTopic(log, 't');
    expect(records.map((r) => header(r, 'freshet.ingest.ms'))).toEqual([String(NOW_MS + 1234), String(NOW_MS + 1234)]);
  });

  it('reports offsets that continue across requests', async () => {
    const { app } = start();
    await post(app, 't', ndjson([{ a: 1 }, { a: 2 }]));
    const res = await post(app, 't', ndjson([{ a: 3 }]));
    expect(res.json().offsets).toEqual([{ index: 0, partition: 0, offset: 2 }]);
  });
});

describe('partitioning', () => {
  it('sends the same key to the same partition (Kafka murmur2) and groups one append per partition', async () => {
    const log = new FlakyLog();
    const { app } = start({ log, topics: { orders: { partitions: 4, keyField: 'customer' } } });
    const events = Array.from({ length: 40 }, (_, i) => ({ customer: `c-${i % 7}`, n: i }));
    const res = await post(app, 'orders', ndjson(events));
    expect(res.statusCode).toBe(200);
    const records = await readTopic(log, 'orders');
    expect(records).toHaveLength(40);
    for (const r of records) {
      const event = JSON.parse(text(r.value)!);
      expect(text(r.key)).toBe(event.customer);
      expect(r.partition).toBe(partitionForKey(Buffer.from(event.customer), 4));
    }
    // Order within a partition is request order.
    for (let p = 0; p < 4; p++) {
      const ns = records.filter((r) => r.partition === p).map((r) => JSON.parse(text(r.value)!).n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    const appendsToOrders = log.appends.filter((a) => a.topic === 'orders');
    expect(appendsToOrders.length).toBe(new Set(records.map((r) => r.partition)).size);
    expect(appendsToOrders.reduce((n, a) => n + a.count, 0)).toBe(40);
    // Response offsets point at the records that hold each event.
    for (const o of res.json().offsets as { index: number; partition: number; offset: number }[]) {
      const r = records.find((x) => x.partition === o.partition && x.offset === o.offset)!;
      expect(JSON.parse(text(r.value)!).n).toBe(o.index);
    }
  });

  it('accepts numeric keys and spreads unkeyed events round-robin', async () => {
    const { log, app } = start({ topics: { t: { partitions: 3, keyField: 'k' } } });
    await post(app, 't', ndjson([{ k: 42 }, { other: 1 }, { other: 2 }, { other: 3 }, { k: null }]));
    const records = await readTopic(log, 't');
    const keyed = records.find((r) => text(r.key) === '42')!;
    expect(keyed.partition).toBe(partitionForKey(Buffer.from('42'), 3));
    const unkeyed = records.filter((r) => r.key === null);
    expect(unkeyed).toHaveLength(4);
    expect(new Set(unkeyed.map((r) => r.partition)).size).toBe(3);
  });

  it('dead-letters an event whose key field is not a string or number', async () => {
    const { log, app } = start({ topics: { t: { partitions: 2, keyField: 'k' } } });
    const res = await post(app, 't', ndjson([{ k: { nested: 1 } }, { k: 'ok' }]));
    expect(res.json().rejected).toEqual([{ index: 0, code: 'FRESHET_SCHEMA_VIOLATION', reason: expect.stringContaining('key field k') }]);
    expect(await countRecords(log, 't.dlq')).toBe(1);
  });
});

describe('schemas and the dead-letter topic', () => {
  const orderSchema = z.object({ id: z.string(), total: z.number().nonnegative() });

  it('dead-letters zod schema failures with reason, code, original bytes and headers', async () => {
    const { log, app, clock } = start({ topics: { orders: { partitions: 1, schema: orderSchema } } });
    clock.set(NOW_MS + 5);
    const lines = ['{"id":"a","total":3}', '{"id":7,"total":3}', '{"id":"c",  "total":-1}', '[1,2]', '"text"'];
    const res = await post(app, 'orders', lines.join('\n'));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.accepted).toBe(1);
    expect(body.offsets).toEqual([{ index: 0, partition: 0, offset: 0 }]);
    expect(body.rejected.map((r: { index: number; code: string }) => [r.index, r.code])).toEqual([
      [1, 'FRESHET_SCHEMA_VIOLATION'],
      [2, 'FRESHET_SCHEMA_VIOLATION'],
      [3, 'FRESHET_SCHEMA_VIOLATION'],
      [4, 'FRESHET_SCHEMA_VIOLATION'],
    ]);
    expect(body.rejected[0].reason).toMatch(/^id: /);
    expect(body.rejected[1].reason).toMatch(/^total: /);
    expect(body.rejected[2].reason).toBe('event must be a JSON object');

    expect(await readValues(log, 'orders')).toEqual([lines[0]]);
    const dlq = await readTopic(log, 'orders.dlq');
    expect(dlq.map((r) => text(r.value))).toEqual(lines.slice(1));
    expect(dlq[0]!.key).toBeNull();
    expect(dlq[0]!.timestampMs).toBe(NOW_MS + 5);
    expect(header(dlq[0]!, 'freshet.dlq.reason')).toBe(body.rejected[0].reason);
    expect(header(dlq[0]!, 'freshet.dlq.code')).toBe('FRESHET_SCHEMA_VIOLATION');
    expect(header(dlq[0]!, 'freshet.dlq.stage')).toBe('ingest');
    expect(header(dlq[0]!, 'freshet.dlq.topic')).toBe('orders');
    expect(header(dlq[0]!, 'freshet.dlq.index')).toBe('1');
    expect(dlq.map((r) => header(r, 'freshet.dlq.index'))).toEqual(['1', '2', '3', '4']);
    expect(header(dlq[0]!, 'freshet.ingest.ms')).toBe(String(NOW_MS + 5));
  });

  it('dead-letters JSON Schema failures with ajv reasons (formats included)', async () => {
    const jsonSchema = {
      type: 'object',
      required: ['id', 'at'],
      properties: { id: { type: 'string' }, at: { type: 'string', format: 'date-time' }, email: { type: 'string', format: 'email' } },
      additionalProperties: false,
    };
    const { log, app } = start({ topics: { users: { partitions: 2, jsonSchema } } });
    const events = [
      { id: 'u1', at: '2024-05-01T10:00:00Z' },
      { id: 'u2' },
      { id: 'u3', at: '2024-02-30T10:00:00Z' },
      { id: 'u4', at: '2024-05-01T10:00:00Z', email: 'nope' },
      { id: 5, at: '2024-05-01T10:00:00Z' },
      { id: 'u6', at: '2024-05-01T10:00:00Z', extra: true },
    ];
    const res = await post(app, 'users', JSON.stringify(events), JSON_CT);
    const body = res.json();
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      { index: 1, code: 'FRESHET_SCHEMA_VIOLATION', reason: "event must have required property 'at'" },
      { index: 2, code: 'FRESHET_SCHEMA_VIOLATION', reason: 'event/at must match format "date-time"' },
      { index: 3, code: 'FRESHET_SCHEMA_VIOLATION', reason: 'event/email must match format "email"' },
      { index: 4, code: 'FRESHET_SCHEMA_VIOLATION', reason: 'event/id must be string' },
      { index: 5, code: 'FRESHET_SCHEMA_VIOLATION', reason: "event must NOT have additional properties: 'extra'" },
    ]);
    const dlq = await readTopic(log, 'users.dlq');
    expect(dlq.map((r) => JSON.parse(text(r.value)!))).toEqual(events.slice(1));
    expect(await readValues(log, 'users')).toEqual([JSON.stringify(events[0])]);
  });

  it('awaits asynchronous Standard Schemas', async () => {
    const schema = z.object({ id: z.string() }).refine(async (e) => e.id !== 'banned', 'banned id');
    const { log, app } = start({ topics: { t: { partitions: 1, schema } } });
    const res = await post(app, 't', ndjson([{ id: 'ok' }, { id: 'banned' }]));
    expect(res.json()).toMatchObject({ accepted: 1, rejected: [{ index: 1, reason: 'banned id' }] });
    expect(await readValues(log, 't')).toEqual(['{"id":"ok"}']);
  });

  it('creates the DLQ only when something is rejected', async () => {
    const { log, app } = start({ topics: { t: { partitions: 1, schema: orderSchema } } });
    await post(app, 't', ndjson([{ id: 'a', total: 1 }]));
    expect(await log.listTopics()).toEqual(['t']);
  });
});

describe('event time', () => {
  const options = { topics: { t: { partitions: 1, eventTimeField: 'ts' } } };

  it('takes ISO-8601 strings and epoch ms, and ingest time when the field is missing', async () => {
    const { log, app } = start(options);
    const res = await post(
      app,
      't',
      ndjson([
        { ts: '2024-01-02T03:04:05.678Z' },
        { ts: '2024-01-02T03:04:05+02:00' },
        { ts: '2024-01-02' },
        { ts: 1_700_000_000_123 },
        { ts: 1_700_000_000_123.9 },
        { other: 1 },
        { ts: null },
      ]),
    );
    expect(res.json()).toMatchObject({ accepted: 7, rejected: [] });
    const times = (await readTopic(log, 't')).map((r) => r.timestampMs);
    expect(times).toEqual([
      Date.UTC(2024, 0, 2, 3, 4, 5, 678),
      Date.UTC(2024, 0, 2, 1, 4, 5),
      Date.UTC(2024, 0, 2),
      1_700_000_000_123,
      1_700_000_000_123,
      NOW_MS,
      NOW_MS,
    ]);
  });

  it('dead-letters invalid event times with FRESHET_INVALID_EVENT_TIME', async () => {
    const { log, app } = start(options);
    const bad = [{ ts: 'yesterday' }, { ts: '2024-01-02T03:04:05' }, { ts: '2023-02-29T00:00:00Z' }, { ts: -5 }, { ts: true }, { ts: '1700000000000' }];
    const res = await post(app, 't', ndjson([...bad, { ts: 1 }]));
    const body = res.json();
    expect(body.accepted).toBe(1);
    expect(body.rejected.map((r: { index: number }) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const r of body.rejected) expect(r.code).toBe('FRESHET_INVALID_EVENT_TIME');
    expect(body.rejected[0].reason).toContain('"yesterday"');
    const dlq = await readTopic(log, 't.dlq');
    expect(dlq.map((r) => text(r.value))).toEqual(bad.map((e) => JSON.stringify(e)));
    expect(header(dlq[0]!, 'freshet.dlq.code')).toBe('FRESHET_INVALID_EVENT_TIME');
  });

  it('uses ingest time for all events of a topic without eventTimeField', async () => {
    const { log, app } = start();
    await post(app, 'plain', ndjson([{ ts: 5 }]));
    expect((await readTopic(log, 'plain'))[0]!.timestampMs).toBe(NOW_MS);
  });
});

describe('malformed bodies', () => {
  it('rejects a malformed NDJSON line with 400 and appends nothing, not even valid lines', async () => {
    const { log, app } = start({ topics: { t: { partitions: 1, schema: z.object({ ok: z.literal(true) }) } } });
    const res = await post(app, 't', '{"ok":true}\n{"ok":false}\n{"ok":tru\n{"ok":true}\n');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('FRESHET_MALFORMED_JSON');
    expect(res.json().error.message).toContain('line 3');
    expect(await countRecords(log, 't')).toBe(0);
    expect(await countRecords(log, 't.dlq')).toBe(0);
  });

  it('rejects malformed JSON with 400', async () => {
    const { log, app } = start();
    for (const payload of ['{"a":', '[{"a":1},]', '', 'nope']) {
      const res = await post(app, 't', payload, JSON_CT);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: { code: 'FRESHET_MALFORMED_JSON', message: expect.any(String) } });
    }
    expect(await countRecords(log, 't')).toBe(0);
  });

  it('dead-letters a JSON body that is valid JSON but not an object', async () => {
    const { log, app } = start();
    const res = await post(app, 't', '42', JSON_CT);
    expect(res.json()).toMatchObject({ accepted: 0, rejected: [{ index: 0, code: 'FRESHET_SCHEMA_VIOLATION' }] });
    expect(await readValues(log, 't.dlq')).toEqual(['42']);
  });

  it('answers 415 for other content types and for a missing one', async () => {
    const { app } = start();
    for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/xml' }, {}] as Record<string, string>[]) {
      const res = await post(app, 't', '{"a":1}', headers);
      expect(res.statusCode).toBe(415);
      expect(res.json().error.code).toBe('FRESHET_UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('answers 400 for an invalid topic name', async () => {
    const { app } = start();
    const res = await post(app, 'bad%20name', '{"a":1}', JSON_CT);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('FRESHET_INVALID_ARGUMENT');
  });

  it('answers JSON 404 for unknown routes', async () => {
    const { app } = start();
    const res = await app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBeDefined();
  });
});

describe('limits', () => {
  it('413 FRESHET_PAYLOAD_TOO_LARGE for a body over maxBodyBytes', async () => {
    const { log, app } = start({ limits: { maxBodyBytes: 100, maxEventBytes: 100 } });
    const res = await post(app, 't', ndjson(Array.from({ length: 10 }, (_, i) => ({ i, pad: 'xxxxxxxxxx' }))));
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('FRESHET_PAYLOAD_TOO_LARGE');
    expect(await countRecords(log, 't')).toBe(0);
  });

  it('413 FRESHET_TOO_MANY_EVENTS over maxEventsPerRequest, for NDJSON and arrays', async () => {
    const { log, app } = start({ limits: { maxEventsPerRequest: 3 } });
    const four = [{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }];
    for (const [payload, headers] of [
      [ndjson(four), NDJSON_CT],
      [JSON.stringify(four), JSON_CT],
    ] as const) {
      const res = await post(app, 't', payload, headers);
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('FRESHET_TOO_MANY_EVENTS');
    }
    expect((await post(app, 't', ndjson(four.slice(0, 3)))).statusCode).toBe(200);
    expect(await countRecords(log, 't')).toBe(3);
  });

  it('413 FRESHET_RECORD_TOO_LARGE for one event over maxEventBytes, nothing appended', async () => {
    const { log, app } = start({ limits: { maxEventBytes: 50 } });
    const big = { pad: 'x'.repeat(60) };
    for (const [payload, headers] of [
      [ndjson([{ a: 1 }, big]), NDJSON_CT],
      [JSON.stringify([{ a: 1 }, big]), JSON_CT],
      [JSON.stringify(big), JSON_CT],
    ] as const) {
      const res = await post(app, 't', payload, headers);
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('FRESHET_RECORD_TOO_LARGE');
    }
    expect(await countRecords(log, 't')).toBe(0);
  });

  it('413 FRESHET_RECORD_TOO_LARGE when key + value + headers exceed the log record bound', async () => {
    const { log, app } = start({ topics: { t: { partitions: 1, keyField: 'k' } } });
    const k = 'k'.repeat(600_000);
    const res = await post(app, 't', ndjson([{ a: 1 }, { k }]));
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('FRESHET_RECORD_TOO_LARGE');
    expect(res.json().error.message).toContain('event 1');
    expect(await countRecords(log, 't')).toBe(0);
  });

  it('413 FRESHET_PAYLOAD_TOO_LARGE when one partition batch would exceed the log batch bound', async () => {
    const { log, app } = start();
    // ~16 MB of body in 10,000 events: within the body limit, but headers push the batch over 16 MiB.
    const pad = 'x'.repeat(1655);
    const body = ndjson(Array.from({ length: 10_000 }, (_, i) => ({ i, pad })));
    expect(body.length).toBeLessThan(16 * 1024 * 1024);
    const res = await post(app, 't', body);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('FRESHET_PAYLOAD_TOO_LARGE');
    expect(res.json().error.message).toContain('batch bound');
    expect(await countRecords(log, 't')).toBe(0);
  });

  it('rejects limits that contradict each other or the log', () => {
    const log = new MemoryLog();
    expect(() => createServer({ log, limits: { maxBodyBytes: 10, maxEventBytes: 20 } })).toThrow(/maxEventBytes/);
    expect(() => createServer({ log, limits: { maxEventBytes: 2 ** 20 } })).toThrow(/FRESHET_INVALID_CONFIG|maxEventBytes/);
    expect(() => createServer({ log, limits: { maxEventsPerRequest: 1_000_000 } })).toThrow(/maxEventsPerRequest/);
  });
});

describe('backpressure and log failures', () => {
  it('503 with Retry-After when the log is busy, and nothing is appended', async () => {
    const log = new FlakyLog();
    const { app } = start({ log, retryAfterSeconds: 3 });
    log.busy();
    const res = await post(app, 't', ndjson([{ a: 1 }]));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('3');
    expect(res.json()).toEqual({ error: { code: 'FRESHET_LOG_BUSY', message: 'append queue full' } });
    expect(await countRecords(log, 't')).toBe(0);
    log.failWith = null;
    expect((await post(app, 't', ndjson([{ a: 1 }]))).statusCode).toBe(200);
    expect(await countRecords(log, 't')).toBe(1);
  });

  it('503 when only the DLQ append is busy', async () => {
    const log = new FlakyLog();
    const { app } = start({ log, topics: { t: { partitions: 1, schema: z.object({ a: z.number() }) } } });
    await log.createTopic('t.dlq', { partitions: 1 });
    log.busy();
    log.failPartition = 0;
    const res = await post(app, 't', ndjson([{ a: 'x' }]));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
  });

  it('readyz turns 503 after a write failure and back after a successful append', async () => {
    const log = new FlakyLog();
    const { app } = start({ log });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    log.failWith = new FreshetError(ErrorCodes.LOG_WRITE_FAILED, 'ENOSPC');
    expect((await post(app, 't', ndjson([{ a: 1 }]))).statusCode).toBe(503);
    const notReady = await app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().error.code).toBe('FRESHET_LOG_WRITE_FAILED');
    log.failWith = null;
    expect((await post(app, 't', ndjson([{ a: 1 }]))).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('maps an unexpected error to a JSON 500 and keeps serving', async () => {
    const log = new FlakyLog();
    const { app } = start({ log });
    log.failWith = new TypeError('boom') as unknown as FreshetError;
    const res = await post(app, 't', ndjson([{ a: 1 }]));
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'FRESHET_INTERNAL', message: 'internal error' } });
    log.failWith = null;
    expect((await post(app, 't', ndjson([{ a: 1 }]))).statusCode).toBe(200);
  });
});

describe('health', () => {
  it('healthz is always 200; readyz is 503 once the log is closed', async () => {
    const { log, app } = start({ auth: { bearerToken: 'secret-token' } });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
    await log.close();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('FRESHET_LOG_CLOSED');
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('auth', () => {
  it('401 FRESHET_UNAUTHORIZED without or with a wrong token; 200 with the right one', async () => {
    const { log, app } = start({ auth: { bearerToken: 's3cret-token' } });
    for (const authorization of [undefined, 'Bearer wrong', 'Basic czNjcmV0LXRva2Vu', 'Bearer s3cret-token-longer', 'Bearer']) {
      const res = await post(app, 't', ndjson([{ a: 1 }]), { ...NDJSON_CT, ...(authorization ? { authorization } : {}) });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('FRESHET_UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    expect(await countRecords(log, 't')).toBe(0);
    const ok = await post(app, 't', ndjson([{ a: 1 }]), { ...NDJSON_CT, authorization: 'Bearer s3cret-token' });
    expect(ok.statusCode).toBe(200);
    expect(await countRecords(log, 't')).toBe(1);
  });
});

describe('topics', () => {
  it('404 FRESHET_UNKNOWN_TOPIC for an unknown topic when autoCreateTopics is false', async () => {
    const { log, app } = start({ autoCreateTopics: false, topics: { known: { partitions: 2 } } });
    const res = await post(app, 'unknown', ndjson([{ a: 1 }]));
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('FRESHET_UNKNOWN_TOPIC');
    expect(await log.listTopics()).toEqual(['known']); // configured topics are created at startup
    expect((await post(app, 'known', ndjson([{ a: 1 }]))).statusCode).toBe(200);
    // A topic that exists in the log is known even when not configured.
    await log.createTopic('existing', { partitions: 1 });
    expect((await post(app, 'existing', ndjson([{ a: 1 }]))).statusCode).toBe(200);
  });

  it('auto-creates unknown topics with defaultPartitions', async () => {
    const { log, app } = start({ defaultPartitions: 3 });
    await post(app, 'fresh', ndjson([{ a: 1 }]));
    expect((await log.describeTopic('fresh')).partitions).toHaveLength(3);
  });

  it('keeps an existing topic’s partition count over the configured one', async () => {
    const log = new MemoryLog();
    await log.createTopic('t', { partitions: 2 });
    const { app } = start({ log, topics: { t: { partitions: 8, keyField: 'k' } } });
    const res = await post(app, 't', ndjson(Array.from({ length: 20 }, (_, i) => ({ k: `k${i}` }))));
    expect(res.statusCode).toBe(200);
    for (const o of res.json().offsets) expect(o.partition).toBeLessThan(2);
  });

  it('validates options with coded errors', () => {
    const log = new MemoryLog();
    const bad = (o: Partial<ServerOptions>) => () => createServer({ log, ...o });
    expect(bad({ topics: { 'bad name': { partitions: 1 } } })).toThrow(FreshetError);
    expect(bad({ topics: { t: { partitions: 0 } } })).toThrow(/partitions/);
    expect(bad({ topics: { t: { partitions: 1, schema: z.object({}), jsonSchema: {} } } })).toThrow(/either schema or jsonSchema/);
    expect(bad({ topics: { t: { partitions: 1, jsonSchema: { type: 'object', propertiez: {} } } } })).toThrow(/not a valid JSON Schema/);
    expect(bad({ topics: { t: { partitions: 1, schema: {} as never } } })).toThrow(/Standard Schema/);
    expect(bad({ auth: { bearerToken: '' } })).toThrow(/bearerToken/);
    try {
      createServer({ log, topics: { t: { partitions: 1, jsonSchema: { type: 'object', additionalProperties: false, properties: {} }, eventTimeField: 'ts' } } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(FreshetError);
      expect((error as FreshetError).code).toBe('FRESHET_INVALID_CONFIG');
      expect((error as FreshetError).message).toContain('topics.t.eventTimeField');
    }
  });
});
