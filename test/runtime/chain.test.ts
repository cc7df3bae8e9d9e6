import { describe, expect, it } from 'vitest';
import { count } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';
import { TestDriver } from '../../src/testing.js';

describe('fused stateless chains', () => {
  it('keys records when keyBy is fused after filter/map/flatMap', async () => {
    const definition = pipeline('chain', (p) => {
      p.source<{ user: string; n: number; ts: number }>('events', { eventTime: 'ts' })
        .filter((e) => e.n > 0)
        .map((e) => ({ ...e, user: e.user.toUpperCase() }))
        .flatMap((e) => [e, e])
        .keyBy((e) => e.user)
        .window(tumbling({ sizeMs: 1000 }))
        .aggregate(count())
        .collect('out');
    });
    const driver = await TestDriver.create(definition, { topics: { events: { partitions: 1 } } });
    await driver.send('events', [
      { user: 'ann', n: 1, ts: 10 },
      { user: 'bob', n: 0, ts: 20 },
      { user: 'ann', n: 2, ts: 30 },
      { user: 'cy', n: 5, ts: 40 },
    ]);
    await driver.finish();
    expect(driver.collected<{ key: string; value: number }>('out').map((r) => `${r.key}=${r.value}`)).toEqual(['ANN=4', 'CY=2']);
  });
});
