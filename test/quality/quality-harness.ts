/**
 * Runs one QualityOperator behind a real source over a real embedded log: records are appended to a
 * topic, read back, decoded by the runtime's own source decoder, pushed through the check, and the dead
 * letters flushed to the log, as the pipeline runner does. `origins: true` also attaches each record's
 * origin (its read batch view and index), as the proposed Batch field would.
 */
import { ManualClock } from '../../src/core/clock.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { EventLog, ProducerRecord, RecordBatchView } from '../../src/log/log.js';
import type { SourceNode, TopicFormat } from '../../src/plan/plan.js';
import type { QualityAction, QualityCheck, QualityEvent, QualityOutcome } from '../../src/plan/quality-check.js';
import { deadLetterTopic, readDeadLetter, type StoredDeadLetter } from '../../src/quality/dead-letter.js';
import type { Batch } from '../../src/runtime/batch.js';
import { QualityOperator, type BatchWithOrigins } from '../../src/runtime/operators/quality-operator.js';
import { CollectSinkOperator, type CollectedRecord } from '../../src/runtime/operators/simple-operators.js';
import { SourceOperator } from '../../src/runtime/operators/source-operator.js';
import { DeadLetterBuffer, decodeSourceBatches } from '../../src/runtime/source-decoder.js';
import { TempDirs } from '../helpers/temp-dir.js';

export interface DriverOptions {
  readonly check: QualityCheck;
  readonly action?: QualityAction;
  readonly name?: string;
  readonly topic?: string;
  readonly partitions?: number;
  readonly format?: TopicFormat;
  /** Event time from this field (ms); default the record timestamp. */
  readonly eventTimeField?: string;
  readonly maxOutOfOrderMs?: number;
  readonly origins?: boolean;
  readonly startMs?: number;
  /** null: the check has no single source topic (dead letters to `<pipeline>.<check>.dlq`). */
  readonly sourceTopic?: string | null;
  /** Use this log directory (kept on close) instead of a temp one; the topic may already exist. */
  readonly dataDir?: string;
}

export class QualityDriver {
  readonly metrics: { check: string; stage: string; outcome: QualityOutcome; count: number }[] = [];
  readonly events: QualityEvent[] = [];
  readonly collected: CollectedRecord[] = [];
  readonly clock: ManualClock;
  readonly operator: QualityOperator;
  private readonly source: SourceOperator;
  private readonly offsets: number[];
  private readonly buffer = new DeadLetterBuffer();

  private constructor(
    readonly log: EventLog,
    private readonly dirs: TempDirs,
    readonly node: SourceNode,
    options: DriverOptions,
  ) {
    this.clock = new ManualClock(options.startMs ?? 1_000_000);
    const partitions = options.partitions ?? 1;
    this.offsets = new Array<number>(partitions).fill(0);
    this.source = new SourceOperator(node, partitions, this.clock.nowMs());
    this.operator = new QualityOperator(options.name ?? 'check', options.check, options.action ?? 'dlq', {
      pipeline: 'test-pipeline',
      stage: node.name,
      deadLetter: this.buffer.add,
      sourceTopic: options.sourceTopic === undefined ? node.topic : options.sourceTopic,
      sourceFormat: node.format,
      clock: this.clock,
      metrics: (check, stage, outcome, count) => this.metrics.push({ check, stage, outcome, count }),
      onEvent: (e) => this.events.push(e),
    });
    const sink = new CollectSinkOperator('sink', this.collected);
    this.source.outputs.push({ operator: this.operator, input: 0 });
    this.operator.outputs.push({ operator: sink, input: 0 });
    this.withOrigins = options.origins ?? false;
  }

  private readonly withOrigins: boolean;

  static async create(options: DriverOptions): Promise<QualityDriver> {
    const dirs = new TempDirs();
    const log = await EmbeddedLog.open({ dataDir: options.dataDir ?? dirs.make('freshet-quality-'), fsync: 'never', retentionCheckIntervalMs: 0 });
    const topic = options.topic ?? 'events';
    await log.ensureTopic(topic, { partitions: options.partitions ?? 1 });
    const field = options.eventTimeField;
    const node: SourceNode = {
      kind: 'source',
      name: `source-${topic}`,
      topic,
      role: 'stream',
      tableKey: null,
      format: options.format ?? 'json',
      validate: null,
      eventTime: field === undefined ? null : (v) => (v as Record<string, number>)[field]!,
      maxOutOfOrderMs: options.maxOutOfOrderMs ?? 0,
      idleTimeoutMs: 3_600_000,
    };
    return new QualityDriver(log, dirs, node, options);
  }

  /** Appends raw records to a partition and processes them. */
  async sendRecords(records: readonly ProducerRecord[], partition = 0): Promise<void> {
    await this.log.append(this.node.topic, partition, records);
    await this.process();
  }

  /** Appends JSON values (timestamp = the clock, unless `timestampMs`) and processes them. */
  async send(values: readonly unknown[], options: { partition?: number; timestampMs?: number } = {}): Promise<void> {
    await this.sendRecords(
      values.map((v) => ({ value: Buffer.from(JSON.stringify(v)), timestampMs: options.timestampMs ?? this.clock.nowMs() })),
      options.partition ?? 0,
    );
  }

  /** Reads what is new in every partition, pushes it through, advances the watermark, flushes dead letters. */
  async process(): Promise<void> {
    for (let p = 0; p < this.offsets.length; p++) {
      const { batches, nextOffset } = await this.log.read(this.node.topic, p, this.offsets[p]!);
      if (batches.length === 0) continue;
      this.offsets[p] = nextOffset;
      this.source.pushPartition(p, this.decode(p, batches), this.clock.nowMs());
    }
    this.source.updateWatermark(this.clock.nowMs());
    await this.buffer.flush(this.log);
  }

  /** Closes everything (a bounded run's end). */
  async finish(): Promise<void> {
    this.source.finish();
    await this.buffer.flush(this.log);
  }

  private decode(partition: number, batches: readonly RecordBatchView[]): Batch {
    if (!this.withOrigins) return decodeSourceBatches(this.node, partition, batches, this.buffer.add);
    // As the proposed decoder change would: remember which record of which view each value came from.
    const rejected = new Set<number>();
    const batch = decodeSourceBatches(this.node, partition, batches, (topic, record) => {
      rejected.add(Number(Buffer.from(record.headers!.find((h) => h.key === 'freshet.dlq.offset')!.value).toString()));
      this.buffer.add(topic, record);
    });
    const views: RecordBatchView[] = [];
    const indexes: number[] = [];
    for (const view of batches) {
      for (let i = 0; i < view.count; i++) {
        if (rejected.has(view.offsetAt(i))) continue;
        views.push(view);
        indexes.push(i);
      }
    }
    const withOrigins: BatchWithOrigins = { ...batch, origins: { views, indexes } };
    return withOrigins;
  }

  /** Every record of a dead-letter topic (default: the source topic's). */
  async deadLetters(topic = deadLetterTopic(this.node.topic)): Promise<StoredDeadLetter[]> {
    if (!(await this.log.listTopics()).includes(topic)) return [];
    const out: StoredDeadLetter[] = [];
    const d = await this.log.describeTopic(topic);
    for (const p of d.partitions) {
      let offset = p.earliestOffset;
      for (;;) {
        const { batches, nextOffset } = await this.log.read(topic, p.partition, offset);
        if (batches.length === 0) break;
        for (const b of batches) for (let i = 0; i < b.count; i++) out.push(readDeadLetter(b.recordAt(i)));
        offset = nextOffset;
      }
    }
    return out;
  }

  /** Values that passed the check. */
  passed<T = unknown>(): T[] {
    return this.collected.map((r) => r.value as T);
  }

  /** Sum of metric counts per outcome. */
  outcomes(): Partial<Record<QualityOutcome, number>> {
    const out: Partial<Record<QualityOutcome, number>> = {};
    for (const m of this.metrics) out[m.outcome] = (out[m.outcome] ?? 0) + m.count;
    return out;
  }

  async close(): Promise<void> {
    await this.log.close();
    this.dirs.cleanup();
  }
}

/** The UTF-8 text of bytes. */
export function text(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : Buffer.from(bytes).toString('utf8');
}
