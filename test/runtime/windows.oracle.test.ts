import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PipelineDefinition, pipeline } from '../../src/dsl/pipeline.js';
import { hopping, session, sliding, tumbling } from '../../src/dsl/windows.js';
import type { PlanAggregator } from '../../src/plan/plan.js';
import { TestDriver } from '../../src/testing.js';
import { referenceSessions } from '../oracle/session-reference.js';
import { immutableStats, stats } from '../oracle/stats.js';
import { referenceSliding } from '../oracle/sliding-reference.js';
import { type RefEvent, type RefOptions, type Tick, formatResult, referenceWindows } from '../oracle/window-reference.js';

/** Random input: ticks of per-partition events with out-of-order, late and duplicated events. */
const scenario = fc
  .record({
    partitions: fc.integer({ min: 1, max: 3 }),
    keys: fc.integer({ min: 1, max: 12 }),
    window: fc.oneof(
      fc.constantFrom(100, 250, 1000).map((size) => ({ sizeMs: size, advanceMs: size })),
      fc.constantFrom([1000, 250], [600, 200], [500, 500], [300, 100]).map(([sizeMs, advanceMs]) => ({ sizeMs: sizeMs!, advanceMs: advanceMs! })),
    ),
    allowedLatenessMs: fc.constantFrom(0, 150, 1000),
    maxOutOfOrderMs: fc.constantFrom(0, 50, 400),
    emit: fc.constantFrom<'final' | 'updates'>('final', 'updates'),
    seed: fc.integer(),
    ticks: fc.integer({ min: 1, max: 40 }),
    immutable: fc.boolean(),
  })
  .map((s) => {
    // A deterministic PRNG from the seed, so fast-check's shrinking stays meaningful.
    let x = s.seed >>> 0 || 1;
    const rand = () => ((x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32);
    const ticks: Map<number, RefEvent[]>[] = [];
    const sent: RefEvent[] = [];
    let clock = 10_000;
    for (let t = 0; t < s.ticks; t++) {
      const tick = new Map<number, RefEvent[]>();
      for (let p = 0; p < s.partitions; p++) {
        if (rand() < 0.3) continue;
        const events: RefEvent[] = [];
        const n = Math.floor(rand() * 6);
        for (let i = 0; i < n; i++) {
          const r = rand();
          let e: RefEvent;
          if (r < 0.08 && sent.length > 0) e = sent[Math.floor(rand() * sent.length)]!; // duplicate
          else {
            const jitter = r < 0.2 ? -Math.floor(rand() * 3000) : Math.floor((rand() - 0.5) * 600); // some very late
            e = { key: `k${Math.floor(rand() * s.keys)}`, ts: Math.max(0, clock + jitter), v: Math.floor(rand() * 100) - 20 };
          }
          events.push(e);
          sent.push(e);
        }
        if (events.length > 0) tick.set(p, events);
      }
      clock += Math.floor(rand() * 400);
      ticks.push(tick);
    }
    return { ...s, ticks };
  });

/** Feeds each tick (per-partition events) before one engine round, then finishes the input. */
async function runTicks(definition: PipelineDefinition, ticks: readonly Tick[], partitions: number): Promise<TestDriver> {
  const driver = await TestDriver.create(definition, { topics: { events: { partitions } } });
  for (const tick of ticks) {
    for (const [partition, events] of tick) await driver.send('events', events, { partition, process: false });
    await driver.step();
  }
  await driver.finish();
  return driver;
}

async function runEngine(ticks: readonly Tick[], options: RefOptions, aggregator: PlanAggregator) {
  const { sizeMs, advanceMs } = options.window;
  const definition = pipeline('oracle', (p) => {
    const results = p
      .source<RefEvent>('events', { eventTime: 'ts', maxOutOfOrderMs: options.maxOutOfOrderMs, idleTimeoutMs: 3_600_000 })
      .keyBy((e) => e.key)
      .window(sizeMs === advanceMs ? tumbling({ sizeMs }) : hopping({ sizeMs, advanceMs }), { allowedLatenessMs: options.allowedLatenessMs, emit: options.emit })
      .aggregate(aggregator);
    results.collect('results');
    results.lateRecords().collect('late');
  });
  const driver = await runTicks(definition, ticks, options.partitions);
  const byKey = new Map<string, string[]>();
  for (const r of driver.collected<{ key: string; windowStartMs: number; windowEndMs: number; value: { count: number; sum: number; min: number; max: number }; final: boolean }>('results')) {
    byKey.set(r.key, [...(byKey.get(r.key) ?? []), formatResult(r.windowStartMs, r.windowEndMs, r.value, r.final)]);
  }
  return { byKey, late: driver.collected<RefEvent>('late') };
}

describe('keyed tumbling and hopping windows against the brute-force reference', () => {
  it('emit the same results, per key in the same order, and the same late records', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const options: RefOptions = { window: s.window, allowedLatenessMs: s.allowedLatenessMs, maxOutOfOrderMs: s.maxOutOfOrderMs, emit: s.emit, partitions: s.partitions };
        const expected = referenceWindows(s.ticks, options);
        const actual = await runEngine(s.ticks, options, s.immutable ? immutableStats : stats);
        expect(Object.fromEntries(actual.byKey)).toEqual(Object.fromEntries(expected.byKey));
        const sortEvents = (events: readonly RefEvent[]) => [...events].map((e) => `${e.key}@${e.ts}=${e.v}`).sort();
        expect(sortEvents(actual.late)).toEqual(sortEvents(expected.late));
      }),
      { numRuns: Number(process.env.FRESHET_ORACLE_RUNS ?? 150) },
    );
  });

  it('the random inputs really contain late, out-of-order and duplicated events', () => {
    // Guards the generator: an oracle test over tame inputs proves little.
    const samples = fc.sample(scenario, 60);
    let late = 0;
    let outOfOrder = 0;
    for (const s of samples) {
      const expected = referenceWindows(s.ticks, { window: s.window, allowedLatenessMs: s.allowedLatenessMs, maxOutOfOrderMs: s.maxOutOfOrderMs, emit: s.emit, partitions: s.partitions });
      late += expected.late.length;
      const all = s.ticks.flatMap((t) => [...t.values()].flat());
      for (let i = 1; i < all.length; i++) if (all[i]!.ts < all[i - 1]!.ts) outOfOrder++;
    }
    expect(late).toBeGreaterThan(20);
    expect(outOfOrder).toBeGreaterThan(100);
  });
});

describe('keyed session windows against the brute-force reference', () => {
  it('end with the same sessions (after retractions of merged ones) and the same late records', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, fc.constantFrom(50, 300, 1000), async (s, gapMs) => {
        const options = { gapMs, allowedLatenessMs: s.allowedLatenessMs, maxOutOfOrderMs: s.maxOutOfOrderMs, partitions: s.partitions };
        const expected = referenceSessions(s.ticks, options);
        const definition = pipeline('sessions', (p) => {
          const results = p
            .source<RefEvent>('events', { eventTime: 'ts', maxOutOfOrderMs: s.maxOutOfOrderMs, idleTimeoutMs: 3_600_000 })
            .keyBy((e) => e.key)
            .window(session({ gapMs }), { allowedLatenessMs: s.allowedLatenessMs, emit: s.emit })
            .aggregate(s.immutable ? immutableStats : stats);
          results.collect('results');
          results.lateRecords().collect('late');
        });
        const driver = await runTicks(definition, s.ticks, s.partitions);
        // Apply the emitted results as upserts keyed by (key, window start); retractions delete.
        const table = new Map<string, string>();
        type R = { key: string; windowStartMs: number; windowEndMs: number; value: { count: number; sum: number; min: number; max: number } | null; final: boolean; retracted?: true };
        for (const r of driver.collected<R>('results')) {
          if (s.emit === 'final') expect(r.final).toBe(true);
          const id = `${r.key}|${r.windowStartMs}`;
          if (r.retracted) {
            expect(table.has(id)).toBe(true);
            table.delete(id);
          } else table.set(id, `${r.windowEndMs},${r.value!.count},${r.value!.sum},${r.value!.min},${r.value!.max}`);
        }
        expect(Object.fromEntries([...table].sort())).toEqual(Object.fromEntries([...expected.table].sort()));
        const sortEvents = (events: readonly RefEvent[]) => [...events].map((e) => `${e.key}@${e.ts}=${e.v}`).sort();
        expect(sortEvents(driver.collected<RefEvent>('late'))).toEqual(sortEvents(expected.late));
      }),
      { numRuns: Number(process.env.FRESHET_ORACLE_RUNS ?? 150) },
    );
  });
});

describe('keyed sliding windows (Kafka Streams SlidingWindows) against the brute-force reference', () => {
  it('end with the same windows and the same late records', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, fc.constantFrom(1, 100, 500), async (s, maxDifferenceMs) => {
        const expected = referenceSliding(s.ticks, { maxDifferenceMs, allowedLatenessMs: s.allowedLatenessMs, maxOutOfOrderMs: s.maxOutOfOrderMs, partitions: s.partitions });
        const definition = pipeline('sliding', (p) => {
          const results = p
            .source<RefEvent>('events', { eventTime: 'ts', maxOutOfOrderMs: s.maxOutOfOrderMs, idleTimeoutMs: 3_600_000 })
            .keyBy((e) => e.key)
            .window(sliding({ maxDifferenceMs }), { allowedLatenessMs: s.allowedLatenessMs, emit: s.emit })
            .aggregate(s.immutable ? immutableStats : stats);
          results.collect('results');
          results.lateRecords().collect('late');
        });
        const driver = await runTicks(definition, s.ticks, s.partitions);
        const table = new Map<string, string>();
        type R = { key: string; windowStartMs: number; windowEndMs: number; value: { count: number; sum: number; min: number; max: number }; final: boolean };
        for (const r of driver.collected<R>('results')) {
          if (s.emit === 'final') expect(r.final).toBe(true);
          table.set(`${r.key}|${r.windowStartMs}`, `${r.windowEndMs},${r.value.count},${r.value.sum},${r.value.min},${r.value.max}`);
        }
        expect(Object.fromEntries([...table].sort())).toEqual(Object.fromEntries([...expected.table].sort()));
        const sortEvents = (events: readonly RefEvent[]) => [...events].map((e) => `${e.key}@${e.ts}=${e.v}`).sort();
        expect(sortEvents(driver.collected<RefEvent>('late'))).toEqual(sortEvents(expected.late));
      }),
      { numRuns: Number(process.env.FRESHET_ORACLE_RUNS ?? 150) },
    );
  });
});
