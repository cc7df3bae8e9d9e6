import { describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { announce, writeUpdates } from '../serving/helpers.js';
import { cliPerTest, ndjson } from './cli-harness.js';

describe('freshet serve --views, freshet query, freshet get', () => {
  const cliFor = cliPerTest();

  it('serves views maintained from the log; query and get talk to it; a second server on the same directory is a read-only query node', async ({ task }) => {
    const cli = cliFor(task);
    // What a pipeline's toView would have written.
    const log = await EmbeddedLog.open({ dataDir: cli.dataDir });
    await announce(log, 'spend', 'kv');
    await announce(log, 'sales', 'table');
    await writeUpdates(log, 'spend', [{ key: 'ann', value: { total: 12 }, eventTimeMs: 1 }]);
    await writeUpdates(log, 'sales', [
      { key: 'oslo', value: { revenue: 10 }, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000 },
      { key: 'rome', value: { revenue: 25 }, eventTimeMs: 0, windowStartMs: 0, windowEndMs: 60_000 },
    ]);
    await log.close();

    const server = cli.start(['serve', '--views', '--port', '0']);
    const [, url] = (await server.waitForStdout(/^freshet listening on (http:\/\/127\.0\.0\.1:\d+)\n/)) as [string, string];
    // The query node next to it cannot take the lock: it follows the log read-only.
    const node = cli.start(['serve', '--views', '--port', '0']);
    const [, nodeUrl] = (await node.waitForStdout(/^freshet listening on (http:\/\/127\.0\.0\.1:\d+)\n/)) as [string, string];
    expect(node.stderr).toMatch(/serving views read-only/);

    for (const u of [url, nodeUrl]) {
      let got = await cli.run(['get', 'spend', 'ann', '--url', u]);
      for (let i = 0; i < 100 && got.code !== 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        got = await cli.run(['get', 'spend', 'ann', '--url', u]);
      }
      expect(got.code, got.stderr).toBe(0);
      expect(JSON.parse(got.stdout)).toMatchObject({ key: 'ann', value: { total: 12 } });
    }

    const table = await cli.run(['query', 'SELECT key, revenue FROM sales ORDER BY key', '--url', url]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toBe('key   revenue\noslo       10\nrome       25\n');
    const nd = await cli.run(['query', 'SELECT key FROM sales ORDER BY key', '--format', 'ndjson', '--max-rows', '1'], { env: { FRESHET_URL: url } });
    expect(ndjson(nd.stdout)).toEqual([{ key: 'oslo' }]);
    expect(nd.stderr).toMatch(/truncated at 1 rows/);
    const csv = await cli.run(['query', 'SELECT count(*) AS n FROM sales', '--format', 'csv', '--url', nodeUrl]);
    expect(csv.stdout).toBe('n\r\n2\r\n');

    const forbidden = await cli.run(['query', 'DROP TABLE sales', '--url', url]);
    expect([forbidden.code, forbidden.stderr]).toEqual([1, expect.stringMatching(/^FRESHET_SQL_FORBIDDEN: only SELECT/)]);
    const missing = await cli.run(['get', 'spend', 'zed', '--url', url]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^FRESHET_KEY_NOT_FOUND: /)]);
    const down = await cli.run(['get', 'spend', 'ann', '--url', 'http://127.0.0.1:1']);
    expect(down.stderr).toMatch(/cannot reach the Freshet server/);

    node.child.kill('SIGTERM');
    server.child.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
    expect((await server.exited).code).toBe(0);
  });
});
