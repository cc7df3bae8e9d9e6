import { type Clock, systemClock } from '../core/clock.js';
import { FreshetHeaders } from '../core/headers.js';
import type { EventLog, RecordBatchView, TopicPartitionOffset } from '../log/log.js';
import type { LagSource, PartitionLag } from './pipeline-metrics.js';

const INGEST_HEADER = FreshetHeaders.INGEST_MS;

/**
 * A lag source over an EventLog: for each position (the next offset a pipeline will read), reads one
 * record there. The read answers the partition's end offset (lag in records) and the oldest unconsumed
 * record, whose ingest time (the `freshet.ingest.ms` header, else its timestamp) gives the lag in
 * seconds, as Kafka lag exporters estimate it. It runs only when metrics are scraped.
 *
 * @example
 * ```ts
 * const positions = () => runner.positions(); // [{ topic: 'orders', partition: 0, offset: 1200 }, ...]
 * const remove = metrics.pipeline('revenue').registerLagSource(logLagSource(log, positions, clock));
 * // on stop: remove();
 * ```
 */
export function logLagSource(log: EventLog, positions: () => Iterable<TopicPartitionOffset>, clock: Clock = systemClock): LagSource {
  return async () => {
    const list = [...positions()];
    const lags = await Promise.all(list.map((p) => partitionLag(log, p, clock)));
    return lags;
  };
}

async function partitionLag(log: EventLog, position: TopicPartitionOffset, clock: Clock): Promise<PartitionLag> {
  const { topic, partition, offset } = position;
  const read = await log.read(topic, partition, offset, { maxRecords: 1 });
  const lagRecords = Math.max(0, read.highWatermark - offset);
  const first = read.batches[0];
  if (lagRecords === 0 || first === undefined || first.count === 0) return { topic, partition, lagRecords, lagSeconds: 0 };
  const sinceMs = ingestTimeMs(first, 0);
  return { topic, partition, lagRecords, lagSeconds: Math.max(0, (clock.nowMs() - sinceMs) / 1000) };
}

/** The record's ingest time: its `freshet.ingest.ms` header when present (event time may be far older), else its timestamp. */
function ingestTimeMs(batch: RecordBatchView, index: number): number {
  for (const h of batch.headersAt(index)) {
    if (h.key === INGEST_HEADER) {
      const ms = Number(Buffer.from(h.value.buffer, h.value.byteOffset, h.value.byteLength).toString('latin1'));
      if (Number.isFinite(ms)) return ms;
    }
  }
  return batch.timestampAt(index);
}
