/**
 * State backend micro-benchmark (not registered in bench/run.ts):
 *
 *   node --import tsx bench/state.ts [--keys 1000000] [--seconds 4] [--backends memory,lmdb] [--dir PATH]
 *
 * For each backend, over `--keys` keys of window state (count + sum accumulators, 20 bytes each):
 *   state.fill            puts/s filling the state             ceiling: a raw Map.set loop over the same objects
 *   state.snapshot.full   ms and bytes of a full snapshot      ceiling: a raw loop writing the same keys and bytes
 *   state.restore.full    ms to restore it into a new backend  ceiling: a raw loop reading them into a Map
 *   state.snapshot.delta  ms and bytes after 10% of keys changed
 *   state.restore.chain   ms to restore full + delta
 *   state.restore.process ms from process start (node + module load + read + verify + restore) in a child
 *   state.checkpoint.overhead  update throughput (random keys) with a checkpoint (delta snapshot + durable
 *                         store write) every second, divided by the same loop without checkpoints (goal
 *                         >= 0.9); three interleaved rounds of `--seconds` each, best of each variant
 * Restores are the best of 3 runs for the memory backend (the machine may be shared).
 * One JSON line per result on stdout (bench/report.ts); diagnostics on stderr.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CheckpointStore } from '../src/state/checkpoint-store.js';
import { LmdbStateBackend } from '../src/state/lmdb/lmdb-backend.js';
import { MemoryStateBackend } from '../src/state/memory/memory-backend.js';
import type { StateBackend, StateSerializer, WindowState } from '../src/state/state-store.js';
import { note, parseArgs, report } from './report.js';

interface Acc {
  count: number;
  sum: number;
}

/** count + sum as 20 bytes: version (u32 = 1), two float64. */
const accSerializer: StateSerializer<Acc> = {
  encode(acc) {
    const b = new Uint8Array(20);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 1, true);
    dv.setFloat64(4, acc.count, true);
    dv.setFloat64(12, acc.sum, true);
    return b;
  },
  // The allocation-free snapshot path (StateSerializer.encodeInto).
  maxEncodedBytes: 20,
  encodeInto(acc, dv, offset) {
    dv.setUint32(offset, 1, true);
    dv.setFloat64(offset + 4, acc.count, true);
    dv.setFloat64(offset + 12, acc.sum, true);
    return 20;
  },
  decode(b) {
    const dv = new DataView(b.buffer, b.byteOffset, 20);
    return { count: dv.getFloat64(4, true), sum: dv.getFloat64(12, true) };
  },
};

const WINDOW_START = 0;
const WINDOW_END = 60_000;
const OPERATOR = 'per-user';

function declare(backend: StateBackend): WindowState<Acc> {
  return backend.operator(OPERATOR).window<Acc>('acc', { serializer: accSerializer });
}

function open(kind: string, root: string): StateBackend {
  if (kind === 'memory') return new MemoryStateBackend();
  return LmdbStateBackend.open({ path: fs.mkdtempSync(path.join(root, 'lmdb-')) });
}

function keyOf(i: number): string {
  return `user-${i}`;
}

/** A deterministic pseudo-random sequence (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function run(args: Record<string, string | true>): Promise<void> {
  const keys = Number(args.keys ?? 1_000_000);
  const seconds = Number(args.seconds ?? 4);
  const backends = String(args.backends ?? 'memory,lmdb').split(',');
  const root = fs.mkdtempSync(path.join(typeof args.dir === 'string' ? args.dir : os.tmpdir(), 'freshet-bench-state-'));
  try {
    const ceilings = rawCeilings(keys);
    for (const kind of backends) await benchBackend(kind, keys, seconds, root, ceilings);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** The same work without a state backend: Map fill, encode into one buffer, decode into a Map. */
function rawCeilings(keys: number): { fillPerS: number; encodeMs: number; decodeMs: number } {
  let t = performance.now();
  const map = new Map<string, Acc>();
  for (let i = 0; i < keys; i++) map.set(keyOf(i), { count: 1, sum: i });
  const fillPerS = keys / ((performance.now() - t) / 1000);
  t = performance.now();
  const buf = Buffer.allocUnsafe(keys * 40);
  let p = 0;
  for (const [k, acc] of map) {
    const n = buf.write(k, p + 4, 'utf8');
    buf.writeUInt32LE(n, p);
    p += 4 + n;
    buf.writeDoubleLE(acc.count, p);
    buf.writeDoubleLE(acc.sum, p + 8);
    p += 20;
  }
  const encodeMs = performance.now() - t;
  t = performance.now();
  const back = new Map<string, Acc>();
  for (let q = 0; q < p; ) {
    const n = buf.readUInt32LE(q);
    const k = buf.toString('utf8', q + 4, q + 4 + n);
    q += 4 + n;
    back.set(k, { count: buf.readDoubleLE(q), sum: buf.readDoubleLE(q + 8) });
    q += 20;
  }
  const decodeMs = performance.now() - t;
  note(`raw ceilings over ${keys} keys: fill ${Math.round(fillPerS)}/s, encode ${encodeMs.toFixed(0)} ms, decode ${decodeMs.toFixed(0)} ms`);
  return { fillPerS, encodeMs, decodeMs };
}

async function benchBackend(kind: string, keys: number, seconds: number, root: string, ceilings: { fillPerS: number; encodeMs: number; decodeMs: number }): Promise<void> {
  const backend = open(kind, root);
  const acc = declare(backend);
  const base = { backend: kind, keys };

  let t = performance.now();
  for (let i = 0; i < keys; i++) acc.put(keyOf(i), WINDOW_START, WINDOW_END, { count: 1, sum: i });
  await backend.flush();
  const fillMs = performance.now() - t;
  report({ bench: 'state.fill', metric: 'puts_per_s', value: keys / (fillMs / 1000), unit: 'puts/s', ceiling: ceilings.fillPerS, ...base });

  t = performance.now();
  const full = await backend.snapshot(1);
  const fullMs = performance.now() - t;
  backend.checkpointComplete(1);
  const fullBytes = full.operators[0]!.bytes;
  report({ bench: 'state.snapshot.full', metric: 'ms', value: fullMs, unit: 'ms', ceiling: ceilings.encodeMs, bytes: fullBytes.length, bytesPerKey: fullBytes.length / keys, ...base });

  // Restores: best of `repeat` (the machine is shared; the best run is the least disturbed one).
  const repeat = kind === 'memory' ? 3 : 1;
  const bestRestore = async (chain: Uint8Array[], checkpointId: number): Promise<number> => {
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < repeat; r++) {
      const target = open(kind, root);
      declare(target);
      const start = performance.now();
      await target.restore(new Map([[OPERATOR, chain]]), { checkpointId });
      best = Math.min(best, performance.now() - start);
      await target.close();
    }
    return best;
  };
  report({ bench: 'state.restore.full', metric: 'ms', value: await bestRestore([fullBytes], 1), unit: 'ms', ceiling: ceilings.decodeMs, runs: repeat, ...base });

  // 10% of the keys change, then a delta.
  const rnd = rng(42);
  for (let i = 0; i < keys / 10; i++) {
    const k = keyOf(Math.floor(rnd() * keys));
    const a = acc.get(k, WINDOW_START, WINDOW_END)!;
    acc.put(k, WINDOW_START, WINDOW_END, { count: a.count + 1, sum: a.sum + i });
  }
  t = performance.now();
  const delta = await backend.snapshot(2);
  const deltaMs = performance.now() - t;
  backend.checkpointComplete(2);
  const deltaBytes = delta.operators[0]!.bytes;
  report({ bench: 'state.snapshot.delta', metric: 'ms', value: deltaMs, unit: 'ms', bytes: deltaBytes.length, changedKeys: keys / 10, ...base });

  report({ bench: 'state.restore.chain', metric: 'ms', value: await bestRestore([fullBytes, deltaBytes], 2), unit: 'ms', links: 2, runs: repeat, ...base });

  // Restore from process start, in a child: write the checkpoint through the store first.
  const storeDir = fs.mkdtempSync(path.join(root, 'store-'));
  const store = await CheckpointStore.open({ dir: storeDir });
  await store.write({ checkpointId: 1, tasks: [{ taskId: 'main', inputOffsets: [], outputPositions: [], watermarks: {}, operators: [full.operators[0]!] }] });
  await store.close();
  let child = await restoreInChild(storeDir, kind, root);
  for (let r = 1; r < repeat; r++) {
    const again = await restoreInChild(storeDir, kind, root);
    if (again.totalMs < child.totalMs) child = again;
  }
  report({ bench: 'state.restore.process', metric: 'seconds', value: child.totalMs / 1000, unit: 's', goal: 2, loadMs: child.loadMs, restoreMs: child.restoreMs, runs: repeat, ...base });

  await benchOverhead(kind, backend, acc, keys, seconds, root);
  await backend.close();
}

/** Update throughput with and without a checkpoint every second (delta snapshot + durable store write). */
async function benchOverhead(kind: string, backend: StateBackend, acc: WindowState<Acc>, keys: number, seconds: number, root: string): Promise<void> {
  const store = await CheckpointStore.open({ dir: fs.mkdtempSync(path.join(root, 'overhead-')), retain: 3 });
  // Ids go on from the snapshots taken above (the backend's ids only increase).
  let nextId = 100;
  const fullSnap = await backend.snapshot(nextId++, { full: true });
  await store.write({ checkpointId: fullSnap.checkpointId, tasks: [{ taskId: 'main', inputOffsets: [], outputPositions: [], watermarks: {}, operators: fullSnap.operators }] });
  backend.checkpointComplete(fullSnap.checkpointId);
  const rnd = rng(7);
  const batch = 10_000;
  const loop = async (checkpoints: boolean): Promise<{ perS: number; checkpoints: number; snapshotMs: number }> => {
    const start = performance.now();
    let updates = 0;
    let next = start + 1000;
    let inFlight: Promise<void> | null = null;
    let taken = 0;
    let snapshotMs = 0;
    while (performance.now() - start < seconds * 1000) {
      for (let i = 0; i < batch; i++) {
        const k = keyOf(Math.floor(rnd() * keys));
        const a = acc.get(k, WINDOW_START, WINDOW_END);
        acc.put(k, WINDOW_START, WINDOW_END, a === undefined ? { count: 1, sum: i } : { count: a.count + 1, sum: a.sum + i });
      }
      updates += batch;
      await backend.flush();
      if (checkpoints && performance.now() >= next && inFlight === null) {
        next += 1000;
        const t = performance.now();
        const id = nextId++;
        const snap = await backend.snapshot(id);
        snapshotMs += performance.now() - t;
        taken++;
        inFlight = store
          .write({ checkpointId: id, tasks: [{ taskId: 'main', inputOffsets: [], outputPositions: [], watermarks: {}, operators: snap.operators }] })
          .then(() => backend.checkpointComplete(id))
          .finally(() => {
            inFlight = null;
          });
      }
      // A batch boundary: let I/O (the checkpoint write) progress, as a runner's read would.
      await new Promise((r) => setImmediate(r));
    }
    if (inFlight) await inFlight;
    return { perS: updates / ((performance.now() - start) / 1000), checkpoints: taken, snapshotMs };
  };
  // Interleaved rounds, best of each: other load on the machine then hits both variants alike.
  let without = await loop(false);
  let withCheckpoints = await loop(true);
  for (let round = 1; round < 3; round++) {
    const a = await loop(false);
    if (a.perS > without.perS) without = a;
    const b = await loop(true);
    if (b.perS > withCheckpoints.perS) withCheckpoints = b;
  }
  await store.close();
  report({
    bench: 'state.checkpoint.overhead',
    metric: 'throughput_ratio',
    value: withCheckpoints.perS / without.perS,
    unit: 'ratio',
    goal: 0.9,
    updatesPerS: Math.round(withCheckpoints.perS),
    updatesPerSWithout: Math.round(without.perS),
    checkpoints: withCheckpoints.checkpoints,
    meanSnapshotMs: Math.round(withCheckpoints.snapshotMs / Math.max(1, withCheckpoints.checkpoints)),
    backend: kind,
    keys,
  });
}

function restoreInChild(storeDir: string, kind: string, root: string): Promise<{ totalMs: number; loadMs: number; restoreMs: number }> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--restore-child', storeDir, '--backend', kind, '--dir', root], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`restore child exited with ${code}`));
      else resolve(JSON.parse(out) as { totalMs: number; loadMs: number; restoreMs: number });
    });
  });
}

/** The child: open the store, load and verify the newest checkpoint, restore it; report times since process start. */
async function restoreChild(storeDir: string, kind: string, root: string): Promise<void> {
  const t0 = performance.now();
  const store = await CheckpointStore.open({ dir: storeDir, readOnly: true });
  const loaded = (await store.loadLatest())!;
  const t1 = performance.now();
  const backend = open(kind, root);
  declare(backend);
  await backend.restore(loaded.tasks.get('main')!.chains, { checkpointId: loaded.checkpointId });
  const t2 = performance.now();
  // performance.now() counts from process start (timeOrigin): this includes node, tsx and module loading.
  process.stdout.write(JSON.stringify({ totalMs: t2, loadMs: t1 - t0, restoreMs: t2 - t1 }));
  await backend.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args['restore-child'] === 'string') await restoreChild(args['restore-child'], String(args.backend), String(args.dir));
  else await run(args);
}
