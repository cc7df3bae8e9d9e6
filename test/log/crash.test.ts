/**
 * Crash safety of the embedded log: a child process (crash-child.ts) appends with fsync 'always' from
 * several concurrent producers and reports every acknowledged write; we SIGKILL it at a random moment,
 * many times over the same data directory (so recovery also runs on already-recovered logs), then
 * reopen the log and check that:
 *   - every acknowledged record is there, byte-identical, at its acknowledged offset;
 *   - every partition is contiguous from its earliest to its latest offset;
 *   - every stored record is complete and was written by a child (self-verifying values), in the
 *     partition it was meant for, exactly once; every append batch is all there or not at all;
 *   - committed group offsets are at least the last acknowledged commit and within the log.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeBatch } from '../../src/log/embedded/batch-format.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { mulberry32 } from '../helpers/bytes.js';
import {
  type AckLine,
  CRASH_GROUP,
  CRASH_PARTITIONS,
  CRASH_TOPIC,
  crashRecord,
  crashUnit,
  identityOf,
  PRODUCE_PRODUCER,
  type RecordIdentity,
} from '../helpers/crash-records.js';
import { expected, type PlainRecord, readAll } from '../helpers/log-helpers.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';

const RUNS = Number(process.env.FRESHET_CRASH_RUNS ?? 20);
const SEED = Number(process.env.FRESHET_CRASH_SEED ?? 12_345);
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHILD = path.join(REPO_ROOT, 'test/log/crash-child.ts');

interface RunReport {
  run: number;
  delayMs: number;
  acks: AckLine[];
  warnings: string[];
}

/** Starts the child, waits for it to start producing, kills it after `delayMs`, returns what it acknowledged. */
function crashOnce(dataDir: string, run: number, delayMs: number): Promise<RunReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, String(run)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const startupTimeout = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
      reject(new Error(`run ${run}: child did not start producing within 20 s\n${stderr}`));
    }, 20_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      if (timer === undefined && stdout.includes('"t":"ready"')) {
        clearTimeout(startupTimeout);
        timer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, delayMs);
      }
    });
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(startupTimeout);
      if (timer) clearTimeout(timer);
      if (!killed || signal !== 'SIGKILL') {
        reject(new Error(`run ${run}: child exited by itself (code ${code}, signal ${signal})\n${stderr}`));
        return;
      }
      // A line cut by the kill has no newline: drop it (it was not fully reported).
      const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
      const acks = complete
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as AckLine);
      const warnings = stderr.split('\n').filter((l) => l.startsWith('warning:'));
      const other = stderr.split('\n').filter((l) => l.trim().length > 0 && !l.startsWith('warning:'));
      if (other.length > 0) {
        reject(new Error(`run ${run}: child wrote to stderr:\n${other.join('\n')}`));
        return;
      }
      resolve({ run, delayMs, acks, warnings });
    });
  });
}

/** Exact comparison, cheap when equal (thousands of records); a full diff when not. */
function sameRecord(got: PlainRecord, want: PlainRecord, what: string): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) expect(got, what).toEqual(want);
}

/**
 * Simulates a write torn by the crash (what a kill in the middle of a write, or a file system that
 * extended the file before the data reached it, leaves): appends, to the end of the newest segment of a
 * partition, part of an encoded batch, zeros, or garbage. Only unacknowledged bytes are affected, so
 * recovery must cut them off and lose nothing acknowledged. Relies on the embedded log's layout
 * (`topics/<topic>/<partition>/<base offset>.log`); update here if that changes.
 */
function injectTornTail(dataDir: string, partition: number, rnd: () => number): string {
  const dir = path.join(dataDir, 'topics', CRASH_TOPIC, String(partition));
  const logs = fs.readdirSync(dir).filter((f) => /^\d+\.log$/.test(f)).sort();
  const newest = logs.at(-1);
  if (!newest) throw new Error(`no segment file in ${dir}: has the embedded log's layout changed?`);
  const kind = Math.floor(rnd() * 3);
  let junk: Uint8Array;
  if (kind === 0) {
    const batch = encodeBatch(0, crashUnit(9999, 0, 0, partition, 3), 0);
    junk = batch.subarray(0, 1 + Math.floor(rnd() * (batch.length - 1)));
  } else if (kind === 1) {
    junk = new Uint8Array(1 + Math.floor(rnd() * 4096));
  } else {
    junk = Uint8Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256));
  }
  fs.appendFileSync(path.join(dir, newest), junk);
  return `${['partial batch', 'zeros', 'garbage'][kind]} (${junk.length} bytes) after ${partition}/${newest}`;
}

function identityKey(id: RecordIdentity): string {
  return `${id.run}/${id.producer}/${id.seq}/${id.partition}/${id.index}/${id.count}`;
}

describe('EmbeddedLog survives SIGKILL at random moments (fsync always)', () => {
  const dataDir = makeTempDir('freshet-crash-');
  afterAll(() => removeTempDir(dataDir));

  it(`keeps every acknowledged record and nothing torn, over ${RUNS} kills of the same log`, async () => {
    const rnd = mulberry32(SEED);
    const reports: RunReport[] = [];
    const injected: { run: number; what: string }[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Every third restart also finds a torn tail to recover from.
      if (run > 0 && run % 3 === 0) injected.push({ run, what: injectTornTail(dataDir, Math.floor(rnd() * CRASH_PARTITIONS), rnd) });
      const delayMs = 50 + Math.floor(rnd() * 450);
      reports.push(await crashOnce(dataDir, run, delayMs));
    }
    for (const { run, what } of injected) {
      expect(reports[run]!.warnings.length, `run ${run} should have reported truncating the torn tail: ${what}`).toBeGreaterThan(0);
    }

    const acks = reports.flatMap((r) => r.acks);
    const appendAcks = acks.filter((a): a is Extract<AckLine, { t: 'append' }> => a.t === 'append');
    const produceAcks = acks.filter((a): a is Extract<AckLine, { t: 'produce' }> => a.t === 'produce');
    const commitAcks = acks.filter((a): a is Extract<AckLine, { t: 'commit' }> => a.t === 'commit');
    const runsWithAcks = reports.filter((r) => r.acks.some((a) => a.t === 'append')).length;
    // The test only means something if the children got real work acknowledged before dying.
    expect(runsWithAcks, 'runs in which at least one append was acknowledged').toBeGreaterThanOrEqual(Math.ceil(RUNS / 2));
    expect(appendAcks.length).toBeGreaterThan(RUNS * 2);
    expect(produceAcks.length).toBeGreaterThan(0);

    const log = await EmbeddedLog.open({ dataDir, fsync: 'always', retentionCheckIntervalMs: 0, onWarning: () => undefined });
    try {
      const stored: PlainRecord[][] = [];
      const seen = new Map<string, number>();
      for (let p = 0; p < CRASH_PARTITIONS; p++) {
        const earliest = await log.earliestOffset(CRASH_TOPIC, p);
        const latest = await log.latestOffset(CRASH_TOPIC, p);
        expect(earliest).toBe(0);
        // readAll checks that offsets are consecutive from `earliest`, with no gap, up to the high watermark.
        const records = await readAll(log, CRASH_TOPIC, p, earliest, { maxRecords: 1000 });
        expect(records.length, `partition ${p}: records between earliest and latest`).toBe(latest - earliest);
        stored.push(records);

        for (const r of records) {
          let id: RecordIdentity;
          try {
            id = identityOf(Buffer.from(r.value ?? '', 'hex'));
          } catch (e) {
            throw new Error(`partition ${p} offset ${r.offset}: not a complete child record: ${(e as Error).message}`);
          }
          expect(id.partition, `offset ${r.offset} is in partition ${p} but was written for ${id.partition}`).toBe(p);
          expect(id.run).toBeLessThan(RUNS);
          // Byte-identical to what the generator produces for that identity (key, value, headers, timestamp).
          sameRecord(r, expected(CRASH_TOPIC, p, r.offset, crashRecord(id)), `partition ${p} offset ${r.offset}`);
          const k = identityKey(id);
          expect(seen.has(k), `record ${k} stored twice (offsets ${seen.get(k)} and ${r.offset})`).toBe(false);
          seen.set(k, r.offset);
        }

        // Append batches are atomic and never interleaved: every batch present is complete and contiguous.
        const units = new Map<string, { id: RecordIdentity; offsets: number[] }>();
        for (const r of records) {
          const id = identityOf(Buffer.from(r.value!, 'hex'));
          if (id.producer === PRODUCE_PRODUCER) continue;
          const k = `${id.run}/${id.producer}/${id.seq}`;
          const unit = units.get(k) ?? { id, offsets: [] };
          expect(id.index, `record ${identityKey(id)} out of order in its batch`).toBe(unit.offsets.length);
          unit.offsets.push(r.offset);
          units.set(k, unit);
        }
        for (const [k, unit] of units) {
          expect(unit.offsets.length, `append batch ${k} is partly there`).toBe(unit.id.count);
          expect(unit.offsets[unit.offsets.length - 1]! - unit.offsets[0]!, `append batch ${k} is not contiguous`).toBe(unit.id.count - 1);
        }
      }

      // Every acknowledged append is there, at the acknowledged offsets, byte-identical.
      for (const a of appendAcks) {
        const got = stored[a.partition]!.slice(a.baseOffset, a.lastOffset + 1);
        const want = Array.from({ length: a.count }, (_, index) =>
          expected(CRASH_TOPIC, a.partition, a.baseOffset + index, crashRecord({ run: a.run, producer: a.producer, seq: a.seq, partition: a.partition, index, count: a.count })),
        );
        expect(a.lastOffset - a.baseOffset + 1).toBe(a.count);
        expect(got.length, `acknowledged append run ${a.run} producer ${a.producer} seq ${a.seq} at ${a.partition}/${a.baseOffset} is missing`).toBe(a.count);
        got.forEach((r, i) => sameRecord(r, want[i]!, `acknowledged append run ${a.run} producer ${a.producer} seq ${a.seq} at ${a.partition}/${a.baseOffset + i}`));
      }
      // Every acknowledged produce() record is there, in the partition its key hashes to.
      for (const a of produceAcks) {
        const got = stored[a.partition]![a.offset];
        const id = { run: a.run, producer: a.producer, seq: a.seq, partition: a.partition, index: a.index, count: a.count };
        expect(got, `acknowledged produce ${identityKey(id)} at ${a.partition}/${a.offset} is missing`).toBeDefined();
        sameRecord(got!, expected(CRASH_TOPIC, a.partition, a.offset, crashRecord(id)), `acknowledged produce ${identityKey(id)} at ${a.partition}/${a.offset}`);
      }
      // Acknowledged commits survive: the stored offset is at least the last acknowledged one (a later,
      // unacknowledged commit may have landed) and never beyond the log.
      const committed = new Map((await log.committedOffsets(CRASH_GROUP, CRASH_TOPIC)).map((o) => [o.partition, o.offset]));
      for (let p = 0; p < CRASH_PARTITIONS; p++) {
        const last = commitAcks.filter((c) => c.partition === p).at(-1);
        if (!last) continue;
        expect(committed.get(p), `committed offset of partition ${p}`).toBeGreaterThanOrEqual(last.offset);
        expect(committed.get(p)!).toBeLessThanOrEqual(await log.latestOffset(CRASH_TOPIC, p));
      }
      const describe = await log.describeTopic(CRASH_TOPIC);
      const torn = reports.reduce((n, r) => n + r.warnings.length, 0);
      // Useful when tuning: how much happened.
      console.log(
        `crash test: ${RUNS} kills, ${appendAcks.length} appends + ${produceAcks.length} produced records acknowledged, ` +
          `${describe.partitions.map((p) => `${p.latestOffset} records/${p.segments} segments`).join(', ')}, ${torn} recovery warnings`,
      );
    } finally {
      await log.close();
    }
  }, 120_000);
});
