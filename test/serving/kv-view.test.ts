import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { ViewUpdate } from '../../src/plan/view-update.js';
import { KvView } from '../../src/serving/kv-view.js';
import { ChangeFeed } from '../../src/serving/view.js';
import { definition, runViewContract } from './view.case.js';

runViewContract({
  kind: 'kv',
  create: async (def, clock) => new KvView(def, clock),
  snapshot: async (view) => {
    const kv = view as KvView;
    const out = new Map<string, unknown>();
    for (const e of kv.list({ limit: 10_000 }).entries) out.set(e.key, e.value);
    return out;
  },
});

const put = (key: string, value: unknown, windowStartMs?: number): ViewUpdate => ({
  key,
  value,
  eventTimeMs: 0,
  ...(windowStartMs !== undefined && { windowStartMs, windowEndMs: windowStartMs + 10 }),
});

describe('KvView reads', () => {
  it('multi-get answers in key order with null for missing keys, and bounds the key count', async () => {
    const view = new KvView(definition('kv'), new ManualClock(0));
    await view.apply({ partition: 0, offsets: [0, 1], updates: [put('a', 1), put('b', 2)] });
    expect(view.getMany(['b', 'x', 'a']).map((e) => e?.value ?? null)).toEqual([2, null, 1]);
    expect(() => view.getMany(Array.from({ length: 1001 }, (_, i) => String(i)))).toThrow(/at most 1000 keys/);
  });

  it('a late update of an older window does not replace the newest window', async () => {
    const view = new KvView(definition('kv'), new ManualClock(0));
    await view.apply({ partition: 0, offsets: [0, 1, 2], updates: [put('a', 'w2', 20), put('a', 'w1-late', 10), put('a', 'w2-again', 20)] });
    expect(view.get('a')).toMatchObject({ value: 'w2-again', windowStartMs: 20 });
  });

  it('randomised: prefix listing with paging equals filtering the sorted keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/', 'é'), maxLength: 5 }), { maxLength: 80 }),
        fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 2 }),
        fc.integer({ min: 1, max: 10 }),
        async (keys, prefix, limit) => {
          const view = new KvView(definition('kv'), new ManualClock(0));
          await view.apply({ partition: 0, offsets: keys.map((_, i) => i), updates: keys.map((k) => put(k, k.length)) });
          const expected = [...keys].filter((k) => k.startsWith(prefix)).sort();
          const got: string[] = [];
          let after: string | undefined;
          for (let page = 0; page < 100; page++) {
            const r = view.list({ prefix, limit, ...(after !== undefined && { after }) });
            got.push(...r.entries.map((e) => e.key));
            if (!r.truncated) break;
            after = r.entries.at(-1)!.key;
          }
          expect(got).toEqual(expected);
        },
      ),
    );
  });

  it('randomised: top-N by a field equals sorting all entries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.string({ maxLength: 3 }), score: fc.option(fc.integer({ min: -50, max: 50 })) }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom('asc' as const, 'desc' as const),
        async (rows, n, order) => {
          const view = new KvView(definition('kv'), new ManualClock(0));
          await view.apply({ partition: 0, offsets: rows.map((_, i) => i), updates: rows.map((r) => put(r.key, { stats: { score: r.score } })) });
          const latest = new Map<string, number | null>();
          for (const r of rows) latest.set(r.key, r.score);
          const sign = order === 'asc' ? -1 : 1;
          const expected = [...latest.entries()]
            .filter((e): e is [string, number] => typeof e[1] === 'number')
            .sort((a, b) => sign * (b[1] - a[1]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
            .slice(0, n)
            .map((e) => e[0]);
          expect(view.top({ field: 'stats.score', n, order }).map((e) => e.key)).toEqual(expected);
        },
      ),
    );
  });
});

describe('ChangeFeed', () => {
  it('keeps the last `capacity` changes; an older resume point answers null', () => {
    const feed = new ChangeFeed(3);
    const u = (k: string): ViewUpdate => ({ key: k, value: 1, eventTimeMs: 0 });
    feed.publish(0, [0, 1, 2, 3, 4], ['a', 'b', 'c', 'd', 'e'].map(u), 0, 5);
    expect(feed.lastSeq).toBe(5);
    expect(feed.since(2)!.map((c) => c.update.key)).toEqual(['c', 'd', 'e']);
    expect(feed.since(1)).toBeNull();
    expect(feed.since(5)).toEqual([]);
  });
});
