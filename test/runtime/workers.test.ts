import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { EventLog } from '../../src/log/log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import type { CollectedRecord } from '../../src/runtime/operators/simple-operators.js';
import { ParallelRunner } from '../../src/runtime/parallel/parallel-runner.js';
import type { PipelineModuleRef } from '../../src/runtime/parallel/pipeline-module.js';
import { WorkerPool } from '../../src/runtime/parallel/worker-pool.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import * as pipelines from './fixtures/parallel-pipelines.js';
import type { Ev, WindowParams } from './fixtures/parallel-pipelines.js';

/**
 * `--workers N` gives the single-process results: the same pipelines over the same generated input, fed
 * in the same rounds, run once by PipelineRunner and by ParallelRunner with 1, 2 and 3 worker threads
 * (real threads, the log served from this thread). Inputs are out of order but never late
 * (maxOutOfOrderMs exceeds any disorder): on such input every window result is final and every join
 * pair is found whatever the timing of the stages, so the results must be identical.
 */

const MODULE = new URL('./fixtures/parallel-pipelines.ts', import.meta.url);
const WORKER_COUNTS = [1, 2, 3] as const;
const RUNS = Number(process.env.FRESHET_WORKERS_RUNS ?? 8);
const pools = new Map<number, WorkerPool>();

beforeAll(async () => {
  const started = await Promise.all(WORKER_COUNTS.map((n) => WorkerPool.start(n)));
  WORKER_COUNTS.forEach((n, i) => pools.set(n, started[i]!));
});

afterAll(async () => {
  await Promise.all([...pools.values()].map((p) => p.close()));
});

/** What is appended before each round: topic → partition → events. */
type Tick = Map<string, Map<number, Ev[]>>;

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32;
}

const JITTER_MS = 300;
/** Larger than any disorder the generator makes (2 × jitter): no event is ever late. */
const MAX_OUT_OF_ORDER_MS = 2 * JITTER_MS + 1;

/**
 * Ticks of events per topic partition. Every partition has its own clock and speed, so partitions drift
 * apart (a source's watermark is held by its slowest partition, and a reader across a repartition must
 * take the minimum over its writers); within a partition each event is off its clock by up to ±300 ms,
 * never more than maxOutOfOrderMs behind the partition's newest event: out of order, never late.
 */
function makeTicks(seed: number, topics: Record<string, number>, keys: number, tickCount: number): Tick[] {
  const rand = prng(seed);
  const clocks = new Map<string, { clock: number; speed: number }>();
  for (const [topic, partitions] of Object.entries(topics)) {
    for (let p = 0; p < partitions; p++) clocks.set(`${topic}/${p}`, { clock: 10_000 + Math.floor(rand() * 2000), speed: 0.2 + rand() * 1.8 });
  }
  const ticks: Tick[] = [];
  for (let t = 0; t < tickCount; t++) {
    const tick: Tick = new Map();
    for (const [topic, partitions] of Object.entries(topics)) {
      const byPartition = new Map<number, Ev[]>();
      for (let p = 0; p < partitions; p++) {
        const c = clocks.get(`${topic}/${p}`)!;
        c.clock += Math.floor(rand() * 300 * c.speed);
        if (rand() < 0.3) continue;
        const events: Ev[] = [];
        for (let n = Math.floor(rand() * 6); n > 0; n--) {
          events.push({ key: `k${Math.floor(rand() * keys)}`, ts: c.clock + Math.floor((rand() * 2 - 1) * JITTER_MS), v: Math.floor(rand() * 100) - 20 });
        }
        if (events.length > 0) byPartition.set(p, events);
      }
      if (byPartition.size > 0) tick.set(topic, byPartition);
    }
    ticks.push(tick);
  }
  return ticks;
}

async function createTopics(log: EventLog, topics: Record<string, number>): Promise<void> {
  for (const [topic, partitions] of Object.entries(topics)) await log.createTopic(topic, { partitions });
}

async function append(log: EventLog, tick: Tick, tombstones: boolean): Promise<void> {
  for (const [topic, byPartition] of tick) {
    for (const [partition, events] of byPartition) {
      await log.append(
        topic,
        partition,
        events.map((e) => ({
          key: Buffer.from(e.key),
          // Table rows with a negative value are deletions (tombstones), to exercise them too.
          value: tombstones && topic === 'rows' && e.v < 0 ? null : Buffer.from(JSON.stringify(e)),
          timestampMs: e.ts,
        })),
      );
    }
  }
}

interface Runner {
  step(): Promise<number>;
  finish(): Promise<void>;
  collected(sinkName: string): readonly CollectedRecord[];
}

/** Feeds the ticks (one round each), finishes, and returns the collected results of `sinks`. */
async function drive(runner: Runner, log: EventLog, ticks: readonly Tick[], sinks: readonly string[], tombstones = false): Promise<Record<string, readonly CollectedRecord[]>> {
  for (const tick of ticks) {
    await append(log, tick, tombstones);
    await runner.step();
  }
  await runner.finish();
  return Object.fromEntries(sinks.map((s) => [s, runner.collected(s)]));
}

/**
 * Runs `ref` single-process and with 1, 2 and 3 workers over the same ticks; returns the results of
 * each run by name (`single`, `workers=1`, ...).
 */
async function runEverywhere(ref: Required<Pick<PipelineModuleRef, 'exportName' | 'args'>>, topics: Record<string, number>, ticks: readonly Tick[], sinks: readonly string[], tombstones = false) {
  const factory = (pipelines as unknown as Record<string, (...args: unknown[]) => { plan(): import('../../src/plan/plan.js').Plan }>)[ref.exportName]!;
  const out = new Map<string, Record<string, readonly CollectedRecord[]>>();
  {
    const clock = new ManualClock(0);
    const log = new MemoryLog(clock);
    await createTopics(log, topics);
    const runner = await PipelineRunner.start(factory(...ref.args).plan(), { log, clock, commitIntervalMs: Number.POSITIVE_INFINITY });
    out.set('single', await drive(runner, log, ticks, sinks, tombstones));
  }
  for (const n of WORKER_COUNTS) {
    const clock = new ManualClock(0);
    const log = new MemoryLog(clock);
    await createTopics(log, topics);
    const runner = await ParallelRunner.start({ module: MODULE, ...ref }, { log, clock, pool: pools.get(n)!, commitIntervalMs: Number.POSITIVE_INFINITY });
    try {
      out.set(`workers=${n}`, await drive(runner, log, ticks, sinks, tombstones));
    } finally {
      await runner.close();
    }
  }
  return out;
}

/** Results per key, in emission order (the order the window semantics define for one key). */
function perKey(records: readonly CollectedRecord[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of records) (out[String(r.key)] ??= []).push(`${JSON.stringify(r.value)}@${r.timestampMs}`);
  return out;
}

/** Results as a multiset (sorted), with their event time and key. */
function multiset(records: readonly CollectedRecord[]): string[] {
  return records.map((r) => `${String(r.key)}|${JSON.stringify(r.value)}@${r.timestampMs}`).sort();
}

const windowArb: fc.Arbitrary<WindowParams> = fc.oneof(
  fc.constantFrom(100, 250, 1000).map((sizeMs): WindowParams => ({ type: 'tumbling', sizeMs })),
  fc.constantFrom([1000, 250], [600, 200], [300, 100]).map(([sizeMs, advanceMs]): WindowParams => ({ type: 'hopping', sizeMs: sizeMs!, advanceMs: advanceMs! })),
  fc.constantFrom(50, 300, 1000).map((gapMs): WindowParams => ({ type: 'session', gapMs })),
  fc.constantFrom(1, 100, 500).map((maxDifferenceMs): WindowParams => ({ type: 'sliding', maxDifferenceMs })),
);

describe('windows give the single-process results with 1, 2 and 3 workers', () => {
  it.each(['tumbling', 'hopping', 'session', 'sliding'] as const)('%s windows: per key, the same results in the same order', async (type) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(0, 150),
        windowArb.filter((w) => w.type === type),
        async (seed, partitions, keys, allowedLatenessMs, window) => {
          const ticks = makeTicks(seed, { events: partitions }, keys, 30);
          const args = [{ window, maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS, allowedLatenessMs, scale: 3 }];
          const runs = await runEverywhere({ exportName: 'windowed', args }, { events: partitions }, ticks, ['results', 'late']);
          const single = runs.get('single')!;
          // The generator promises no late data; without it the comparison would prove less.
          expect(single.late).toEqual([]);
          for (const [name, results] of runs) {
            expect([name, perKey(results.results!)]).toEqual([name, perKey(single.results!)]);
            expect([name, results.late]).toEqual([name, []]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('joins give the single-process results with 1, 2 and 3 workers', () => {
  it.each(['inner', 'left'] as const)('%s stream–table join (global table), then a keyed window over the joined records', async (type) => {
    // Over all runs, joins must have happened (one tiny input may join nothing: that is fine).
    let joinedTotal = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 8 }), async (seed, streamPartitions, tablePartitions, keys) => {
        const topics = { rows: tablePartitions, events: streamPartitions };
        const ticks = makeTicks(seed, topics, keys, 25);
        const args = [{ type, sizeMs: 500, maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS }];
        const runs = await runEverywhere({ exportName: 'tableJoin', args }, topics, ticks, ['joined', 'per-row'], true);
        const single = runs.get('single')!;
        joinedTotal += single.joined!.length;
        for (const [name, results] of runs) {
          expect([name, multiset(results.joined!)]).toEqual([name, multiset(single.joined!)]);
          expect([name, perKey(results['per-row']!)]).toEqual([name, perKey(single['per-row']!)]);
        }
      }),
      { numRuns: RUNS },
    );
    expect(joinedTotal).toBeGreaterThan(0);
  });

  it('interval join of two repartitioned (co-partitioned) keyed streams', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(0, 100, 500),
        fc.constantFrom(0, 50, 300),
        async (seed, leftPartitions, rightPartitions, keys, beforeMs, afterMs) => {
          const topics = { left: leftPartitions, right: rightPartitions };
          const ticks = makeTicks(seed, topics, keys, 25);
          const args = [{ beforeMs, afterMs, maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS }];
          const runs = await runEverywhere({ exportName: 'intervalJoin', args }, topics, ticks, ['out', 'late']);
          const single = runs.get('single')!;
          expect(single.late).toEqual([]);
          for (const [name, results] of runs) {
            expect([name, multiset(results.out!)]).toEqual([name, multiset(single.out!)]);
            expect([name, results.late]).toEqual([name, []]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('idle inputs across a repartition', () => {
  it('an idle source partition stops holding back the windows downstream of the repartition, as in one process', async () => {
    const topics = { events: 2 };
    const args = [{ window: { type: 'tumbling', sizeMs: 1000 }, maxOutOfOrderMs: 0, allowedLatenessMs: 0 }];
    // Only partition 0 gets data; partition 1 is idle once the clock passes the idle timeout.
    const events = Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 5}`, ts: 10_000 + i * 100, v: i }));
    const tick: Tick = new Map([['events', new Map([[0, events]])]]);
    async function run(make: (log: MemoryLog, clock: ManualClock) => Promise<Runner & { runUntilCaughtUp(): Promise<void>; close?(): Promise<void> }>) {
      const clock = new ManualClock(0);
      const log = new MemoryLog(clock);
      await createTopics(log, topics);
      const runner = await make(log, clock);
      try {
        await append(log, tick, false);
        await runner.runUntilCaughtUp();
        const before = runner.collected('results').length;
        clock.advance(3_600_001);
        await runner.runUntilCaughtUp();
        return { before, after: perKey(runner.collected('results')) };
      } finally {
        await runner.close?.();
      }
    }
    const single = await run((log, clock) => PipelineRunner.start(pipelines.windowed(args[0] as never).plan(), { log, clock }));
    expect(single.before).toBe(0);
    expect(Object.keys(single.after).length).toBe(5);
    for (const n of WORKER_COUNTS) {
      const parallel = await run((log, clock) => ParallelRunner.start({ module: MODULE, exportName: 'windowed', args }, { log, clock, pool: pools.get(n)! }));
      expect(parallel).toEqual(single);
    }
  });
});
