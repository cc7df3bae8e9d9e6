import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { checks } from '../../src/quality/checks.js';
import { readDeadLetter } from '../../src/quality/dead-letter.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';

interface Order {
  id: string;
  total: number;
  ts: number;
}

describe('expect() in a running pipeline', () => {
  it('dead-letters failing records with their original bytes, check and stage; passes the rest on', async () => {
    const clock = new ManualClock(0);
    const log = new MemoryLog(clock);
    await log.createTopic('orders', { partitions: 1 });
    const raw = ['{"id":"a","total":5,"ts":1}', '{"id":"b","total":-3,"ts":2}', '{"id":"a","total":7,"ts":3}', '{ "id": "c", "total": 1, "ts": 4 }'];
    await log.produce('orders', raw.map((v, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(v), timestampMs: i })));
    const def = pipeline('checked', (p) => {
      p.source<Order>('orders', { eventTime: 'ts' })
        .expect(checks.range('total', { min: 0 }), { name: 'total-non-negative' })
        .keyBy((o) => o.id)
        .expect(checks.unique('id', { horizonMs: 60_000 }), { name: 'no-duplicates' })
        .collect('out');
    });
    const runner = await PipelineRunner.start(def.plan(), { log, clock });
    await runner.finish();
    expect(runner.collected('out').map((r) => (r.value as Order).id)).toEqual(['a', 'c']);
    const { batches } = await log.read('orders.dlq', 0, 0);
    const letters = batches.flatMap((b) => Array.from({ length: b.count }, (_, i) => readDeadLetter(b.recordAt(i))));
    expect(letters.map((l) => [l.check, l.stage, Buffer.from(l.value!).toString(), Buffer.from(l.key!).toString(), l.offset])).toEqual([
      ['total-non-negative', 'source-orders', raw[1], 'k1', 1],
      ['no-duplicates', 'keyBy-1', raw[2], 'k2', 2],
    ]);
    expect(letters.every((l) => l.payload === 'original' && l.topic === 'orders')).toBe(true);
    const d = runner.stats.describe(0);
    expect(d.nodes.find((n) => n.name === 'total-non-negative')).toMatchObject({ recordsIn: 4, recordsOut: 3 });
  });

  it('action fail stops the pipeline with a coded error naming the check', async () => {
    const log = new MemoryLog(new ManualClock(0));
    await log.createTopic('orders', { partitions: 1 });
    await log.produce('orders', [{ key: null, value: Buffer.from('{"id":"x","total":-1,"ts":1}'), timestampMs: 1 }]);
    const def = pipeline('strict', (p) => {
      p.source<Order>('orders', { eventTime: 'ts' }).expect(checks.range('total', { min: 0 }), { name: 'no-refunds', action: 'fail' }).collect('out');
    });
    const runner = await PipelineRunner.start(def.plan(), { log });
    await expect(runner.finish()).rejects.toMatchObject({ code: 'FRESHET_QUALITY_CHECK_FAILED', message: expect.stringContaining('no-refunds') });
  });
});
