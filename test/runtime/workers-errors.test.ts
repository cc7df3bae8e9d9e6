import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { ParallelRunner } from '../../src/runtime/parallel/parallel-runner.js';
import { WorkerPool } from '../../src/runtime/parallel/worker-pool.js';

/** What a parallel run does when something is wrong: coded errors, never a hang. */

const MODULE = new URL('./fixtures/parallel-pipelines.ts', import.meta.url);
let pool: WorkerPool;

beforeAll(async () => {
  pool = await WorkerPool.start(2);
});
afterAll(async () => {
  await pool.close();
});

async function eventsLog(values: readonly unknown[] = []): Promise<MemoryLog> {
  const log = new MemoryLog();
  await log.createTopic('events', { partitions: 2 });
  if (values.length > 0) await log.append('events', 0, values.map((v) => ({ value: Buffer.from(JSON.stringify(v)), timestampMs: 1 })));
  return log;
}

describe('parallel run failures', () => {
  it('an exception in a user function comes back from the worker as a rejected round; the pool stays usable', async () => {
    const log = await eventsLog([{ key: 'a', ts: 1, v: 1 }, { key: 'b', ts: 2, v: 13 }]);
    const runner = await ParallelRunner.start({ module: MODULE, exportName: 'throwing' }, { log, pool });
    await expect(runner.finish()).rejects.toThrow(/unlucky value in b/);
    await runner.close();
    // The failed round's offsets are not committed: a restart reads those records again.
    expect((await log.committedOffsets('freshet.par-throwing')).filter((c) => c.topic === 'events' && c.offset > 0)).toEqual([]);
    const again = await ParallelRunner.start({ module: MODULE, exportName: 'windowed', args: [{ window: { type: 'tumbling', sizeMs: 10 }, maxOutOfOrderMs: 0, allowedLatenessMs: 0 }] }, { log: await eventsLog([{ key: 'a', ts: 1, v: 1 }]), pool });
    await again.finish();
    expect(again.collected('results')).toHaveLength(1);
    await again.close();
  });

  it('refuses a definition that builds a different plan in each thread', async () => {
    await expect(ParallelRunner.start({ module: MODULE, exportName: 'unstable' }, { log: await eventsLog(), pool })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_ARGUMENT,
      message: expect.stringMatching(/different plan in a worker thread/),
    });
  });

  it('refuses a repartition topic that exists with another partition count', async () => {
    const log = await eventsLog();
    await log.createTopic('par-windows.keyBy-1.repartition', { partitions: 7 });
    const ref = { module: MODULE, exportName: 'windowed', args: [{ window: { type: 'tumbling', sizeMs: 10 }, maxOutOfOrderMs: 0, allowedLatenessMs: 0 }] };
    await expect(ParallelRunner.start(ref, { log, pool })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringMatching(/has 7 partitions, this run needs 2/) });
    const runner = await ParallelRunner.start(ref, { log, pool, repartitionPartitions: 7 });
    expect(runner.layout.stages.map((s) => s.partitions)).toEqual([2, 7]);
    await runner.close();
  });

  it('refuses a module export that is not a pipeline, and a worker count out of bounds', async () => {
    await expect(ParallelRunner.start({ module: MODULE, exportName: 'stats' }, { log: await eventsLog(), pool })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    await expect(WorkerPool.start(0)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    await expect(WorkerPool.start(1000)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
  });
});
