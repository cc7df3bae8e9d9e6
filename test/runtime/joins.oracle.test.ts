import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/dsl/pipeline.js';
import { TestDriver } from '../../src/testing.js';

/**
 * Joins against brute-force references over random, out-of-order, late and duplicated input. Input comes
 * in ticks (what is appended before each engine round); the references replay the same ticks.
 */
interface Ev {
  readonly key: string;
  readonly ts: number;
  readonly v: number;
}
type TopicTick = Map<string, Map<number, Ev[]>>;

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32;
}

/** Ticks of events for several topics: jittered time, some very late events, duplicates. */
function makeTicks(seed: number, topics: Record<string, number>, keys: number, tickCount: number, nullRate = 0): TopicTick[] {
  const rand = prng(seed);
  const ticks: TopicTick[] = [];
  const sent: Ev[] = [];
  let clock = 10_000;
  for (let t = 0; t < tickCount; t++) {
    const tick: TopicTick = new Map();
    for (const [topic, partitions] of Object.entries(topics)) {
      const byPartition = new Map<number, Ev[]>();
      for (let p = 0; p < partitions; p++) {
        if (rand() < 0.35) continue;
        const events: Ev[] = [];
        for (let n = Math.floor(rand() * 5); n > 0; n--) {
          const r = rand();
          const e: Ev =
            r < 0.07 && sent.length > 0
              ? sent[Math.floor(rand() * sent.length)]!
              : { key: `k${Math.floor(rand() * keys)}`, ts: Math.max(0, clock + (r < 0.15 ? -Math.floor(rand() * 2000) : Math.floor((rand() - 0.5) * 400))), v: rand() < nullRate ? -1 : Math.floor(rand() * 1000) };
          events.push(e);
          sent.push(e);
        }
        if (events.length > 0) byPartition.set(p, events);
      }
      if (byPartition.size > 0) tick.set(topic, byPartition);
    }
    clock += Math.floor(rand() * 300);
    ticks.push(tick);
  }
  return ticks;
}

async function feed(driver: TestDriver, ticks: readonly TopicTick[], encode: (topic: string, e: Ev) => unknown = (_t, e) => e): Promise<void> {
  for (const tick of ticks) {
    for (const [topic, byPartition] of tick) {
      for (const [partition, events] of byPartition) {
        for (const e of events) {
          const value = encode(topic, e);
          // Table rows carry their key as the record key, so tombstones (null) can name it.
          await driver.send(topic, [value], { partition, process: false, key: e.key, timestampMs: e.ts });
        }
      }
    }
    await driver.step();
  }
  await driver.finish();
}

describe('stream–table join in event time against a brute-force reference', () => {
  it.each(['inner', 'left'] as const)('%s join meets the table version current at each event time', async (type) => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 8 }), async (seed, streamPartitions, tablePartitions, keys) => {
        const ticks = makeTicks(seed, { rows: tablePartitions, events: streamPartitions }, keys, 30, 0.15);
        // Reference: apply each tick's table rows (partition order), then join its events (partition order).
        const versions = new Map<string, { ts: number; value: Ev | null; seq: number }[]>();
        let seq = 0;
        const expected: string[] = [];
        for (const tick of ticks) {
          for (const [, rows] of [...(tick.get('rows') ?? [])].sort((a, b) => a[0] - b[0])) {
            for (const r of rows) versions.set(r.key, [...(versions.get(r.key) ?? []), { ts: r.ts, value: r.v === -1 ? null : r, seq: seq++ }]);
          }
          for (const [, events] of [...(tick.get('events') ?? [])].sort((a, b) => a[0] - b[0])) {
            for (const e of events) {
              const candidates = (versions.get(e.key) ?? []).filter((v) => v.ts <= e.ts);
              const best = candidates.reduce<(typeof candidates)[number] | null>((b, v) => (b === null || v.ts > b.ts || (v.ts === b.ts && v.seq > b.seq) ? v : b), null);
              const row = best?.value ?? null;
              if (row === null && type === 'inner') continue;
              expected.push(`${e.key}@${e.ts}:${e.v}+${row ? `${row.ts}:${row.v}` : 'null'}`);
            }
          }
        }
        const definition = pipeline('table-join', (p) => {
          const rows = p.table<Ev>('rows', { eventTime: 'ts', historyRetentionMs: 10_000_000 });
          const events = p.source<Ev>('events', { eventTime: 'ts', idleTimeoutMs: 3_600_000 });
          const joined =
            type === 'inner'
              ? events.join(rows, { key: (e) => e.key }, (e, r) => `${e.key}@${e.ts}:${e.v}+${r.ts}:${r.v}`)
              : events.leftJoin(rows, { key: (e) => e.key }, (e, r) => `${e.key}@${e.ts}:${e.v}+${r ? `${r.ts}:${r.v}` : 'null'}`);
          joined.collect('out');
        });
        const driver = await TestDriver.create(definition, { topics: { rows: { partitions: tablePartitions }, events: { partitions: streamPartitions } } });
        await feed(driver, ticks, (topic, e) => (topic === 'rows' && e.v === -1 ? null : e));
        expect(driver.collected<string>('out')).toEqual(expected);
      }),
      { numRuns: Number(process.env.FRESHET_ORACLE_RUNS ?? 100) },
    );
  });
});

describe('stream–stream interval join against a brute-force reference', () => {
  it('joins every pair of on-time records within the interval, once, and reports the late ones', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(0, 100, 500),
        fc.constantFrom(0, 50, 300),
        fc.constantFrom(0, 100, 400),
        async (seed, leftPartitions, rightPartitions, keys, beforeMs, afterMs, maxOutOfOrderMs) => {
          const ticks = makeTicks(seed, { left: leftPartitions, right: rightPartitions }, keys, 30);
          // Reference: watermark per source = min over its partitions of (max ts - maxOutOfOrderMs); the
          // join's watermark is the minimum of both, as it was before each round.
          const maxTs: Record<string, number[]> = {
            left: new Array<number>(leftPartitions).fill(Number.NEGATIVE_INFINITY),
            right: new Array<number>(rightPartitions).fill(Number.NEGATIVE_INFINITY),
          };
          const sourceWm = { left: Number.NEGATIVE_INFINITY, right: Number.NEGATIVE_INFINITY };
          const onTime: Record<string, Ev[]> = { left: [], right: [] };
          const late: string[] = [];
          for (const tick of ticks) {
            const w = Math.min(sourceWm.left, sourceWm.right);
            for (const side of ['left', 'right'] as const) {
              for (const [p, events] of [...(tick.get(side) ?? [])].sort((a, b) => a[0] - b[0])) {
                for (const e of events) {
                  if (e.ts < w) late.push(`${side}:${e.key}@${e.ts}:${e.v}`);
                  else onTime[side]!.push(e);
                  maxTs[side]![p] = Math.max(maxTs[side]![p]!, e.ts);
                }
              }
              sourceWm[side] = Math.max(sourceWm[side], Math.min(...maxTs[side]!) - maxOutOfOrderMs);
            }
          }
          const expected: string[] = [];
          for (const l of onTime.left!) {
            for (const r of onTime.right!) {
              if (l.key === r.key && r.ts >= l.ts - beforeMs && r.ts <= l.ts + afterMs) expected.push(`${l.key}@${l.ts}:${l.v}|${r.ts}:${r.v}@${Math.max(l.ts, r.ts)}`);
            }
          }
          const definition = pipeline('interval-join', (p) => {
            const options = { eventTime: 'ts' as const, maxOutOfOrderMs, idleTimeoutMs: 3_600_000 };
            const left = p.source<Ev>('left', options).keyBy((e) => e.key);
            const right = p.source<Ev>('right', options).keyBy((e) => e.key);
            const joined = left.intervalJoin(right, { beforeMs, afterMs }, (l, r) => `${l.key}@${l.ts}:${l.v}|${r.ts}:${r.v}`);
            joined.collect('out');
            joined.lateRecords().collect('late');
          });
          const driver = await TestDriver.create(definition, { topics: { left: { partitions: leftPartitions }, right: { partitions: rightPartitions } } });
          await feed(driver, ticks);
          const actual = driver.collectedRecords('out').map((r) => `${r.value as string}@${r.timestampMs}`);
          expect([...actual].sort()).toEqual([...expected].sort());
          const actualLate = driver.collected<{ side: string; value: Ev }>('late').map((l) => `${l.side}:${l.value.key}@${l.value.ts}:${l.value.v}`);
          expect([...actualLate].sort()).toEqual([...late].sort());
        },
      ),
      { numRuns: Number(process.env.FRESHET_ORACLE_RUNS ?? 100) },
    );
  });
});
