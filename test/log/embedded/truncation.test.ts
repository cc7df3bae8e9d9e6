/**
 * Truncation of the embedded log beyond the contract: the on-disk protocol (an interrupted truncation is
 * finished on open, from every intermediate state), read-only followers, index files, and appends that
 * race a truncation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/core/errors.js';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import { segmentFileBase } from '../../../src/log/embedded/segment.js';
import { TRUNCATION_MARKER_FILE, applyTruncation, readTruncationMarker, writeTruncationMarker } from '../../../src/log/embedded/truncation.js';
import type { ProducerRecord } from '../../../src/log/log.js';
import { enc, pseudoRandomBytes } from '../../helpers/bytes.js';
import { expectCode, expected, type PlainRecord, readAll } from '../../helpers/log-helpers.js';
import { TempDirs } from '../../helpers/temp-dir.js';

const dirs = new TempDirs();
const opened: EmbeddedLog[] = [];
afterEach(async () => {
  for (const log of opened.splice(0).reverse()) await log.close().catch(() => undefined);
  dirs.cleanup();
});

async function openLog(dataDir: string, options: { readOnly?: boolean; warnings?: string[] } = {}): Promise<EmbeddedLog> {
  const log = await EmbeddedLog.open({
    dataDir,
    fsync: 'always',
    retentionCheckIntervalMs: 0,
    readOnly: options.readOnly ?? false,
    onWarning: (m) => options.warnings?.push(m),
  });
  opened.push(log);
  return log;
}

function records(n: number, seed: number): ProducerRecord[] {
  return Array.from({ length: n }, (_, i) => ({ key: enc(`k${(seed + i) % 5}`), value: pseudoRandomBytes(40 + ((seed + i) % 60), seed * 1000 + i), timestampMs: 10_000 + seed * 100 + i }));
}

/** A 1-partition topic over several 1 KiB segments: 12 appends of 5 records (60 records). */
async function seeded(dataDir: string): Promise<{ log: EmbeddedLog; all: PlainRecord[] }> {
  const log = await openLog(dataDir);
  await log.createTopic('t', { partitions: 1, segmentBytes: 1024 });
  const all: PlainRecord[] = [];
  for (let b = 0; b < 12; b++) {
    const batch = records(5, b);
    const ack = await log.append('t', 0, batch);
    batch.forEach((r, i) => all.push(expected('t', 0, ack.baseOffset + i, r)));
  }
  expect((await log.describeTopic('t')).partitions[0]!.segments).toBeGreaterThan(3);
  return { log, all };
}

function partitionDir(dataDir: string): string {
  return path.join(dataDir, 'topics', 't', '0');
}

describe('embedded log truncation', () => {
  it('removes later segments and their index files; the cut segment is active and reopens from a scan', async () => {
    const dataDir = dirs.make('freshet-trunc-');
    const { log, all } = await seeded(dataDir);
    const before = fs.readdirSync(partitionDir(dataDir)).filter((f) => f.endsWith('.log')).length;
    await log.truncate('t', 0, 17);
    const files = fs.readdirSync(partitionDir(dataDir));
    const logs = files.filter((f) => f.endsWith('.log'));
    expect(logs.length).toBeLessThan(before);
    const last = logs.sort().at(-1)!;
    // The cut segment has no sealed index files any more (they described its old size).
    expect(files).not.toContain(last.replace('.log', '.index'));
    expect(files).not.toContain(TRUNCATION_MARKER_FILE);
    await log.close();
    const again = await openLog(dataDir);
    expect(await readAll(again, 't', 0)).toEqual(all.slice(0, 17));
    // Appends roll segments again; the sealed ones get fresh index files that load on the next open.
    const more = records(40, 99);
    for (let i = 0; i < more.length; i += 4) await again.append('t', 0, more.slice(i, i + 4));
    const want = [...all.slice(0, 17), ...more.map((r, i) => expected('t', 0, 17 + i, r))];
    await again.close();
    const third = await openLog(dataDir);
    expect(await readAll(third, 't', 0)).toEqual(want);
    for (const from of [0, 16, 17, 30, 56]) expect(await readAll(third, 't', 0, from)).toEqual(want.slice(from));
  });

  it('an append issued while a truncation waits fails with FRESHET_LOG_BUSY; after it, appends continue at the end', async () => {
    const dataDir = dirs.make('freshet-trunc-');
    const { log, all } = await seeded(dataDir);
    const inFlight = log.append('t', 0, records(2, 50));
    const truncation = log.truncate('t', 0, 20);
    await expectCode(() => log.append('t', 0, records(1, 51)), ErrorCodes.LOG_BUSY);
    await truncation;
    expect((await inFlight).baseOffset).toBe(60);
    expect(await readAll(log, 't', 0)).toEqual(all.slice(0, 20));
    expect((await log.append('t', 0, records(1, 52))).baseOffset).toBe(20);
  });

  it('concurrent truncations apply in call order', async () => {
    const dataDir = dirs.make('freshet-trunc-');
    const { log, all } = await seeded(dataDir);
    await Promise.all([log.truncate('t', 0, 40), log.truncate('t', 0, 12), log.truncate('t', 0, 12)]);
    expect(await readAll(log, 't', 0)).toEqual(all.slice(0, 12));
    await expectCode(() => Promise.all([log.truncate('t', 0, 5), log.truncate('t', 0, 9)]), ErrorCodes.OFFSET_OUT_OF_RANGE);
    expect(await log.latestOffset('t', 0)).toBe(5);
  });

  it('a read-only follower sees the truncation and what the writer appends after it', async () => {
    const dataDir = dirs.make('freshet-trunc-');
    const { log: writer, all } = await seeded(dataDir);
    const follower = await openLog(dataDir, { readOnly: true });
    expect(await readAll(follower, 't', 0)).toEqual(all);
    await writer.truncate('t', 0, 33);
    expect(await follower.latestOffset('t', 0)).toBe(33);
    expect(await readAll(follower, 't', 0)).toEqual(all.slice(0, 33));
    // New data written over the old end (same offsets, different bytes, the file grows past its old size).
    const more = records(45, 7);
    for (let i = 0; i < more.length; i += 9) await writer.append('t', 0, more.slice(i, i + 9));
    const want = [...all.slice(0, 33), ...more.map((r, i) => expected('t', 0, 33 + i, r))];
    expect(await readAll(follower, 't', 0)).toEqual(want);
    await writer.truncate('t', 0, 2);
    expect(await readAll(follower, 't', 0, 1)).toEqual(want.slice(1, 2));
  });

  it('a follower hides the records an unfinished truncation removes', async () => {
    const dataDir = dirs.make('freshet-trunc-');
    const { log: writer, all } = await seeded(dataDir);
    await writer.close();
    // A writer that died right after writing its intent: nothing else changed yet.
    writeTruncationMarker(partitionDir(dataDir), { endOffset: 25, segmentBase: 24, position: 0, partial: new Uint8Array(0) });
    const follower = await openLog(dataDir, { readOnly: true });
    expect(await follower.latestOffset('t', 0)).toBe(25);
    expect(await readAll(follower, 't', 0)).toEqual(all.slice(0, 25));
  });

  describe('a crash during truncation is finished by the next open', () => {
    /**
     * Runs a real truncation in a scratch copy to learn the plan, then rebuilds every intermediate state
     * the protocol can crash in: marker only; marker + later segments deleted; marker + segment cut but
     * partial batch not written; everything done but the marker still there.
     */
    const stages = ['marker-only', 'later-segments-deleted', 'cut-without-partial', 'all-but-marker-removal'] as const;

    it.each(stages)('%s', async (stage) => {
      const dataDir = dirs.make('freshet-trunc-');
      const { log, all } = await seeded(dataDir);
      await log.close();
      const dir = partitionDir(dataDir);
      // End 22 is inside a batch (20-24): the partial batch holds records 20 and 21.
      const end = 22;
      const probeDir = dirs.make('freshet-trunc-probe-');
      fs.cpSync(dataDir, probeDir, { recursive: true });
      fs.rmSync(path.join(probeDir, 'LOCK'), { force: true });
      const plan = await planOf(probeDir, end);
      expect(plan.partial.length).toBeGreaterThan(0);

      writeTruncationMarker(dir, plan);
      const stem = path.join(dir, segmentFileBase(plan.segmentBase));
      if (stage === 'later-segments-deleted' || stage === 'cut-without-partial') {
        for (const f of fs.readdirSync(dir)) if (/^\d{20}\.log$/.test(f) && Number(f.slice(0, 20)) > plan.segmentBase) fs.rmSync(path.join(dir, f));
      }
      if (stage === 'cut-without-partial') fs.truncateSync(`${stem}.log`, plan.position);
      if (stage === 'all-but-marker-removal') {
        applyTruncation(dir, plan);
        writeTruncationMarker(dir, plan);
      }
      const warnings: string[] = [];
      const again = await openLog(dataDir, { warnings });
      expect(warnings.some((w) => w.includes('interrupted truncation'))).toBe(true);
      expect(fs.existsSync(path.join(dir, TRUNCATION_MARKER_FILE))).toBe(false);
      expect(await readAll(again, 't', 0)).toEqual(all.slice(0, end));
      expect((await again.append('t', 0, records(1, 77))).baseOffset).toBe(end);
    });

    /** Truncates a copy and captures the marker it writes (by reading it before it is removed). */
    async function planOf(dataDir: string, end: number) {
      const dir = partitionDir(dataDir);
      const original = fs.rmSync;
      let captured: ReturnType<typeof readTruncationMarker> = null;
      // The marker is removed at the end of applyTruncation: read it just before.
      const spy = ((file: fs.PathLike, options?: fs.RmOptions) => {
        if (String(file).endsWith(TRUNCATION_MARKER_FILE) && captured === null) captured = readTruncationMarker(dir);
        return original(file, options);
      }) as typeof fs.rmSync;
      fs.rmSync = spy;
      try {
        const probe = await openLog(dataDir);
        await probe.truncate('t', 0, end);
        await probe.close();
      } finally {
        fs.rmSync = original;
      }
      if (captured === null) throw new Error('no marker captured');
      return captured as NonNullable<ReturnType<typeof readTruncationMarker>>;
    }
  });

  it('a damaged truncation marker is reported as FRESHET_LOG_CORRUPT, not ignored', async () => {
    const dataDir = dirs.make('freshet-trunc-');
    const { log } = await seeded(dataDir);
    await log.close();
    const dir = partitionDir(dataDir);
    writeTruncationMarker(dir, { endOffset: 5, segmentBase: 0, position: 0, partial: new Uint8Array(0) });
    const file = path.join(dir, TRUNCATION_MARKER_FILE);
    const bytes = fs.readFileSync(file);
    bytes[6] = bytes[6]! ^ 0x10;
    fs.writeFileSync(file, bytes);
    await expectCode(() => openLog(dataDir), ErrorCodes.LOG_CORRUPT);
  });
});
