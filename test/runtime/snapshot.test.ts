import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { aggregate, count, max, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { hopping, session, sliding, tumbling } from '../../src/dsl/windows.js';
import type { PipelineDefinition } from '../../src/plan/plan.js';
import { type CompiledGraph, compile } from '../../src/runtime/compile.js';
import { type SnapshotPiece, restoreOperators, snapshotOperators } from '../../src/runtime/checkpointing.js';
import { isStateful } from '../../src/runtime/operators/stateful.js';
import { LmdbStateBackend } from '../../src/state/lmdb/lmdb-backend.js';
import { TempDirs } from '../helpers/temp-dir.js';

/**
 * Checkpoint/restore of every stateful operator: run a graph over random, out-of-order, late and
 * duplicated ticks; at a random tick boundary snapshot every operator through msgpack bytes, restore
 * into a fresh graph and continue there. The outputs (before + after) must equal an uninterrupted run,
 * record for record and in order.
 */
interface Ev {
  key: string;
  ts: number;
  v: number;
}
type Tick = { topic: string; partition: number; events: Ev[] }[];

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32;
}

function makeTicks(seed: number, topics: readonly string[], tickCount: number): Tick[] {
  const rand = prng(seed);
  const ticks: Tick[] = [];
  const sent: Ev[] = [];
  let clock = 10_000;
  for (let t = 0; t < tickCount; t++) {
    const tick: Tick = [];
    for (const topic of topics) {
      for (let partition = 0; partition < 2; partition++) {
        const events: Ev[] = [];
        for (let n = Math.floor(rand() * 6); n > 0; n--) {
          const r = rand();
          const e =
            r < 0.07 && sent.length > 0
              ? sent[Math.floor(rand() * sent.length)]!
              : { key: `k${Math.floor(rand() * 5)}`, ts: Math.max(0, clock + (r < 0.15 ? -Math.floor(rand() * 3000) : Math.floor((rand() - 0.5) * 400))), v: Math.floor(rand() * 100) };
          events.push(e);
          sent.push(e);
        }
        if (events.length > 0) tick.push({ topic, partition, events });
      }
    }
    clock += Math.floor(rand() * 400);
    ticks.push(tick);
  }
  return ticks;
}

function build(def: PipelineDefinition): CompiledGraph {
  return compile(def.plan(), { partitionsOf: () => 2, nowMs: 0 });
}

function runTick(graph: CompiledGraph, tick: Tick): void {
  for (const { topic, partition, events } of tick) {
    // Tables first within a tick, as the runner reads them first in a round.
    for (const source of graph.sources) {
      if (source.node.topic !== topic) continue;
      source.pushPartition(partition, { values: events, timestamps: events.map((e) => e.ts), keys: source.node.role === 'table' ? events.map((e) => e.key) : null }, 0);
    }
  }
  for (const source of graph.sources) source.updateWatermark(0);
}

function snapshotBytes(graph: CompiledGraph): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const op of new Set(graph.operators.values())) if (isStateful(op)) out.set(op.name, pack(op.snapshotState()));
  return out;
}

function restore(graph: CompiledGraph, snapshots: Map<string, Buffer>): void {
  for (const op of new Set(graph.operators.values())) {
    if (!isStateful(op)) continue;
    const bytes = snapshots.get(op.name);
    expect(bytes, `snapshot of ${op.name}`).toBeDefined();
    op.restoreState(unpack(bytes!) as unknown[]);
  }
}

const seq = (g: CompiledGraph, sink: string): string[] => (g.collected.get(sink) ?? []).map((r) => JSON.stringify(r));

const outputOf = (graph: CompiledGraph): unknown[] => [...(graph.collected.get('out') ?? []), ...(graph.collected.get('late') ?? [])].map((r) => JSON.stringify(r));

const PIPELINES: Record<string, { topics: string[]; def: () => PipelineDefinition }> = {
  tumbling: {
    topics: ['events'],
    def: () =>
      pipeline('t', (p) => {
        const w = p.source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 500 }).keyBy((e) => e.key).window(tumbling({ sizeMs: 1_000 }), { allowedLatenessMs: 800, emit: 'updates' }).aggregate(aggregate({ n: count(), total: sum((e: Ev) => e.v) }));
        w.collect('out');
        w.lateRecords().collect('late');
      }),
  },
  hopping: {
    topics: ['events'],
    def: () =>
      pipeline('h', (p) => {
        p.source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 300 }).keyBy((e) => e.key).window(hopping({ sizeMs: 2_000, advanceMs: 500 })).aggregate(max((e: Ev) => e.v)).collect('out');
      }),
  },
  session: {
    topics: ['events'],
    def: () =>
      pipeline('s', (p) => {
        const w = p.source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 200 }).keyBy((e) => e.key).window(session({ gapMs: 300 }), { allowedLatenessMs: 1_000, emit: 'updates' }).aggregate(sum((e: Ev) => e.v));
        w.collect('out');
        w.lateRecords().collect('late');
      }),
  },
  sliding: {
    topics: ['events'],
    def: () =>
      pipeline('sl', (p) => {
        p.source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 200 }).keyBy((e) => e.key).window(sliding({ maxDifferenceMs: 500 }), { allowedLatenessMs: 300 }).aggregate(count()).collect('out');
      }),
  },
  intervalJoin: {
    topics: ['left', 'right'],
    def: () =>
      pipeline('ij', (p) => {
        const left = p.source<Ev>('left', { eventTime: 'ts', maxOutOfOrderMs: 200 }).keyBy((e) => e.key);
        const right = p.source<Ev>('right', { eventTime: 'ts', maxOutOfOrderMs: 200 }).keyBy((e) => e.key);
        const j = left.intervalJoin(right, { beforeMs: 300, afterMs: 100 }, (l, r) => ({ l: l.v, r: r.v }));
        j.collect('out');
        j.lateRecords().collect('late');
      }),
  },
  tableJoin: {
    topics: ['rows', 'events'],
    def: () =>
      pipeline('tj', (p) => {
        const rows = p.table<Ev>('rows', { key: (r) => r.key });
        p.source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 200 })
          .leftJoin(rows, { key: (e) => e.key }, (e, r) => ({ e: e.v, r: r?.v ?? null }))
          .collect('out');
      }),
  },
};

describe('operator snapshots restore exactly', () => {
  it.each(Object.keys(PIPELINES))('%s: snapshot at a random tick, restore in a fresh graph, same output as an uninterrupted run', (name) => {
    const { topics, def } = PIPELINES[name]!;
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 40 }), (seed, cut) => {
        const ticks = makeTicks(seed, topics, 40);
        const whole = build(def());
        for (const tick of ticks) runTick(whole, tick);
        for (const s of whole.sources) s.finish();

        const first = build(def());
        for (const tick of ticks.slice(0, cut)) runTick(first, tick);
        const snapshots = snapshotBytes(first);
        const second = build(def());
        restore(second, snapshots);
        for (const tick of ticks.slice(cut)) runTick(second, tick);
        for (const s of second.sources) s.finish();
        expect([...outputOf(first), ...outputOf(second)].sort()).toEqual(outputOf(whole).sort());
        // In order, per output sink: before the cut from the first graph, after it from the second.
        const seq = (g: CompiledGraph, sink: string) => (g.collected.get(sink) ?? []).map((r) => JSON.stringify(r));
        for (const sink of ['out', 'late']) expect([...seq(first, sink), ...seq(second, sink)]).toEqual(seq(whole, sink));
      }),
      { numRuns: 60 },
    );
  });

  it.each(Object.keys(PIPELINES))('%s: a full snapshot then deltas at random ticks; the chain restores to the same output as an uninterrupted run', (name) => {
    const { topics, def } = PIPELINES[name]!;
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), fc.integer({ min: 0, max: 40 }), (seed, checkpointAt, crashAt) => {
        const ticks = makeTicks(seed, topics, 40);
        const whole = build(def());
        for (const tick of ticks) runTick(whole, tick);
        for (const s of whole.sources) s.finish();

        // Checkpoints as the runner takes them: the first full, later ones deltas on the previous one
        // where an operator tracks its changes; each operator's chain restarts at its newest full piece.
        const first = build(def());
        const chains = new Map<string, SnapshotPiece[]>();
        let id = 0;
        const checkpoint = () => {
          const pieces = snapshotOperators(first.operators, id === 0 ? undefined : id);
          id++;
          // Copies, as a checkpoint store's files are.
          for (const [op, [piece]] of pieces) {
            const copy = { ...piece!, bytes: Uint8Array.from(piece!.bytes) };
            if (piece!.type === 'full') chains.set(op, [copy]);
            else chains.get(op)!.push(copy);
          }
        };
        checkpoint();
        for (let t = 0; t < crashAt; t++) {
          runTick(first, ticks[t]!);
          if (checkpointAt[t]) checkpoint();
        }
        const cut = crashAt === 0 ? 0 : Math.max(0, ...checkpointAt.slice(0, crashAt).map((c, t) => (c ? t + 1 : 0)));
        // The first graph's output up to the last checkpoint, then the restored graph's from there.
        const upToCut = build(def());
        for (const tick of ticks.slice(0, cut)) runTick(upToCut, tick);
        const second = build(def());
        restoreOperators(second.operators, chains);
        for (const tick of ticks.slice(cut)) runTick(second, tick);
        for (const s of second.sources) s.finish();
        const seq = (g: CompiledGraph, sink: string) => (g.collected.get(sink) ?? []).map((r) => JSON.stringify(r));
        for (const sink of ['out', 'late']) expect([...seq(upToCut, sink), ...seq(second, sink)]).toEqual(seq(whole, sink));
      }),
      { numRuns: 40 },
    );
  });

  it.each(['tumbling', 'hopping'])('%s: the directly written snapshot bytes decode to snapshotState()', (name) => {
    const { topics, def } = PIPELINES[name]!;
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (seed, snapshotAt) => {
        // Snapshots at several points of one run: later ones reuse the keys earlier ones encoded.
        const g = build(def());
        makeTicks(seed, topics, 40).forEach((tick, t) => {
          runTick(g, tick);
          if (!snapshotAt[t]) return;
          for (const op of new Set(g.operators.values())) {
            if (!isStateful(op) || op.snapshotBytes === undefined) continue;
            expect(unpack(op.snapshotBytes())).toEqual(op.snapshotState());
          }
        });
      }),
      { numRuns: 40 },
    );
  });

  it.each(['tumbling', 'hopping'])('%s with the windows in a state backend (LMDB): the same results as on the heap, window by window', async (name) => {
    const { topics, def } = PIPELINES[name]!;
    const dirs = new TempDirs();
    try {
      await fc.assert(
        fc.asyncProperty(fc.integer(), async (seed) => {
          const ticks = makeTicks(seed, topics, 40);
          const heap = build(def());
          const backend = LmdbStateBackend.open({ path: dirs.make('freshet-lmdb-'), cacheBytes: 16 * 1024 });
          const onDisk = compile(def().plan(), { partitionsOf: () => 2, nowMs: 0, stateBackend: backend });
          for (const tick of ticks) {
            runTick(heap, tick);
            runTick(onDisk, tick);
            await backend.flush();
            // The same results after every tick; within a tick the backend emits a firing window's keys in key order.
            for (const sink of ['out', 'late']) expect([...seq(onDisk, sink)].sort()).toEqual([...seq(heap, sink)].sort());
          }
          for (const s of heap.sources) s.finish();
          for (const s of onDisk.sources) s.finish();
          for (const sink of ['out', 'late']) expect([...seq(onDisk, sink)].sort()).toEqual([...seq(heap, sink)].sort());
          await backend.close();
        }),
        { numRuns: 15 },
      );
    } finally {
      dirs.cleanup();
    }
  }, 60_000);

  it('refuses a snapshot of another operator kind, naming the operator', () => {
    const g = build(PIPELINES['tumbling']!.def());
    const window = [...g.operators.values()].find((op) => isStateful(op) && op.name.startsWith('window'))!;
    expect(() => (window as unknown as { restoreState(s: unknown[]): void }).restoreState([1, 'SessionWindowOperator', 0, []])).toThrow(
      expect.objectContaining({ code: 'FRESHET_STATE_INCOMPATIBLE', message: expect.stringContaining(window.name) }),
    );
  });
});
