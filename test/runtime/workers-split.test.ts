import { unpack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { EventLog } from '../../src/log/log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { recordsOf } from '../../src/log/record-batch.js';
import { ParallelRunner } from '../../src/runtime/parallel/parallel-runner.js';
import { readControl } from '../../src/runtime/parallel/repartition.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { TempDirs } from '../helpers/temp-dir.js';
import { type Ev, windowed } from './fixtures/parallel-pipelines.js';

/**
 * A parallel run on the real embedded log, checked from the outside: the work is really split (every
 * worker ran part of the keyed stage), the repartition topic holds every record once, in the partition
 * of its key, followed by every writer's watermarks, and the results are the single-process ones.
 */

const MODULE = new URL('./fixtures/parallel-pipelines.ts', import.meta.url);
const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const PARTITIONS = 4;
const KEYS = 40;
const EVENTS: Ev[] = Array.from({ length: 2000 }, (_, i) => ({ key: `user-${(i * 7919) % KEYS}`, ts: 1_000_000 + i * 50 + ((i * 31) % 400), v: i % 97 }));

async function load(log: EventLog): Promise<void> {
  await log.createTopic('events', { partitions: PARTITIONS });
  // No record key: events spread round-robin, so every key is in every source partition.
  for (let p = 0; p < PARTITIONS; p++) {
    const records = EVENTS.filter((_, i) => i % PARTITIONS === p).map((e) => ({ value: Buffer.from(JSON.stringify(e)), timestampMs: e.ts }));
    for (let i = 0; i < records.length; i += 100) await log.append('events', p, records.slice(i, i + 100));
  }
}

async function readAll(log: EventLog, topic: string, partition: number) {
  const out = [];
  let offset = await log.earliestOffset(topic, partition);
  for (;;) {
    const r = await log.read(topic, partition, offset, { maxRecords: 10_000 });
    if (r.batches.length === 0) return out;
    out.push(...recordsOf(r.batches));
    offset = r.nextOffset;
  }
}

describe('a parallel run on the embedded log', () => {
  it('splits the keys over 3 workers through the repartition topic and matches the single-process results', async () => {
    const params = { window: { type: 'tumbling', sizeMs: 5_000 }, maxOutOfOrderMs: 500, allowedLatenessMs: 0 } as const;
    const single = new MemoryLog(new ManualClock(0));
    await load(single);
    const reference = await PipelineRunner.start(windowed(params).plan(), { log: single });
    await reference.finish();

    const log = await EmbeddedLog.open({ dataDir: dirs.make('freshet-workers-'), fsync: 'never', retentionCheckIntervalMs: 0 });
    try {
      await load(log);
      const runner = await ParallelRunner.start({ module: MODULE, exportName: 'windowed', args: [params] }, { log, workers: 3, maxBatchRecords: 64 });
      try {
        await runner.finish();
        const topic = 'par-windows.keyBy-1.repartition';
        expect(runner.layout.repartitions.map((r) => r.topic)).toEqual([topic]);
        expect(runner.layout.stages.map((s) => s.partitions)).toEqual([PARTITIONS, PARTITIONS]);

        // Results: the same windows, per key in the same order.
        const perKey = (records: readonly { key: unknown; value: unknown }[]) => {
          const out: Record<string, string[]> = {};
          for (const r of records) (out[String(r.key)] ??= []).push(JSON.stringify(r.value));
          return out;
        };
        expect(runner.collected('late')).toEqual([]);
        expect(Object.keys(perKey(runner.collected('results')))).toHaveLength(KEYS);
        expect(perKey(runner.collected('results'))).toEqual(perKey(reference.collected('results')));

        // The work is split: every worker ran keyed tasks that read part of the repartitioned data.
        const stats = await runner.stats();
        const keyedStage = stats.filter((s) => s.stage === 1);
        expect(keyedStage).toHaveLength(PARTITIONS);
        const perWorker = new Map<number, number>();
        for (const s of keyedStage) perWorker.set(s.worker, (perWorker.get(s.worker) ?? 0) + s.repartitionRecords);
        expect([...perWorker.keys()].sort()).toEqual([0, 1, 2]);
        for (const [worker, n] of perWorker) expect([worker, n > 0 && n < EVENTS.length]).toEqual([worker, true]);
        expect(keyedStage.reduce((n, s) => n + s.repartitionRecords, 0)).toBe(EVENTS.length);
        expect(stats.filter((s) => s.stage === 0).reduce((n, s) => n + s.sourceRecords, 0)).toBe(EVENTS.length);
        expect(stats.filter((s) => s.stage === 0).reduce((n, s) => n + s.repartitionWritten, 0)).toBe(EVENTS.length);

        // The repartition topic: each event once, in the partition of its key; each key in one partition;
        // every writer's watermarks in every partition, ending at +Infinity (the bounded run's end).
        const writers = runner.layout.tasks.filter((t) => t.stage === 0).map((t) => t.id);
        const keysSeen = new Map<string, number>();
        let data = 0;
        for (let p = 0; p < PARTITIONS; p++) {
          const lastWatermark = new Map<string, number>();
          for (const r of await readAll(log, topic, p)) {
            if (r.value === null) {
              const control = readControl(r.headers)!;
              expect(control.watermarkMs).toBeGreaterThanOrEqual(lastWatermark.get(control.taskId) ?? Number.NEGATIVE_INFINITY);
              lastWatermark.set(control.taskId, control.watermarkMs);
              continue;
            }
            data++;
            const key = unpack(r.key!) as string;
            const value = unpack(r.value) as Ev & { v: number };
            expect(partitionForKey(r.key!, PARTITIONS)).toBe(p);
            expect(keysSeen.get(key) ?? p).toBe(p);
            keysSeen.set(key, p);
            expect(r.timestampMs).toBe(value.ts);
          }
          expect([...lastWatermark.keys()].sort()).toEqual(writers);
          expect([...lastWatermark.values()].every((w) => w === Number.POSITIVE_INFINITY)).toBe(true);
        }
        expect(data).toBe(EVENTS.length);
        expect(keysSeen.size).toBe(KEYS);
        expect(new Set(keysSeen.values()).size).toBeGreaterThan(1);

        // Offsets are committed under the pipeline's group, for sources and the repartition topic.
        const committed = await log.committedOffsets('freshet.par-windows');
        expect(committed.filter((c) => c.topic === 'events').map((c) => c.offset)).toEqual(Array(PARTITIONS).fill(EVENTS.length / PARTITIONS));
        expect(committed.filter((c) => c.topic === topic)).toHaveLength(PARTITIONS);
      } finally {
        await runner.close();
      }
    } finally {
      await log.close();
    }
  });
});
