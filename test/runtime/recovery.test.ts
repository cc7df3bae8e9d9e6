import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { aggregate, count, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { EventLog } from '../../src/log/log.js';
import { viewTopic } from '../../src/plan/view-update.js';
import type { CheckpointStorage, RunnerCheckpoint, SnapshotPiece } from '../../src/runtime/checkpointing.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { TempDirs } from '../helpers/temp-dir.js';

/**
 * Exactly-once recovery in process: a run stops dead (no stop(), no flush) after a random number of
 * rounds, with random checkpoints along the way; a new runner restores the newest checkpoint, truncates
 * what was written after it, and finishes. Every output topic must equal an uninterrupted run's, record
 * for record (bytes, keys, timestamps, order).
 */
interface Order {
  id: number;
  region: string;
  customer: string;
  amount: number;
  ts: number;
}

/**
 * Checkpoints kept in memory (the file store has its own tests); copies, like bytes on disk. Takes
 * deltas: `latest` returns each operator's chain back to its full snapshot.
 */
let deltasSaved = 0;

class MemoryCheckpoints implements CheckpointStorage {
  readonly supportsDeltas = true;
  readonly saved: RunnerCheckpoint[] = [];
  nextId(): number {
    return this.saved.length + 1;
  }
  async latest(): Promise<RunnerCheckpoint | null> {
    const last = this.saved.at(-1);
    if (last === undefined) return null;
    return { ...last, tasks: last.tasks.map((t) => ({ ...t, operators: new Map([...t.operators.keys()].map((name) => [name, this.chainOf(last.id, t.taskId, name)])) })) };
  }
  async save(checkpoint: RunnerCheckpoint): Promise<void> {
    expect(checkpoint.id).toBe(this.saved.length + 1);
    for (const t of checkpoint.tasks) for (const chain of t.operators.values()) if (chain[0]!.type === 'delta') deltasSaved++;
    this.saved.push({ ...checkpoint, tasks: checkpoint.tasks.map((t) => ({ ...t, operators: new Map([...t.operators].map(([k, v]) => [k, v.map((p) => ({ ...p, bytes: Uint8Array.from(p.bytes) }))])) })) });
  }
  private chainOf(id: number, taskId: string, operator: string): SnapshotPiece[] {
    const piece = this.saved[id - 1]!.tasks.find((t) => t.taskId === taskId)!.operators.get(operator)!;
    expect(piece).toHaveLength(1);
    if (piece[0]!.type === 'full') return [piece[0]!];
    expect(piece[0]!.baseCheckpointId).toBeLessThan(id);
    return [...this.chainOf(piece[0]!.baseCheckpointId!, taskId, operator), piece[0]!];
  }
}

const def = pipeline('orders', (p) => {
  const customers = p.table<{ customer: string; tier: string }>('customers', { key: (c) => c.customer });
  const orders = p
    .source<Order>('orders', { eventTime: 'ts', maxOutOfOrderMs: 300 })
    .filter((o) => o.amount > 0)
    .leftJoin(customers, { key: (o) => o.customer }, (o, c) => ({ ...o, tier: c?.tier ?? 'none' }));
  orders.map((o) => ({ id: o.id, tier: o.tier })).toTopic('enriched', { partitions: 2 });
  orders
    .keyBy((o) => o.region)
    .window(tumbling({ sizeMs: 1_000 }), { emit: 'updates', allowedLatenessMs: 500 })
    .aggregate(aggregate({ n: count(), revenue: sum((o: Order) => o.amount) }))
    .toView('revenue', { kind: 'timeseries' });
});

async function dump(log: EventLog): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const topic of ['enriched', viewTopic('revenue'), 'orders.dlq']) {
    if (!(await log.listTopics()).includes(topic)) continue;
    const lines: string[] = [];
    for (const p of (await log.describeTopic(topic)).partitions) {
      const { batches } = await log.read(topic, p.partition, p.earliestOffset, { maxRecords: 1_000_000 });
      for (const b of batches) for (let i = 0; i < b.count; i++) lines.push(`${p.partition}@${b.offsetAt(i)} ${b.timestampAt(i)} ${Buffer.from(b.keyAt(i) ?? []).toString('hex')} ${Buffer.from(b.valueAt(i) ?? []).toString('hex')}`);
    }
    out[topic] = lines;
  }
  return out;
}

async function setup(dir: string, seed: number): Promise<EmbeddedLog> {
  const log = await EmbeddedLog.open({ dataDir: dir, fsync: 'never' });
  await log.createTopic('orders', { partitions: 2 });
  await log.createTopic('customers', { partitions: 1 });
  let x = seed >>> 0 || 1;
  const rand = () => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32;
  const customers = Array.from({ length: 6 }, (_, i) => ({ key: Buffer.from(`c${i}`), value: Buffer.from(JSON.stringify({ customer: `c${i}`, tier: rand() < 0.5 ? 'gold' : 'basic' })), timestampMs: Math.floor(rand() * 3_000) }));
  await log.produce('customers', customers);
  const orders = Array.from({ length: 300 }, (_, i) => {
    const o: Order = { id: i, region: ['eu', 'us', 'apac'][Math.floor(rand() * 3)]!, customer: `c${Math.floor(rand() * 8)}`, amount: Math.floor(rand() * 100) - 5, ts: i * 20 + Math.floor((rand() - 0.7) * 1_500) };
    return { key: Buffer.from(o.customer), value: Buffer.from(rand() < 0.03 ? '{broken' : JSON.stringify(o)), timestampMs: Math.max(0, o.ts) };
  });
  await log.produce('orders', orders);
  return log;
}

describe('exactly-once recovery from checkpoints', () => {
  const dirs = new TempDirs();
  afterEach(() => dirs.cleanup());

  it('a crashed run restored from its newest checkpoint writes exactly what an uninterrupted run writes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: 0, max: 25 }), fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }), async (seed, crashAfter, checkpointAt) => {
        const clock = new ManualClock(1_000_000);
        const reference = await setup(dirs.make(), seed);
        const whole = await PipelineRunner.start(def.plan(), { log: reference, clock, maxBatchRecords: 16 });
        await whole.finish();
        const expected = await dump(reference);
        await reference.close();

        const log = await setup(dirs.make(), seed);
        const storage = new MemoryCheckpoints();
        const first = await PipelineRunner.start(def.plan(), { log, clock, maxBatchRecords: 16, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
        for (let round = 0; round < crashAfter; round++) {
          await first.step();
          if (checkpointAt[round]) await first.checkpoint();
        }
        // Crash: the first runner is abandoned as it is (outputs after its last checkpoint stay in the log).
        const second = await PipelineRunner.start(def.plan(), { log, clock, maxBatchRecords: 16, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
        await second.finish();
        expect(await dump(log)).toEqual(expected);
        await log.close();
      }),
      { numRuns: 25 },
    );
    // Restores above went through chains of deltas, not only full snapshots.
    expect(deltasSaved).toBeGreaterThan(10);
  });
});
