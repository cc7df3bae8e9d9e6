import { pack } from 'msgpackr';
import type { EventLog, ProducerRecord } from '../../log/log.js';
import type { TopicFormat } from '../../plan/plan.js';
import type { Batch, Edge, Operator } from '../batch.js';

/**
 * Writes values to a log topic. Records are encoded as they arrive and buffered; the runner awaits
 * `flush()` at the batch boundary (one `produce` per flush, so no promise per record), and does not pull
 * more input until it resolves: a slow log slows the pipeline instead of growing the buffer.
 */
export class TopicSinkOperator implements Operator {
  readonly outputs: Edge[] = [];
  private pending: ProducerRecord[] = [];

  constructor(
    readonly name: string,
    readonly topic: string,
    private readonly format: TopicFormat,
  ) {}

  push(batch: Batch): void {
    const { values, timestamps, keys } = batch;
    for (let i = 0; i < values.length; i++) {
      this.pending.push({
        key: keys ? Buffer.from(String(keys[i])) : null,
        value: this.format === 'json' ? Buffer.from(JSON.stringify(values[i])) : pack(values[i]),
        timestampMs: timestamps[i]!,
      });
    }
  }

  watermark(): void {}

  get pendingCount(): number {
    return this.pending.length;
  }

  async flush(log: EventLog): Promise<void> {
    if (this.pending.length === 0) return;
    const records = this.pending;
    this.pending = [];
    try {
      await log.produce(this.topic, records);
    } catch (error) {
      // Keep them for the next flush (the round fails, its offsets are not committed): at-least-once.
      this.pending = records.concat(this.pending);
      throw error;
    }
  }
}
