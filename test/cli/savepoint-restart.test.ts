/**
 * Savepoints and restarts end to end, with the real CLI (`node --import tsx src/cli/main.ts`):
 * graceful SIGTERM with a final checkpoint, `freshet savepoint create` against a running pipeline,
 * a restart of a compatibly changed pipeline `--from-savepoint` whose windows span the savepoint, and
 * the refusals of an incompatible aggregator and of a renamed operator (`--allow-non-restored-state`).
 *
 * The pipelines are test/cli/fixtures/savepoint/orders-*.ts: count + sum of `amount` per user per 10 s
 * tumbling window over a 3-partition topic. The input is random with a fixed seed (several thousand
 * orders, six users, a fifth of them out of order by up to 1.5 s, within the source's
 * maxOutOfOrderMs of 2 s, so that no record is late), and every expectation is computed here by brute
 * force from that input.
 *
 * Records are produced with `freshet produce` only while no pipeline runs (it takes the data
 * directory's lock, as `run` does). The only non-CLI reads are the output topic's end offset while
 * waiting for a running pipeline to catch up (a read-only EmbeddedLog), and the offsets stored in a
 * checkpoint (a read-only CheckpointStore): the CLI does not print those.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { CheckpointStore, checkpointDir } from '../../src/state/checkpoint-store.js';
import { Cli, type CliProcess, REPO_ROOT, cliPerTest, ndjson } from './cli-harness.js';
import { INPUT_TOPIC, MAX_OUT_OF_ORDER_MS, OUTPUT_TOPIC, type Order, PIPELINE, WINDOW_MS } from './fixtures/savepoint/shared.js';

const FIXTURES = path.join(REPO_ROOT, 'test/cli/fixtures/savepoint');
const V1 = path.join(FIXTURES, 'orders-v1.ts');
const V2 = path.join(FIXTURES, 'orders-v2.ts');
const INCOMPATIBLE = path.join(FIXTURES, 'orders-incompatible.ts');
const RENAMED = path.join(FIXTURES, 'orders-renamed.ts');

const PARTITIONS = 3;
const USERS = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay'];
const SAVEPOINT = 'before-v2';

// ---- input and the brute-force reference ----

/** mulberry32: a small seeded PRNG, so that every run generates the same orders. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const T0_MS = Date.UTC(2026, 0, 1, 12, 0, 0);

/**
 * `count` orders after `after` (the previous phase, if any): a clock that advances 0-79 ms per order
 * (~40 s of event time per 1,000 orders, so several windows per phase); a fifth of the orders are
 * stamped up to 1.5 s before the clock (out of order, but never more than MAX_OUT_OF_ORDER_MS behind the
 * newest event time, so none is late, before or after a restart).
 */
function generateOrders(seed: number, count: number, after: readonly Order[] = []): Order[] {
  const rand = random(seed);
  let clockMs = after.length === 0 ? T0_MS : Math.max(...after.map((o) => o.ts));
  const out: Order[] = [];
  for (let i = 0; i < count; i++) {
    clockMs += Math.floor(rand() * 80);
    const ts = rand() < 0.2 ? clockMs - Math.floor(rand() * 1_500) : clockMs;
    out.push({ user: USERS[Math.floor(rand() * USERS.length)]!, amount: 1 + Math.floor(rand() * 1_000), ts, seq: after.length + i });
  }
  return out;
}

const PHASE1 = generateOrders(20261201, 2_500);
const PHASE2 = generateOrders(20261202, 2_000, PHASE1);

/** One window result, as the tests compare them: `user@windowStartMs` → count and sum. */
type Totals = Map<string, { n: number; total: number }>;

const windowOf = (ts: number): number => Math.floor(ts / WINDOW_MS) * WINDOW_MS;
const wkey = (user: string, startMs: number): string => `${user}@${startMs}`;

/** Brute force: count and sum per user per tumbling window. */
function reference(orders: readonly Order[]): Totals {
  const out: Totals = new Map();
  for (const o of orders) {
    const k = wkey(o.user, windowOf(o.ts));
    const t = out.get(k) ?? { n: 0, total: 0 };
    out.set(k, { n: t.n + 1, total: t.total + o.amount });
  }
  return out;
}

/** Sorted `user@start n/total` lines: what output and reference are compared as (readable diffs). */
function lines(totals: Totals): string[] {
  return [...totals].map(([k, t]) => `${k} ${t.n}/${t.total}`).sort();
}

/**
 * The windows a running pipeline has fired once it has read `orders`: the source's watermark is the
 * minimum over its partitions (keyed by murmur2, as `produce --key-field user` put them) of the newest
 * event time minus maxOutOfOrderMs, and a window fires once the watermark reaches its end.
 */
function firedAfterReading(orders: readonly Order[]): Totals {
  const newest = new Array<number>(PARTITIONS).fill(Number.NEGATIVE_INFINITY);
  for (const o of orders) {
    const p = partitionForKey(Buffer.from(o.user), PARTITIONS);
    newest[p] = Math.max(newest[p]!, o.ts);
  }
  expect(newest.every((t) => Number.isFinite(t)), 'every input partition must get orders (else the watermark waits for idleness)').toBe(true);
  const watermarkMs = Math.min(...newest) - MAX_OUT_OF_ORDER_MS;
  return new Map([...reference(orders)].filter(([k]) => Number(k.split('@')[1]) + WINDOW_MS <= watermarkMs));
}

// ---- CLI helpers ----

interface OutputRecord {
  key: string;
  windowStartMs: number;
  windowEndMs: number;
  value: { n: number; total: number; mean?: number };
  final: boolean;
  version?: number;
}

async function ok(cli: Cli, args: string[]): Promise<string> {
  const r = await cli.run(args);
  expect(r.code, `freshet ${args.join(' ')}\nstderr: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function produce(cli: Cli, name: string, orders: readonly Order[]): Promise<void> {
  const file = path.join(cli.workDir, `${name}.ndjson`);
  fs.writeFileSync(file, `${orders.map((o) => JSON.stringify(o)).join('\n')}\n`);
  await ok(cli, ['produce', INPUT_TOPIC, file, '--key-field', 'user', '--quiet']);
}

/** The output topic, in log order, through `freshet tail`. */
async function readOutput(cli: Cli): Promise<OutputRecord[]> {
  return ndjson(await ok(cli, ['tail', OUTPUT_TOPIC, '--from', 'earliest'])).map((r) => r.value as OutputRecord);
}

function totalsOf(records: readonly OutputRecord[]): Totals {
  const out: Totals = new Map();
  for (const r of records) {
    const k = wkey(r.key, r.windowStartMs);
    expect(out.has(k), `window ${k} written twice`).toBe(false);
    expect(r.windowEndMs - r.windowStartMs).toBe(WINDOW_MS);
    expect(r.final).toBe(true);
    out.set(k, { n: r.value.n, total: r.value.total });
  }
  return out;
}

/** End offset of every partition of a topic (`topics describe --json`). */
async function topicEnds(cli: Cli, topic: string): Promise<{ topic: string; partition: number; offset: number }[]> {
  const described = JSON.parse(await ok(cli, ['topics', 'describe', topic, '--json'])) as { partitions: { partition: number; latestOffset: number }[] };
  return described.partitions.map((p) => ({ topic, partition: p.partition, offset: p.latestOffset }));
}

interface ListedCheckpoint {
  pipeline: string;
  checkpointId: number;
  createdAtMs: number;
  status: string;
  savepoint: string | null;
}

async function listCheckpoints(cli: Cli): Promise<ListedCheckpoint[]> {
  return ndjson(await ok(cli, ['checkpoints', 'list', '--pipeline', PIPELINE, '--json'])) as unknown as ListedCheckpoint[];
}

/** The newest checkpoint (or a savepoint) as stored: input offsets and output positions (read-only). */
async function stored(dataDir: string, savepoint?: string): Promise<{ checkpointId: number; inputs: unknown[]; outputs: unknown[] }> {
  const store = await CheckpointStore.open({ dir: checkpointDir(dataDir, PIPELINE), readOnly: true, onWarning: () => undefined });
  try {
    const loaded = savepoint === undefined ? await store.loadLatest() : await store.loadSavepoint(savepoint);
    const task = loaded!.tasks.get('main')!;
    const sort = <T>(xs: readonly T[]): T[] => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return { checkpointId: loaded!.checkpointId, inputs: sort(task.inputOffsets), outputs: sort(task.outputPositions) };
  } finally {
    await store.close();
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the running pipeline says it runs and its output topic holds `records` records. */
async function waitForOutput(cli: Cli, run: CliProcess, records: number): Promise<void> {
  let exited = false;
  void run.exited.then(() => (exited = true));
  await until(`'running pipeline' on stderr (stderr: ${run.stderr})`, () => exited || run.stderr.includes(`running pipeline '${PIPELINE}'`));
  expect(exited, `the pipeline exited early: ${run.stderr}`).toBe(false);
  const log = await EmbeddedLog.open({ dataDir: cli.dataDir, readOnly: true });
  try {
    let seen = -1;
    await until(`${records} records in ${OUTPUT_TOPIC} (last seen ${seen})`, async () => {
      seen = (await log.listTopics()).includes(OUTPUT_TOPIC) ? await log.latestOffset(OUTPUT_TOPIC, 0) : 0;
      return seen >= records || exited;
    });
    expect(seen).toBe(records);
  } finally {
    await log.close();
  }
}

async function sigterm(run: CliProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  run.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run.exited,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no exit 15 s after SIGTERM; stderr: ${run.stderr}`)), 15_000))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- the tests ----

/** Windows of phase 1 a running v1 has fired once caught up: the output topic's contents at the savepoint. */
const FIRED_IN_PHASE1 = firedAfterReading(PHASE1);

describe('freshet run / savepoint: graceful stop, savepoints, restarts after code changes', () => {
  const cliFor = cliPerTest();

  /**
   * The state every restart test starts from (copied into each test's own data directory): v1 ran over
   * phase 1 with checkpoints every 200 ms, `savepoint create` was answered by it while it ran, it was
   * stopped with SIGTERM, and then phase 2 was produced.
   */
  let base: Cli;
  let savepointAnswer: { code: number | null; stdout: string; stderr: string };
  let v1Pid: number;
  let v1Exit: { code: number | null; signal: NodeJS.Signals | null; stderr: string };
  let endsAfterPhase1: { topic: string; partition: number; offset: number }[];
  let outputAtSavepoint: OutputRecord[];

  beforeAll(async () => {
    base = new Cli();
    await ok(base, ['topics', 'create', INPUT_TOPIC, '--partitions', String(PARTITIONS)]);
    await produce(base, 'phase1', PHASE1);
    endsAfterPhase1 = await topicEnds(base, INPUT_TOPIC);
    const v1 = base.start(['run', V1, '--checkpoint-interval', '200']);
    v1Pid = v1.child.pid!;
    await waitForOutput(base, v1, FIRED_IN_PHASE1.size);
    savepointAnswer = await base.run(['savepoint', 'create', SAVEPOINT, '--pipeline', PIPELINE]);
    v1Exit = await sigterm(v1);
    outputAtSavepoint = await readOutput(base);
    await produce(base, 'phase2', PHASE2);
  });

  afterAll(async () => {
    await base?.cleanup();
  });

  /** A test's own copy of the base data directory. */
  function fromBase(cli: Cli): Cli {
    fs.cpSync(base.dataDir, cli.dataDir, { recursive: true });
    return cli;
  }

  it('the generated input has out-of-order orders and windows that span the savepoint', () => {
    const late = PHASE1.concat(PHASE2).filter((o, i, all) => i > 0 && o.ts < Math.max(...all.slice(Math.max(0, i - 50), i).map((x) => x.ts)));
    expect(late.length).toBeGreaterThan(500);
    const before = reference(PHASE1);
    const spanning = [...reference(PHASE2).keys()].filter((k) => before.has(k));
    expect(spanning.length).toBeGreaterThanOrEqual(3);
    expect(FIRED_IN_PHASE1.size).toBeGreaterThan(20);
    expect(FIRED_IN_PHASE1.size).toBeLessThan(before.size);
  });

  it('SIGTERM stops a checkpointed run: exit 0 after a last checkpoint covering all it read; a restart continues from it', async ({ task }) => {
    const cli = cliFor(task);
    await ok(cli, ['topics', 'create', INPUT_TOPIC, '--partitions', String(PARTITIONS)]);
    await produce(cli, 'phase1', PHASE1);
    // A 60 s interval: the only checkpoints are the one before any input and the one SIGTERM takes.
    const run = cli.start(['run', V1, '--checkpoint-interval', '60000']);
    await waitForOutput(cli, run, FIRED_IN_PHASE1.size);
    const running = await listCheckpoints(cli);
    expect(running.map((c) => [c.checkpointId, c.status])).toEqual([[1, 'complete']]);
    const sentAtMs = Date.now();
    const exit = await sigterm(run);
    expect(exit.stderr).toContain(`freshet: SIGTERM: stopping pipeline '${PIPELINE}'`);
    expect(exit.stderr).not.toMatch(/FRESHET_/);
    expect(exit).toMatchObject({ code: 0, signal: null });

    const after = await listCheckpoints(cli);
    expect(after.map((c) => [c.checkpointId, c.status, c.savepoint])).toEqual([
      [1, 'complete', null],
      [2, 'complete', null],
    ]);
    expect(after[1]!.createdAtMs).toBeGreaterThanOrEqual(sentAtMs - 1_000); // wall clock of another process: allow a little skew
    // The last checkpoint holds the end of the input and of the output.
    const last = await stored(cli.dataDir);
    expect(last.checkpointId).toBe(2);
    expect(last.inputs).toEqual(await topicEnds(cli, INPUT_TOPIC));
    expect(last.outputs).toEqual(await topicEnds(cli, OUTPUT_TOPIC));
    const output = await readOutput(cli);
    expect(lines(totalsOf(output))).toEqual(lines(FIRED_IN_PHASE1));

    // Restarted (bounded), v1 continues from that checkpoint: the windows still open close, none twice.
    const bounded = await cli.run(['run', V1, '--checkpoint-interval', '60000', '--bounded']);
    expect(bounded.stderr).toBe(`freshet: pipeline '${PIPELINE}' finished\n`);
    expect(bounded.code).toBe(0);
    expect(lines(totalsOf(await readOutput(cli)))).toEqual(lines(reference(PHASE1)));
  });

  it('savepoint create asks the running pipeline, which takes it at a checkpoint holding everything it read', async () => {
    expect(savepointAnswer.stderr).toBe('');
    expect(savepointAnswer.code).toBe(0);
    const m = savepointAnswer.stdout.match(/^created savepoint 'before-v2' of pipeline 'sp-orders' at checkpoint (\d+) \(taken by the running pipeline, process (\d+)\)\n$/);
    expect(m, savepointAnswer.stdout).not.toBeNull();
    const checkpointId = Number(m![1]);
    expect(Number(m![2])).toBe(v1Pid);
    expect(checkpointId).toBeGreaterThan(1);
    // The pipeline kept running after it, and stopped cleanly.
    expect(v1Exit.stderr).toContain(`freshet: SIGTERM: stopping pipeline '${PIPELINE}'`);
    expect(v1Exit).toMatchObject({ code: 0, signal: null });

    const listed = await listCheckpoints(base);
    expect(listed.filter((c) => c.savepoint !== null).map((c) => [c.checkpointId, c.status, c.savepoint])).toEqual([[checkpointId, 'complete', SAVEPOINT]]);
    const savepoints = ndjson(await ok(base, ['savepoint', 'list', '--pipeline', PIPELINE, '--json']));
    expect(savepoints.map((s) => [s.pipeline, s.savepoint, s.checkpointId, s.status])).toEqual([[PIPELINE, SAVEPOINT, checkpointId, 'complete']]);
    // Taken after v1 caught up: all of phase 1 read, and the windows it had fired written.
    const saved = await stored(base.dataDir, SAVEPOINT);
    expect(saved.checkpointId).toBe(checkpointId);
    expect(saved.inputs).toEqual(endsAfterPhase1);
    expect(saved.outputs).toEqual([{ topic: OUTPUT_TOPIC, partition: 0, offset: FIRED_IN_PHASE1.size }]);
    expect(lines(totalsOf(outputAtSavepoint))).toEqual(lines(FIRED_IN_PHASE1));
  });

  it('a compatible change restarted --from-savepoint keeps the window state: windows spanning the savepoint count both sides', async ({ task }) => {
    const cli = fromBase(cliFor(task));
    const run = await cli.run(['run', V2, '--from-savepoint', SAVEPOINT, '--bounded']);
    expect(run.stderr).toBe(`freshet: pipeline '${PIPELINE}' finished\n`);
    expect(run.code).toBe(0);

    const output = await readOutput(cli);
    const all = reference(PHASE1.concat(PHASE2));
    // Every window exactly once, with the count and sum of all its orders, before and after the savepoint.
    expect(lines(totalsOf(output))).toEqual(lines(all));
    // What v1 wrote before the savepoint stays as it was; everything after it comes from v2's code.
    expect(output.slice(0, outputAtSavepoint.length)).toEqual(outputAtSavepoint);
    const v2 = output.slice(outputAtSavepoint.length);
    expect(v2.length).toBe(all.size - FIRED_IN_PHASE1.size);
    for (const r of v2) {
      expect(r.version).toBe(2);
      expect(r.value.mean).toBeCloseTo(r.value.total / r.value.n, 9);
    }
    // The windows open at the savepoint: their phase-1 orders came from the restored state.
    const phase1 = reference(PHASE1);
    const phase2 = reference(PHASE2);
    const spanning = v2.filter((r) => phase1.has(wkey(r.key, r.windowStartMs)) && phase2.has(wkey(r.key, r.windowStartMs)));
    expect(spanning.length).toBeGreaterThanOrEqual(3);
    for (const r of spanning) {
      const k = wkey(r.key, r.windowStartMs);
      expect(r.value.n, k).toBe(phase1.get(k)!.n + phase2.get(k)!.n);
      expect(r.value.total, k).toBe(phase1.get(k)!.total + phase2.get(k)!.total);
    }
  });

  it('an incompatible aggregator under the same operator name is refused, naming the operator, and changes nothing', async ({ task }) => {
    const cli = fromBase(cliFor(task));
    const checkpointsBefore = await listCheckpoints(cli);
    for (const args of [
      ['run', INCOMPATIBLE, '--from-savepoint', SAVEPOINT, '--bounded'],
      ['run', INCOMPATIBLE, '--checkpoint-interval', '200', '--bounded'], // the newest checkpoint has the same state
    ]) {
      const run = await cli.run(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toMatch(/^FRESHET_STATE_INCOMPATIBLE: cannot restore the state of operator 'per-user': .*"total":\{"kind":"sum"\}.*"total":\{"kind":"max"\}/);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(await readOutput(cli)).toEqual(outputAtSavepoint);
    expect(await listCheckpoints(cli)).toEqual(checkpointsBefore);
  });

  it('a renamed operator is refused (its saved state would be lost) unless --allow-non-restored-state, which drops that state', async ({ task }) => {
    const cli = fromBase(cliFor(task));
    const checkpointsBefore = await listCheckpoints(cli);
    const refused = await cli.run(['run', RENAMED, '--from-savepoint', SAVEPOINT, '--bounded']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^FRESHET_STATE_NOT_RESTORED: .*'per-user'[^-]/);
    expect(await readOutput(cli)).toEqual(outputAtSavepoint);
    expect(await listCheckpoints(cli)).toEqual(checkpointsBefore);

    const allowed = await cli.run(['run', RENAMED, '--from-savepoint', SAVEPOINT, '--allow-non-restored-state', '--bounded']);
    expect(allowed.stderr).toContain(`freshet: pipeline '${PIPELINE}' finished`);
    expect(allowed.code).toBe(0);
    // The renamed operator starts empty where the sources' offsets were saved: windows fired before the
    // savepoint stay, the ones open then lose their phase-1 orders, the rest count phase 2 only.
    const output = await readOutput(cli);
    expect(output.slice(0, outputAtSavepoint.length)).toEqual(outputAtSavepoint);
    expect(lines(totalsOf(output.slice(outputAtSavepoint.length)))).toEqual(lines(reference(PHASE2)));
  });

  // A rollback: the run that took the savepoint went on checkpointing past it (every interval, and on
  // SIGTERM); --from-savepoint must still restore the savepoint, not the newest checkpoint.
  it('--from-savepoint restores the savepoint even when the old version checkpointed past it (rollback)', async ({ task }) => {
    const cli = fromBase(cliFor(task));
    // v1 keeps running over phase 2 after the savepoint (checkpoints 200 ms apart), then stops.
    const v1 = cli.start(['run', V1, '--checkpoint-interval', '200']);
    await waitForOutput(cli, v1, firedAfterReading(PHASE1.concat(PHASE2)).size);
    expect((await sigterm(v1)).code).toBe(0);
    // v2 from the savepoint: the output is cut back to the savepoint and phase 2 is processed by v2.
    const run = await cli.run(['run', V2, '--from-savepoint', SAVEPOINT, '--bounded']);
    expect(run.code).toBe(0);
    const output = await readOutput(cli);
    expect(lines(totalsOf(output))).toEqual(lines(reference(PHASE1.concat(PHASE2))));
    expect(output.slice(0, outputAtSavepoint.length)).toEqual(outputAtSavepoint);
    expect(output.slice(outputAtSavepoint.length).filter((r) => r.version !== 2)).toEqual([]);
  });
});
