/**
 * The checkpoint store on real files: round trips of the typed parts and operator chains (from a real
 * state backend), retention with shared incremental files, monotonic ids, the writer lock, incomplete
 * writes, corruption of every kind of file (truncated and bit-flipped: the previous complete checkpoint
 * is used, with a warning; never a silent wrong restore), savepoints, the savepoint request protocol
 * and the compatibility check.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCodes } from '../../src/core/errors.js';
import {
  type CheckpointData,
  CheckpointStore,
  type CheckpointStoreOptions,
  type LoadedCheckpoint,
  type OperatorDescriptor,
  checkRestoreCompatibility,
  checkpointDir,
  requestSavepoint,
} from '../../src/state/checkpoint-store.js';
import { MemoryStateBackend } from '../../src/state/memory/memory-backend.js';
import { expectCode } from '../helpers/log-helpers.js';
import { TempDirs } from '../helpers/temp-dir.js';
import { type Handles, declareAll, dump } from './state-store.case.js';

const dirs = new TempDirs();
const stores: CheckpointStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  dirs.cleanup();
});

async function openStore(dir: string, options: Partial<CheckpointStoreOptions> & { warnings?: string[] } = {}): Promise<CheckpointStore> {
  const store = await CheckpointStore.open({ dir, retain: 3, onWarning: (m) => options.warnings?.push(m), clock: new ManualClock(1_700_000_000_000), ...options });
  stores.push(store);
  return store;
}

/** A pipeline-like driver: two tasks with state backends, checkpointed through a store. */
class Driver {
  readonly backends = [new MemoryStateBackend(), new MemoryStateBackend()];
  readonly handles: Handles[];
  /** What each checkpoint must restore to. */
  readonly expected = new Map<number, { dumps: unknown[]; offsets: number[] }>();
  step = 0;

  constructor(readonly store: CheckpointStore) {
    this.handles = this.backends.map((b) => declareAll(b));
  }

  mutate(n: number): void {
    for (const [t, h] of this.handles.entries()) {
      for (let i = 0; i < n; i++) {
        const k = `k${(this.step * 7 + i * 13 + t) % 200}`;
        h.v.put(k, `s${this.step}-${i}`);
        h.w.put(k, (this.step % 4) * 10, (this.step % 4) * 10 + 10, this.step + i);
        if (i % 5 === 0) h.v.delete(`k${(i * 3) % 200}`);
      }
      if (this.step % 3 === 2) h.w.deleteWindow(((this.step + 1) % 4) * 10, ((this.step + 1) % 4) * 10 + 10);
    }
    this.step++;
  }

  async checkpoint(options: { full?: boolean } = {}): Promise<number> {
    const id = this.store.nextCheckpointId();
    const snaps = await Promise.all(this.backends.map((b) => b.snapshot(id, options)));
    const data: CheckpointData = {
      checkpointId: id,
      operators: [
        { name: 'op-a', kind: 'windowAggregate', fingerprint: 'sum' },
        { name: 'op-b', kind: 'map', fingerprint: '' },
      ],
      tasks: snaps.map((snap, t) => ({
        taskId: String(t),
        inputOffsets: [{ topic: 'orders', partition: t, offset: id * 100 + t }],
        outputPositions: [{ topic: 'out', partition: t, offset: id * 10 }],
        watermarks: { orders: id * 1000 },
        operators: snap.operators,
        meta: { step: this.step },
      })),
    };
    await this.store.write(data);
    for (const b of this.backends) b.checkpointComplete(id);
    this.expected.set(id, { dumps: this.handles.map((h) => dump(h)), offsets: [id * 100, id * 100 + 1] });
    return id;
  }

  /** Restores a loaded checkpoint into fresh backends and compares with what it was. */
  async check(loaded: LoadedCheckpoint): Promise<void> {
    const want = this.expected.get(loaded.checkpointId)!;
    expect(want, `checkpoint ${loaded.checkpointId} was never written`).toBeDefined();
    expect([...loaded.tasks.keys()].sort()).toEqual(['0', '1']);
    for (const [taskId, task] of loaded.tasks) {
      const t = Number(taskId);
      expect(task.inputOffsets).toEqual([{ topic: 'orders', partition: t, offset: want.offsets[t] }]);
      expect(task.outputPositions).toEqual([{ topic: 'out', partition: t, offset: loaded.checkpointId * 10 }]);
      expect(task.watermarks).toEqual({ orders: loaded.checkpointId * 1000 });
      const backend = new MemoryStateBackend();
      const h = declareAll(backend);
      await backend.restore(task.chains, { checkpointId: loaded.checkpointId });
      expect(dump(h)).toEqual(want.dumps[t]);
    }
  }
}

describe('checkpoint store', () => {
  it('round-trips typed parts and incremental operator chains; loadLatest restores the newest', async () => {
    const dir = checkpointDir(dirs.make('freshet-chk-'), 'revenue');
    const store = await openStore(dir);
    expect(await store.loadLatest()).toBeNull();
    const d = new Driver(store);
    for (let i = 0; i < 5; i++) {
      d.mutate(40);
      await d.checkpoint();
    }
    const loaded = (await store.loadLatest())!;
    expect(loaded.checkpointId).toBe(5);
    expect(loaded.savepoint).toBeNull();
    expect(loaded.operators).toEqual([
      { name: 'op-a', kind: 'windowAggregate', fingerprint: 'sum' },
      { name: 'op-b', kind: 'map', fingerprint: '' },
    ]);
    expect(loaded.tasks.get('1')!.meta).toEqual({ step: 5 });
    // Chains: the first checkpoint was full, later ones deltas.
    expect(loaded.tasks.get('0')!.chains.get('op-a')!.length).toBe(5);
    await d.check(loaded);
    for (const id of [3, 4, 5]) await d.check(await store.load(id));
    await expectCode(() => store.load(1), ErrorCodes.CHECKPOINT_NOT_FOUND);
  });

  it('keeps the newest K; files older checkpoints share with kept ones stay until nothing references them', async () => {
    const dir = dirs.make('freshet-chk-');
    const store = await openStore(dir, { retain: 2 });
    const d = new Driver(store);
    for (let i = 0; i < 6; i++) {
      d.mutate(20);
      await d.checkpoint();
    }
    const list = await store.list();
    expect(list.map((c) => [c.checkpointId, c.status])).toEqual([
      [5, 'complete'],
      [6, 'complete'],
    ]);
    // Checkpoint 1 (the full base of every chain) is still on disk, without its manifest.
    expect(fs.existsSync(path.join(dir, 'chk-00000000000000000001', 'task-0.part'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'chk-00000000000000000001', 'MANIFEST'))).toBe(false);
    expect(list[1]!.totalBytes).toBeGreaterThan(list[1]!.sizeBytes);
    // A full checkpoint cuts the chains; once the older ones age out, their files go.
    d.mutate(5);
    await d.checkpoint({ full: true });
    d.mutate(5);
    await d.checkpoint();
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('chk-'))).toEqual(['chk-00000000000000000007', 'chk-00000000000000000008']);
    await d.check((await store.loadLatest())!);
    await d.check(await store.load(7));
  });

  it('ids increase, also across reopens and past incomplete writes; a delta on a missing base is refused', async () => {
    const dir = dirs.make('freshet-chk-');
    let store = await openStore(dir);
    const d = new Driver(store);
    d.mutate(3);
    const first = await d.checkpoint();
    expect(first).toBe(1);
    await expectCode(() => store.write({ checkpointId: 1, tasks: [] }), ErrorCodes.ASSERTION_FAILED);
    // An interrupted write: a directory with files but no manifest.
    fs.mkdirSync(path.join(dir, 'chk-00000000000000000009'));
    fs.writeFileSync(path.join(dir, 'chk-00000000000000000009', 'task-0.part.tmp-1'), 'half');
    await store.close();
    const reader = await openStore(dir, { readOnly: true });
    expect((await reader.list()).map((c) => [c.checkpointId, c.status])).toEqual([
      [1, 'complete'],
      [9, 'incomplete'],
    ]);
    store = await openStore(dir);
    expect(store.nextCheckpointId()).toBe(10);
    expect(fs.existsSync(path.join(dir, 'chk-00000000000000000009'))).toBe(false);
    expect((await store.loadLatest())!.checkpointId).toBe(1);
    await expectCode(
      () =>
        store.write({
          checkpointId: 10,
          tasks: [{ taskId: '0', inputOffsets: [], outputPositions: [], watermarks: {}, operators: [{ operator: 'x', type: 'delta', baseCheckpointId: 7, bytes: new Uint8Array(3) }] }],
        }),
      ErrorCodes.INVALID_ARGUMENT,
    );
  });

  it('one writer per store (FRESHET_CHECKPOINT_LOCKED); readers open read-only alongside it', async () => {
    const dir = dirs.make('freshet-chk-');
    await openStore(dir);
    await expectCode(() => CheckpointStore.open({ dir }), ErrorCodes.CHECKPOINT_LOCKED);
    const reader = await openStore(dir, { readOnly: true });
    expect(await reader.list()).toEqual([]);
    await expectCode(() => reader.write({ checkpointId: 1, tasks: [] }), ErrorCodes.INVALID_ARGUMENT);
  });

  describe('corruption: detected by checksum, the previous complete checkpoint is used, with a warning', () => {
    type Damage = 'truncate' | 'bitflip';
    function damage(file: string, how: Damage): void {
      const buf = fs.readFileSync(file);
      if (how === 'truncate') fs.writeFileSync(file, buf.subarray(0, Math.floor(buf.length * 0.6)));
      else {
        buf[Math.floor(buf.length * 0.7)]! ^= 0x20;
        fs.writeFileSync(file, buf);
      }
    }

    /** Checkpoints 1 (full), 2, 3 (deltas on 1, 2), 4 (full), 5 (delta on 4). */
    async function fiveCheckpoints(retain = 5): Promise<{ dir: string; d: Driver; store: CheckpointStore; warnings: string[] }> {
      const dir = dirs.make('freshet-chk-');
      const warnings: string[] = [];
      const store = await openStore(dir, { retain, warnings });
      const d = new Driver(store);
      for (let i = 1; i <= 5; i++) {
        d.mutate(30);
        await d.checkpoint({ full: i === 4 });
      }
      return { dir, d, store, warnings };
    }

    const file = (dir: string, id: number, name: string): string => path.join(dir, `chk-${String(id).padStart(20, '0')}`, name);

    for (const how of ['truncate', 'bitflip'] as const) {
      it(`${how} of the newest manifest → checkpoint 4`, async () => {
        const { dir, d, store, warnings } = await fiveCheckpoints();
        damage(file(dir, 5, 'MANIFEST'), how);
        const reader = await openStore(dir, { readOnly: true, warnings });
        const loaded = (await reader.loadLatest())!;
        expect(loaded.checkpointId).toBe(4);
        await d.check(loaded);
        expect(warnings.some((w) => w.includes('checkpoint 5') && w.includes('manifest'))).toBe(true);
        expect((await reader.list()).find((c) => c.checkpointId === 5)!.status).toBe('corrupt');
        void store;
      });

      it(`${how} of the newest task part → checkpoint 4`, async () => {
        const { dir, d, warnings } = await fiveCheckpoints();
        damage(file(dir, 5, 'task-1.part'), how);
        const reader = await openStore(dir, { readOnly: true, warnings });
        const loaded = (await reader.loadLatest())!;
        expect(loaded.checkpointId).toBe(4);
        await d.check(loaded);
        expect(warnings.some((w) => w.includes('checkpoint 5') && w.includes('task-1.part'))).toBe(true);
      });

      it(`${how} of a full base shared by later deltas → every checkpoint on it is skipped, back to one that does not use it`, async () => {
        const { dir, d, warnings } = await fiveCheckpoints();
        // Checkpoint 4's part is the base of 5's chain: 5 and 4 fail, 3 (on base 1) loads.
        damage(file(dir, 4, 'task-0.part'), how);
        const reader = await openStore(dir, { readOnly: true, warnings });
        const loaded = (await reader.loadLatest())!;
        expect(loaded.checkpointId).toBe(3);
        await d.check(loaded);
        expect(warnings.filter((w) => w.includes('task-0.part')).length).toBe(2);
        const status = Object.fromEntries((await reader.list()).map((c) => [c.checkpointId, c.status]));
        expect(status).toEqual({ 1: 'complete', 2: 'complete', 3: 'complete', 4: 'corrupt', 5: 'corrupt' });
      });
    }

    it('when every checkpoint is damaged, loading fails with FRESHET_CHECKPOINT_CORRUPT (never starts empty silently)', async () => {
      const { dir, warnings } = await fiveCheckpoints(2);
      damage(file(dir, 4, 'task-0.part'), 'bitflip');
      const reader = await openStore(dir, { readOnly: true, warnings });
      await expectCode(() => reader.loadLatest(), ErrorCodes.CHECKPOINT_CORRUPT);
      await expectCode(() => reader.load(5), ErrorCodes.CHECKPOINT_CORRUPT);
    });

    it('a missing part file is damage too', async () => {
      const { dir, d, warnings } = await fiveCheckpoints();
      fs.rmSync(file(dir, 5, 'task-0.part'));
      const reader = await openStore(dir, { readOnly: true, warnings });
      await d.check((await reader.loadLatest())!);
      expect(warnings.some((w) => w.includes('missing'))).toBe(true);
    });
  });

  describe('savepoints', () => {
    it('are self-contained copies, kept until deleted, surviving checkpoint retention', async () => {
      const dir = dirs.make('freshet-chk-');
      const store = await openStore(dir, { retain: 1 });
      const d = new Driver(store);
      for (let i = 0; i < 3; i++) {
        d.mutate(20);
        await d.checkpoint();
      }
      const sp = await store.createSavepoint('before-upgrade');
      expect(sp).toMatchObject({ checkpointId: 3, savepoint: 'before-upgrade', status: 'complete' });
      await store.createSavepoint('from-3', { fromCheckpointId: 3 });
      await expectCode(() => store.createSavepoint('before-upgrade'), ErrorCodes.SAVEPOINT_EXISTS);
      await expectCode(() => store.createSavepoint('bad/name'), ErrorCodes.INVALID_ARGUMENT);
      await expectCode(() => store.createSavepoint('x', { fromCheckpointId: 1 }), ErrorCodes.CHECKPOINT_NOT_FOUND);
      for (let i = 0; i < 4; i++) {
        d.mutate(20);
        await d.checkpoint({ full: i === 1 });
      }
      expect(fs.existsSync(path.join(dir, 'chk-00000000000000000001'))).toBe(false);
      const loaded = await store.loadSavepoint('before-upgrade');
      expect(loaded.savepoint).toBe('before-upgrade');
      await d.check(loaded);
      expect((await store.listSavepoints()).map((s) => [s.savepoint, s.checkpointId, s.status])).toEqual([
        ['before-upgrade', 3, 'complete'],
        ['from-3', 3, 'complete'],
      ]);
      await store.deleteSavepoint('from-3');
      await expectCode(() => store.loadSavepoint('from-3'), ErrorCodes.CHECKPOINT_NOT_FOUND);
      await expectCode(() => store.deleteSavepoint('from-3'), ErrorCodes.CHECKPOINT_NOT_FOUND);
      // Damage is detected on load.
      const part = fs.readdirSync(path.join(dir, 'savepoints', 'before-upgrade')).find((f) => f.endsWith('.part'))!;
      const p = path.join(dir, 'savepoints', 'before-upgrade', part);
      const buf = fs.readFileSync(p);
      buf[buf.length - 5]! ^= 1;
      fs.writeFileSync(p, buf);
      await expectCode(() => store.loadSavepoint('before-upgrade'), ErrorCodes.CHECKPOINT_CORRUPT);
      expect((await store.listSavepoints())[0]!.status).toBe('corrupt');
    });

    it('request protocol: a pending request is seen by the writer, answered, and the requester gets the answer', async () => {
      const dir = dirs.make('freshet-chk-');
      const store = await openStore(dir);
      const d = new Driver(store);
      d.mutate(5);
      await d.checkpoint();
      const asked = requestSavepoint(dir, 'sp1', 5_000);
      let seen: string[] = [];
      for (let i = 0; i < 100 && seen.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        seen = store.pendingSavepointRequests();
      }
      expect(seen).toEqual(['sp1']);
      const id = await d.checkpoint({ full: true });
      await store.createSavepoint('sp1', { fromCheckpointId: id });
      await store.completeSavepointRequest('sp1', { ok: true, checkpointId: id });
      expect(await asked).toEqual({ ok: true, checkpointId: id });
      expect(store.pendingSavepointRequests()).toEqual([]);
      // Nobody answers: null after the timeout, and the request is withdrawn.
      expect(await requestSavepoint(dir, 'sp2', 100)).toBeNull();
      expect(store.pendingSavepointRequests()).toEqual([]);
    });
  });

  describe('restore compatibility (savepoint operators vs the new plan)', () => {
    const saved: OperatorDescriptor[] = [
      { name: 'per-user', kind: 'windowAggregate', fingerprint: 'count,sum' },
      { name: 'enrich', kind: 'join', fingerprint: 'interval' },
    ];

    it('same operators map; new ones start empty', () => {
      expect(checkRestoreCompatibility(saved, [...saved, { name: 'new-one', kind: 'map', fingerprint: '' }])).toEqual({
        restore: ['per-user', 'enrich'],
        empty: ['new-one'],
        dropped: [],
      });
    });

    it('a changed kind or state shape is FRESHET_STATE_INCOMPATIBLE naming the operator', async () => {
      const e1 = (await expectCode(
        () => checkRestoreCompatibility(saved, [{ name: 'per-user', kind: 'windowAggregate', fingerprint: 'count,avg' }, saved[1]!]),
        ErrorCodes.STATE_INCOMPATIBLE,
      )) as Error;
      expect(e1.message).toContain("'per-user'");
      const e2 = (await expectCode(() => checkRestoreCompatibility(saved, [saved[0]!, { name: 'enrich', kind: 'map', fingerprint: 'interval' }]), ErrorCodes.STATE_INCOMPATIBLE)) as Error;
      expect(e2.message).toContain("'enrich'");
    });

    it('state of operators no longer in the plan is refused unless allowNonRestoredState', async () => {
      const e = (await expectCode(() => checkRestoreCompatibility(saved, [saved[0]!]), ErrorCodes.STATE_NOT_RESTORED)) as Error;
      expect(e.message).toContain("'enrich'");
      expect(checkRestoreCompatibility(saved, [saved[0]!], { allowNonRestoredState: true })).toEqual({ restore: ['per-user'], empty: [], dropped: ['enrich'] });
    });
  });
});
