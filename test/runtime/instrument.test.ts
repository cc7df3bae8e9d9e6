import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { count } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';

interface Ev {
  key: string;
  ts: number;
  ok: boolean;
}

describe('pipeline statistics', () => {
  it('count every operator’s records in and out, late records, dead letters and sink latencies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), ts: fc.integer({ min: 0, max: 5_000 }), ok: fc.boolean() }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 5 }),
        async (events, malformed) => {
          const clock = new ManualClock(100_000);
          const log = new MemoryLog(clock);
          await log.createTopic('events', { partitions: 1 });
          await log.produce('events', [
            ...events.map((e) => ({ key: null, value: Buffer.from(JSON.stringify(e)), timestampMs: e.ts })),
            ...Array.from({ length: malformed }, () => ({ key: null, value: Buffer.from('{not json'), timestampMs: 0 })),
          ]);
          const def = pipeline('stats', (p) => {
            const w = p
              .source<Ev>('events', { eventTime: 'ts', maxOutOfOrderMs: 0 })
              .filter((e) => e.ok, { name: 'only-ok' })
              .keyBy((e) => e.key)
              .window(tumbling({ sizeMs: 1_000 }), { allowedLatenessMs: 0 })
              .aggregate(count(), { name: 'per-second' });
            w.collect('out');
          });
          // One record per round, so the watermark moves between records and late ones really are late.
          const runner = await PipelineRunner.start(def.plan(), { log, clock, maxBatchRecords: 1 });
          await runner.finish();
          const d = runner.stats.describe(clock.nowMs());
          const node = (name: string) => d.nodes.find((n) => n.name === name)!;
          const ok = events.filter((e) => e.ok);
          // Brute force: the watermark after each record is the max ts so far; a record is late when its window ended by then.
          let watermark = Number.NEGATIVE_INFINITY;
          let late = 0;
          for (const e of events) {
            if (e.ok && Math.floor(e.ts / 1000) * 1000 + 1000 <= watermark) late++;
            watermark = Math.max(watermark, e.ts);
          }
          expect(node('source-events').recordsIn).toBe(events.length);
          expect(node('source-events').recordsOut).toBe(events.length);
          expect(node('only-ok').recordsIn).toBe(events.length);
          expect(node('only-ok').recordsOut).toBe(ok.length);
          expect(node('per-second').recordsIn).toBe(ok.length);
          expect(node('per-second').lateRecords).toBe(late);
          expect(node('per-second').recordsOut).toBe(runner.collected('out').length);
          expect(node('collect-out').recordsIn).toBe(runner.collected('out').length);
          expect(d.deadLetters).toEqual(malformed > 0 ? [{ topic: 'events.dlq', reason: 'FRESHET_MALFORMED_JSON', count: malformed }] : []);
          if (runner.collected('out').length > 0) {
            // Results of window [s, s+1000) carry time s+999; the clock stands at 100,000.
            const lat = node('collect-out').latencyMs!;
            expect(lat.p50).toBeGreaterThan(100_000 - 6_000);
            expect(lat.p99).toBeLessThanOrEqual(100_000 - 999);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('ingest latency', () => {
  it('is measured from the freshet.ingest.ms header to the round’s outputs flushed', async () => {
    const clock = new ManualClock(10_000);
    const log = new MemoryLog(clock);
    await log.createTopic('events', { partitions: 2 });
    const ingestTimes = [9_900, 9_700, 9_500];
    for (const [i, t] of ingestTimes.entries()) {
      await log.append('events', i % 2, [{ value: Buffer.from(JSON.stringify({ key: 'a', ts: 1, ok: true })), headers: [{ key: 'freshet.ingest.ms', value: Buffer.from(String(t)) }] }]);
    }
    await log.append('events', 0, [{ value: Buffer.from(JSON.stringify({ key: 'a', ts: 1, ok: true })) }]); // not ingested over HTTP
    const def = pipeline('ingest', (p) => {
      p.source<Ev>('events', { eventTime: 'ts' }).filter((e) => e.ok).collect('out');
    });
    const runner = await PipelineRunner.start(def.plan(), { log, clock, maxBatchRecords: 1 });
    expect(runner.stats.describe(clock.nowMs()).ingestLatencyMs).toBeNull();
    await runner.runUntilCaughtUp();
    // One sample per read batch with the header: 100, 300, 500 ms.
    expect(runner.stats.describe(clock.nowMs()).ingestLatencyMs).toEqual({ p50: 300, p99: 500 });
  });
});
