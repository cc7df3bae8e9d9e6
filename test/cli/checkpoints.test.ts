/**
 * `freshet checkpoints list` and `freshet savepoint create|list|delete`, as a real CLI process over a data
 * directory whose checkpoints this test writes with the real store (and, for `create` against a running
 * pipeline, answers the request the way a runner does).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointStore, checkpointDir } from '../../src/state/checkpoint-store.js';
import { MemoryStateBackend } from '../../src/state/memory/memory-backend.js';
import { cliPerTest, ndjson } from './cli-harness.js';

/** Writes `n` checkpoints of pipeline `pipeline` (one task, one operator) and returns the open store. */
async function seed(dataDir: string, pipeline: string, n: number): Promise<CheckpointStore> {
  const store = await CheckpointStore.open({ dir: checkpointDir(dataDir, pipeline), retain: 3, onWarning: () => undefined });
  const backend = new MemoryStateBackend();
  const counts = backend.operator('count').value<number>('n');
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 50; k++) counts.put(`k${k}`, i * k);
    const id = store.nextCheckpointId();
    const snap = await backend.snapshot(id);
    await store.write({
      checkpointId: id,
      operators: [{ name: 'count', kind: 'windowAggregate', fingerprint: 'count' }],
      tasks: [{ taskId: 'main', inputOffsets: [{ topic: 'in', partition: 0, offset: id }], outputPositions: [], watermarks: {}, operators: snap.operators }],
    });
    backend.checkpointComplete(id);
  }
  return store;
}

describe('freshet checkpoints / savepoint', () => {
  const cliFor = cliPerTest();

  it('lists checkpoints with id, time, size, status and savepoint; JSON too; damage shows as corrupt', async ({ task }) => {
    const cli = cliFor(task);
    const empty = await cli.run(['checkpoints', 'list']);
    expect(empty).toMatchObject({ code: 0, stdout: 'no checkpoints\n' });
    await (await seed(cli.dataDir, 'revenue', 5)).close();
    await (await seed(cli.dataDir, 'clicks', 1)).close();
    const list = await cli.run(['checkpoints', 'list']);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^PIPELINE\s+ID\s+TIME\s+SIZE\s+TOTAL\s+STATUS\s+SAVEPOINT$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).filter((x) => x !== 'B' && x !== 'KiB'))).toEqual([
      ['clicks', '1', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), expect.any(String), expect.any(String), 'complete', '-'],
      ['revenue', '3', expect.any(String), expect.any(String), expect.any(String), 'complete', '-'],
      ['revenue', '4', expect.any(String), expect.any(String), expect.any(String), 'complete', '-'],
      ['revenue', '5', expect.any(String), expect.any(String), expect.any(String), 'complete', '-'],
    ]);
    // Flip a bit in the newest part file: it lists as corrupt.
    const part = path.join(checkpointDir(cli.dataDir, 'revenue'), 'chk-00000000000000000005', 'task-main.part');
    const buf = fs.readFileSync(part);
    buf[buf.length - 2]! ^= 0x40;
    fs.writeFileSync(part, buf);
    const json = ndjson((await cli.run(['checkpoints', 'list', '--pipeline', 'revenue', '--json'])).stdout);
    expect(json.map((c) => [c.pipeline, c.checkpointId, c.status, c.savepoint])).toEqual([
      ['revenue', 3, 'complete', null],
      ['revenue', 4, 'complete', null],
      ['revenue', 5, 'corrupt', null],
    ]);
    expect(String(json[2]!.problem)).toContain('CRC32C');
    expect((await cli.run(['checkpoints', 'list', '--pipeline', 'nope'])).stdout).toBe("no checkpoints for pipeline 'nope'\n");
  });

  it('savepoint create without a running pipeline copies the newest complete checkpoint; list; delete', async ({ task }) => {
    const cli = cliFor(task);
    await (await seed(cli.dataDir, 'revenue', 4)).close();
    const created = await cli.run(['savepoint', 'create', 'before-v2', '--pipeline', 'revenue']);
    expect(created.stderr).toBe('');
    expect(created.stdout).toBe("created savepoint 'before-v2' of pipeline 'revenue' from checkpoint 4 (no pipeline running: copied the newest complete checkpoint)\n");
    const again = await cli.run(['savepoint', 'create', 'before-v2', '--pipeline', 'revenue']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^FRESHET_SAVEPOINT_EXISTS: savepoint 'before-v2' already exists/);
    const list = await cli.run(['savepoint', 'list']);
    expect(list.stdout.split('\n')[1]).toMatch(/^revenue\s+before-v2\s+4\s+\S+\s+.+\s+complete$/);
    const all = ndjson((await cli.run(['checkpoints', 'list', '--json'])).stdout);
    expect(all.filter((c) => c.savepoint === 'before-v2').map((c) => c.checkpointId)).toEqual([4]);
    const loaded = await (await CheckpointStore.open({ dir: checkpointDir(cli.dataDir, 'revenue'), readOnly: true })).loadSavepoint('before-v2');
    expect(loaded.tasks.get('main')!.inputOffsets).toEqual([{ topic: 'in', partition: 0, offset: 4 }]);
    const deleted = await cli.run(['savepoint', 'delete', 'before-v2', '--pipeline', 'revenue']);
    expect(deleted).toMatchObject({ code: 0, stdout: "deleted savepoint 'before-v2' of pipeline 'revenue'\n" });
    const missing = await cli.run(['savepoint', 'delete', 'before-v2', '--pipeline', 'revenue']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^FRESHET_CHECKPOINT_NOT_FOUND: /);
    expect((await cli.run(['savepoint', 'list', '--pipeline', 'revenue'])).stdout).toBe('no savepoints\n');
    const noPipeline = await cli.run(['savepoint', 'create', 'x', '--pipeline', 'ghost']);
    expect(noPipeline.code).toBe(1);
    expect(noPipeline.stderr).toMatch(/^FRESHET_CHECKPOINT_NOT_FOUND: pipeline 'ghost' has no checkpoints/);
    const usage = await cli.run(['savepoint', 'create', 'x']);
    expect(usage.code).toBe(2);
    const badName = await cli.run(['savepoint', 'create', 'a/b', '--pipeline', 'revenue']);
    expect(badName.code).toBe(2);
  });

  it('savepoint create with a running pipeline asks it (request file) and reports its answer; a silent one times out', async ({ task }) => {
    const cli = cliFor(task);
    // This process plays the running pipeline: it holds the store's lock and answers requests.
    const store = await seed(cli.dataDir, 'revenue', 2);
    let answered = 0;
    // A request stays pending until answered: a slow answer must not be started twice by the next tick.
    const answering = new Set<string>();
    const poller = setInterval(() => {
      for (const name of store.pendingSavepointRequests()) {
        if (name === 'ignored' || answering.has(name)) continue;
        answering.add(name);
        void (async () => {
          await store.createSavepoint(name, { fromCheckpointId: 2 });
          await store.completeSavepointRequest(name, { ok: true, checkpointId: 2 });
          answered++;
        })();
      }
    }, 20);
    try {
      const created = await cli.run(['savepoint', 'create', 'live', '--pipeline', 'revenue']);
      expect(created.stderr).toBe('');
      expect(created.stdout).toBe(`created savepoint 'live' of pipeline 'revenue' at checkpoint 2 (taken by the running pipeline, process ${process.pid})\n`);
      expect(answered).toBe(1);
      const silent = await cli.run(['savepoint', 'create', 'ignored', '--pipeline', 'revenue', '--timeout-ms', '300']);
      expect(silent.code).toBe(1);
      expect(silent.stderr).toMatch(/^FRESHET_CHECKPOINT_LOCKED: pipeline 'revenue' \(process \d+\) did not take savepoint 'ignored' within 300 ms/);
      expect(store.pendingSavepointRequests()).toEqual([]);
    } finally {
      clearInterval(poller);
      await store.close();
    }
  });
});
