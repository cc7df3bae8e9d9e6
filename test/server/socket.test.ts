import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { createServer, type FreshetServer } from '../../src/server/server.js';
import { countRecords, header, ndjson, readTopic, readValues } from './helpers.js';

let server: FreshetServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A raw POST so the test controls framing (chunked bodies, no content-length). */
function rawPost(url: string, body: Buffer | string, headers: Record<string, string>, chunked = false): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (chunked) {
      // Several writes without content-length: transfer-encoding chunked, split mid-line.
      const b = Buffer.from(body);
      const third = Math.floor(b.length / 3);
      req.write(b.subarray(0, third));
      req.write(b.subarray(third, 2 * third));
      req.end(b.subarray(2 * third));
    } else {
      req.end(body);
    }
  });
}

describe('over a real socket', () => {
  it('ingests NDJSON, including chunked bodies split mid-line, and answers health checks', async () => {
    const log = new MemoryLog();
    server = createServer({ log, topics: { clicks: { partitions: 2, keyField: 'user' } }, auth: { bearerToken: 'tok-123' } });
    const base = await server.listen({ port: 0, host: '127.0.0.1' });
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const events = Array.from({ length: 500 }, (_, i) => ({ user: `u${i % 9}`, n: i, note: 'naïve ✓' }));
    const headers = { 'content-type': 'application/x-ndjson', authorization: 'Bearer tok-123' };
    const res = await fetch(`${base}/v1/topics/clicks/events`, { method: 'POST', headers, body: ndjson(events.slice(0, 250)) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { accepted: number }).accepted).toBe(250);

    const chunked = await rawPost(`${base}/v1/topics/clicks/events`, ndjson(events.slice(250)), headers, true);
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body).accepted).toBe(250);

    const stored = (await readValues(log, 'clicks')).map((v) => JSON.parse(v).n).sort((a: number, b: number) => a - b);
    expect(stored).toEqual(events.map((e) => e.n));

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready' });

    const unauthorized = await fetch(`${base}/v1/topics/clicks/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unauthorized.status).toBe(401);
    expect(((await unauthorized.json()) as { error: { code: string } }).error.code).toBe('FRESHET_UNAUTHORIZED');
  });

  it('413 for an oversized body declared by content-length and for one sent chunked', async () => {
    const log = new MemoryLog();
    server = createServer({ log, limits: { maxBodyBytes: 1000, maxEventBytes: 500 } });
    const base = await server.listen({ port: 0 });
    const body = ndjson(Array.from({ length: 300 }, (_, i) => ({ i })));
    expect(Buffer.byteLength(body)).toBeGreaterThan(1000);
    const declared = await rawPost(`${base}/v1/topics/t/events`, body, { 'content-type': 'application/x-ndjson', 'content-length': String(Buffer.byteLength(body)) });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error.code).toBe('FRESHET_PAYLOAD_TOO_LARGE');
    const chunked = await rawPost(`${base}/v1/topics/t/events`, body, { 'content-type': 'application/x-ndjson' }, true);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('FRESHET_PAYLOAD_TOO_LARGE');
    expect(await countRecords(log, 't')).toBe(0);
    // The server is still up.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

describe('on the embedded log', () => {
  it('stores NDJSON lines byte for byte, with keys, times, headers and a DLQ, durably', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'freshet-ingest-embedded-'));
    try {
      let log = await EmbeddedLog.open({ dataDir, fsync: 'always' });
      server = createServer({
        log,
        topics: { orders: { partitions: 3, keyField: 'c', eventTimeField: 'ts', jsonSchema: { type: 'object', required: ['c'] } } },
      });
      const base = await server.listen({ port: 0 });
      const lines = Array.from({ length: 30 }, (_, i) => `{"c":"c${i % 4}", "ts":${1_700_000_000_000 + i}, "i":${i}}`);
      const res = await fetch(`${base}/v1/topics/orders/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: [...lines, '{"no":"c"}'].join('\n'),
      });
      const body = (await res.json()) as { accepted: number; rejected: { index: number }[] };
      expect(body.accepted).toBe(30);
      expect(body.rejected.map((r) => r.index)).toEqual([30]);
      await server.close();
      server = undefined;
      await log.close();

      log = await EmbeddedLog.open({ dataDir, fsync: 'always' });
      const records = await readTopic(log, 'orders');
      expect(records.map((r) => new TextDecoder().decode(r.value!)).sort()).toEqual([...lines].sort());
      for (const r of records) {
        const event = JSON.parse(new TextDecoder().decode(r.value!));
        expect(r.timestampMs).toBe(event.ts);
        expect(new TextDecoder().decode(r.key!)).toBe(event.c);
        expect(header(r, 'freshet.ingest.ms')).toMatch(/^\d+$/);
      }
      expect(await readValues(log, 'orders.dlq')).toEqual(['{"no":"c"}']);
      await log.close();
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
