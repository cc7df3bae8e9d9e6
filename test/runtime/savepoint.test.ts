import { afterEach, describe, expect, it } from 'vitest';
import { count, max, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { FileCheckpointStorage } from '../../src/runtime/checkpoint-files.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { TempDirs } from '../helpers/temp-dir.js';

interface Ev {
  key: string;
  v: number;
  ts: number;
}

/** The same pipeline, with its window operator's aggregator or name changed by `variant`. */
const define = (variant: 'v1' | 'v2-compatible' | 'v2-new-aggregator' | 'v2-renamed') =>
  pipeline('sp', (p) => {
    const w = p.source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 0 }).keyBy((e) => e.key).window(tumbling({ sizeMs: 1_000 }));
    const name = variant === 'v2-renamed' ? 'per-second-v2' : 'per-second';
    const results = variant === 'v2-new-aggregator' ? w.aggregate(max((e: Ev) => e.v), { name }) : w.aggregate({ n: count(), total: sum((e: Ev) => e.v) }, { name });
    // A compatible change: different downstream code, same operator names and state shapes.
    (variant === 'v2-compatible' ? results.map((r) => ({ ...r, version: 2 })) : results).collect('out');
  });

describe('savepoints across code changes', () => {
  const dirs = new TempDirs();
  afterEach(() => dirs.cleanup());

  async function savepointOfV1(): Promise<string> {
    const dataDir = dirs.make();
    const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    await log.createTopic('events', { partitions: 1 });
    await log.append('events', 0, [{ value: Buffer.from(JSON.stringify({ key: 'a', v: 5, ts: 100 })) }, { value: Buffer.from(JSON.stringify({ key: 'a', v: 7, ts: 200 })) }]);
    const plan = define('v1').plan();
    const storage = await FileCheckpointStorage.open(plan, { dataDir });
    const runner = await PipelineRunner.start(plan, { log, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
    await runner.runUntilCaughtUp();
    const checkpoint = await runner.checkpoint();
    await storage.store.createSavepoint('before-v2', { fromCheckpointId: checkpoint.id });
    await storage.close();
    // More input after the savepoint: the window [0, 1000) is still open.
    await log.append('events', 0, [{ value: Buffer.from(JSON.stringify({ key: 'a', v: 1, ts: 300 })) }]);
    await log.close();
    return dataDir;
  }

  it('a compatible change restarts from the savepoint with the saved window state', async () => {
    const dataDir = await savepointOfV1();
    const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    const plan = define('v2-compatible').plan();
    const storage = await FileCheckpointStorage.open(plan, { dataDir, fromSavepoint: 'before-v2' });
    const runner = await PipelineRunner.start(plan, { log, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
    await runner.finish();
    // 5 and 7 came from the savepoint's state, 1 was read after it.
    expect(runner.collected('out')).toEqual([expect.objectContaining({ value: { key: 'a', windowStartMs: 0, windowEndMs: 1_000, value: { n: 3, total: 13 }, final: true, version: 2 } })]);
    await storage.close();
    await log.close();
  });

  it('an incompatible change is refused with an error naming the operator', async () => {
    const dataDir = await savepointOfV1();
    const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    const plan = define('v2-new-aggregator').plan();
    const storage = await FileCheckpointStorage.open(plan, { dataDir, fromSavepoint: 'before-v2' });
    await expect(PipelineRunner.start(plan, { log, checkpoints: { storage } })).rejects.toMatchObject({ code: 'FRESHET_STATE_INCOMPATIBLE', message: expect.stringContaining("'per-second'") });
    await storage.close();
    await log.close();
  });

  it('state of a removed or renamed operator is refused unless allowNonRestoredState', async () => {
    const dataDir = await savepointOfV1();
    const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    const plan = define('v2-renamed').plan();
    let storage = await FileCheckpointStorage.open(plan, { dataDir, fromSavepoint: 'before-v2' });
    await expect(PipelineRunner.start(plan, { log, checkpoints: { storage } })).rejects.toMatchObject({ code: 'FRESHET_STATE_NOT_RESTORED', message: expect.stringContaining("'per-second'") });
    await storage.close();
    storage = await FileCheckpointStorage.open(plan, { dataDir, fromSavepoint: 'before-v2', allowNonRestoredState: true });
    const runner = await PipelineRunner.start(plan, { log, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
    await runner.finish();
    // The renamed window started empty: only what came after the savepoint.
    expect(runner.collected('out').map((r) => (r.value as { value: unknown }).value)).toEqual([{ n: 1, total: 1 }]);
    await storage.close();
    await log.close();
  });
});
