/**
 * Child of checkpoint-crash.test.ts: `node --import tsx test/state/checkpoint-crash-child.ts <dir> <run>`.
 * Restores the newest checkpoint (if any) into a memory backend, then forever: mutates state, snapshots
 * it (full or delta) and writes a checkpoint of two tasks, printing a line with the state's hash before
 * the write ("begin") and after it ("done"), until the parent kills it with SIGKILL.
 */
import { crc32c } from '@node-rs/crc32';
import { CheckpointStore } from '../../src/state/checkpoint-store.js';
import { MemoryStateBackend } from '../../src/state/memory/memory-backend.js';
import { mulberry32 } from '../helpers/bytes.js';
import { declareAll, dump } from './state-store.case.js';

const [dir, runArg] = process.argv.slice(2);
if (!dir || runArg === undefined) {
  process.stderr.write('usage: checkpoint-crash-child.ts <dir> <run>\n');
  process.exit(2);
}
const run = Number(runArg);
const emit = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const store = await CheckpointStore.open({ dir, retain: 3, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
const backends = [new MemoryStateBackend(), new MemoryStateBackend()];
const handles = backends.map((b) => declareAll(b));
const hash = (): number => crc32c(JSON.stringify(handles.map((h) => dump(h))));
const loaded = await store.loadLatest();
if (loaded) {
  for (const [i, b] of backends.entries()) await b.restore(loaded.tasks.get(String(i))!.chains, { checkpointId: loaded.checkpointId });
}
emit({ t: 'ready', run, restored: loaded?.checkpointId ?? null, hash: hash() });
const rnd = mulberry32(run * 104_729);
for (;;) {
  for (const h of handles) {
    const n = 50 + Math.floor(rnd() * 400);
    for (let i = 0; i < n; i++) {
      const k = `key-${Math.floor(rnd() * 3000)}`;
      h.v.put(k, `r${run}-${i}`);
      const w = Math.floor(rnd() * 5) * 10;
      h.w.put(k, w, w + 10, rnd());
      if (rnd() < 0.1) h.v.delete(`key-${Math.floor(rnd() * 3000)}`);
    }
    const gone = Math.floor(rnd() * 5) * 10;
    if (rnd() < 0.1) h.w.deleteWindow(gone, gone + 10);
  }
  const id = store.nextCheckpointId();
  const snaps = await Promise.all(backends.map((b) => b.snapshot(id, { full: rnd() < 0.15 })));
  emit({ t: 'begin', id, hash: hash() });
  await store.write({
    checkpointId: id,
    tasks: snaps.map((s, i) => ({ taskId: String(i), inputOffsets: [{ topic: 'in', partition: i, offset: id * 3 }], outputPositions: [], watermarks: { in: id }, operators: s.operators })),
  });
  for (const b of backends) b.checkpointComplete(id);
  emit({ t: 'done', id });
}
