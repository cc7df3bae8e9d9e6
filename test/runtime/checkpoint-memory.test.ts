/**
 * Interval checkpoints write each window snapshot into the memory of the previous one once that one is
 * in files (PipelineRunner's snapshotMemoryFree, CheckpointStorage.releasesBytes). This checks that the
 * reuse happens, that it never overwrites bytes someone still holds (a checkpoint `checkpoint()` handed
 * out, or one being written), and that what reached the files is what was cut.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { count, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { FileCheckpointStorage } from '../../src/runtime/checkpoint-files.js';
import type { CheckpointStorage, RunnerCheckpoint } from '../../src/runtime/checkpointing.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { TempDirs } from '../helpers/temp-dir.js';

const KEYS = 2_000;
const EVENTS = 40_000;

const def = pipeline('checkpoint-memory', (p) => {
  p.source<{ k: string; v: number; ts: number }>('events', { eventTime: 'ts', maxOutOfOrderMs: 0 })
    .keyBy((e) => e.k)
    .window(tumbling({ sizeMs: 3_600_000 }))
    .aggregate({ n: count(), total: sum((e: { v: number }) => e.v) }, { name: 'per-key' })
    .toTopic('out');
});

interface Saved {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly copy: Uint8Array;
}

/** File storage that remembers the window operator's bytes of every checkpoint it saves, and a copy of them. */
class RecordingStorage implements CheckpointStorage {
  readonly supportsDeltas = true;
  readonly releasesBytes = true;
  readonly saved: Saved[] = [];

  constructor(readonly inner: FileCheckpointStorage) {}

  nextId(): number {
    return this.inner.nextId();
  }

  latest(): Promise<RunnerCheckpoint | null> {
    return this.inner.latest();
  }

  async save(checkpoint: RunnerCheckpoint): Promise<void> {
    const bytes = checkpoint.tasks[0]!.operators.get('per-key')![0]!.bytes;
    this.saved.push({ id: checkpoint.id, bytes, copy: Uint8Array.from(bytes) });
    await this.inner.save(checkpoint);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

describe('checkpoint snapshot memory', () => {
  const dirs = new TempDirs();
  afterEach(() => dirs.cleanup());

  it('interval checkpoints reuse it, handed-out checkpoints keep their bytes, and the files hold what was cut', async () => {
    const dataDir = dirs.make();
    const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    await log.createTopic('events', { partitions: 1 });
    const events = Array.from({ length: EVENTS }, (_, i) => ({ k: `key-${i % KEYS}`, v: i % 100, ts: 1_000_000 + i }));
    for (let i = 0; i < EVENTS; i += 5_000) await log.append('events', 0, events.slice(i, i + 5_000).map((e) => ({ value: Buffer.from(JSON.stringify(e)) })));
    const plan = def.plan();
    const storage = new RecordingStorage(await FileCheckpointStorage.open(plan, { dataDir }));
    const runner = await PipelineRunner.start(plan, { log, maxBatchRecords: 1_000, checkpoints: { storage, intervalMs: 0 } });

    let handedOut: { checkpoint: RunnerCheckpoint; copy: Uint8Array } | undefined;
    for (let round = 0; (await runner.step()) > 0; round++) {
      // Time for the write in flight, so that most rounds cut a checkpoint.
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (round === 20) {
        const checkpoint = await runner.checkpoint();
        handedOut = { checkpoint, copy: Uint8Array.from(checkpoint.tasks[0]!.operators.get('per-key')![0]!.bytes) };
      }
    }
    await runner.checkpoint();

    const saved = storage.saved;
    expect(saved.length).toBeGreaterThan(10);
    // Reuse happened: some checkpoint was written in the memory of the one before it.
    const reused = saved.filter((s, i) => i > 0 && s.bytes.buffer === saved[i - 1]!.bytes.buffer);
    expect(reused.length).toBeGreaterThan(3);
    // Never over bytes handed out: the checkpoint checkpoint() returned still holds what it held.
    expect(handedOut).toBeDefined();
    expect(sameBytes(handedOut!.checkpoint.tasks[0]!.operators.get('per-key')![0]!.bytes, handedOut!.copy)).toBe(true);
    const afterHandedOut = saved[saved.findIndex((s) => s.id === handedOut!.checkpoint.id) + 1]!;
    expect(afterHandedOut.bytes.buffer).not.toBe(handedOut!.checkpoint.tasks[0]!.operators.get('per-key')![0]!.bytes.buffer);
    // The files hold what each cut produced: the newest chain's last piece is the last cut's bytes.
    const latest = (await storage.latest())!;
    expect(latest.id).toBe(saved.at(-1)!.id);
    expect(sameBytes(latest.tasks[0]!.operators.get('per-key')!.at(-1)!.bytes, saved.at(-1)!.copy)).toBe(true);

    await storage.inner.close();
    await log.close();
  });
});
