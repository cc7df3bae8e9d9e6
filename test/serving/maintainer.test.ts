import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { VIEW_REGISTRY_TOPIC, viewTopic, type ViewUpdate } from '../../src/plan/view-update.js';
import { KvView } from '../../src/serving/kv-view.js';
import { ViewMaintainer } from '../../src/serving/maintainer.js';
import { TimeSeriesView } from '../../src/serving/timeseries-view.js';
import { announce, writeUpdates } from './helpers.js';
import { reference, updateArb } from './view.case.js';

describe('ViewMaintainer', () => {
  it('randomised: several maintainers on one log build the same views as the reference, whenever they start', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(updateArb('kv'), { minLength: 1, maxLength: 80 }), fc.integer({ min: 0, max: 80 }), async (updates, split) => {
        const log = new MemoryLog();
        await announce(log, 'v', 'kv', {}, 3);
        const early = await ViewMaintainer.start({ log, pollIntervalMs: 1, maxRecordsPerRead: 7 });
        await writeUpdates(log, 'v', updates.slice(0, split));
        const late = await ViewMaintainer.start({ log, pollIntervalMs: 1 });
        await writeUpdates(log, 'v', updates.slice(split));
        await Promise.all([early.catchUp(), late.catchUp()]);
        const snapshot = (m: ViewMaintainer) => new Map((m.view('v') as KvView).list({ limit: 1000 }).entries.map((e) => [e.key, e.value]));
        expect(snapshot(early)).toEqual(reference('kv', updates));
        expect(snapshot(late)).toEqual(reference('kv', updates));
        expect(early.viewInfo('v')!.freshness.lag).toBe(0);
        await early.close();
        await late.close();
      }),
      { numRuns: 15 },
    );
  });

  it('rebuilds a view whose kind changed, skips undecodable records and ignores invalid announcements', async () => {
    const log = new MemoryLog();
    const errors: string[] = [];
    const m = await ViewMaintainer.start({ log, onError: (_e, context) => errors.push(context) });
    await announce(log, 'v', 'kv');
    const u: ViewUpdate = { key: 'a', value: 1, eventTimeMs: 5, windowStartMs: 0, windowEndMs: 10 };
    await writeUpdates(log, 'v', [u]);
    await log.produce(viewTopic('v'), [{ key: Buffer.from('a'), value: Buffer.from([0xc1, 0xc1]) }]);
    await log.produce(VIEW_REGISTRY_TOPIC, [{ key: Buffer.from('x'), value: Buffer.from('not json') }, { key: Buffer.from('y'), value: Buffer.from('{"name":"y"}') }]);
    await m.catchUp();
    expect(m.view('v')).toBeInstanceOf(KvView);
    const info = m.viewInfo('v')!;
    expect([info.invalidRecords, info.freshness.lag, info.size]).toEqual([1, 0, 1]);
    expect(errors.filter((e) => e === 'registry')).toHaveLength(2);
    expect(m.listViews().map((v) => v.name)).toEqual(['v']);

    await announce(log, 'v', 'timeseries');
    await m.catchUp();
    const ts = m.view('v');
    expect(ts).toBeInstanceOf(TimeSeriesView);
    expect((ts as TimeSeriesView).range('a', 0, 100).points.map((p) => p.value)).toEqual([1]);
    await m.close();
  });

  it('keeps raw events of a topic in DuckDB (raw."<topic>"), once each', async () => {
    const log = new MemoryLog();
    await log.createTopic('clicks', { partitions: 2 });
    const m = await ViewMaintainer.start({ log, rawTopics: ['clicks'] });
    await log.produce('clicks', [
      { key: Buffer.from('ann'), value: Buffer.from('{"page":"/a"}'), timestampMs: 1_000 },
      { key: Buffer.from('bob'), value: Buffer.from('{"page":"/b"}'), timestampMs: 2_000 },
      { key: null, value: Buffer.from('not json'), timestampMs: 3_000 },
    ]);
    await m.catchUp();
    await log.produce('clicks', [{ key: Buffer.from('ann'), value: Buffer.from('{"page":"/c"}'), timestampMs: 4_000 }]);
    await m.catchUp();
    const r = await m.sql!.query(`SELECT key, value->>'page' AS page, epoch_ms(timestamp) AS ts FROM raw.clicks ORDER BY ts`);
    expect(r.rows).toEqual([
      ['ann', '/a', 1000],
      ['bob', '/b', 2000],
      [null, null, 3000],
      ['ann', '/c', 4000],
    ]);
    await m.close();
  });
});
