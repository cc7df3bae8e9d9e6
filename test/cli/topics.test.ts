import { describe, expect, it } from 'vitest';
import { cliPerTest } from './cli-harness.js';

describe('freshet topics', () => {
  const cliFor = cliPerTest();

  it('creates, lists, describes and deletes topics', async ({ task }) => {
    const cli = cliFor(task);
    const created = await cli.run(['topics', 'create', 'orders', '--partitions', '3', '--retention-ms', '86400000', '--retention-bytes', '1048576', '--segment-bytes', '65536']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain("created topic 'orders'");
    expect((await cli.run(['topics', 'create', 'clicks'])).code).toBe(0);
    const again = await cli.run(['topics', 'create', 'clicks']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^FRESHET_TOPIC_EXISTS: topic 'clicks' already exists/);
    expect((await cli.run(['topics', 'create', 'clicks', '--if-not-exists'])).stdout).toContain("topic 'clicks' already exists");

    const list = await cli.run(['topics', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TOPIC\s+PARTITIONS\s+RECORDS\s+SIZE$/);
    expect(lines[1]).toMatch(/^clicks\s+1\s+0\s+0 B$/);
    expect(lines[2]).toMatch(/^orders\s+3\s+0\s+0 B$/);

    const listJson = await cli.run(['topics', 'list', '--json']);
    expect(listJson.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { name: 'clicks', partitions: 1, records: 0, sizeBytes: 0, config: { partitions: 1 } },
      {
        name: 'orders',
        partitions: 3,
        records: 0,
        sizeBytes: 0,
        config: { partitions: 3, retentionMs: 86400000, retentionBytes: 1048576, segmentBytes: 65536 },
      },
    ]);

    const text = await cli.run(['topics', 'describe', 'orders']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('config: partitions=3 retention.ms=86400000 retention.bytes=1048576 segment.bytes=65536');
    expect(text.stdout).toMatch(/PARTITION\s+EARLIEST\s+LATEST\s+RECORDS\s+SIZE\s+SEGMENTS/);

    await cli.run(['produce', 'orders', '--partition', '2', '--quiet'], { input: '{"a":1}\n{"a":2}\n' });
    const json = await cli.run(['topics', 'describe', 'orders', '--json']);
    expect(json.code).toBe(0);
    const d = JSON.parse(json.stdout) as { name: string; records: number; partitions: { partition: number; earliestOffset: number; latestOffset: number; segments: number }[] };
    expect(d.name).toBe('orders');
    expect(d.records).toBe(2);
    expect(d.partitions.map((p) => [p.partition, p.earliestOffset, p.latestOffset, p.segments])).toEqual([
      [0, 0, 0, 1],
      [1, 0, 0, 1],
      [2, 0, 2, 1],
    ]);

    const deleted = await cli.run(['topics', 'delete', 'clicks']);
    expect(deleted.code).toBe(0);
    expect((await cli.run(['topics', 'list', '--json'])).stdout).not.toContain('clicks');
  });

  it('lists nothing in an empty data directory, and describes no unknown topic', async ({ task }) => {
    const cli = cliFor(task);
    const list = await cli.run(['topics', 'list']);
    expect(list).toMatchObject({ code: 0, stdout: 'no topics\n', stderr: '' });
    const missing = await cli.run(['topics', 'describe', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^FRESHET_UNKNOWN_TOPIC: unknown topic 'nope'/);
  });
});
