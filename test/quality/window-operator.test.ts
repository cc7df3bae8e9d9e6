import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, FreshetError } from '../../src/core/errors.js';
import { checks } from '../../src/quality/checks.js';
import { QualityDriver } from './quality-harness.js';

const drivers: QualityDriver[] = [];
async function driver(options: Parameters<typeof QualityDriver.create>[0]): Promise<QualityDriver> {
  const d = await QualityDriver.create(options);
  drivers.push(d);
  return d;
}
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

describe('window checks in a pipeline: events and metrics, never dead letters', () => {
  it('volume: a window below the minimum raises an event when the watermark closes it; records all flow on', async () => {
    const d = await driver({ check: checks.volume({ windowMs: 1_000, min: 2 }), name: 'orders-volume', eventTimeField: 'ts' });
    await d.send([{ ts: 100 }, { ts: 200 }, { ts: 1_100 }, { ts: 3_500 }]);
    expect(d.passed()).toHaveLength(4);
    // Watermark 3,500: windows 0 (2 records), 1,000 (1), 2,000 (0) closed.
    expect(d.events.map((e) => [e.check, e.stage, e.rule, e.windowStartMs, e.windowEndMs, e.count, e.message, e.action])).toEqual([
      ['orders-volume', 'source-events', 'volume', 1_000, 2_000, 1, 'count 1 is below the minimum 2', 'dlq'],
      ['orders-volume', 'source-events', 'volume', 2_000, 3_000, 0, 'count 0 is below the minimum 2', 'dlq'],
    ]);
    expect(d.outcomes()).toEqual({ passed: 4, window_passed: 1, window_violated: 2 });
    expect(await d.log.listTopics()).toEqual(['events']);
    await d.finish();
    expect(d.events.map((e) => e.windowStartMs)).toEqual([1_000, 2_000, 3_000]);
  });

  it('completeness: the share of nulls per field per window', async () => {
    const d = await driver({ check: checks.completeness({ windowMs: 1_000, fields: ['region', 'user.id'], maxNullShare: 0.25 }), eventTimeField: 'ts', action: 'warn' });
    await d.send([
      { ts: 0, region: 'eu', user: { id: 1 } },
      { ts: 1, region: null, user: { id: 2 } },
      { ts: 2, region: 'us', user: {} },
      { ts: 3, region: 'us', user: { id: 4 } },
      { ts: 1_000, region: null },
    ]);
    await d.finish();
    expect(d.events.map((e) => [e.windowStartMs, e.rule, e.message])).toEqual([
      [1_000, 'completeness', 'region is missing or null in 100.0% of 1 records (at most 25.0%)'],
      [1_000, 'completeness', 'user.id is missing or null in 100.0% of 1 records (at most 25.0%)'],
    ]);
    expect(d.outcomes()).toMatchObject({ window_passed: 1, window_violated: 1 });
  });

  it('late records (for a window already judged) are counted, and passed on', async () => {
    const d = await driver({ check: checks.volume({ windowMs: 1_000, max: 100 }), eventTimeField: 'ts' });
    await d.send([{ ts: 5_000 }]);
    await d.send([{ ts: 100 }, { ts: 5_100 }]);
    expect(d.passed()).toHaveLength(3);
    // Nothing had closed when 100 came (no window before 5,000 had data): it opened window 0, not late.
    expect(d.outcomes().late).toBeUndefined();
    await d.send([{ ts: 7_000 }]);
    await d.send([{ ts: 200 }]);
    expect(d.outcomes().late).toBe(1);
  });

  it('fail: the first broken window stops the pipeline with a coded error naming check, stage and window', async () => {
    const d = await driver({ check: checks.volume({ windowMs: 1_000, max: 1 }), name: 'burst', eventTimeField: 'ts', action: 'fail' });
    const error = await d.send([{ ts: 0 }, { ts: 1 }, { ts: 2_000 }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FreshetError);
    expect((error as FreshetError).code).toBe(ErrorCodes.QUALITY_CHECK_FAILED);
    expect((error as FreshetError).message).toBe("quality check 'burst' failed at stage 'source-events': window [0, 1000): count 2 is above the maximum 1");
    expect(d.events).toHaveLength(1);
  });
});
