import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { count } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import type { AppendResult, ProducerRecord, TopicPartitionOffset } from '../../src/log/log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { PipelineRunner } from '../../src/runtime/pipeline-runner.js';
import { TestDriver } from '../../src/testing.js';

interface Ev {
  key: string;
  ts: number;
}

const perSecond = (idleTimeoutMs: number) =>
  pipeline('idle', (p) => {
    p.source<Ev>('events', { eventTime: 'ts', idleTimeoutMs })
      .keyBy((e) => e.key)
      .window(tumbling({ sizeMs: 1000 }))
      .aggregate(count())
      .collect('out');
  });

describe('watermarks and idle partitions', () => {
  it('a partition without records holds the watermark back until it has been idle for idleTimeoutMs', async () => {
    const driver = await TestDriver.create(perSecond(5_000), { topics: { events: { partitions: 2 } } });
    await driver.send('events', [{ key: 'a', ts: 100 }, { key: 'a', ts: 2_500 }], { partition: 0 });
    // Partition 1 has never had a record: its watermark is -Infinity, so nothing fires.
    expect(driver.watermarks()['source-events']).toBe(Number.NEGATIVE_INFINITY);
    expect(driver.collected('out')).toEqual([]);
    await driver.advanceClock(4_999);
    expect(driver.collected('out')).toEqual([]);
    await driver.advanceClock(1);
    // Now partition 1 is idle and no longer holds it back: the watermark is partition 0's.
    expect(driver.watermarks()['source-events']).toBe(2_500);
    expect(driver.collected<{ windowStartMs: number; value: number }>('out').map((r) => [r.windowStartMs, r.value])).toEqual([[0, 1]]);
  });

  it('an idle partition that gets records again holds the watermark at its own pace', async () => {
    const driver = await TestDriver.create(perSecond(1_000), { topics: { events: { partitions: 2 } } });
    await driver.send('events', [{ key: 'a', ts: 10_000 }], { partition: 0 });
    await driver.advanceClock(1_000); // partition 1 idle: watermark 10,000
    expect(driver.watermarks()['source-events']).toBe(10_000);
    await driver.send('events', [{ key: 'b', ts: 10_500 }], { partition: 1 });
    await driver.send('events', [{ key: 'a', ts: 20_000 }], { partition: 0 });
    // Both active again: the minimum is partition 1's 10,500; watermarks never go back.
    expect(driver.watermarks()['source-events']).toBe(10_500);
  });
});

/** A log whose writes to topic 'out' are slow: a sink that cannot keep up. */
class SlowSinkLog extends MemoryLog {
  produced = 0;
  constructor(
    clock: ManualClock,
    private readonly delayMs: number,
  ) {
    super(clock);
  }
  override async append(topic: string, partition: number, records: readonly ProducerRecord[]): Promise<AppendResult> {
    if (topic === 'out') {
      await new Promise((r) => setTimeout(r, this.delayMs));
      this.produced += records.length;
    }
    return super.append(topic, partition, records);
  }
}

describe('backpressure', () => {
  it('a slow sink slows the source: the runner never reads more than one batch per partition ahead of its output', async () => {
    const clock = new ManualClock(0);
    const log = new SlowSinkLog(clock, 5);
    await log.createTopic('in', { partitions: 2 });
    for (let p = 0; p < 2; p++) {
      await log.append('in', p, Array.from({ length: 5_000 }, (_, i) => ({ value: Buffer.from(JSON.stringify({ i })), timestampMs: i })));
    }
    const definition = pipeline('slow', (p) => {
      p.source<{ i: number }>('in').map((e) => e.i).toTopic('out');
    });
    const maxBatchRecords = 500;
    const runner = await PipelineRunner.start(definition.plan(), { log, clock, maxBatchRecords });
    const running = runner.run(1);
    // Sample while it runs: what was read but not yet written is at most one batch per partition.
    let maxAhead = 0;
    for (let n = 0; n < 40; n++) {
      await new Promise((r) => setTimeout(r, 3));
      maxAhead = Math.max(maxAhead, runner.recordsRead - log.produced);
    }
    runner.stop();
    await running;
    expect(maxAhead).toBeGreaterThan(0);
    expect(maxAhead).toBeLessThanOrEqual(2 * maxBatchRecords);
  });
});

describe('bad input never stops a pipeline', () => {
  it('sends records whose decoding, schema, event time or table key fails to the dead-letter topic', async () => {
    const log = new MemoryLog(new ManualClock(0));
    await log.createTopic('events', { partitions: 1 });
    await log.createTopic('rows', { partitions: 1 });
    const bytes = (s: string) => Buffer.from(s);
    await log.append('events', 0, [
      { value: bytes('{"ts": 5, "n": 1}') },
      { value: bytes('null') }, // not an object: event time field unreadable
      { value: bytes('{broken') }, // malformed JSON
      { value: bytes('{"ts": 6, "n": -1}') }, // the user's schema throws on it
      { value: bytes('{"ts": "soon", "n": 2}') }, // not a time
      { value: bytes('{"ts": 7, "n": 3}') },
    ]);
    await log.append('rows', 0, [
      { key: Buffer.from([0xff, 0xfe]), value: null }, // tombstone with a key that is not UTF-8
      { key: bytes('a'), value: bytes('{"id": "a"}') },
    ]);
    const throwingSchema = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: (v: unknown) => {
          if (v !== null && (v as { n: number }).n < 0) throw new Error('negative!');
          return { value: v as { ts: number; n: number } };
        },
      },
    };
    const definition = pipeline('bad-input', (p) => {
      const rows = p.table<{ id: string }>('rows');
      p.source('events', { eventTime: 'ts', schema: throwingSchema })
        .leftJoin(rows, { key: () => 'a' }, (e, row) => ({ n: e.n, row: row?.id ?? null }))
        .collect('out');
    });
    const runner = await PipelineRunner.start(definition.plan(), { log, clock: new ManualClock(0) });
    await runner.finish();
    expect(runner.collected('out').map((r) => r.value)).toEqual([
      { n: 1, row: 'a' },
      { n: 3, row: 'a' },
    ]);
    const letters = await log.read('events.dlq', 0, 0);
    const codes = letters.batches.flatMap((b) => Array.from({ length: b.count }, (_, i) => Buffer.from(b.headersAt(i).find((h) => h.key === 'freshet.dlq.code')!.value).toString()));
    expect(codes).toEqual(['FRESHET_INVALID_EVENT_TIME', 'FRESHET_MALFORMED_JSON', 'FRESHET_SCHEMA_VIOLATION', 'FRESHET_INVALID_EVENT_TIME']);
    expect((await log.read('rows.dlq', 0, 0)).batches[0]!.count).toBe(1);
  });
});

describe('session window state', () => {
  it('keeps no timers or sessions once every session is purged, however often sessions were extended', async () => {
    const { SessionWindowOperator } = await import('../../src/runtime/operators/session-window-operator.js');
    const op = new SessionWindowOperator('s', 100, count() as never, 'final', 0);
    // One session extended 10,000 times (each event 10 ms after the previous), then closed.
    for (let i = 0; i < 10_000; i++) op.push({ values: [i], timestamps: [i * 10], keys: ['k'] });
    expect(op.timerCount).toBeGreaterThan(0);
    op.watermark(Number.POSITIVE_INFINITY);
    expect(op.timerCount).toBe(0);
  });
});

describe('offsets and restarts (until checkpoints exist)', () => {
  it('a restarted windowed pipeline re-reads what its open windows held instead of losing it', async () => {
    const clock = new ManualClock(0);
    const log = new MemoryLog(clock);
    await log.createTopic('events', { partitions: 1 });
    await log.append('events', 0, [0, 100, 200].map((ts) => ({ value: Buffer.from(JSON.stringify({ key: 'a', ts })) })));
    const definition = perSecond(60_000);
    const first = await PipelineRunner.start(definition.plan(), { log, clock, commitIntervalMs: 0 });
    await first.step();
    await first.step();
    expect(first.collected('out')).toEqual([]); // the window [0, 1000) is still open
    // The process dies here; a new one starts.
    const second = await PipelineRunner.start(definition.plan(), { log, clock, commitIntervalMs: 0 });
    await second.finish();
    expect(second.collected('out').map((r) => (r.value as { value: number }).value)).toEqual([3]);
    // After a bounded run closed every window, the offsets are committed.
    expect(await log.committedOffsets('freshet.idle')).toEqual([{ topic: 'events', partition: 0, offset: 3 }]);
  });

  it('a stateless pipeline commits as it goes', async () => {
    const clock = new ManualClock(0);
    const log = new MemoryLog(clock);
    await log.createTopic('events', { partitions: 1 });
    await log.append('events', 0, [{ value: Buffer.from('{"i":1}') }, { value: Buffer.from('{"i":2}') }]);
    const definition = pipeline('stateless', (p) => {
      p.source<{ i: number }>('events').map((e) => e.i * 2).collect('out');
    });
    const runner = await PipelineRunner.start(definition.plan(), { log, clock, commitIntervalMs: 0 });
    await runner.step();
    expect(await log.committedOffsets('freshet.stateless')).toEqual([{ topic: 'events', partition: 0, offset: 2 }]);
  });
});
