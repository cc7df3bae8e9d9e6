/**
 * `npm run bench -- recovery`: exactly-once recovery costs, with --keys N (default 1,000,000) keys of
 * window state (one open window, count + sum per key):
 * - `recovery.restore` / `seconds`: a fresh process, from its start to processing a record again
 *   (restore the checkpoint, truncate outputs, resume). Ceiling: the same process start with no state
 *   to restore (what any restart costs), measured in the same run.
 * - `checkpoint.overhead` / `throughput_ratio`: throughput with a checkpoint every second divided by
 *   throughput without (the same events over the same keys). Keys are touched round-robin, so every
 *   second changes ~70% of them: the worst case for incremental checkpoints (here every checkpoint
 *   rewrites the one open window whole). Also reported: how many checkpoints the timed run took and the
 *   share of its time their cuts held up processing (their writes run in the background).
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
    // Runs without and with checkpoints alternate (--pairs, default 3) over copies of one generated log;
    // the figure is the median of each pair's ratio, as throughput here swings ±15% from run to run.
    const events = Number(args.events ?? 3 * keys);
    const pairs = Number(args.pairs ?? 3);
    const source = path.join(root, 'overhead-source');
    const sourceLog = await EmbeddedLog.open({ dataDir: source, fsync: 'never', retentionCheckIntervalMs: 0 });
    await sourceLog.createTopic('events', { partitions: 1, segmentBytes: 512 * 1024 * 1024 });
    await writeEvents(sourceLog, keys, events);
    await sourceLog.close();
    const runs: { without: number; with: number; checkpoints: number; syncMs: number; elapsedMs: number }[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      const result = { without: 0, with: 0, checkpoints: 0, syncMs: 0, elapsedMs: 0 };
      for (const checkpointed of [false, true]) {
        const dir = path.join(root, `overhead-${pair}-${checkpointed}`);
        fs.cpSync(source, dir, { recursive: true });
        const l = await EmbeddedLog.open({ dataDir: dir, fsync: 'never', retentionCheckIntervalMs: 0 });
        const s = checkpointed ? await FileCheckpointStorage.open(plan, { dataDir: dir }) : undefined;
        const r = await PipelineRunner.start(definition.plan(), { log: l, ...(s ? { checkpoints: { storage: s, intervalMs: 1000 } } : {}) });
        // The run's first checkpoint is taken at start, before the timed part.
        const before = r.checkpointStats;
        const start = performance.now();
        await r.runUntilCaughtUp();
        const elapsedMs = performance.now() - start;
        if (checkpointed) {
          result.with = events / (elapsedMs / 1000);
          result.checkpoints = r.checkpointStats.taken - before.taken;
          result.syncMs = r.checkpointStats.syncMs - before.syncMs;
          result.elapsedMs = elapsedMs;
        } else {
          result.without = events / (elapsedMs / 1000);
        }
        await s?.close();
        await l.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
      runs.push(result);
      note(`checkpoint overhead, pair ${pair + 1}: ${Math.round(result.without)} events/s without, ${Math.round(result.with)} with (${result.checkpoints} checkpoints, cuts ${Math.round(result.syncMs)} ms in all)`);
    }
    const byRatio = [...runs].sort((a, b) => a.with / a.without - b.with / b.without);
    const median = byRatio[Math.floor(byRatio.length / 2)]!;
    report({
      bench: 'checkpoint.overhead',
      metric: 'throughput_ratio',
      value: median.with / median.without,
      unit: 'ratio',
      keys,
      events,
      ratios: runs.map((r) => Number((r.with / r.without).toFixed(3))),
      events_per_s_with: Math.round(median.with),
      events_per_s_without: Math.round(median.without),
      // Checkpoints in the timed run with them, and the share of its time their cuts held up processing.
      checkpoints: median.checkpoints,
      sync_ms_per_checkpoint: Math.round(median.syncMs / Math.max(1, median.checkpoints)),
      sync_share: Number((median.syncMs / median.elapsedMs).toFixed(3)),
      goal: '>= 0.9',
    });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
