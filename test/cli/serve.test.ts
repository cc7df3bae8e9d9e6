import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPerTest, ndjson } from './cli-harness.js';

describe('freshet serve', () => {
  const cliFor = cliPerTest();

  it('prints its URL, answers /healthz, ingests events that tail then shows, and exits 0 on SIGTERM', async ({ task }) => {
    const cli = cliFor(task);
    const config = path.join(cli.workDir, 'freshet.json');
    fs.writeFileSync(config, JSON.stringify({ topics: { orders: { partitions: 2, keyField: 'customer', eventTimeField: 'ts' } } }));
    const server = cli.start(['serve', '--port', '0', '--config', config, '--fsync', 'interval', '--auth-token', 's3cret']);
    const [, url] = (await server.waitForStdout(/^freshet listening on (http:\/\/127\.0\.0\.1:\d+)\n/)) as [string, string];

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const body = JSON.stringify({ customer: 'c-1', ts: '2024-05-01T00:00:00Z', total: 12 });
    const refused = await fetch(`${url}/v1/topics/orders/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(refused.status).toBe(401);
    const posted = await fetch(`${url}/v1/topics/orders/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer s3cret' },
      body,
    });
    expect(posted.status).toBe(200);
    expect(await posted.json()).toMatchObject({ accepted: 1 });

    // tail reads the log read-only while the server holds it; a writer is refused with a hint.
    const [tail, produce] = await Promise.all([cli.run(['tail', 'orders']), cli.run(['produce', 'orders'], { input: '{}\n' })]);
    expect(tail.code).toBe(0);
    expect(ndjson(tail.stdout)).toMatchObject([{ key: 'c-1', timestamp: 1714521600000, value: { customer: 'c-1', total: 12 } }]);
    expect(produce.code).toBe(1);
    expect(produce.stderr).toMatch(/^FRESHET_LOG_LOCKED: .*send the events to it over HTTP/);

    server.child.kill('SIGTERM');
    const result = await server.exited;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('SIGTERM: shutting down');
    // The lock was released: a writer can open the log again.
    expect((await cli.run(['produce', 'orders', '--quiet'], { input: '{"customer":"c-2"}\n' })).code).toBe(0);
  });

  it('takes the port from FRESHET_PORT and refuses an invalid config file', async ({ task }) => {
    const cli = cliFor(task);
    const server = cli.start(['serve'], { env: { FRESHET_PORT: '0' } });
    await server.waitForStdout(/^freshet listening on http:\/\/127\.0\.0\.1:\d+\n/);
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);

    const config = path.join(cli.workDir, 'bad.json');
    fs.writeFileSync(config, JSON.stringify({ topics: { orders: { partitions: 0 } } }));
    const bad = await cli.run(['serve', '--port', '0', '--config', config]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^FRESHET_INVALID_CONFIG: /);
  });
});
