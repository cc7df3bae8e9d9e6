/**
 * Crash safety of the checkpoint writer: a child (checkpoint-crash-child.ts) writes incremental
 * checkpoints of two tasks in a loop and is killed with SIGKILL at random moments, many times over one
 * directory. After each kill, the newest complete checkpoint must load and hold exactly the state the
 * child had when it began writing it (checked by hash), be the last acknowledged one or the one in
 * flight, and every other kept checkpoint must load too. The next child restores from it and goes on.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32c } from '@node-rs/crc32';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/state/checkpoint-store.js';
import { MemoryStateBackend } from '../../src/state/memory/memory-backend.js';
import { mulberry32 } from '../helpers/bytes.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { declareAll, dump } from './state-store.case.js';

const RUNS = Number(process.env.FRESHET_CHECKPOINT_CRASH_RUNS ?? 12);
const SEED = Number(process.env.FRESHET_CRASH_SEED ?? 777);
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHILD = path.join(REPO_ROOT, 'test/state/checkpoint-crash-child.ts');

type Line = { t: 'ready'; restored: number | null; hash: number } | { t: 'begin'; id: number; hash: number } | { t: 'done'; id: number };

function crashOnce(dir: string, run: number, delayMs: number): Promise<Line[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(run)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const startup = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`run ${run}: child did not start within 20 s\n${stderr}`));
    }, 20_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (timer === undefined && stdout.includes('"t":"ready"')) {
        clearTimeout(startup);
        timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(startup);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`run ${run}: child exited on its own (code ${code})\n${stderr}`));
        return;
      }
      const lines = stdout.split('\n');
      lines.pop(); // cut by the kill
      resolve(lines.filter((l) => l.length > 0).map((l) => JSON.parse(l) as Line));
    });
  });
}

async function hashOf(store: CheckpointStore, id: number): Promise<number> {
  const loaded = await store.load(id);
  const backends = [new MemoryStateBackend(), new MemoryStateBackend()];
  const handles = backends.map((b) => declareAll(b));
  for (const [i, b] of backends.entries()) await b.restore(loaded.tasks.get(String(i))!.chains, { checkpointId: id });
  expect(loaded.tasks.get('1')!.inputOffsets).toEqual([{ topic: 'in', partition: 1, offset: id * 3 }]);
  return crc32c(JSON.stringify(handles.map((h) => dump(h))));
}

describe('checkpoint store under kill -9', () => {
  const dir = makeTempDir('freshet-chk-crash-');
  afterAll(() => removeTempDir(dir));

  it(`${RUNS} kills while writing: the newest complete checkpoint always loads and equals what was written`, async () => {
    const rnd = mulberry32(SEED);
    const hashes = new Map<number, number>();
    let lastDone = 0;
    let expectedRestore: number | null = null;
    const outcomes = { inFlight: 0, committedUnacknowledged: 0, checkpoints: 0 };
    for (let run = 1; run <= RUNS; run++) {
      const lines = await crashOnce(dir, run, 80 + Math.floor(rnd() * 400));
      const ready = lines[0] as Extract<Line, { t: 'ready' }>;
      expect(ready.t).toBe('ready');
      expect(ready.restored, `run ${run} restored another checkpoint than the one verified`).toBe(expectedRestore);
      if (ready.restored !== null) expect(ready.hash).toBe(hashes.get(ready.restored));
      let inFlight: number | null = null;
      for (const line of lines.slice(1)) {
        if (line.t === 'begin') {
          hashes.set(line.id, line.hash);
          inFlight = line.id;
        } else if (line.t === 'done') {
          expect(line.id).toBe(inFlight);
          lastDone = line.id;
          inFlight = null;
          outcomes.checkpoints++;
        }
      }
      const warnings: string[] = [];
      const store = await CheckpointStore.open({ dir, retain: 3, readOnly: true, onWarning: (m) => warnings.push(m) });
      const latest = await store.loadLatest();
      expect(warnings).toEqual([]);
      expect(latest, `run ${run}: nothing loads`).not.toBeNull();
      const id = latest!.checkpointId;
      // The last acknowledged checkpoint, or the one being written when the kill came (if its manifest made it).
      expect([lastDone, inFlight]).toContain(id);
      if (id === inFlight) outcomes.committedUnacknowledged++;
      else if (inFlight !== null) outcomes.inFlight++;
      expect(await hashOf(store, id), `run ${run}: checkpoint ${id} restores other state than was written`).toBe(hashes.get(id));
      for (const c of await store.list()) {
        if (c.status === 'incomplete') continue;
        expect(c.status, `checkpoint ${c.checkpointId}: ${c.problem}`).toBe('complete');
        expect(await hashOf(store, c.checkpointId)).toBe(hashes.get(c.checkpointId));
      }
      await store.close();
      lastDone = id;
      expectedRestore = id;
    }
    expect(outcomes.checkpoints).toBeGreaterThan(RUNS);
    console.log(`checkpoint crash test: ${JSON.stringify(outcomes)}`);
  });
});
