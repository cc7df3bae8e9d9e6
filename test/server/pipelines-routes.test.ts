import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { count } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { createServer } from '../../src/server/server.js';

describe('GET /v1/pipelines and /v1/dead-letters', () => {
  it('show the running pipeline’s operators, lag and dead letters', async () => {
    const clock = new ManualClock(50_000);
    const log = new MemoryLog(clock);
    await log.createTopic('clicks', { partitions: 2 });
    const good = Array.from({ length: 30 }, (_, i) => ({ key: Buffer.from(`u${i % 3}`), value: Buffer.from(JSON.stringify({ user: `u${i % 3}`, ts: i * 100 })), timestampMs: i * 100 }));
    await log.produce('clicks', [...good, { key: Buffer.from('u1'), value: Buffer.from('{"user": oops'), timestampMs: 5 }]);
    const def = pipeline('clicks-per-second', (p) => {
      p.source<{ user: string; ts: number }>('clicks', { eventTime: 'ts' })
        .keyBy((c) => c.user)
        .window(tumbling({ sizeMs: 1_000 }))
        .aggregate(count(), { name: 'per-second' })
        .collect('out');
    });
    const runner = await PipelineRunner.start(def.plan(), { log, clock, maxBatchRecords: 5 });
    await runner.step();
    const server = createServer({ log, clock, pipelines: () => [runner] });
    try {
      const first = (await server.app.inject({ method: 'GET', url: '/v1/pipelines' })).json();
      const [p] = first.pipelines;
      expect(p.name).toBe('clicks-per-second');
      expect(p.status).toBe('running');
      expect(p.nodes.map((n: { name: string }) => n.name)).toEqual(['source-clicks', 'keyBy-1', 'per-second', 'collect-out']);
      expect(p.nodes.find((n: { name: string }) => n.name === 'per-second').inputs).toEqual(['keyBy-1']);
      const read = p.nodes[0].recordsIn;
      expect(read).toBeGreaterThan(0);
      // Lag: what is left to read on each partition.
      expect(p.lag.reduce((s: number, l: { records: number }) => s + l.records, 0)).toBe(31 - read - p.deadLetters.reduce((s: number, d: { count: number }) => s + d.count, 0));

      await runner.finish();
      clock.advance(1_000);
      const after = (await server.app.inject({ method: 'GET', url: '/v1/pipelines' })).json().pipelines[0];
      expect(after.lag.every((l: { records: number }) => l.records === 0)).toBe(true);
      expect(after.nodes[0].recordsIn).toBe(30);
      expect(after.nodes[0].recordsPerS).toBeGreaterThan(0);
      expect(after.deadLetters).toEqual([{ topic: 'clicks.dlq', reason: 'FRESHET_MALFORMED_JSON', count: 1 }]);

      const letters = (await server.app.inject({ method: 'GET', url: '/v1/dead-letters?limit=10' })).json();
      expect(letters.items).toHaveLength(1);
      expect(letters.items[0]).toMatchObject({ topic: 'clicks.dlq', code: 'FRESHET_MALFORMED_JSON', sourceTopic: 'clicks', payload: '{"user": oops' });
      const bad = await server.app.inject({ method: 'GET', url: '/v1/dead-letters?limit=0' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('FRESHET_INVALID_ARGUMENT');
    } finally {
      await server.close();
    }
  });
});
