import type { ConsumedRecord, RecordBatchView, RecordHeader } from './log.js';

const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

/**
 * A RecordBatchView over records already decoded into objects: what the in-memory log and
 * client-library-backed logs (Kafka) return.
 */
export class ArrayRecordBatch implements RecordBatchView {
  readonly count: number;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly records: readonly ConsumedRecord[],
  ) {
    this.count = records.length;
  }

  offsetAt(index: number): number {
    return this.records[index]!.offset;
  }
  timestampAt(index: number): number {
    return this.records[index]!.timestampMs;
  }
  keyAt(index: number): Uint8Array | null {
    return this.records[index]!.key;
  }
  valueAt(index: number): Uint8Array | null {
    return this.records[index]!.value;
  }
  headersAt(index: number): readonly RecordHeader[] {
    return this.records[index]!.headers;
  }
  recordAt(index: number): ConsumedRecord {
    return this.records[index]!;
  }
}

/** Builds the plain record at `index` of a view from its accessors (views that store bytes use this). */
export function recordFromView(view: RecordBatchView, index: number): ConsumedRecord {
  return {
    topic: view.topic,
    partition: view.partition,
    offset: view.offsetAt(index),
    timestampMs: view.timestampAt(index),
    key: view.keyAt(index),
    value: view.valueAt(index),
    headers: view.headersAt(index),
  };
}

/** Flattens read batches into record objects (for tools and tests; hot paths use the views directly). */
export function recordsOf(batches: readonly RecordBatchView[]): ConsumedRecord[] {
  const out: ConsumedRecord[] = [];
  for (const batch of batches) for (let i = 0; i < batch.count; i++) out.push(batch.recordAt(i));
  return out;
}

export { NO_HEADERS };
