/** The recovery bench's pipeline: keyed count + sum in a one-hour tumbling window (one open window holds every key). */
import { count, sum } from '../../src/dsl/aggregators/index.js';
import { pipeline } from '../../src/dsl/pipeline.js';
import { tumbling } from '../../src/dsl/windows.js';

export default pipeline('bench-recovery', (p) => {
  p.source<{ k: string; v: number; ts: number }>('events', { eventTime: 'ts', maxOutOfOrderMs: 0 })
    .keyBy((e) => e.k)
    .window(tumbling({ sizeMs: 3_600_000 }))
    .aggregate({ n: count(), total: sum((e: { v: number }) => e.v) }, { name: 'per-key' })
    .toTopic('bench-recovery-out');
});
