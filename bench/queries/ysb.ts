/**
 * The Yahoo Streaming Benchmark query in Freshet's DSL: keep views, project, join ad → campaign through
 * the `ysb-ads` table, count views per campaign in 10 s tumbling windows `[start, end)` of event time
 * (`event_time`). Events are in order, so no lateness is needed and the counts are exact (the oracle,
 * bench/oracle/ysb-sql.ts, checks them). The table's rows carry timestamp 0, so every event meets them.
 *
 * @example
 * ```ts
 * pipeline('ysb', (p) => YSB_QUERY.build(p, ctx).collect('out'));
 * ```
 */
import { count } from '../../src/dsl/aggregators/index.js';
import { tumbling } from '../../src/dsl/windows.js';
import type { YsbAd, YsbEvent } from '../generators/ysb.js';
import type { BenchQuery } from './types.js';

/** The ads table's topic: ad_id → campaign_id. */
export const YSB_ADS_TOPIC = 'ysb-ads';
/** The tumbling window's size. */
export const YSB_WINDOW_MS = 10_000;

interface YsbOut {
  campaign_id: string;
  window_start: number;
  views: number;
}

/** The YSB query (see the module comment). */
export const YSB_QUERY: BenchQuery<YsbOut> = {
  name: 'ysb',
  suite: 'ysb',
  description: 'views per campaign per 10 s tumbling window (filter, project, table join, window count)',
  build(p, ctx) {
    const ads = p.table<YsbAd>(YSB_ADS_TOPIC, { key: (a) => a.ad_id });
    return p
      .source<YsbEvent>(ctx.topic, { eventTime: 'event_time', format: ctx.format, maxOutOfOrderMs: 0 })
      .filter((e) => e.event_type === 'view')
      .map((e) => ({ ad_id: e.ad_id, event_time: e.event_time }))
      .join(ads, { key: (e) => e.ad_id }, (e, ad) => ({ campaign_id: ad.campaign_id, event_time: e.event_time }))
      .keyBy((e) => e.campaign_id)
      .window(tumbling({ sizeMs: YSB_WINDOW_MS }))
      .aggregate(count())
      .map((r) => ({ campaign_id: r.key, window_start: r.windowStartMs, views: r.value }));
  },
  toRow: (o) => ({ campaign_id: o.campaign_id, window_start: o.window_start, views: o.views }),
  checksum: (o) => o.views,
  latencyTimeOf: (o) => o.window_start + YSB_WINDOW_MS - 1,
  resultPeriodMs: YSB_WINDOW_MS,
};
