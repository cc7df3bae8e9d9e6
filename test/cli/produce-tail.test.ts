import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPerTest, ndjson } from './cli-harness.js';

const events = [
  { id: 1, user: 'ana', ts: '2024-05-01T00:00:00Z', amount: 12.5 },
  { id: 2, user: 'bo', ts: 1714521601000, amount: 3 },
  { id: 3, user: 'ana', ts: '2024-05-01T00:00:02.250Z', amount: 7 },
  { id: 4, user: 'cy', ts: '2024-05-01T00:00:03+00:00', amount: 1 },
];
const lines = events.map((e) => JSON.stringify(e));

describe('freshet produce + tail', () => {
  const cliFor = cliPerTest();

  it('produces a file with key and time fields; tail --from earliest returns exactly those events', async ({ task }) => {
    const cli = cliFor(task);
    await cli.run(['topics', 'create', 'orders', '--partitions', '3']);
    const file = path.join(cli.workDir, 'orders.ndjson');
    // A blank line and CRLF endings are fine: blank lines are skipped, whitespace around a line trimmed.
    fs.writeFileSync(file, `${lines[0]}\r\n\n${lines.slice(1).join('\n')}\n`);
    const produced = await cli.run(['produce', 'orders', file, '--key-field', 'user', '--time-field', 'ts']);
    expect(produced.code).toBe(0);
    expect(produced.stdout).toBe('');
    expect(produced.stderr).toMatch(/^produced 4 records \(.*\) to 'orders' in /);

    const tail = await cli.run(['tail', 'orders', '--from', 'earliest']);
    expect(tail.code).toBe(0);
    const records = ndjson(tail.stdout);
    // Merged across partitions by timestamp.
    expect(records.map((r) => r.value)).toEqual(events);
    expect(records.map((r) => r.key)).toEqual(['ana', 'bo', 'ana', 'cy']);
    expect(records.map((r) => r.timestamp)).toEqual([1714521600000, 1714521601000, 1714521602250, 1714521603000]);
    // Same key, same partition, in order.
    expect(records[0]!.partition).toBe(records[2]!.partition);
    expect(records[2]!.offset).toBeGreaterThan(records[0]!.offset as number);
    for (const r of records) expect(Object.keys(r)).toEqual(['partition', 'offset', 'timestamp', 'key', 'value', 'headers']);
    expect(Number((records[0]!.headers as Record<string, string>)['freshet.ingest.ms'])).toBeGreaterThan(1.7e12);
  });

  it('produces from stdin; tail --from <offset>, <ISO time>, @<epoch ms>, --partition and --max', async ({ task }) => {
    const cli = cliFor(task);
    await cli.run(['topics', 'create', 'clicks']);
    const produced = await cli.run(['produce', 'clicks', '--time-field', 'ts', '--batch-size', '2'], { input: `${lines.join('\n')}\n` });
    expect(produced.code).toBe(0);
    expect(produced.stderr).toMatch(/^produced 4 records/);

    const [all, fromOffset, fromIso, fromEpoch, limited] = await Promise.all([
      cli.run(['tail', 'clicks']),
      cli.run(['tail', 'clicks', '--from', '2']),
      cli.run(['tail', 'clicks', '--from', '2024-05-01T00:00:01.500Z']),
      cli.run(['tail', 'clicks', '--from', '@1714521603000', '--partition', '0']),
      cli.run(['tail', 'clicks', '--max', '1', '--value-format', 'string']),
    ]);
    expect(ndjson(all.stdout).map((r) => [r.offset, r.key, r.value])).toEqual(events.map((e, i) => [i, null, e]));
    expect(ndjson(fromOffset.stdout).map((r) => r.offset)).toEqual([2, 3]);
    expect(ndjson(fromIso.stdout).map((r) => r.offset)).toEqual([2, 3]);
    expect(ndjson(fromEpoch.stdout).map((r) => r.offset)).toEqual([3]);
    expect(ndjson(limited.stdout)).toMatchObject([{ offset: 0, value: lines[0] }]);

  });

  it('rejects a file with malformed lines before appending anything', async ({ task }) => {
    const cli = cliFor(task);
    await cli.run(['topics', 'create', 'orders']);
    const file = path.join(cli.workDir, 'bad.ndjson');
    fs.writeFileSync(file, `${lines[0]}\n{"id":2,\n${lines[2]}\n{"id":4,"ts":"yesterday"}\n`);
    const r = await cli.run(['produce', 'orders', file, '--time-field', 'ts']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:2: FRESHET_MALFORMED_JSON: not valid JSON`);
    expect(r.stderr).toContain(`${file}:4: FRESHET_INVALID_EVENT_TIME: field 'ts' is "yesterday"`);
    expect(r.stderr).toMatch(/^FRESHET_MALFORMED_JSON: 2 of 4 lines of .* are malformed \(first: line 2\); nothing was appended/m);
    expect((await cli.run(['tail', 'orders'])).stdout).toBe('');
  });

  it('from stdin, appends the lines before the first malformed one and none after; --dlq keeps going', async ({ task }) => {
    const cli = cliFor(task);
    await cli.run(['topics', 'create', 'orders']);
    const input = `${lines[0]}\n${lines[1]}\nnot json\n${lines[3]}\n`;
    const r = await cli.run(['produce', 'orders', '-'], { input });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^FRESHET_MALFORMED_JSON: stdin:3: not valid JSON .*; lines 1-2 were appended, nothing after them/m);
    expect(ndjson((await cli.run(['tail', 'orders'])).stdout).map((x) => x.value)).toEqual([events[0], events[1]]);

    const withDlq = await cli.run(['produce', 'orders', '--dlq'], { input });
    expect(withDlq.code).toBe(0);
    expect(withDlq.stderr).toContain("1 malformed line went to dead-letter topic 'orders.dlq'");
    const [main, dlq] = await Promise.all([cli.run(['tail', 'orders']), cli.run(['tail', 'orders.dlq'])]);
    expect(ndjson(main.stdout).map((x) => x.value)).toEqual([events[0], events[1], events[0], events[1], events[3]]);
    expect(ndjson(dlq.stdout)).toMatchObject([
      {
        value: 'not json',
        headers: { 'freshet.dlq.code': 'FRESHET_MALFORMED_JSON', 'freshet.dlq.stage': 'produce', 'freshet.dlq.topic': 'orders', 'freshet.dlq.file': '-', 'freshet.dlq.line': '3' },
      },
    ]);
  });

  it('tail --follow prints a record produced after it started, and exits 0 on SIGTERM', async ({ task }) => {
    const cli = cliFor(task);
    await cli.run(['topics', 'create', 'live', '--partitions', '2']);
    await cli.run(['produce', 'live', '--quiet'], { input: '{"n":1}\n' });
    const follower = cli.start(['tail', 'live', '--follow', '--from', 'earliest', '--poll-interval-ms', '50']);
    await follower.waitForStdout(/"n":1/);
    const produced = await cli.run(['produce', 'live', '--quiet'], { input: '{"n":2}\n' });
    expect(produced.code).toBe(0);
    await follower.waitForStdout(/"n":2/);
    follower.child.kill('SIGTERM');
    const result = await follower.exited;
    expect(result.code).toBe(0);
    expect(ndjson(result.stdout).map((r) => r.value)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(result.stderr).toBe('');
  });
});
