/**
 * The contract every view kind passes (kv, timeseries, table): applied streams match a brute-force
 * reference, positions and freshness, duplicate delivery and replayed tails change nothing, the change
 * feed. Each kind's test file calls `runViewContract` with a harness.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { viewTopic, type ViewDefinition, type ViewKind, type ViewUpdate } from '../../src/plan/view-update.js';
import type { View, ViewChange } from '../../src/serving/view.js';

/** How a kind is created and read back as a canonical Map: row id -> value. */
export interface ViewHarness {
  readonly kind: ViewKind;
  create(definition: ViewDefinition, clock: ManualClock): Promise<View>;
  /** Row id is `key` (kv) or `key|windowStartMs` (timeseries, table); value as stored. */
  snapshot(view: View): Promise<Map<string, unknown>>;
  /** Called after each test's views are done (close databases...). */
  cleanup?(): Promise<void>;
}

let viewCounter = 0;

export function definition(kind: ViewKind, extra: Partial<ViewDefinition> = {}): ViewDefinition {
  const name = `v${++viewCounter}-${kind}`;
  return { name, kind, pipeline: 'test', topic: viewTopic(name), ...extra };
}

/** The reference: what a view of this kind must hold after `updates`, applied in order. */
export function reference(kind: ViewKind, updates: readonly ViewUpdate[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (kind === 'kv') {
    const rank = new Map<string, number>();
    for (const u of updates) {
      const r = u.windowStartMs ?? -Infinity;
      const cur = rank.get(u.key);
      if (out.has(u.key) && cur !== undefined && r < cur) continue;
      if (u.deleted) {
        out.delete(u.key);
        rank.delete(u.key);
      } else {
        out.set(u.key, u.value);
        rank.set(u.key, r);
      }
    }
    return out;
  }
  for (const u of updates) {
    const id = `${u.key}|${u.windowStartMs ?? u.eventTimeMs}`;
    if (u.deleted) out.delete(id);
    else out.set(id, u.value);
  }
  return out;
}

/** Deterministic key -> partition (same key, same partition, as the log's partitioner guarantees). */
export function partitionOf(key: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return Math.abs(h) % partitions;
}

const KEYS = ['a', 'b', 'c', "it's", 'd/e', 'ünï'];

/** Random updates: few keys and windows so that rows are replaced and deleted often. */
export function updateArb(kind: ViewKind): fc.Arbitrary<ViewUpdate> {
  return fc
    .record({
      key: fc.constantFrom(...KEYS),
      w: fc.integer({ min: 0, max: 4 }),
      windowed: kind === 'kv' ? fc.boolean() : fc.constant(true),
      n: fc.integer({ min: -1000, max: 1000 }),
      s: fc.string({ maxLength: 6 }),
      more: fc.boolean(),
      deleted: fc.integer({ min: 0, max: 6 }).map((x) => x === 0),
      final: fc.boolean(),
    })
    .map(({ key, w, windowed, n, s, more, deleted, final }): ViewUpdate => {
      const ws = w * 60_000;
      const value = more ? { n, s, more: n % 2 === 0 } : { n, s };
      return {
        key,
        value,
        eventTimeMs: ws + 59_999,
        ...(windowed && { windowStartMs: ws, windowEndMs: ws + 60_000 }),
        final,
        ...(deleted && { deleted: true }),
      };
    });
}

interface Delivery {
  partition: number;
  offsets: number[];
  updates: ViewUpdate[];
}

/** Splits a stream into per-partition batches (offsets from `base`), in a random interleaving. */
function batches(updates: readonly ViewUpdate[], partitions: number, cuts: readonly number[], base: number[] = []): Delivery[] {
  const per: { offsets: number[]; updates: ViewUpdate[] }[] = Array.from({ length: partitions }, () => ({ offsets: [], updates: [] }));
  const next = Array.from({ length: partitions }, (_, p) => base[p] ?? 0);
  for (const u of updates) {
    const p = partitionOf(u.key, partitions);
    per[p]!.offsets.push(next[p]!++);
    per[p]!.updates.push(u);
  }
  const out: Delivery[] = [];
  let c = 0;
  const pos = per.map(() => 0);
  // Round-robin over partitions, batch sizes from `cuts`.
  for (;;) {
    let any = false;
    for (let p = 0; p < partitions; p++) {
      const s = per[p]!;
      if (pos[p]! >= s.updates.length) continue;
      any = true;
      const size = 1 + ((cuts[c++ % Math.max(1, cuts.length)] ?? 3) % 7);
      const end = Math.min(s.updates.length, pos[p]! + size);
      out.push({ partition: p, offsets: s.offsets.slice(pos[p], end), updates: s.updates.slice(pos[p], end) });
      pos[p] = end;
    }
    if (!any) return out;
  }
}

async function applyAll(view: View, deliveries: readonly Delivery[]): Promise<void> {
  for (const d of deliveries) await view.apply(d);
}

/** The shared contract suite. */
export function runViewContract(harness: ViewHarness): void {
  const { kind } = harness;
  const runs = kind === 'table' ? 25 : 100;

  describe(`view contract: ${kind}`, () => {
    it('holds what a brute-force reference holds after a stream, and reports positions and freshness', async () => {
      const clock = new ManualClock(1_000);
      const view = await harness.create(definition(kind), clock);
      const updates: ViewUpdate[] = [
        { key: 'a', value: { n: 1, s: 'x' }, eventTimeMs: 10, windowStartMs: 0, windowEndMs: 60_000 },
        { key: 'b', value: { n: 2, s: 'y' }, eventTimeMs: 20, windowStartMs: 0, windowEndMs: 60_000 },
        { key: 'a', value: { n: 3, s: 'z' }, eventTimeMs: 70_000, windowStartMs: 60_000, windowEndMs: 120_000 },
        { key: 'b', value: { n: 4, s: 'w' }, eventTimeMs: 30, windowStartMs: 0, windowEndMs: 60_000 },
      ];
      await view.apply({ partition: 0, offsets: [0, 1], updates: updates.slice(0, 2) });
      clock.advance(5);
      await view.apply({ partition: 1, offsets: [7, 9], updates: updates.slice(2) });
      expect(await harness.snapshot(view)).toEqual(reference(kind, updates));
      const f = view.freshness();
      expect(f.positions).toEqual([
        { partition: 0, nextOffset: 2 },
        { partition: 1, nextOffset: 10 },
      ]);
      expect(f.lastUpdateMs).toBe(1_005);
      expect(f.maxEventTimeMs).toBe(70_000);
      expect(f.appliedUpdates).toBe(4);
      expect(view.position(1)).toBe(10);
      view.advance(1, 12);
      expect(view.position(1)).toBe(12);
      view.advance(1, 3); // never backwards
      expect(view.position(1)).toBe(12);
      await view.close();
      await expect(view.apply({ partition: 0, offsets: [5], updates: updates.slice(0, 1) })).rejects.toThrow(/closed/);
      await harness.cleanup?.();
    });

    it('deletes remove the row; a delete of an absent row is a no-op', async () => {
      const view = await harness.create(definition(kind), new ManualClock(0));
      const w = { windowStartMs: 0, windowEndMs: 60_000 };
      const updates: ViewUpdate[] = [
        { key: 'a', value: { n: 1, s: '' }, eventTimeMs: 1, ...w },
        { key: 'a', value: null, eventTimeMs: 2, ...w, deleted: true },
        { key: 'zz', value: null, eventTimeMs: 3, ...w, deleted: true },
        { key: 'b', value: { n: 2, s: '' }, eventTimeMs: 4, ...w },
      ];
      await view.apply({ partition: 0, offsets: [0, 1, 2, 3], updates });
      expect(await harness.snapshot(view)).toEqual(reference(kind, updates));
      expect([...(await harness.snapshot(view)).keys()]).toHaveLength(1);
      await view.close();
      await harness.cleanup?.();
    });

    it('randomised: any batching, interleaving and duplicate redelivery gives the reference view', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(updateArb(kind), { minLength: 1, maxLength: 60 }),
          fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          fc.integer({ min: 1, max: 3 }),
          async (updates, cuts, redeliver, partitions) => {
            const view = await harness.create(definition(kind), new ManualClock(0));
            const deliveries = batches(updates, partitions, cuts);
            // Redeliver some earlier batches (at-least-once delivery) at random later points.
            const schedule: Delivery[] = [];
            for (let i = 0; i < deliveries.length; i++) {
              schedule.push(deliveries[i]!);
              for (const r of redeliver) if (r % deliveries.length === i) schedule.push(deliveries[(r * 7) % (i + 1)]!);
            }
            let changes = 0;
            view.changes.subscribe((c) => (changes += c.length));
            await applyAll(view, schedule);
            expect(await harness.snapshot(view)).toEqual(reference(kind, updates));
            // Duplicates are skipped by position: exactly one change per update.
            expect(changes).toBe(updates.length);
            expect(view.freshness().appliedUpdates).toBe(updates.length);
            // The whole stream delivered again: nothing changes.
            await applyAll(view, deliveries);
            expect(changes).toBe(updates.length);
            expect(await harness.snapshot(view)).toEqual(reference(kind, updates));
            await view.close();
          },
        ),
        { numRuns: runs },
      );
      await harness.cleanup?.();
    });

    it('randomised: a replayed tail written again under new offsets (recovery) converges to the same view', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(updateArb(kind), { minLength: 1, maxLength: 50 }), fc.nat(), fc.array(fc.nat(), { minLength: 1, maxLength: 10 }), async (updates, tailSeed, cuts) => {
          const partitions = 2;
          const view = await harness.create(definition(kind), new ManualClock(0));
          await applyAll(view, batches(updates, partitions, cuts));
          // Per partition, the last k updates again, as a recovering pipeline re-emits them after its checkpoint.
          const k = tailSeed % (updates.length + 1);
          const tail = updates.slice(updates.length - k);
          const base = [0, 1].map((p) => view.position(p));
          await applyAll(view, batches(tail, partitions, cuts, base));
          expect(await harness.snapshot(view)).toEqual(reference(kind, updates));
          await view.close();
        }),
        { numRuns: runs },
      );
      await harness.cleanup?.();
    });

    it('publishes applied changes with increasing sequence numbers, resumable from a bounded ring', async () => {
      const view = await harness.create(definition(kind), new ManualClock(0));
      const seen: ViewChange[] = [];
      const unsubscribe = view.changes.subscribe((c) => seen.push(...c));
      const u = (key: string, n: number): ViewUpdate => ({ key, value: { n, s: '' }, eventTimeMs: n, windowStartMs: n * 60_000, windowEndMs: (n + 1) * 60_000 });
      await view.apply({ partition: 0, offsets: [0, 1, 2], updates: [u('a', 0), u('b', 1), u('a', 2)] });
      await view.apply({ partition: 0, offsets: [1, 2, 3], updates: [u('b', 1), u('a', 2), u('c', 3)] });
      expect(seen.map((c) => [c.seq, c.offset, c.update.key])).toEqual([
        [1, 0, 'a'],
        [2, 1, 'b'],
        [3, 2, 'a'],
        [4, 3, 'c'],
      ]);
      expect(view.changes.since(2)!.map((c) => c.seq)).toEqual([3, 4]);
      expect(view.changes.since(4)).toEqual([]);
      unsubscribe();
      await view.apply({ partition: 1, offsets: [0], updates: [u('d', 4)] });
      expect(seen).toHaveLength(4);
      expect(view.changes.lastSeq).toBe(5);
      await view.close();
      await harness.cleanup?.();
    });
  });
}
