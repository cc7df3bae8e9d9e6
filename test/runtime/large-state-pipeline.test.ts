/**
 * State larger than memory in a running pipeline: keyed tumbling and hopping windows with their
 * accumulators in the LMDB backend behind a 64 KiB cache hold 25,000+ (key, window) entries at once
 * (far more than the cache keeps), over out-of-order input; the run is checkpointed (full, then by-key
 * deltas), "crashes" after writing output past its last checkpoint, and a new process-like run restores
 * from the checkpoint chain into a fresh LMDB database. The output topics must equal a brute-force
 * reference exactly: every (key, window) result once, none lost, none duplicated.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { count, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { hopping, tumbling } from '../../src/dsl/windows.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { EventLog } from '../../src/log/log.js';
import { FileCheckpointStorage } from '../../src/runtime/checkpoint-files.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { LmdbStateBackend } from '../../src/state/lmdb/lmdb-backend.js';
import { mulberry32 } from '../helpers/bytes.js';
import { TempDirs } from '../helpers/temp-dir.js';

interface Ev {
  user: string;
  amount: number;
  ts: number;
}

const CACHE_BYTES = 64 * 1024;
const USERS = 20_000;
const EVENTS = 60_000;
const TUMBLE_MS = 10_000;
const HOP = { sizeMs: 20_000, advanceMs: 10_000 };

const def = pipeline('large-state', (p) => {
  const events = p.source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 3_000 }).keyBy((e) => e.user);
  events
    .window(tumbling({ sizeMs: TUMBLE_MS }))
    .aggregate({ n: count(), total: sum((e: Ev) => e.amount) }, { name: 'per-user' })
    .toTopic('per-user-out');
  events
    .window(hopping(HOP))
    .aggregate(sum((e: Ev) => e.amount), { name: 'per-user-hopping' })
    .toTopic('hopping-out');
});

function generate(): Ev[] {
  const rnd = mulberry32(2026);
  // Event time advances 1 ms per event (60 s in all); each event is up to 3 s out of order.
  return Array.from({ length: EVENTS }, (_, i) => ({ user: `user-${Math.floor(rnd() * USERS)}`, amount: Math.floor(rnd() * 1_000) / 10, ts: 100_000 + i - Math.floor(rnd() * 3_000) }));
}

/** Brute force: one final result per (user, window), as `key|start|value` lines, sorted. */
function reference(events: readonly Ev[]): { tumbling: string[]; hopping: string[] } {
  const t = new Map<string, { n: number; total: number }>();
  const h = new Map<string, number>();
  for (const e of events) {
    const ts = Math.floor(e.ts / TUMBLE_MS) * TUMBLE_MS;
    const cell = t.get(`${e.user}|${ts}`) ?? { n: 0, total: 0 };
    cell.n++;
    cell.total += e.amount;
    t.set(`${e.user}|${ts}`, cell);
    for (let start = Math.floor(e.ts / HOP.advanceMs) * HOP.advanceMs; start > e.ts - HOP.sizeMs; start -= HOP.advanceMs) {
      h.set(`${e.user}|${start}`, (h.get(`${e.user}|${start}`) ?? 0) + e.amount);
    }
  }
  // Exact sums: the reference adds in input order, the pipeline exactly; compare rounded to cents.
  return {
    tumbling: [...t].map(([k, v]) => `${k}|${v.n}|${v.total.toFixed(2)}`).sort(),
    hopping: [...h].map(([k, v]) => `${k}|${v.toFixed(2)}`).sort(),
  };
}

async function output(log: EventLog, topic: string, line: (r: Record<string, unknown>) => string): Promise<string[]> {
  const out: string[] = [];
  for (const p of (await log.describeTopic(topic)).partitions) {
    for (let offset = p.earliestOffset; offset < p.latestOffset; ) {
      const { batches, nextOffset } = await log.read(topic, p.partition, offset, { maxRecords: 10_000 });
      for (const b of batches) for (let i = 0; i < b.count; i++) out.push(line(JSON.parse(Buffer.from(b.valueAt(i)!).toString()) as Record<string, unknown>));
      offset = nextOffset;
    }
  }
  return out.sort();
}

describe('a pipeline with state larger than its memory budget (LMDB backend)', () => {
  const dirs = new TempDirs();
  afterEach(() => dirs.cleanup());

  it(`${USERS} keys in windows with a ${CACHE_BYTES / 1024} KiB cache, checkpointed, crashed and restored: results equal the reference`, async () => {
    const dataDir = dirs.make();
    const events = generate();
    let log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    await log.createTopic('events', { partitions: 2 });
    await log.produce('events', events.map((e) => ({ key: Buffer.from(e.user), value: Buffer.from(JSON.stringify(e)), timestampMs: e.ts })));

    // First run: checkpoints along the way, then a crash after output past the last checkpoint.
    const plan = def.plan();
    let backend = LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-'), cacheBytes: CACHE_BYTES });
    let storage = await FileCheckpointStorage.open(plan, { dataDir, windowState: 'backend' });
    const first = await PipelineRunner.start(plan, { log, stateBackend: backend, maxBatchRecords: 2_000, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
    const pieceTypes = new Set<string>();
    let maxCacheBytes = 0;
    let maxCacheEntries = 0;
    let maxStoredEntries = 0;
    for (let round = 0; round < 12; round++) {
      await first.step();
      maxStoredEntries = Math.max(maxStoredEntries, backend.data.getKeysCount());
      maxCacheBytes = Math.max(maxCacheBytes, backend.cacheStats().bytes);
      maxCacheEntries = Math.max(maxCacheEntries, backend.cacheStats().entries);
      if (round % 3 === 2) {
        const checkpoint = await first.checkpoint();
        for (const [name, [piece]] of checkpoint.tasks[0]!.operators) if (name.endsWith('#state')) pieceTypes.add(piece!.type);
      }
    }
    for (let round = 0; round < 2; round++) await first.step();
    // Open windows held far more (key, window) entries than the cache can keep (each costs 100+ bytes there).
    expect(maxStoredEntries).toBeGreaterThan(25_000);
    expect(maxCacheBytes).toBeLessThanOrEqual(CACHE_BYTES);
    expect(maxCacheEntries).toBeLessThan(maxStoredEntries / 20);
    expect([...pieceTypes].sort()).toEqual(['delta', 'full']);
    const writtenBeforeCrash = (await log.describeTopic('per-user-out')).partitions.reduce((n, p) => n + p.latestOffset, 0);
    expect(writtenBeforeCrash).toBeGreaterThan(0);
    // The crash: the runner is abandoned mid-run; its LMDB database is scratch (a new one is used).
    await storage.close();
    await backend.close();
    await log.close();

    log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    backend = LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-'), cacheBytes: CACHE_BYTES });
    storage = await FileCheckpointStorage.open(plan, { dataDir, windowState: 'backend' });
    const second = await PipelineRunner.start(plan, { log, stateBackend: backend, maxBatchRecords: 2_000, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
    await second.finish();
    expect(backend.cacheStats().bytes).toBeLessThanOrEqual(CACHE_BYTES);

    const expected = reference(events);
    const t = await output(log, 'per-user-out', (r) => {
      const v = r.value as { n: number; total: number };
      return `${String(r.key)}|${String(r.windowStartMs)}|${v.n}|${v.total.toFixed(2)}`;
    });
    const h = await output(log, 'hopping-out', (r) => `${String(r.key)}|${String(r.windowStartMs)}|${(r.value as number).toFixed(2)}`);
    expect(t.length).toBe(expected.tumbling.length);
    expect(t).toEqual(expected.tumbling);
    expect(h).toEqual(expected.hopping);
    await storage.close();
    await backend.close();
    await log.close();
  }, 120_000);

  it('state saved with the windows in a backend does not restore into windows on the heap, or back: refused naming the operator', async () => {
    const dataDir = dirs.make();
    const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    await log.createTopic('events', { partitions: 2 });
    await log.produce('events', generate().slice(0, 500).map((e) => ({ key: Buffer.from(e.user), value: Buffer.from(JSON.stringify(e)), timestampMs: e.ts })));
    const plan = def.plan();
    const backend = LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-'), cacheBytes: CACHE_BYTES });
    let storage = await FileCheckpointStorage.open(plan, { dataDir, windowState: 'backend' });
    const runner = await PipelineRunner.start(plan, { log, stateBackend: backend, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
    await runner.runUntilCaughtUp();
    await runner.checkpoint();
    await storage.close();
    await backend.close();
    storage = await FileCheckpointStorage.open(plan, { dataDir });
    await expect(storage.latest()).rejects.toMatchObject({ code: 'FRESHET_STATE_INCOMPATIBLE', message: expect.stringContaining("'per-user'") });
    await storage.close();

    // And back: heap-window state into a run with a backend.
    const other = dirs.make();
    const log2 = await EmbeddedLog.open({ dataDir: other, fsync: 'never' });
    await log2.createTopic('events', { partitions: 2 });
    storage = await FileCheckpointStorage.open(plan, { dataDir: other });
    await (await PipelineRunner.start(plan, { log: log2, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } })).checkpoint();
    await storage.close();
    storage = await FileCheckpointStorage.open(plan, { dataDir: other, windowState: 'backend' });
    await expect(storage.latest()).rejects.toMatchObject({ code: 'FRESHET_STATE_INCOMPATIBLE', message: expect.stringContaining("'per-user'") });
    await storage.close();
    await log2.close();
    await log.close();
  });
});
