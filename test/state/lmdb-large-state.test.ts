/**
 * State larger than the configured memory: the LMDB backend with a 64 KiB cache holds 60,000 window
 * entries and 20,000 values (~200x what the cache can keep), updated at random in batches, and every
 * read, every window listing, and a snapshot → restore (into LMDB and into the memory backend: one
 * format) equal a plain-Map reference. The cache stays within its budget at every batch boundary.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStateBackend } from '../../src/state/lmdb/lmdb-backend.js';
import { MemoryStateBackend } from '../../src/state/memory/memory-backend.js';
import type { StateBackend } from '../../src/state/state-store.js';
import { mulberry32 } from '../helpers/bytes.js';
import { TempDirs } from '../helpers/temp-dir.js';
import { f64Serializer } from './state-store.case.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

const CACHE_BYTES = 64 * 1024;
const WINDOW_KEYS = 20_000;
const WINDOWS = 3;
const VALUE_KEYS = 20_000;

function declare(backend: StateBackend) {
  const ops = backend.operator('agg');
  return { w: ops.window<number>('sum', { serializer: f64Serializer }), v: ops.value<number>('last') };
}

describe('LMDB backend: state larger than its memory budget', () => {
  it(`holds ${WINDOW_KEYS * WINDOWS + VALUE_KEYS} entries with a ${CACHE_BYTES / 1024} KiB cache, equal to the reference`, async () => {
    const backend = LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-large-'), cacheBytes: CACHE_BYTES });
    const { w, v } = declare(backend);
    const refW = new Map<string, number>();
    const refV = new Map<string, number>();
    const rnd = mulberry32(99);
    let maxCacheBytes = 0;
    // Batches of updates, like a window operator: read-modify-write of random keys.
    for (let batch = 0; batch < 40; batch++) {
      for (let i = 0; i < 2_500; i++) {
        const k = `user-${Math.floor(rnd() * WINDOW_KEYS)}`;
        const win = Math.floor(rnd() * WINDOWS) * 60_000;
        const amount = Math.floor(rnd() * 100);
        const id = `${win}|${k}`;
        const next = (w.get(k, win, win + 60_000) ?? 0) + amount;
        w.put(k, win, win + 60_000, next);
        refW.set(id, next);
        const vk = `v-${Math.floor(rnd() * VALUE_KEYS)}`;
        v.put(vk, amount);
        refV.set(vk, amount);
      }
      await backend.flush();
      maxCacheBytes = Math.max(maxCacheBytes, backend.cacheStats().bytes);
    }
    // Make sure every key exists (the random walk above leaves a few out).
    for (let win = 0; win < WINDOWS; win++) {
      for (let i = 0; i < WINDOW_KEYS; i++) {
        const k = `user-${i}`;
        const id = `${win * 60_000}|${k}`;
        if (!refW.has(id)) {
          w.put(k, win * 60_000, win * 60_000 + 60_000, -1);
          refW.set(id, -1);
        }
      }
    }
    for (let i = 0; i < VALUE_KEYS; i++) if (!refV.has(`v-${i}`)) (v.put(`v-${i}`, -2), refV.set(`v-${i}`, -2));
    await backend.flush();
    const entries = refW.size + refV.size;
    expect(entries).toBe(WINDOW_KEYS * WINDOWS + VALUE_KEYS);
    expect(maxCacheBytes).toBeLessThanOrEqual(CACHE_BYTES);
    expect(backend.cacheStats().bytes).toBeLessThanOrEqual(CACHE_BYTES);
    // Each entry costs >= 100 bytes in the cache, so the budget holds well under 1% of them.
    expect(backend.cacheStats().entries).toBeLessThan(entries / 50);

    // Point reads and scans agree with the reference.
    const rnd2 = mulberry32(7);
    for (let i = 0; i < 10_000; i++) {
      const k = `user-${Math.floor(rnd2() * WINDOW_KEYS)}`;
      const win = Math.floor(rnd2() * WINDOWS) * 60_000;
      expect(w.get(k, win, win + 60_000)).toBe(refW.get(`${win}|${k}`));
    }
    expect(w.windows()).toEqual([0, 1, 2].map((i) => ({ startMs: i * 60_000, endMs: i * 60_000 + 60_000 })));
    const scanned = new Map<string, number>();
    for (const { startMs, endMs } of w.windows()) for (const [k, n] of w.entries(startMs, endMs)) scanned.set(`${startMs}|${k}`, n);
    expect(scanned).toEqual(refW);
    expect(new Map(v.entries() as [string, number][])).toEqual(refV);
    expect(backend.cacheStats().bytes).toBeLessThanOrEqual(CACHE_BYTES);

    // Snapshot (full), then changes and a delta; restore the chain into LMDB and into memory.
    const s1 = await backend.snapshot(1);
    backend.checkpointComplete(1);
    for (let i = 0; i < 1_000; i++) {
      const k = `user-${i * 7}`;
      w.put(k, 0, 60_000, i);
      refW.set(`0|${k}`, i);
    }
    w.deleteWindow(60_000, 120_000);
    for (const id of [...refW.keys()]) if (id.startsWith('60000|')) refW.delete(id);
    const s2 = await backend.snapshot(2);
    const part = s2.operators[0]!;
    expect(part.type).toBe('delta');
    expect(part.bytes.length).toBeLessThan(s1.operators[0]!.bytes.length / 10);
    const chain = new Map([['agg', [s1.operators[0]!.bytes, part.bytes]]]);
    for (const target of [LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-large-'), cacheBytes: CACHE_BYTES }), new MemoryStateBackend()]) {
      const r = declare(target);
      await target.restore(chain, { checkpointId: 2 });
      const got = new Map<string, number>();
      for (const { startMs, endMs } of r.w.windows()) for (const [k, n] of r.w.entries(startMs, endMs)) got.set(`${startMs}|${k}`, n);
      expect(got).toEqual(refW);
      expect(new Map(r.v.entries() as [string, number][])).toEqual(refV);
      await target.close();
    }
    await backend.close();
  });
});
