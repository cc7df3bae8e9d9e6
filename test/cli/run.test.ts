import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPerTest } from './cli-harness.js';

describe('freshet run', () => {
  const cliFor = cliPerTest();

  it('runs a pipeline module bounded over what is stored and writes its windows to a topic', async ({ task }) => {
    const cli = cliFor(task);
    const input = path.join(cli.workDir, 'clicks.ndjson');
    const lines: string[] = [];
    // 3 users x 2 minutes; each user clicks 10 times a minute for 1..10 cents.
    for (let minute = 0; minute < 2; minute++) {
      for (const user of ['ann', 'bob', 'cy']) {
        for (let i = 1; i <= 10; i++) lines.push(JSON.stringify({ user, amount: i, ts: new Date(Date.UTC(2026, 0, 1, 10, minute, i)).toISOString() }));
      }
    }
    fs.writeFileSync(input, `${lines.join('\n')}\n`);
    expect((await cli.run(['topics', 'create', 'clicks', '--partitions', '2'])).code).toBe(0);
    expect((await cli.run(['produce', 'clicks', input, '--key-field', 'user'])).code).toBe(0);
    const run = await cli.run(['run', path.resolve('examples/clicks-per-minute.ts'), '--bounded']);
    expect(run.stderr).toContain("pipeline 'clicks-per-minute' finished");
    expect(run.code).toBe(0);
    const tail = await cli.run(['tail', 'clicks-per-minute', '--from', 'earliest']);
    const results = tail.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { value: { key: string; windowStartMs: number; value: { clicks: number; revenue: number } } }).value)
      .map((v) => `${v.key}@${new Date(v.windowStartMs).toISOString().slice(11, 16)}:${v.value.clicks}/${v.value.revenue}`)
      .sort();
    expect(results).toEqual(['ann@10:00:10/55', 'ann@10:01:10/55', 'bob@10:00:10/55', 'bob@10:01:10/55', 'cy@10:00:10/55', 'cy@10:01:10/55']);
  });

  it('refuses a module without a pipeline as its default export', async ({ task }) => {
    const cli = cliFor(task);
    const file = path.join(cli.workDir, 'not-a-pipeline.mjs');
    fs.writeFileSync(file, 'export default 42;\n');
    const run = await cli.run(['run', file, '--bounded']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^FRESHET_INVALID_ARGUMENT: .*no default export made with pipeline/);
  });
});
