import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FreshetError } from '../../src/core/errors.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { loadServerConfig, parseServerConfig, serverOptionsFromConfig } from '../../src/server/config.js';
import { createServer } from '../../src/server/server.js';
import { readValues } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freshet-config-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** The FreshetError thrown by `fn` (fails the test if none). */
async function codedError(fn: () => unknown): Promise<FreshetError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FreshetError);
    return error as FreshetError;
  }
  throw new Error('expected an error');
}

const orders = {
  partitions: 4,
  keyField: 'customerId',
  eventTimeField: 'ts',
  jsonSchema: {
    type: 'object',
    required: ['customerId', 'total'],
    properties: { customerId: { type: 'string' }, total: { type: 'number' }, ts: { type: 'string', format: 'date-time' } },
  },
};

describe('loadServerConfig', () => {
  it('loads a config file whose JSON Schemas drive ingest', async () => {
    const file = write('ok.json', {
      host: '0.0.0.0',
      port: 8080,
      autoCreateTopics: false,
      auth: { bearerTokenEnv: 'TEST_FRESHET_TOKEN' },
      limits: { maxEventsPerRequest: 500 },
      topics: { orders },
      log: { dataDir: './data', anything: 'owned by another subsystem' },
    });
    const config = await loadServerConfig(file, { TEST_FRESHET_TOKEN: 'abc-123' });
    expect(config).toMatchObject({ host: '0.0.0.0', port: 8080, autoCreateTopics: false, auth: { bearerToken: 'abc-123' }, limits: { maxEventsPerRequest: 500 } });
    expect(config).not.toHaveProperty('log');

    const log = new MemoryLog();
    const server = createServer(serverOptionsFromConfig(config, log));
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/topics/orders/events',
      headers: { 'content-type': 'application/x-ndjson', authorization: 'Bearer abc-123' },
      payload: '{"customerId":"c1","total":5,"ts":"2024-05-01T00:00:00Z"}\n{"customerId":"c1","total":"5"}\n',
    });
    expect(res.json()).toMatchObject({ accepted: 1, rejected: [{ index: 1, code: 'FRESHET_SCHEMA_VIOLATION', reason: 'event/total must be number' }] });
    expect((await log.describeTopic('orders')).partitions).toHaveLength(4);
    expect(await readValues(log, 'orders.dlq')).toEqual(['{"customerId":"c1","total":"5"}']);
    await server.close();
  });

  it('FRESHET_INVALID_CONFIG for a missing file and for invalid JSON', async () => {
    expect((await codedError(() => loadServerConfig(path.join(dir, 'missing.json')))).code).toBe('FRESHET_INVALID_CONFIG');
    const e = await codedError(() => loadServerConfig(write('bad.json', '{ "topics": ')));
    expect(e.code).toBe('FRESHET_INVALID_CONFIG');
    expect(e.message).toContain('not valid JSON');
  });

  it('names the file and every problem', async () => {
    const file = write('invalid.json', { port: 70000, topics: { orders: { partitions: 0, keyFeld: 'x' } } });
    const e = await codedError(() => loadServerConfig(file));
    expect(e.code).toBe('FRESHET_INVALID_CONFIG');
    expect(e.message).toContain(file);
    expect(e.message).toContain('port');
    expect(e.message).toContain('topics.orders.partitions');
    expect(e.message).toContain('keyFeld');
  });
});

describe('parseServerConfig cross-field checks', () => {
  const cases: [string, unknown, RegExp][] = [
    ['event bytes over body bytes', { limits: { maxBodyBytes: 100, maxEventBytes: 200 } }, /limits\.maxEventBytes: must not exceed limits\.maxBodyBytes/],
    ['event bytes over the log record bound', { limits: { maxEventBytes: 1024 * 1024 } }, /limits\.maxEventBytes: must not exceed \d+ \(the log's record bound/],
    ['events per request over the log batch bound', { limits: { maxEventsPerRequest: 100_000 } }, /limits\.maxEventsPerRequest/],
    ['token and token env both set', { auth: { bearerToken: 'a', bearerTokenEnv: 'B' } }, /auth: set exactly one/],
    ['token env not set', { auth: { bearerTokenEnv: 'FRESHET_TEST_SURELY_UNSET' } }, /FRESHET_TEST_SURELY_UNSET is not set/],
    ['invalid topic name', { topics: { 'no spaces': { partitions: 1 } } }, /topics\.no spaces: invalid topic name/],
    ['topic name too long for its DLQ', { topics: { ['t'.repeat(247)]: { partitions: 1 } } }, /'<topic>\.dlq' is valid/],
    ['JSON Schema does not compile', { topics: { t: { partitions: 1, jsonSchema: { type: 'strnig' } } } }, /topics\.t\.jsonSchema/],
    ['closed schema without the key field', { topics: { t: { partitions: 1, keyField: 'k', jsonSchema: { type: 'object', additionalProperties: false, properties: { a: {} } } } } }, /topics\.t\.keyField: 'k' is not among jsonSchema\.properties/],
    ['too many partitions', { topics: { t: { partitions: 100_000 } } }, /topics\.t\.partitions/],
  ];
  for (const [name, config, message] of cases) {
    it(name, async () => {
      const e = await codedError(() => parseServerConfig(config, {}));
      expect(e.code).toBe('FRESHET_INVALID_CONFIG');
      expect(e.message).toMatch(message);
    });
  }

  it('accepts a minimal config', () => {
    expect(parseServerConfig({})).toEqual({});
    expect(parseServerConfig({ topics: { t: { partitions: 1, jsonSchema: true } } })).toEqual({ topics: { t: { partitions: 1, jsonSchema: true } } });
  });
});
