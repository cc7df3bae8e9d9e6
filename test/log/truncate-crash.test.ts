/**
 * Crash safety of EventLog.truncate on the embedded log: a child (truncate-crash-child.ts) appends and
 * truncates one operation at a time, reporting each; we SIGKILL it at random moments, many times over
 * one data directory, and after each kill reopen the log and check that its content is exactly the
 * acknowledged history, with the operation in flight either fully applied or not at all: never a cut
 * in the wrong place, a half batch, or a segment that fails to open.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { mulberry32 } from '../helpers/bytes.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir.js';
import { TRUNC_TOPIC, type TruncLine, truncValue } from './truncate-crash-records.js';

const RUNS = Number(process.env.FRESHET_TRUNC_CRASH_RUNS ?? 12);
const SEED = Number(process.env.FRESHET_CRASH_SEED ?? 4242);
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHILD = path.join(REPO_ROOT, 'test/log/truncate-crash-child.ts');

function crashOnce(dataDir: string, run: number, delayMs: number): Promise<TruncLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, String(run)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
      // A line cut by the kill has no newline: ignore it.
      const lines = stdout.split('\n');
      lines.pop();
      resolve(lines.filter((l) => l.length > 0).map((l) => JSON.parse(l) as TruncLine));
    });
  });
}

async function readValues(dataDir: string): Promise<string[]> {
  const log = await EmbeddedLog.open({ dataDir, fsync: 'always', retentionCheckIntervalMs: 0, onWarning: () => undefined });
  try {
    const out: string[] = [];
    let offset = await log.earliestOffset(TRUNC_TOPIC, 0);
    for (;;) {
      const { batches, nextOffset } = await log.read(TRUNC_TOPIC, 0, offset, { maxRecords: 5000 });
      if (batches.length === 0) break;
      for (const b of batches) for (let i = 0; i < b.count; i++) out.push(Buffer.from(b.valueAt(i)!).toString());
      offset = nextOffset;
    }
    return out;
  } finally {
    await log.close();
  }
}

describe('embedded log: truncation under kill -9', () => {
  const dataDir = makeTempDir('freshet-trunc-crash-');
  afterAll(() => removeTempDir(dataDir));

  it(`${RUNS} kills at random moments leave the acknowledged history, the operation in flight all or nothing`, async () => {
    const rnd = mulberry32(SEED);
    let verified: string[] = [];
    const outcomes = { truncateInFlight: 0, appendInFlight: 0, idle: 0, truncations: 0 };
    for (let run = 1; run <= RUNS; run++) {
      const lines = await crashOnce(dataDir, run, 20 + Math.floor(rnd() * 250));
      const ready = lines[0];
      expect(ready?.t).toBe('ready');
      expect((ready as { latest: number }).latest, `run ${run}: the child reopened at a different end`).toBe(verified.length);
      const model = verified.slice();
      let pending: { kind: 'append'; values: string[] } | { kind: 'truncate'; end: number } | null = null;
      for (const line of lines.slice(1)) {
        if (line.t === 'append-start') pending = { kind: 'append', values: Array.from({ length: line.count }, (_, i) => truncValue(run, line.seq, i)) };
        else if (line.t === 'truncate-start') pending = { kind: 'truncate', end: line.end };
        else if (line.t === 'append-done') {
          expect(pending?.kind).toBe('append');
          expect(line.base, `run ${run}: append landed at the wrong offset`).toBe(model.length);
          model.push(...(pending as { values: string[] }).values);
          pending = null;
        } else if (line.t === 'truncate-done') {
          model.length = (pending as { end: number }).end;
          outcomes.truncations++;
          pending = null;
        }
      }
      const actual = await readValues(dataDir);
      const allowed: string[][] = [model];
      if (pending?.kind === 'append') allowed.push([...model, ...pending.values]);
      if (pending?.kind === 'truncate') allowed.push(model.slice(0, pending.end));
      outcomes[pending === null ? 'idle' : pending.kind === 'append' ? 'appendInFlight' : 'truncateInFlight']++;
      const match = allowed.findIndex((a) => a.length === actual.length && a.every((v, i) => v === actual[i]));
      expect(match, `run ${run}: log content is not the history with the in-flight ${pending?.kind ?? 'nothing'} applied or not (got ${actual.length} records, model ${model.length})`).toBeGreaterThanOrEqual(0);
      verified = actual;
    }
    expect(outcomes.truncations, 'the children must have truncated').toBeGreaterThan(RUNS);
    console.log(`truncate crash test: ${JSON.stringify(outcomes)}`);
  });
});
