/**
 * Type-level tests of the DSL (checked by `npm run typecheck`, which CI runs): what users write must infer
 * the right types, and mistakes must not compile (`@ts-expect-error` fails the build if they do).
 */
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { approxDistinct, avg, count, max, sum, topK } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import type { Stream, WindowResult } from '../../src/dsl/stream.js';
import { hopping, session, tumbling } from '../../src/dsl/windows.js';

interface Order {
  id: string;
  customer: string;
  amount: number;
  ts: number;
}

describe('DSL types', () => {
  it('infers values through filter, map, keyBy, windows and aggregations', () => {
    pipeline('types', (p) => {
      const orders = p.source<Order>('orders', { eventTime: 'ts' });
      expectTypeOf(orders).toEqualTypeOf<Stream<Order>>();
      const big = orders.filter((o) => o.amount > 100).map((o) => ({ who: o.customer, cents: o.amount * 100 }));
      expectTypeOf(big).toEqualTypeOf<Stream<{ who: string; cents: number }>>();
      const perCustomer = orders
        .keyBy((o) => o.customer)
        .window(tumbling({ sizeMs: 60_000 }))
        .aggregate({ n: count(), total: sum((o: Order) => o.amount), biggest: max((o: Order) => o.amount), mean: avg((o: Order) => o.amount) });
      expectTypeOf(perCustomer).toMatchTypeOf<Stream<WindowResult<string, { n: number; total: number; biggest: number | null; mean: number | null }>>>();
      const distinct = orders
        .keyBy((o) => o.customer)
        .window(hopping({ sizeMs: 10_000, advanceMs: 2_000 }))
        .aggregate(approxDistinct((o: Order) => o.id));
      expectTypeOf(distinct).toMatchTypeOf<Stream<WindowResult<string, number>>>();
      perCustomer.lateRecords().map((late) => expectTypeOf(late).toEqualTypeOf<Order>());
      orders
        .keyBy((o) => o.customer)
        .window(session({ gapMs: 1_000 }))
        .aggregate(topK((o: Order) => o.id, 3))
        .toTopic('top');
    });
  });

  it('types a source from a Standard Schema (zod)', () => {
    const Click = z.object({ user: z.string(), at: z.number() });
    pipeline('schema', (p) => {
      const clicks = p.source('clicks', { schema: Click, eventTime: 'at' });
      expectTypeOf(clicks).toEqualTypeOf<Stream<{ user: string; at: number }>>();
      clicks.collect('out');
    });
  });

  it('types joins with tables and interval joins', () => {
    pipeline('joins', (p) => {
      const orders = p.source<Order>('orders', { eventTime: 'ts' });
      const customers = p.table<{ id: string; tier: 'gold' | 'basic' }>('customers', { key: (c) => c.id });
      const enriched = orders.join(customers, { key: (o) => o.customer }, (o, c) => ({ ...o, tier: c.tier }));
      expectTypeOf(enriched).toEqualTypeOf<Stream<{ tier: 'gold' | 'basic'; id: string; customer: string; amount: number; ts: number }>>();
      orders.leftJoin(customers, { key: (o) => o.customer }, (o, c) => expectTypeOf(c).toEqualTypeOf<{ id: string; tier: 'gold' | 'basic' } | null>());
      const payments = p.source<{ orderId: string; ts: number }>('payments', { eventTime: 'ts' }).keyBy((x) => x.orderId);
      const paid = orders.keyBy((o) => o.id).intervalJoin(payments, { beforeMs: 0, afterMs: 60_000 }, (o, pay) => ({ id: o.id, paidAt: pay.ts }));
      expectTypeOf(paid).toMatchTypeOf<Stream<{ id: string; paidAt: number }>>();
      paid.collect('paid');
    });
  });

  it('rejects mistakes at compile time', () => {
    pipeline('mistakes', (p) => {
      const orders = p.source<Order>('orders', { eventTime: 'ts' });
      // @ts-expect-error: eventTime must name a field of the value
      p.source<Order>('orders2', { eventTime: 'nope' });
      // @ts-expect-error: keys are strings or numbers
      orders.keyBy((o) => ({ c: o.customer }));
      // @ts-expect-error: only keyed streams have windows
      orders.window(tumbling({ sizeMs: 1_000 }));
      // @ts-expect-error: the aggregator's input must be the stream's values
      orders.keyBy((o) => o.id).window(tumbling({ sizeMs: 1_000 })).aggregate(sum((x: { other: number }) => x.other));
      // @ts-expect-error: a filter takes a predicate over the values
      orders.filter((o: { missing: boolean }) => o.missing);
      orders.collect('out');
    });
  });
});
