/**
 * `npm run bench -- recovery`: exactly-once recovery costs, with --keys N (default 1,000,000) keys of
 * window state (one open window, count + sum per key):
 * - `recovery.restore` / `seconds`: a fresh process, from its start to processing a record again
 *   (restore the checkpoint, truncate outputs, resume). Ceiling: the same process start with no state
 *   to restore (what any restart costs), measured in the same run.
 * - `checkpoint.overhead` / `throughput_ratio`: throughput with a checkpoint every second divided by
 *   throughput without (the same events over the same keys, full snapshots).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { FileCheckpointStorage } from '../src/runtime/checkpoint-files.js';
import { stateBytes as taskStateBytes } from '../src/runtime/checkpointing.js';
import { PipelineRunner } from '../src/runtime/pipeline-runner.js';
import definition from './recovery/pipeline.js';
import { note, report } from './report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const T0 = 1_700_000_000_000;

async function writeEvents(log: EmbeddedLog, keys: number, events: number, from = 0): Promise<void> {
  for (let i = from; i < from + events; i += 8192) {
    const n = Math.min(8192, from + events - i);
    await log.append(
      'events',
      0,
      Array.from({ length: n }, (_, j) => ({ value: Buffer.from(JSON.stringify({ k: `key-${(i + j) % keys}`, v: (i + j) % 100, ts: T0 + Math.floor((i + j) / 1000) })) })),
    );
  }
}

function restoreChild(dataDir: string): { processingMs: number; restoreMs: number; read: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(HERE, 'recovery/restore-child.ts'), dataDir], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`restore child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { processingMs: number; restoreMs: number; read: number };
}

export async function run(args: Record<string, string | true>): Promise<void> {
  const keys = Number(args.keys ?? 1_000_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'freshet-bench-recovery-'));
  try {
    // --- recovery.restore ---------------------------------------------------------------------------
    const dataDir = path.join(root, 'restore');
    let log = await EmbeddedLog.open({ dataDir, fsync: 'never', retentionCheckIntervalMs: 0 });
    await log.createTopic('events', { partitions: 1, segmentBytes: 512 * 1024 * 1024 });
    await writeEvents(log, keys, keys);
    const plan = definition.plan();
    let storage = await FileCheckpointStorage.open(plan, { dataDir });
    const runner = await PipelineRunner.start(plan, { log, checkpoints: { storage, intervalMs: Number.POSITIVE_INFINITY } });
    await runner.runUntilCaughtUp();
    const snapStart = performance.now();
    const checkpoint = await runner.checkpoint();
    const snapshotMs = performance.now() - snapStart;
    let stateBytes = 0;
    for (const task of checkpoint.tasks) stateBytes += taskStateBytes(task);
    await storage.close();
    await log.close();
    note(`recovery bench: ${keys} keys, checkpoint ${(stateBytes / 1e6).toFixed(1)} MB in ${snapshotMs.toFixed(0)} ms`);
    // The ceiling: a process that starts the same way with nothing to restore.
    const emptyDir = path.join(root, 'empty');
    log = await EmbeddedLog.open({ dataDir: emptyDir, fsync: 'never' });
    await log.createTopic('events', { partitions: 1 });
    await writeEvents(log, 1, 1);
    await log.close();
    // One new event each, so both processes have something to process once up.
    log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
    await writeEvents(log, keys, 1, keys);
    await log.close();
    let best = Number.POSITIVE_INFINITY;
    let bestEmpty = Number.POSITIVE_INFINITY;
    let restoreMs = 0;
    for (let rep = 0; rep < 3; rep++) {
      const restored = restoreChild(dataDir);
      if (restored.processingMs < best) {
        best = restored.processingMs;
        restoreMs = restored.restoreMs;
      }
      bestEmpty = Math.min(bestEmpty, restoreChild(emptyDir).processingMs);
    }
    report({ bench: 'recovery.restore', metric: 'seconds', value: best / 1000, unit: 's', ceiling: bestEmpty / 1000, keys, state_bytes: stateBytes, restore_ms: Math.round(restoreMs), snapshot_ms: Math.round(snapshotMs), ceiling_kind: 'the same process start with no state', goal: '<= 2 s' });

    // --- checkpoint.overhead ------------------------------------------------------------------------
    const events = Number(args.events ?? 3 * keys);
    const rates: Record<string, number> = {};
    for (const mode of ['none', 'every-1s', 'none', 'every-1s'] as const) {
      const dir = path.join(root, `overhead-${mode}-${Object.keys(rates).length}-${Math.random().toString(36).slice(2)}`);
      const l = await EmbeddedLog.open({ dataDir: dir, fsync: 'never', retentionCheckIntervalMs: 0 });
      await l.createTopic('events', { partitions: 1, segmentBytes: 512 * 1024 * 1024 });
      await writeEvents(l, keys, events);
      const s = mode === 'none' ? undefined : await FileCheckpointStorage.open(plan, { dataDir: dir });
      const r = await PipelineRunner.start(definition.plan(), { log: l, ...(s ? { checkpoints: { storage: s, intervalMs: 1000 } } : {}) });
      const start = performance.now();
      await r.runUntilCaughtUp();
      const rate = events / ((performance.now() - start) / 1000);
      rates[mode] = Math.max(rates[mode] ?? 0, rate);
      await s?.close();
      await l.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    report({
      bench: 'checkpoint.overhead',
      metric: 'throughput_ratio',
      value: rates['every-1s']! / rates['none']!,
      unit: 'ratio',
      keys,
      events,
      events_per_s_with: Math.round(rates['every-1s']!),
      events_per_s_without: Math.round(rates['none']!),
      goal: '>= 0.9',
    });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
