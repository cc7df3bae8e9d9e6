import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cli } from './cli-harness.js';

describe('freshet dev', () => {
  let cli: Cli;
  afterEach(async () => cli.cleanup());

  it('runs a pipeline with its views and API in one process: ingest over HTTP, query the view', async () => {
    cli = new Cli();
    const dev = cli.start(['dev', path.resolve('examples/clicks-per-minute.ts'), '--port', '0']);
    const [, url] = (await dev.waitForStdout(/API and dashboard at (http:\/\/[^\s]+)\//, 60_000))!;
    const post = await fetch(`${url}/v1/topics/clicks/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { user: 'ann', amount: 12.5, ts: '2026-01-01T10:00:00Z' },
        { user: 'ann', amount: 2.5, ts: '2026-01-01T10:00:30Z' },
        { user: 'bob', amount: 3, ts: '2026-01-01T10:00:04Z' },
        { user: 'ann', amount: 1, ts: '2026-01-01T10:02:00Z' }, // moves the watermark past the first minute
      ]),
    });
    expect(post.status).toBe(200);
    const from = Date.parse('2026-01-01T10:00:00Z');
    let series: { points?: { windowStartMs: number; value: { clicks: number; revenue: number } }[] } = {};
    for (let i = 0; i < 200 && !(series.points && series.points.length > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await fetch(`${url}/v1/views/clicks-per-minute/series?key=ann&from=${from}&to=${from + 60_000}`);
      if (res.status === 200) series = (await res.json()) as typeof series;
    }
    expect(series.points?.map((p) => [p.windowStartMs, p.value])).toEqual([[from, { clicks: 2, revenue: 15 }]]);
    const pipelines = (await (await fetch(`${url}/v1/pipelines`)).json()) as { pipelines: { name: string }[] };
    expect(pipelines.pipelines.map((p) => p.name)).toEqual(['clicks-per-minute']);
    expect((await fetch(`${url}/`)).status).toBe(200);
    dev.child.kill('SIGINT');
    expect((await dev.exited).code).toBe(0);
  }, 120_000);
});
