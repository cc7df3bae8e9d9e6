import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import type { ViewUpdate } from '../../src/plan/view-update.js';
import { queryRoutes } from '../../src/server/query-routes.js';
import { ViewMaintainer } from '../../src/serving/maintainer.js';
import { announce, eventually, writeUpdates } from './helpers.js';

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A real HTTP SSE client over fetch: collects events as they stream in. */
class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  private readonly abort = new AbortController();
  private buffer = '';
  done: Promise<void> = Promise.resolve();

  async open(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: this.abort.signal });
    this.status = res.status;
    if (res.status !== 200) return res;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          this.buffer += decoder.decode(value, { stream: true });
          let at: number;
          while ((at = this.buffer.indexOf('\n\n')) !== -1) {
            const block = this.buffer.slice(0, at);
            this.buffer = this.buffer.slice(at + 2);
            const e: SseEvent = {};
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) e.comment = line.slice(1).trim();
              else if (line.startsWith('id: ')) e.id = line.slice(4);
              else if (line.startsWith('event: ')) e.event = line.slice(7);
              else if (line.startsWith('data: ')) e.data = line.slice(6);
            }
            this.events.push(e);
          }
        }
      } catch {
        // aborted
      }
    })();
    return res;
  }

  updates(): { id: string; key: string; value: unknown }[] {
    return this.events.filter((e) => e.event === 'update').map((e) => ({ id: e.id!, ...(JSON.parse(e.data!) as { key: string; value: unknown }) }));
  }

  close(): void {
    this.abort.abort();
  }
}

let log: MemoryLog;
let maintainer: ViewMaintainer;
let app: FastifyInstance;
let base: string;
const clients: SseClient[] = [];

beforeEach(async () => {
  log = new MemoryLog();
  maintainer = await ViewMaintainer.start({ log, database: { threads: 1 } });
  app = Fastify();
  await app.register(queryRoutes({ catalog: maintainer, sseHeartbeatMs: 50 }));
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  await announce(log, 'spend', 'kv');
  await maintainer.catchUp();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await app.close();
  await maintainer.close();
});

const u = (key: string, total: number): ViewUpdate => ({ key, value: { total }, eventTimeMs: total });

function client(): SseClient {
  const c = new SseClient();
  clients.push(c);
  return c;
}

describe('GET /v1/views/:view/stream (SSE)', () => {
  it('pushes each update as it is applied, with ids and heartbeats; ?key= filters', async () => {
    const all = client();
    const annOnly = client();
    const res = await all.open(`${base}/v1/views/spend/stream`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    await annOnly.open(`${base}/v1/views/spend/stream?key=ann`);
    await writeUpdates(log, 'spend', [u('ann', 1), u('bob', 2)]);
    await writeUpdates(log, 'spend', [u('ann', 3)]);
    await eventually(() => all.updates().length === 3 && annOnly.updates().length === 2);
    expect(all.updates().map((e) => [e.key, e.value])).toEqual([
      ['ann', { total: 1 }],
      ['bob', { total: 2 }],
      ['ann', { total: 3 }],
    ]);
    expect(annOnly.updates().map((e) => e.value)).toEqual([{ total: 1 }, { total: 3 }]);
    const ids = all.updates().map((e) => e.id);
    expect(new Set(ids).size).toBe(3);
    expect(ids.map((id) => Number(id.split('-')[1]))).toEqual([1, 2, 3]);
    await eventually(() => all.events.some((e) => e.comment === 'heartbeat'));
  });

  it('resumes from Last-Event-ID with the updates missed while disconnected', async () => {
    const first = client();
    await first.open(`${base}/v1/views/spend/stream`);
    await writeUpdates(log, 'spend', [u('ann', 1), u('bob', 2)]);
    await eventually(() => first.updates().length === 2);
    const lastId = first.updates()[1]!.id;
    first.close();
    await writeUpdates(log, 'spend', [u('cid', 3), u('ann', 4)]);
    await maintainer.catchUp();
    const second = client();
    await second.open(`${base}/v1/views/spend/stream`, { 'last-event-id': lastId });
    await writeUpdates(log, 'spend', [u('bob', 5)]);
    await eventually(() => second.updates().length === 3);
    expect(second.updates().map((e) => [e.key, e.value])).toEqual([
      ['cid', { total: 3 }],
      ['ann', { total: 4 }],
      ['bob', { total: 5 }],
    ]);
  });

  it('a Last-Event-ID older than the ring, or from another server run, is a coded 410; unknown views 404', async () => {
    const view = maintainer.view('spend')!;
    const many = Array.from({ length: view.changes.capacity + 5 }, (_, i) => u(`k${i}`, i));
    await writeUpdates(log, 'spend', many);
    await maintainer.catchUp();
    const old = await fetch(`${base}/v1/views/spend/stream`, { headers: { 'last-event-id': `${view.changes.epoch}-1` } });
    expect(old.status).toBe(410);
    expect(((await old.json()) as { error: { code: string } }).error.code).toBe('FRESHET_STREAM_RESUME_GONE');
    const other = await fetch(`${base}/v1/views/spend/stream`, { headers: { 'last-event-id': 'zzz-5' } });
    expect(other.status).toBe(410);
    await other.body?.cancel();
    const recent = client();
    await recent.open(`${base}/v1/views/spend/stream`, { 'last-event-id': `${view.changes.epoch}-${view.changes.lastSeq - 2}` });
    expect(recent.status).toBe(200);
    await eventually(() => recent.updates().length === 2);
    const none = await fetch(`${base}/v1/views/nope/stream`);
    expect(none.status).toBe(404);
    await none.body?.cancel();
  });

  it('closing the server ends open streams instead of hanging', async () => {
    const c = client();
    await c.open(`${base}/v1/views/spend/stream`);
    const started = Date.now();
    await app.close();
    await c.done;
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
