/**
 * The StateBackend contract: every backend (memory, LMDB) runs this suite. It pins value, map, window and
 * timer state, TTL in caller-given time, namespacing per operator, snapshot → restore round trips,
 * incremental chains (deltas on the last completed checkpoint, aborted checkpoints losing nothing),
 * versioned formats with migrations, compatibility errors, and a randomised model test against plain
 * Maps (fast-check), including restores in the middle of a run.
 *
 * @example
 * ```ts
 * describeStateBackendContract('memory', { open: () => new MemoryStateBackend() });
 * ```
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { readSnapshotHeader } from '../../src/state/snapshot-format.js';
import type { BackendSnapshot, MapState, StateBackend, StateKey, StateSerializer, TimerState, ValueState, WindowState } from '../../src/state/state-store.js';
import { expectCode } from '../helpers/log-helpers.js';

export interface StateBackendFactory {
  /** A new, empty backend. The suite closes what it opens. */
  open(): StateBackend | Promise<StateBackend>;
  /** Runs of the model test (default 60). */
  readonly modelRuns?: number;
}

/** A float64 serializer (so window state does not go through the default msgpack one). */
export const f64Serializer: StateSerializer<number> = {
  encode: (n) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, n, true);
    return b;
  },
  decode: (b) => new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true),
};

/** The states the suite declares (operator 'op-a', plus a value state in 'op-b' for namespacing). */
export interface Handles {
  v: ValueState<string>;
  m: MapState<number>;
  w: WindowState<number>;
  t: TimerState;
  ttl: ValueState<string>;
  other: ValueState<string>;
}

export const TTL_MS = 100;

export function declareAll(backend: StateBackend): Handles {
  const a = backend.operator('op-a');
  return {
    v: a.value<string>('v'),
    m: a.map<number>('m'),
    w: a.window<number>('w', { serializer: f64Serializer }),
    t: a.timers('t'),
    ttl: a.value<string>('ttl', { ttl: { ttlMs: TTL_MS } }),
    other: backend.operator('op-b').value<string>('v'),
  };
}

/** Chains by operator for a stored checkpoint, built the way a checkpoint store builds them. */
export class ChainBook {
  private readonly chains = new Map<number, Map<string, Uint8Array[]>>();

  add(snap: BackendSnapshot): Map<string, Uint8Array[]> {
    const out = new Map<string, Uint8Array[]>();
    for (const part of snap.operators) {
      if (part.type === 'full') out.set(part.operator, [part.bytes]);
      else {
        const base = this.chains.get(part.baseCheckpointId!)?.get(part.operator);
        if (!base) throw new Error(`delta of ${part.operator} on ${part.baseCheckpointId}, which is not stored`);
        out.set(part.operator, [...base, part.bytes]);
      }
    }
    this.chains.set(snap.checkpointId, out);
    return out;
  }

  get(id: number): Map<string, Uint8Array[]> {
    return this.chains.get(id)!;
  }
}

/** Everything the handles hold, in a canonical form (sorted), for comparisons. */
export function dump(h: Handles): unknown {
  const sortKV = <T>(xs: [StateKey, T][]): [StateKey, T][] => [...xs].sort((a, b) => cmpKey(a[0], b[0]));
  return {
    v: sortKV(h.v.entries()),
    m: h.m
      .keys()
      .sort(cmpKey)
      .map((k) => [k, sortKV(h.m.entries(k))]),
    w: h.w.windows().map((w) => [w.startMs, w.endMs, sortKV(h.w.entries(w.startMs, w.endMs))]),
    ttl: sortKV(h.ttl.entries()),
    timers: h.t.size,
    next: h.t.nextTimeMs() ?? null,
    other: sortKV(h.other.entries()),
  };
}

function cmpKey(a: StateKey, b: StateKey): number {
  if (typeof a !== typeof b) return typeof a === 'number' ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function describeStateBackendContract(name: string, factory: StateBackendFactory): void {
  describe(`StateBackend contract: ${name}`, () => {
    let opened: StateBackend[] = [];
    async function open(): Promise<StateBackend> {
      const b = await factory.open();
      opened.push(b);
      return b;
    }
    afterEach(async () => {
      for (const b of opened.splice(0)) await b.close().catch(() => undefined);
      opened = [];
    });

    /** Restores `chains` into a fresh backend with the suite's declarations. */
    async function restored(chains: Map<string, Uint8Array[]>, checkpointId?: number): Promise<{ backend: StateBackend; h: Handles }> {
      const backend = await open();
      const h = declareAll(backend);
      await backend.restore(chains, checkpointId === undefined ? {} : { checkpointId });
      return { backend, h };
    }

    describe('value state', () => {
      it('put, get, has, delete, entries; string and number keys are distinct; -0 is 0', async () => {
        const h = declareAll(await open());
        expect(h.v.get('a')).toBeUndefined();
        expect(h.v.has('a')).toBe(false);
        h.v.put('a', 'x');
        h.v.put(1, 'one');
        h.v.put('1', 'string one');
        h.v.put(-0, 'zero');
        expect(h.v.get('a')).toBe('x');
        expect(h.v.get(1)).toBe('one');
        expect(h.v.get('1')).toBe('string one');
        expect(h.v.get(0)).toBe('zero');
        h.v.put('a', 'y');
        expect(h.v.get('a')).toBe('y');
        h.v.delete('a');
        h.v.delete('never');
        expect(h.v.has('a')).toBe(false);
        expect(dump(h)).toMatchObject({ v: [[0, 'zero'], [1, 'one'], ['1', 'string one']] });
      });

      it('keys other than strings and finite numbers are refused', async () => {
        const h = declareAll(await open());
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, null, undefined, {}, true]) {
          await expectCode(() => h.v.put(bad as unknown as StateKey, 'x'), ErrorCodes.INVALID_ARGUMENT);
        }
      });

      it('operators are namespaces: the same state name in two operators is two states', async () => {
        const h = declareAll(await open());
        h.v.put('k', 'a');
        h.other.put('k', 'b');
        expect(h.v.get('k')).toBe('a');
        expect(h.other.get('k')).toBe('b');
        h.v.delete('k');
        expect(h.other.get('k')).toBe('b');
      });

      it('declaring a state again returns it; a different kind or version is refused', async () => {
        const backend = await open();
        const a = backend.operator('op');
        const first = a.value<number>('s');
        first.put('k', 1);
        expect(a.value<number>('s').get('k')).toBe(1);
        await expectCode(() => a.map('s'), ErrorCodes.INVALID_ARGUMENT);
        await expectCode(() => a.value('s', { version: 2 }), ErrorCodes.INVALID_ARGUMENT);
        await expectCode(() => a.window('w', { ttl: { ttlMs: 5 } }), ErrorCodes.INVALID_ARGUMENT);
      });
    });

    describe('map state', () => {
      it('put, get, delete, entries, clear(key), keys', async () => {
        const h = declareAll(await open());
        h.m.put('u1', 'a', 1);
        h.m.put('u1', 'b', 2);
        h.m.put('u2', 7, 3);
        expect(h.m.get('u1', 'b')).toBe(2);
        expect(h.m.get('u1', 'c')).toBeUndefined();
        expect(h.m.get('nobody', 'a')).toBeUndefined();
        h.m.delete('u1', 'a');
        expect(h.m.entries('u1')).toEqual([['b', 2]]);
        expect(h.m.keys().sort()).toEqual(['u1', 'u2']);
        h.m.clear('u1');
        expect(h.m.entries('u1')).toEqual([]);
        expect(h.m.keys()).toEqual(['u2']);
        h.m.delete('u2', 7);
        expect(h.m.keys()).toEqual([]);
      });
    });

    describe('window state', () => {
      it('put, get, delete; windows() lists non-empty windows by end then start; deleteWindow', async () => {
        const h = declareAll(await open());
        h.w.put('a', 10, 20, 1.5);
        h.w.put('b', 10, 20, 2);
        h.w.put('a', 0, 20, 3);
        h.w.put('a', 0, 10, 4);
        h.w.put(5, 20, 30, 5);
        expect(h.w.get('a', 10, 20)).toBe(1.5);
        expect(h.w.get('a', 0, 20)).toBe(3);
        expect(h.w.get('a', 20, 30)).toBeUndefined();
        expect(h.w.windows()).toEqual([
          { startMs: 0, endMs: 10 },
          { startMs: 0, endMs: 20 },
          { startMs: 10, endMs: 20 },
          { startMs: 20, endMs: 30 },
        ]);
        expect(h.w.entries(10, 20).sort()).toEqual([
          ['a', 1.5],
          ['b', 2],
        ]);
        h.w.deleteWindow(10, 20);
        expect(h.w.get('a', 10, 20)).toBeUndefined();
        expect(h.w.entries(10, 20)).toEqual([]);
        h.w.delete('a', 0, 10);
        expect(h.w.windows()).toEqual([
          { startMs: 0, endMs: 20 },
          { startMs: 20, endMs: 30 },
        ]);
        h.w.put('c', 10, 20, 9);
        expect(h.w.entries(10, 20)).toEqual([['c', 9]]);
      });

      it('refuses windows without finite bounds or with end <= start', async () => {
        const h = declareAll(await open());
        for (const [s, e] of [
          [10, 10],
          [10, 5],
          [Number.NaN, 5],
          [0, Number.POSITIVE_INFINITY],
        ] as const) {
          await expectCode(() => h.w.put('k', s, e, 1), ErrorCodes.INVALID_ARGUMENT);
        }
      });
    });

    describe('timers', () => {
      it('fire in time order; one timer per (time, key); delete; nextTimeMs; size', async () => {
        const h = declareAll(await open());
        h.t.register(30, 'a');
        h.t.register(10, 'b');
        h.t.register(20, 'c');
        h.t.register(10, 'b');
        h.t.register(10, 'a');
        h.t.register(40, 'd');
        expect(h.t.size).toBe(5);
        expect(h.t.has(10, 'b')).toBe(true);
        expect(h.t.nextTimeMs()).toBe(10);
        h.t.delete(20, 'c');
        h.t.delete(20, 'nope');
        expect(h.t.size).toBe(4);
        const due = h.t.popDue(30);
        expect(due.map((t) => t.timeMs)).toEqual([10, 10, 30]);
        expect(due.slice(0, 2).map((t) => t.key).sort()).toEqual(['a', 'b']);
        expect(due[2]).toEqual({ timeMs: 30, key: 'a' });
        expect(h.t.popDue(30)).toEqual([]);
        expect(h.t.size).toBe(1);
        expect(h.t.nextTimeMs()).toBe(40);
        h.t.register(35, 'e');
        expect(h.t.popDue(100).map((t) => t.timeMs)).toEqual([35, 40]);
        expect(h.t.nextTimeMs()).toBeUndefined();
      });

      it('the order of timers with equal time survives a snapshot and restore', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const keys = ['m', 3, 'a', 'z', 1, 'b', 'k'];
        for (const k of keys) h.t.register(50, k);
        const book = new ChainBook();
        const snap = await backend.snapshot(1);
        const chains = book.add(snap);
        const order = h.t.popDue(50).map((t) => t.key);
        const r = await restored(chains);
        expect(r.h.t.popDue(50).map((t) => t.key)).toEqual(order);
      });
    });

    describe('TTL (in the caller-given current time)', () => {
      it('an entry expires ttlMs after it was written; reads do not extend it; purgeExpired removes it', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const ops = backend.operator('op-a');
        ops.setCurrentTimeMs(1000);
        h.ttl.put('a', 'x');
        ops.setCurrentTimeMs(1050);
        h.ttl.put('b', 'y');
        expect(h.ttl.get('a')).toBe('x');
        ops.setCurrentTimeMs(1099);
        expect(h.ttl.get('a')).toBe('x');
        ops.setCurrentTimeMs(1100);
        expect(h.ttl.get('a')).toBeUndefined();
        expect(h.ttl.has('a')).toBe(false);
        expect(h.ttl.entries()).toEqual([['b', 'y']]);
        h.ttl.put('b', 'y2'); // rewriting restarts the clock
        ops.setCurrentTimeMs(1199);
        expect(h.ttl.get('b')).toBe('y2');
        ops.setCurrentTimeMs(1200);
        expect(ops.purgeExpired()).toBeGreaterThanOrEqual(1);
        expect(h.ttl.entries()).toEqual([]);
        // Time may also go backwards (processing time after a restart): entries are then visible again until purged.
      });

      it("updateOn 'readAndWrite': reads restart the clock", async () => {
        const backend = await open();
        const ops = backend.operator('op-r');
        const s = ops.value<number>('s', { ttl: { ttlMs: 10, updateOn: 'readAndWrite' } });
        const m = ops.map<number>('m', { ttl: { ttlMs: 10, updateOn: 'readAndWrite' } });
        ops.setCurrentTimeMs(0);
        s.put('k', 1);
        m.put('k', 'x', 2);
        for (let t = 5; t <= 50; t += 5) {
          ops.setCurrentTimeMs(t);
          expect(s.get('k')).toBe(1);
          expect(m.get('k', 'x')).toBe(2);
        }
        ops.setCurrentTimeMs(60);
        expect(s.get('k')).toBeUndefined();
        expect(m.get('k', 'x')).toBeUndefined();
        expect(m.keys()).toEqual([]);
      });

      it('writing a TTL state before any current time is set is refused (no hidden clock)', async () => {
        const h = declareAll(await open());
        await expectCode(() => h.ttl.put('a', 'x'), ErrorCodes.INVALID_ARGUMENT);
        h.v.put('a', 'x'); // states without TTL need no time
      });

      it('expiry times survive a snapshot and restore', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const ops = backend.operator('op-a');
        ops.setCurrentTimeMs(0);
        h.ttl.put('a', 'x');
        ops.setCurrentTimeMs(60);
        h.ttl.put('b', 'y');
        const book = new ChainBook();
        const r = await restored(book.add(await backend.snapshot(1)));
        const rops = r.backend.operator('op-a');
        rops.setCurrentTimeMs(99);
        expect(r.h.ttl.get('a')).toBe('x');
        rops.setCurrentTimeMs(100);
        expect(r.h.ttl.get('a')).toBeUndefined();
        expect(r.h.ttl.get('b')).toBe('y');
        rops.setCurrentTimeMs(160);
        expect(r.h.ttl.get('b')).toBeUndefined();
      });
    });

    describe('snapshots', () => {
      function fill(h: Handles, backend: StateBackend, n: number, seed: number): void {
        backend.operator('op-a').setCurrentTimeMs(0);
        for (let i = 0; i < n; i++) {
          const k = i % 3 === 0 ? i : `key-${i}`;
          h.v.put(k, `v${seed}-${i}`);
          h.m.put(`u${i % 7}`, k, i + seed);
          h.w.put(k, Math.floor(i / 10) * 10, Math.floor(i / 10) * 10 + 10, i * 0.5 + seed);
          h.t.register(i % 13, k);
          h.ttl.put(k, `t${i}`);
          h.other.put(k, 'o');
        }
      }

      it('a full snapshot restores everything, byte-identical when snapshotted again', async () => {
        const backend = await open();
        const h = declareAll(backend);
        fill(h, backend, 200, 1);
        const book = new ChainBook();
        const snap = await backend.snapshot(1);
        expect(snap.operators.map((o) => [o.operator, o.type, o.baseCheckpointId]).sort()).toEqual([
          ['op-a', 'full', null],
          ['op-b', 'full', null],
        ]);
        for (const o of snap.operators) expect(readSnapshotHeader(o.bytes)).toMatchObject({ operator: o.operator, type: 'full', checkpointId: 1 });
        const r = await restored(book.add(snap));
        r.backend.operator('op-a').setCurrentTimeMs(0);
        expect(dump(r.h)).toEqual(dump(h));
      });

      it('deltas hold what changed since the last completed checkpoint; a chain restores each point', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const book = new ChainBook();
        fill(h, backend, 300, 1);
        const expected = new Map<number, unknown>();
        let snap = await backend.snapshot(1);
        book.add(snap);
        backend.checkpointComplete(1);
        expected.set(1, dump(h));
        const fullBytes = snap.operators.find((o) => o.operator === 'op-a')!.bytes.length;
        for (let id = 2; id <= 6; id++) {
          // A few changes of every kind.
          h.v.put(`key-${id}`, `changed-${id}`);
          h.v.delete(id * 3);
          h.m.put('u1', `new-${id}`, id);
          h.m.clear(`u${id}`);
          h.w.put('fresh', 1000 + id, 2000, id);
          h.w.deleteWindow(id * 10, id * 10 + 10);
          h.w.delete(`key-${id * 10 + 1}`, 0, 10);
          h.t.popDue(id);
          h.t.register(100 + id, 'late');
          h.ttl.delete(`key-${id}`);
          snap = await backend.snapshot(id);
          const a = snap.operators.find((o) => o.operator === 'op-a')!;
          expect(a.type).toBe('delta');
          expect(a.baseCheckpointId).toBe(id - 1);
          expect(a.bytes.length).toBeLessThan(fullBytes / 2);
          book.add(snap);
          backend.checkpointComplete(id);
          expected.set(id, dump(h));
        }
        for (const [id, want] of expected) {
          const r = await restored(book.get(id), id);
          r.backend.operator('op-a').setCurrentTimeMs(0);
          expect(dump(r.h), `restore of checkpoint ${id}`).toEqual(want);
        }
      });

      it('an aborted checkpoint loses nothing: the next delta still carries its changes', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const book = new ChainBook();
        h.v.put('a', '1');
        book.add(await backend.snapshot(1));
        backend.checkpointComplete(1);
        h.v.put('b', '2');
        h.w.put('x', 0, 10, 1);
        await backend.snapshot(2);
        backend.checkpointAborted(2);
        h.v.put('c', '3');
        const snap3 = await backend.snapshot(3);
        expect(snap3.operators.find((o) => o.operator === 'op-a')!.baseCheckpointId).toBe(1);
        book.add(snap3);
        backend.checkpointComplete(3);
        const r = await restored(book.get(3), 3);
        expect(dump(r.h)).toEqual(dump(h));
      });

      it('a checkpoint completing while a later one is pending; snapshots capture the state at the call', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const book = new ChainBook();
        h.v.put('a', '1');
        book.add(await backend.snapshot(1));
        backend.checkpointComplete(1);
        h.v.put('b', '2');
        const p2 = backend.snapshot(2);
        h.v.put('b', 'changed after snapshot 2 was called');
        const at2 = { v: [['a', '1'], ['b', '2']] };
        const s2 = await p2;
        h.v.put('c', '3');
        const s3 = await backend.snapshot(3); // taken before 2 completes: a delta on 1
        book.add(s2);
        backend.checkpointComplete(2);
        book.add(s3);
        backend.checkpointComplete(3);
        expect(dump((await restored(book.get(2), 2)).h)).toMatchObject(at2);
        expect(dump((await restored(book.get(3), 3)).h)).toEqual(dump(h));
      });

      it('deltas continue from a restored checkpoint; a restore without a checkpoint id snapshots full next', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const book = new ChainBook();
        h.v.put('a', '1');
        book.add(await backend.snapshot(5));
        backend.checkpointComplete(5);
        const r = await restored(book.get(5), 5);
        r.h.v.put('b', '2');
        const next = await r.backend.snapshot(6);
        expect(next.operators.find((o) => o.operator === 'op-a')).toMatchObject({ type: 'delta', baseCheckpointId: 5 });
        book.add(next);
        r.backend.checkpointComplete(6);
        expect(dump((await restored(book.get(6), 6)).h)).toEqual(dump(r.h));
        const fromSavepoint = await restored(book.get(6));
        expect((await fromSavepoint.backend.snapshot(7)).operators.every((o) => o.type === 'full')).toBe(true);
      });

      it('a long chain is cut by a full snapshot (bounded restore work); { full: true } forces one', async () => {
        const backend = await open();
        const h = declareAll(backend);
        const types: string[] = [];
        for (let id = 1; id <= 25; id++) {
          h.v.put(`k${id}`, 'x');
          const snap = await backend.snapshot(id, { full: id === 25 });
          types.push(snap.operators.find((o) => o.operator === 'op-a')!.type);
          backend.checkpointComplete(id);
        }
        expect(types[0]).toBe('full');
        expect(types.slice(1, 21).every((t) => t === 'delta')).toBe(true);
        expect(types[21]).toBe('full');
        expect(types[24]).toBe('full');
      });

      it('snapshot ids must increase', async () => {
        const backend = await open();
        declareAll(backend);
        await backend.snapshot(3);
        await expectCode(() => backend.snapshot(3), ErrorCodes.ASSERTION_FAILED);
        await expectCode(() => backend.snapshot(2), ErrorCodes.ASSERTION_FAILED);
        await expectCode(() => backend.snapshot(0), ErrorCodes.INVALID_ARGUMENT);
      });

      it('a damaged snapshot or a broken chain is refused with FRESHET_CHECKPOINT_CORRUPT', async () => {
        const backend = await open();
        const h = declareAll(backend);
        h.v.put('a', '1');
        const s1 = await backend.snapshot(1);
        backend.checkpointComplete(1);
        h.v.put('b', '2');
        const s2 = await backend.snapshot(2);
        const a1 = s1.operators.find((o) => o.operator === 'op-a')!.bytes;
        const a2 = s2.operators.find((o) => o.operator === 'op-a')!.bytes;
        const flipped = Uint8Array.from(a1);
        flipped[Math.floor(flipped.length / 2)]! ^= 0x04;
        const target = await open();
        declareAll(target);
        await expectCode(() => target.restore(new Map([['op-a', [flipped]]])), ErrorCodes.CHECKPOINT_CORRUPT);
        await expectCode(() => target.restore(new Map([['op-a', [a1.subarray(0, a1.length - 3)]]])), ErrorCodes.CHECKPOINT_CORRUPT);
        await expectCode(() => target.restore(new Map([['op-a', [a2]]])), ErrorCodes.CHECKPOINT_CORRUPT);
        await expectCode(() => target.restore(new Map([['op-a', [a1, a1]]])), ErrorCodes.CHECKPOINT_CORRUPT);
        await expectCode(() => target.restore(new Map([['op-b', [a1]]])), ErrorCodes.CHECKPOINT_CORRUPT);
      });
    });

    describe('format versions, migrations and compatibility', () => {
      async function savedV1(): Promise<Map<string, Uint8Array[]>> {
        const backend = await open();
        const ops = backend.operator('counter');
        const s = ops.value<number>('n', { version: 1 });
        s.put('a', 1);
        s.put('b', 2);
        ops.map<number>('m', { version: 1 }).put('k', 'x', 5);
        return new ChainBook().add(await backend.snapshot(1));
      }

      it('a migration upgrades stored values from an older version', async () => {
        const chains = await savedV1();
        const backend = await open();
        const ops = backend.operator('counter');
        const { pack, unpack } = await import('msgpackr');
        const s = ops.value<{ count: number }>('n', {
          version: 3,
          migrations: { 1: (old) => pack({ count: unpack(old) as number }), 2: (old) => pack({ count: (unpack(old) as { count: number }).count * 10 }) },
        });
        const m = ops.map<string>('m', { version: 2, migrations: { 1: (old) => pack(`was ${unpack(old) as number}`) } });
        await backend.restore(chains);
        expect(s.get('a')).toEqual({ count: 10 });
        expect(s.get('b')).toEqual({ count: 20 });
        expect(m.get('k', 'x')).toBe('was 5');
      });

      it('a missing migration step, or a newer stored version, is FRESHET_STATE_MIGRATION_MISSING naming operator and state', async () => {
        const chains = await savedV1();
        const backend = await open();
        backend.operator('counter').value('n', { version: 3, migrations: { 1: (b) => b } });
        backend.operator('counter').map('m');
        const error = (await expectCode(() => backend.restore(chains), ErrorCodes.STATE_MIGRATION_MISSING)) as Error;
        expect(error.message).toContain("'counter'");
        expect(error.message).toContain("'n'");
        expect(error.message).toContain('version 2');

        const newer = await open();
        const ops = newer.operator('counter');
        ops.value<number>('n', { version: 1 }).put('a', 1);
        const chainsV1 = new ChainBook().add(await newer.snapshot(1));
        const older = await open();
        older.operator('counter').value('n', { version: 0 + 1 });
        await older.restore(chainsV1);
        const downgrade = await open();
        const d = downgrade.operator('counter');
        d.value('n', { version: 1 });
        const v2 = await open();
        v2.operator('counter').value<number>('n', { version: 2 }).put('a', 1);
        const chainsV2 = new ChainBook().add(await v2.snapshot(1));
        await expectCode(() => downgrade.restore(chainsV2), ErrorCodes.STATE_MIGRATION_MISSING);
      });

      it('a state saved as another kind is FRESHET_STATE_INCOMPATIBLE; an undeclared state too, unless allowNonRestoredState', async () => {
        const chains = await savedV1();
        const wrongKind = await open();
        wrongKind.operator('counter').map('n');
        wrongKind.operator('counter').map('m');
        const e1 = (await expectCode(() => wrongKind.restore(chains), ErrorCodes.STATE_INCOMPATIBLE)) as Error;
        expect(e1.message).toContain("'counter'");
        const undeclared = await open();
        const kept = undeclared.operator('counter').value<number>('n');
        await expectCode(() => undeclared.restore(chains), ErrorCodes.STATE_INCOMPATIBLE);
        await undeclared.restore(chains, { allowNonRestoredState: true });
        expect(kept.get('b')).toBe(2);
      });

      it('state of an operator that declares nothing is FRESHET_STATE_NOT_RESTORED unless allowNonRestoredState', async () => {
        const chains = await savedV1();
        const backend = await open();
        const other = backend.operator('other').value<number>('x');
        other.put('stale', 1);
        await expectCode(() => backend.restore(chains), ErrorCodes.STATE_NOT_RESTORED);
        await backend.restore(chains, { allowNonRestoredState: true });
        // A restore replaces everything: operators absent from the chains start empty.
        expect(other.get('stale')).toBeUndefined();
      });
    });

    it('use after close fails with FRESHET_STATE_CLOSED', async () => {
      const backend = await open();
      declareAll(backend);
      await backend.close();
      await expectCode(() => backend.operator('x'), ErrorCodes.STATE_CLOSED);
      await expectCode(() => backend.snapshot(1), ErrorCodes.STATE_CLOSED);
      await expectCode(() => backend.restore(new Map()), ErrorCodes.STATE_CLOSED);
    });

    describe('model test (fast-check): random operations, checkpoints and restores against plain Maps', () => {
      const keyArb = fc.constantFrom<StateKey>('a', 'b', 'c', 'k-long-key', 0, 1, 2, -7.5);
      const windowArb = fc.constantFrom<[number, number]>([0, 10], [10, 20], [0, 20], [-5, 5]);
      const opArb = fc.oneof(
        { weight: 6, arbitrary: fc.record({ op: fc.constant('vput' as const), k: keyArb, v: fc.string({ maxLength: 6 }) }) },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('vdel' as const), k: keyArb }) },
        { weight: 4, arbitrary: fc.record({ op: fc.constant('mput' as const), k: keyArb, mk: keyArb, n: fc.integer({ min: -5, max: 5 }) }) },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('mdel' as const), k: keyArb, mk: keyArb }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('mclear' as const), k: keyArb }) },
        { weight: 6, arbitrary: fc.record({ op: fc.constant('wput' as const), k: keyArb, w: windowArb, n: fc.double({ noNaN: true, noDefaultInfinity: true }) }) },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('wdel' as const), k: keyArb, w: windowArb }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('wdelwin' as const), w: windowArb }) },
        { weight: 3, arbitrary: fc.record({ op: fc.constant('treg' as const), t: fc.integer({ min: 0, max: 30 }), k: keyArb }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('tdel' as const), t: fc.integer({ min: 0, max: 30 }), k: keyArb }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('tpop' as const), t: fc.integer({ min: 0, max: 30 }) }) },
        { weight: 3, arbitrary: fc.record({ op: fc.constant('ttlput' as const), k: keyArb, v: fc.string({ maxLength: 3 }) }) },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('time' as const), dt: fc.integer({ min: 0, max: 60 }) }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('oput' as const), k: keyArb }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('clearop' as const) }) },
        { weight: 4, arbitrary: fc.record({ op: fc.constant('snap' as const), full: fc.integer({ min: 0, max: 3 }).map((n) => n === 0) }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('abort' as const) }) },
        { weight: 3, arbitrary: fc.record({ op: fc.constant('restore' as const) }) },
      );

      interface Model {
        v: Map<StateKey, string>;
        m: Map<StateKey, Map<StateKey, number>>;
        w: Map<string, Map<StateKey, number>>;
        t: Map<number, Set<StateKey>>;
        ttl: Map<StateKey, { v: string; exp: number }>;
        other: Map<StateKey, string>;
        now: number;
      }
      const emptyModel = (): Model => ({ v: new Map(), m: new Map(), w: new Map(), t: new Map(), ttl: new Map(), other: new Map(), now: 0 });
      const cloneModel = (x: Model): Model => ({
        v: new Map(x.v),
        m: new Map([...x.m].map(([k, mm]) => [k, new Map(mm)])),
        w: new Map([...x.w].map(([k, mm]) => [k, new Map(mm)])),
        t: new Map([...x.t].map(([k, s]) => [k, new Set(s)])),
        ttl: new Map(x.ttl),
        other: new Map(x.other),
        now: x.now,
      });
      const nk = (k: StateKey): StateKey => (k === 0 ? 0 : k);
      const sorted = <T>(m: Map<StateKey, T>): [StateKey, T][] => [...m].sort((a, b) => cmpKey(a[0], b[0]));
      const dumpModel = (x: Model): unknown => {
        const timerCount = [...x.t.values()].reduce((n, s) => n + s.size, 0);
        const times = [...x.t.keys()].filter((t) => x.t.get(t)!.size > 0).sort((a, b) => a - b);
        return {
          v: sorted(x.v),
          m: [...x.m]
            .filter(([, mm]) => mm.size > 0)
            .sort((a, b) => cmpKey(a[0], b[0]))
            .map(([k, mm]) => [k, sorted(mm)]),
          w: [...x.w]
            .filter(([, mm]) => mm.size > 0)
            .map(([id, mm]) => {
              const [s, e] = id.split('|').map(Number) as [number, number];
              return [s, e, sorted(mm)] as const;
            })
            .sort((a, b) => a[1] - b[1] || a[0] - b[0]),
          ttl: sorted(new Map([...x.ttl].filter(([, e]) => e.exp > x.now).map(([k, e]) => [k, e.v]))),
          timers: timerCount,
          next: times[0] ?? null,
          other: sorted(x.other),
        };
      };

      it('every read agrees with the model; every restored checkpoint equals the model at that checkpoint', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 150, size: 'max' }), async (ops) => {
            let backend = await open();
            let h = declareAll(backend);
            let model = emptyModel();
            backend.operator('op-a').setCurrentTimeMs(0);
            const book = new ChainBook();
            const atCheckpoint = new Map<number, Model>();
            let nextId = 1;
            let lastCompleted: number | null = null;
            for (const o of ops) {
              switch (o.op) {
                case 'vput':
                  h.v.put(o.k, o.v);
                  model.v.set(nk(o.k), o.v);
                  break;
                case 'vdel':
                  h.v.delete(o.k);
                  model.v.delete(nk(o.k));
                  break;
                case 'mput': {
                  h.m.put(o.k, o.mk, o.n);
                  let mm = model.m.get(nk(o.k));
                  if (!mm) model.m.set(nk(o.k), (mm = new Map()));
                  mm.set(nk(o.mk), o.n);
                  break;
                }
                case 'mdel':
                  h.m.delete(o.k, o.mk);
                  model.m.get(nk(o.k))?.delete(nk(o.mk));
                  break;
                case 'mclear':
                  h.m.clear(o.k);
                  model.m.delete(nk(o.k));
                  break;
                case 'wput': {
                  h.w.put(o.k, o.w[0], o.w[1], o.n);
                  const id = `${o.w[0]}|${o.w[1]}`;
                  let mm = model.w.get(id);
                  if (!mm) model.w.set(id, (mm = new Map()));
                  mm.set(nk(o.k), o.n);
                  break;
                }
                case 'wdel':
                  h.w.delete(o.k, o.w[0], o.w[1]);
                  model.w.get(`${o.w[0]}|${o.w[1]}`)?.delete(nk(o.k));
                  break;
                case 'wdelwin':
                  h.w.deleteWindow(o.w[0], o.w[1]);
                  model.w.delete(`${o.w[0]}|${o.w[1]}`);
                  break;
                case 'treg': {
                  h.t.register(o.t, o.k);
                  let s = model.t.get(o.t);
                  if (!s) model.t.set(o.t, (s = new Set()));
                  s.add(nk(o.k));
                  break;
                }
                case 'tdel':
                  h.t.delete(o.t, o.k);
                  model.t.get(o.t)?.delete(nk(o.k));
                  break;
                case 'tpop': {
                  const got = h.t.popDue(o.t);
                  const want: [number, StateKey[]][] = [...model.t]
                    .filter(([t, s]) => t <= o.t && s.size > 0)
                    .sort((a, b) => a[0] - b[0])
                    .map(([t, s]) => [t, [...s].sort(cmpKey)]);
                  for (const [t] of want) model.t.delete(t);
                  const times = got.map((x) => x.timeMs);
                  expect(times).toEqual([...times].sort((a, b) => a - b));
                  const grouped = new Map<number, StateKey[]>();
                  for (const x of got) grouped.set(x.timeMs, [...(grouped.get(x.timeMs) ?? []), x.key]);
                  expect([...grouped].map(([t, ks]) => [t, ks.sort(cmpKey)])).toEqual(want);
                  break;
                }
                case 'ttlput':
                  h.ttl.put(o.k, o.v);
                  model.ttl.set(nk(o.k), { v: o.v, exp: model.now + TTL_MS });
                  break;
                case 'time':
                  model.now += o.dt;
                  backend.operator('op-a').setCurrentTimeMs(model.now);
                  break;
                case 'oput':
                  h.other.put(o.k, 'other');
                  model.other.set(nk(o.k), 'other');
                  break;
                case 'clearop': {
                  backend.operator('op-a').clear();
                  const other = model.other;
                  const now = model.now;
                  model = emptyModel();
                  model.other = other;
                  model.now = now;
                  break;
                }
                case 'snap': {
                  const id = nextId++;
                  const snap = await backend.snapshot(id, { full: o.full });
                  book.add(snap);
                  backend.checkpointComplete(id);
                  atCheckpoint.set(id, cloneModel(model));
                  lastCompleted = id;
                  break;
                }
                case 'abort': {
                  const id = nextId++;
                  await backend.snapshot(id);
                  backend.checkpointAborted(id);
                  break;
                }
                case 'restore': {
                  if (lastCompleted === null) break;
                  // Crash and recover: a fresh backend from the last completed checkpoint takes over.
                  await backend.close();
                  backend = await open();
                  h = declareAll(backend);
                  await backend.restore(book.get(lastCompleted), { checkpointId: lastCompleted });
                  model = cloneModel(atCheckpoint.get(lastCompleted)!);
                  backend.operator('op-a').setCurrentTimeMs(model.now);
                  expect(dump(h), `restore of checkpoint ${lastCompleted}`).toEqual(dumpModel(model));
                  break;
                }
              }
              // Point reads after every operation.
              if ('k' in o) {
                expect(h.v.get(o.k)).toEqual(model.v.get(nk(o.k)));
                const e = model.ttl.get(nk(o.k));
                expect(h.ttl.get(o.k)).toEqual(e !== undefined && e.exp > model.now ? e.v : undefined);
              }
            }
            expect(dump(h)).toEqual(dumpModel(model));
            await backend.close();
          }),
          { numRuns: factory.modelRuns ?? 60 },
        );
      });
    });
  });
}
