import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPerTest, ndjson } from './cli-harness.js';

describe('freshet run --workers', () => {
  const cliFor = cliPerTest();

  it('splits the pipeline over worker threads (with a repartition topic) and writes the same windows as one process', async ({ task }) => {
    const cli = cliFor(task);
    const input = path.join(cli.workDir, 'clicks.ndjson');
    const lines: string[] = [];
    // 5 users x 2 minutes; each user clicks 10 times a minute for 1..10 cents.
    for (let minute = 0; minute < 2; minute++) {
      for (const user of ['ann', 'bob', 'cy', 'dee', 'eve']) {
        for (let i = 1; i <= 10; i++) lines.push(JSON.stringify({ user, amount: i, ts: new Date(Date.UTC(2026, 0, 1, 10, minute, i)).toISOString() }));
      }
    }
    fs.writeFileSync(input, `${lines.join('\n')}\n`);
    expect((await cli.run(['topics', 'create', 'clicks', '--partitions', '3'])).code).toBe(0);
    // No key: records spread round-robin, so every user's clicks are in every partition (keyBy must regroup them).
    expect((await cli.run(['produce', 'clicks', input])).code).toBe(0);
    const run = await cli.run(['run', path.resolve('examples/clicks-per-minute.ts'), '--bounded', '--workers', '3'], { timeoutMs: 60_000 });
    expect(run.stderr).toContain("pipeline 'clicks-per-minute' finished");
    expect(run.code).toBe(0);
    const tail = await cli.run(['tail', 'clicks-per-minute', '--from', 'earliest']);
    const results = ndjson(tail.stdout)
      .map((r) => r.value as { key: string; windowStartMs: number; value: { clicks: number; revenue: number } })
      .map((v) => `${v.key}@${new Date(v.windowStartMs).toISOString().slice(11, 16)}:${v.value.clicks}/${v.value.revenue}`)
      .sort();
    expect(results).toEqual(['ann', 'bob', 'cy', 'dee', 'eve'].flatMap((u) => [`${u}@10:00:10/55`, `${u}@10:01:10/55`]));
    const topics = await cli.run(['topics', 'list']);
    expect(topics.stdout).toContain('clicks-per-minute.keyBy-1.repartition');
  });

  it('refuses --workers 0 as a usage error', async ({ task }) => {
    const cli = cliFor(task);
    const run = await cli.run(['run', path.resolve('examples/clicks-per-minute.ts'), '--workers', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--workers/);
  });
});
