import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { decodeViewUpdate, viewTopic } from '../../src/plan/view-update.js';
import { Cli, REPO_ROOT } from '../cli/cli-harness.js';
import type { Order } from './fixtures/chaos-pipeline.js';

/**
 * The chaos test of exactly-once: `freshet run --bounded --checkpoint-interval` over a generated stream
 * (out of order, late, malformed records, a table), killed with SIGKILL at random moments and restarted
 * each time until it finishes. Its output topics must then equal those of an uninterrupted run, record
 * for record: partition, offset, timestamp, key and value bytes. Zero lost, zero duplicated.
 */
const PIPELINE = path.join(REPO_ROOT, 'test/runtime/fixtures/chaos-pipeline.ts');
/** Kills attempted; at least MIN_KILLS must land before the run finishes (the issue asks for 30 per CI run). */
const KILLS = Number(process.env.FRESHET_CHAOS_KILLS ?? 33);
const MIN_KILLS = Math.min(KILLS, 30);
const ORDERS = 300_000;

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32;
}

/** `spreadMs`: how far event times spread around arrival order (0.8 of it behind, 0.2 ahead). */
async function writeInput(dataDir: string, seed: number, spreadMs: number): Promise<void> {
  const log = await EmbeddedLog.open({ dataDir, fsync: 'never' });
  const rand = prng(seed);
  await log.createTopic('orders', { partitions: 3 });
  await log.createTopic('customers', { partitions: 1 });
  await log.produce(
    'customers',
    Array.from({ length: 50 }, (_, i) => ({ key: Buffer.from(`c${i}`), value: Buffer.from(JSON.stringify({ customer: `c${i}`, tier: ['gold', 'silver', 'basic'][i % 3] })), timestampMs: 0 })),
  );
  for (let start = 0; start < ORDERS; start += 5_000) {
    const chunk = [];
    for (let i = start; i < start + 5_000; i++) {
      const o: Order = { id: i, region: ['eu', 'us', 'apac', 'latam'][Math.floor(rand() * 4)]!, customer: `c${Math.floor(rand() * 60)}`, amount: Math.floor(rand() * 500) - 20, ts: i * 10 + Math.floor((rand() - 0.8) * spreadMs) };
      chunk.push({ key: Buffer.from(o.customer), value: Buffer.from(rand() < 0.01 ? `{"id": ${i}, oops` : JSON.stringify(o)), timestampMs: Math.max(0, o.ts) });
    }
    await log.produce('orders', chunk);
  }
  await log.close();
}

async function dumpOutputs(dataDir: string): Promise<Record<string, string[]>> {
  const log = await EmbeddedLog.open({ dataDir, readOnly: true });
  try {
    const out: Record<string, string[]> = {};
    for (const topic of ['enriched', 'revenue-updates', viewTopic('revenue'), 'orders.dlq']) {
      const lines: string[] = [];
      for (const p of (await log.describeTopic(topic)).partitions) {
        let offset = p.earliestOffset;
        while (offset < p.latestOffset) {
          const { batches, nextOffset } = await log.read(topic, p.partition, offset, { maxRecords: 10_000 });
          for (const b of batches) {
            for (let i = 0; i < b.count; i++) {
              const headers = b.headersAt(i).filter((h) => h.key !== 'freshet.dlq.time').map((h) => `${h.key}=${Buffer.from(h.value).toString()}`).join(',');
              lines.push(`${p.partition}@${b.offsetAt(i)} ${b.timestampAt(i)} ${Buffer.from(b.keyAt(i) ?? []).toString('hex')} ${Buffer.from(b.valueAt(i) ?? []).toString('base64')} ${headers}`);
            }
          }
          offset = nextOffset;
        }
      }
      out[topic] = lines;
    }
    return out;
  } finally {
    await log.close();
  }
}

function newestCheckpoint(dataDir: string): number {
  const dir = path.join(dataDir, 'checkpoints', 'chaos');
  if (!fs.existsSync(dir)) return 0;
  return Math.max(0, ...fs.readdirSync(dir).map((f) => /^chk-(\d+)$/.exec(f)).filter((m) => m !== null).map((m) => Number(m![1])));
}

describe('chaos: SIGKILL at random moments, then restart, until the run finishes', () => {
  const clis: Cli[] = [];
  afterEach(async () => {
    for (const c of clis.splice(0)) await c.cleanup();
  });

  /** Runs the reference and the chaos run; returns both data directories' outputs. */
  async function chaosRun(workers: number, spreadMs: number, extraArgs: readonly string[] = []): Promise<{ expected: Record<string, string[]>; actual: Record<string, string[]>; seed: number; starts: number; dataDir: string }> {
    const seed = Number(process.env.FRESHET_CHAOS_SEED ?? Date.now() % 1_000_000);
    const reference = new Cli();
    const chaos = new Cli();
    clis.push(reference, chaos);
    await writeInput(reference.dataDir, seed, spreadMs);
    await writeInput(chaos.dataDir, seed, spreadMs);
    const args = ['run', PIPELINE, '--bounded', '--checkpoint-interval', '10', '--fsync', 'always', '--workers', String(workers), ...extraArgs];

    const startedMs = Date.now();
    const whole = await reference.run(args, { timeoutMs: 120_000 });
    expect(whole.code, whole.stderr).toBe(0);
    // Kills are spread over the work: each run is killed a random part of (run time / kills) after it
    // shows progress (a new checkpoint), so every kill lands mid-processing, not during start-up.
    const sliceMs = (Date.now() - startedMs) / (5 * KILLS);

    const rand = prng(seed + 1);
    let kills = 0;
    let finished = false;
    let starts = 0;
    /** The newest checkpoint id after each kill: the runs must have made progress between kills. */
    const progress: number[] = [];
    while (!finished) {
      if (starts > 3 * KILLS) throw new Error(`no finish after ${starts} starts`);
      const p = chaos.start(args);
      starts++;
      if (kills < KILLS) {
        const before = newestCheckpoint(chaos.dataDir);
        let exitedEarly = false;
        void p.exited.then(() => (exitedEarly = true));
        while (!exitedEarly && newestCheckpoint(chaos.dataDir) <= before) await new Promise((r) => setTimeout(r, 5));
        const delayMs = Math.floor(rand() * sliceMs);
        const exited = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), delayMs))]);
        if (exited === null) {
          p.child.kill('SIGKILL');
          const result = await p.exited;
          if (result.signal !== 'SIGKILL') {
            // It ended on its own just before the kill.
            expect(result.code, result.stderr).toBe(0);
            finished = true;
            continue;
          }
          kills++;
          progress.push(newestCheckpoint(chaos.dataDir));
          continue;
        }
        expect(exited.code, exited.stderr).toBe(0);
        finished = true;
      } else {
        const result = await p.exited;
        expect(result.code, result.stderr).toBe(0);
        finished = true;
      }
    }
    expect(kills, `the run finished after ${kills} kills: make the input larger (checkpoints: ${progress.join(" ")}, slice ${sliceMs} ms)`).toBeGreaterThanOrEqual(MIN_KILLS);
    // Most kills landed while the pipeline was working (checkpoints advanced between them), not during start-up.
    const advanced = progress.filter((id, i) => id > (i === 0 ? 1 : progress[i - 1]!)).length;
    expect(advanced, `checkpoint ids after each kill: ${progress.join(' ')}`).toBeGreaterThanOrEqual(Math.floor(KILLS / 2));

    // Checkpoints were written and old ones pruned.
    expect(fs.readdirSync(path.join(chaos.dataDir, 'checkpoints', 'chaos')).some((f) => f.startsWith('chk-'))).toBe(true);
    return { expected: await dumpOutputs(reference.dataDir), actual: await dumpOutputs(chaos.dataDir), seed, starts, dataDir: chaos.dataDir };
  }

  it(`outputs equal an uninterrupted run's after ${MIN_KILLS}+ kills, record for record`, async () => {
    // Up to ~6 s out of order: some records come after their window's lateness (dropped to late output).
    const { expected, actual, seed, starts } = await chaosRun(1, 6_000);
    for (const topic of Object.keys(expected)) {
      expect(actual[topic]!.length, `${topic} (seed ${seed}, ${starts} starts)`).toBe(expected[topic]!.length);
      expect(actual[topic], `${topic} (seed ${seed})`).toEqual(expected[topic]);
    }
    expect(expected['enriched']!.length).toBeGreaterThan(ORDERS / 2);
  }, 600_000);

  it(`with --state lmdb (window state on disk, by-key delta checkpoints): outputs equal an uninterrupted run's after ${MIN_KILLS}+ kills`, async () => {
    const { expected, actual, seed, starts, dataDir } = await chaosRun(1, 6_000, ['--state', 'lmdb', '--state-cache-mb', '1']);
    // The windows' accumulators were in LMDB and checkpointed as the backend's namespace.
    expect(fs.existsSync(path.join(dataDir, 'state', 'chaos'))).toBe(true);
    const checkpoints = path.join(dataDir, 'checkpoints', 'chaos');
    const manifest = fs.readFileSync(path.join(checkpoints, fs.readdirSync(checkpoints).filter((f) => f.startsWith('chk-')).sort().at(-1)!, 'MANIFEST'), 'utf8');
    expect(manifest).toContain('#state');
    for (const topic of Object.keys(expected)) {
      expect(actual[topic]!.length, `${topic} (seed ${seed}, ${starts} starts)`).toBe(expected[topic]!.length);
      expect(actual[topic], `${topic} (seed ${seed})`).toEqual(expected[topic]);
    }
    expect(expected['enriched']!.length).toBeGreaterThan(ORDERS / 2);
  }, 600_000);

  it(`with --workers 2: after ${MIN_KILLS}+ kills, the same records and the same final results as an uninterrupted run`, async () => {
    // Worker tasks write a topic's partition concurrently, so offsets (and in 'updates' mode the
    // intermediate updates) depend on timing even without kills, and so does which records count as late
    // (docs/adr/0007-workers.md): the input stays within the pipeline's lateness (3 s spread < 2 s out of
    // order + 3 s allowed). What must hold: every record once — the same multiset of records — and the
    // same final result per (key, window).
    const { expected, actual, seed } = await chaosRun(2, 3_000);
    const records = (lines: string[]) => lines.map((l) => l.split(' ').slice(1).join(' ')).sort();
    for (const topic of ['enriched', 'orders.dlq']) expect(records(actual[topic]!), `${topic} (seed ${seed})`).toEqual(records(expected[topic]!));
    expect(expected['enriched']!.length).toBeGreaterThan(ORDERS / 2);
    for (const topic of ['revenue-updates', viewTopic('revenue')]) {
      const final = (lines: string[]) => {
        const latest = new Map<string, string>();
        for (const l of lines) {
          const [, , key, value] = l.split(' ');
          const decoded = topic === 'revenue-updates' ? (JSON.parse(Buffer.from(value!, 'base64').toString()) as { windowStartMs: number; value: unknown }) : decodeViewUpdate(Buffer.from(value!, 'base64'));
          const windowStart = 'windowStartMs' in decoded ? decoded.windowStartMs : undefined;
          latest.set(`${key}@${windowStart}`, JSON.stringify(decoded.value));
        }
        return new Map([...latest].sort());
      };
      expect(final(actual[topic]!), `${topic} (seed ${seed})`).toEqual(final(expected[topic]!));
    }
  }, 600_000);
});
