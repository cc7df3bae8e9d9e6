/**
 * A small pipeline: clicks per user per minute, with revenue, from the `clicks` topic.
 * Run it: `freshet run examples/clicks-per-minute.ts` (after producing some clicks).
 */
import { count, pipeline, sum, tumbling } from '../src/index.js';

interface Click {
  user: string;
  amount: number;
  ts: string;
}

export default pipeline('clicks-per-minute', (p) => {
  const perMinute = p
    .source<Click>('clicks', { eventTime: 'ts', maxOutOfOrderMs: 5_000, idleTimeoutMs: 5_000 })
    .keyBy((c) => c.user)
    .window(tumbling({ sizeMs: 60_000 }), { allowedLatenessMs: 30_000 })
    .aggregate({ clicks: count(), revenue: sum((c: Click) => c.amount) });
  perMinute.toTopic('clicks-per-minute'); // for other pipelines and consumers
  perMinute.toView('clicks-per-minute', { kind: 'timeseries' }); // for dashboards: GET /v1/views/clicks-per-minute/series
});
