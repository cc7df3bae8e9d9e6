import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checks } from '../../src/quality/checks.js';
import { QualityDriver } from '../quality/quality-harness.js';
import { type Cli, cliPerTest, ndjson } from './cli-harness.js';

/**
 * A data directory with dead letters from two stages: `freshet produce --dlq` (malformed lines, stage
 * `produce`) and a pipeline check (`amount-min` after `source-orders`, the original bytes).
 */
async function seed(cli: Cli): Promise<void> {
  const file = path.join(cli.workDir, 'orders.ndjson');
  fs.writeFileSync(
    file,
    [
      '{"id":1,"amount":10}',
      '{"id":2,"amount":-3}',
      '{"id":3,"amount":5,}', // malformed: trailing comma
      '{"id":4,"amount":-8}',
      '{"id":5,"amount":7',   // malformed: unterminated
      '{"id":6,"amount":1}',
    ].join('\n'),
  );
  expect((await cli.run(['topics', 'create', 'orders'])).code).toBe(0);
  const produced = await cli.run(['produce', 'orders', file, '--dlq', '--key-field', 'id', '--quiet']);
  expect(produced.code, produced.stderr).toBe(0);
  // The pipeline check, run in this process on the same directory (the CLI is not holding it now).
  const d = await QualityDriver.create({ check: checks.range('amount', { min: 0 }), name: 'amount-min', topic: 'orders', origins: true, dataDir: cli.dataDir });
  await d.process();
  expect(d.passed()).toHaveLength(2);
  await d.close();
}

describe('freshet dlq', () => {
  const cliFor = cliPerTest();

  it('list (counts, pending, top reasons; --json) and show (reason, code, check, stage, origin, original payload; filters)', async ({ task }) => {
    const cli = cliFor(task);
    expect((await cli.run(['dlq', 'list'])).stdout).toBe('no dead-letter topics\n');
    await seed(cli);
    const list = await cli.run(['dlq', 'list']);
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TOPIC\s+RECORDS\s+PENDING\s+TOP REASONS$/);
    expect(lines[1]).toMatch(/^orders\.dlq\s+4\s+4\s+amount is outside \[0, ∞\) \(2\); /);
    expect(lines).toHaveLength(2);
    const [json] = ndjson((await cli.run(['dlq', 'list', '--json'])).stdout);
    expect(json).toMatchObject({ topic: 'orders.dlq', records: 4, pending: 4, scanned: 4 });
    expect(json!.bySource).toEqual([
      { name: 'amount-min', count: 2 },
      { name: 'produce', count: 2 },
    ]);

    // show: reason, code, check, stage, where it came from, and the original payload; --reason, --check, --limit
    const all = await cli.run(['dlq', 'show', 'orders']);
    expect(all.code, all.stderr).toBe(0);
    const records = ndjson(all.stdout);
    expect(records).toHaveLength(4);
    const checked = records.filter((r) => r.check === 'amount-min');
    expect(checked.map((r) => [r.value, r.key, r.reason, r.code, r.stage, r.topic, r.payload])).toEqual([
      [{ id: 2, amount: -3 }, '2', 'amount is outside [0, ∞)', 'FRESHET_QUALITY_CHECK_FAILED', 'source-orders', 'orders', 'original'],
      [{ id: 4, amount: -8 }, '4', 'amount is outside [0, ∞)', 'FRESHET_QUALITY_CHECK_FAILED', 'source-orders', 'orders', 'original'],
    ]);
    expect(checked.every((r) => typeof r.sourcePartition === 'number' && typeof r.sourceOffset === 'number')).toBe(true);
    const malformed = records.filter((r) => r.stage === 'produce');
    expect(malformed.map((r) => [r.value, r.check, r.code])).toEqual([
      ['{"id":3,"amount":5,}', null, 'FRESHET_MALFORMED_JSON'],
      ['{"id":5,"amount":7', null, 'FRESHET_MALFORMED_JSON'],
    ]);
    const one = ndjson((await cli.run(['dlq', 'show', 'orders.dlq', '--reason', 'OUTSIDE', '--limit', '1'])).stdout);
    expect(one.map((r) => r.value)).toEqual([{ id: 2, amount: -3 }]);
    expect(ndjson((await cli.run(['dlq', 'show', 'orders', '--check', 'amount-min'])).stdout)).toHaveLength(2);
    const missing = await cli.run(['dlq', 'show', 'payments']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^FRESHET_UNKNOWN_TOPIC: no dead-letter topic 'payments\.dlq'/);
  });

  it('replay: --only-reason with a --fix module, then the rest; nothing is replayed twice', async ({ task }) => {
    const cli = cliFor(task);
    await seed(cli);
    const repair = path.join(cli.workDir, 'repair.mjs');
    // Malformed lines arrive as text: repair the JSON and return the text.
    fs.writeFileSync(repair, "export default (v) => (typeof v === 'string' ? v.replace(/,}$/, '}').replace(/(\\d)$/, '$1}') : v);\n");
    const first = await cli.run(['dlq', 'replay', 'orders', '--only-reason', 'json', '--fix', repair]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe("replayed 2 records from 'orders.dlq' (2 to 'orders'); 2 not matching --only-reason; 2 pending\n");
    expect(ndjson((await cli.run(['dlq', 'list', '--json'])).stdout)[0]).toMatchObject({ records: 4, pending: 2 });

    const abs = path.join(cli.workDir, 'abs.mjs');
    fs.writeFileSync(abs, 'export function fix(order) { return order.id === 4 ? null : { ...order, amount: Math.abs(order.amount) }; }\n');
    const second = await cli.run(['dlq', 'replay', 'orders', '--fix', abs, '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ dlqTopic: 'orders.dlq', examined: 2, replayed: 1, dropped: 1, skipped: 0, pending: 0, byTopic: { orders: 1 } });
    const third = await cli.run(['dlq', 'replay', 'orders']);
    expect(third.stderr).toBe("replayed 0 records from 'orders.dlq'; 0 pending\n");

    // The replayed records are in the original topic, marked, with their repaired values.
    const tail = ndjson((await cli.run(['tail', 'orders'])).stdout);
    const replayed = tail.filter((r) => (r.headers as Record<string, string>)['freshet.replay.of'] !== undefined);
    expect(replayed.map((r) => r.value).sort((a, b) => (a as { id: number }).id - (b as { id: number }).id)).toEqual([
      { id: 2, amount: 3 },
      { id: 3, amount: 5 },
      { id: 5, amount: 7 },
    ]);
    expect(new Set(replayed.map((r) => (r.headers as Record<string, string>)['freshet.replay.of']))).toEqual(
      new Set(['orders.dlq/0/0', 'orders.dlq/0/1', 'orders.dlq/0/2']),
    );
  });

  it('replay errors: a broken fix module (usage error), a fix that throws (runtime error, named dead letter), --dry-run writes nothing', async ({ task }) => {
    const cli = cliFor(task);
    await seed(cli);
    const notFn = path.join(cli.workDir, 'nofn.mjs');
    fs.writeFileSync(notFn, 'export const x = 1;\n');
    const bad = await cli.run(['dlq', 'replay', 'orders', '--fix', notFn]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^FRESHET_INVALID_ARGUMENT: fix module .* must export a function/);

    const dry = await cli.run(['dlq', 'replay', 'orders', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toBe("would replay 4 records from 'orders.dlq' (4 to 'orders'); 0 pending\n");
    expect(ndjson((await cli.run(['dlq', 'list', '--json'])).stdout)[0]).toMatchObject({ pending: 4 });

    const throws = path.join(cli.workDir, 'throws.mjs');
    fs.writeFileSync(throws, "export default () => { throw new Error('no way'); };\n");
    const failed = await cli.run(['dlq', 'replay', 'orders', '--fix', throws]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^FRESHET_DLQ_REPLAY_FAILED: dead letter orders\.dlq\/0\/0: the fix threw: no way/);
  });
});
