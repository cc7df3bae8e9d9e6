/**
 * `freshet/testing`: run a pipeline without any server or files, with chosen timestamps and a fake clock,
 * and read its outputs synchronously (as Kafka Streams' TopologyTestDriver).
 *
 * @example
 * ```ts
 * import { TestDriver } from 'freshet/testing';
 * const driver = await TestDriver.create(myPipeline, { topics: { clicks: { partitions: 1 } } });
 * await driver.send('clicks', { user: 'ann', ts: 1_000 });
 * await driver.send('clicks', { user: 'ann', ts: 61_000 });
 * expect(driver.collected('clicks-per-minute')).toEqual([...]);
 * ```
 */
import { ManualClock } from './core/clock.js';
import { ErrorCodes, FreshetError } from './core/errors.js';
import type { ConsumedRecord, RecordHeader } from './log/log.js';
import { MemoryLog } from './log/memory/memory-log.js';
import { recordsOf } from './log/record-batch.js';
import type { PipelineDefinition } from './dsl/pipeline.js';
import type { Plan } from './plan/plan.js';
import type { CollectedRecord } from './runtime/operators/simple-operators.js';
import { PipelineRunner } from './runtime/pipeline-runner.js';

export { ManualClock } from './core/clock.js';
export { MemoryLog } from './log/memory/memory-log.js';

/** Options of `TestDriver.create`. */
export interface TestDriverOptions {
  /** Source topics to create, with their partition counts. */
  readonly topics: Readonly<Record<string, { readonly partitions: number }>>;
  /** The fake clock's start (ms since the epoch). Default 0. */
  readonly startMs?: number;
}

/** Options of `TestDriver.send`. */
export interface SendOptions {
  /** Partition to append to (default 0). */
  readonly partition?: number;
  /** The record timestamp (used as event time when the source has no eventTime). Default: the fake clock. */
  readonly timestampMs?: number;
  readonly key?: string;
  readonly headers?: readonly RecordHeader[];
  /** Process it right away (default true); false batches several sends into the next `process()`. */
  readonly process?: boolean;
}

/** Drives one pipeline over an in-memory log with a manual clock. */
export class TestDriver {
  private constructor(
    readonly log: MemoryLog,
    readonly clock: ManualClock,
    private readonly runner: PipelineRunner,
  ) {}

  static async create(pipeline: PipelineDefinition | Plan, options: TestDriverOptions): Promise<TestDriver> {
    const clock = new ManualClock(options.startMs ?? 0);
    const log = new MemoryLog(clock);
    for (const [topic, { partitions }] of Object.entries(options.topics)) await log.createTopic(topic, { partitions });
    const plan = 'plan' in pipeline ? pipeline.plan() : pipeline;
    const runner = await PipelineRunner.start(plan, { log, clock, commitIntervalMs: Number.POSITIVE_INFINITY });
    return new TestDriver(log, clock, runner);
  }

  /** Appends JSON values to a topic partition and (by default) processes them. */
  async send(topic: string, values: unknown | readonly unknown[], options: SendOptions = {}): Promise<void> {
    const list = Array.isArray(values) ? values : [values];
    if (list.length === 0) return;
    await this.log.append(
      topic,
      options.partition ?? 0,
      list.map((v) => ({
        key: options.key === undefined ? null : Buffer.from(options.key),
        value: v === null ? null : Buffer.from(JSON.stringify(v)),
        timestampMs: options.timestampMs ?? this.clock.nowMs(),
        ...(options.headers ? { headers: options.headers } : {}),
      })),
    );
    if (options.process ?? true) await this.process();
  }

  /** Processes everything appended so far: one round of reads per call to `step`, until caught up. */
  async process(): Promise<void> {
    await this.runner.runUntilCaughtUp();
  }

  /** One round of reads over every source partition (see PipelineRunner.step). */
  async step(): Promise<number> {
    return this.runner.step();
  }

  /** Moves the fake clock (idle partitions stop holding watermarks back) and re-evaluates watermarks. */
  async advanceClock(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.runner.step();
  }

  /** Ends the input: every window closes (the watermark jumps to the end). */
  async finish(): Promise<void> {
    await this.runner.finish();
  }

  /** Values collected by `collect(sinkName)`, in arrival order. */
  collected<T = unknown>(sinkName: string): T[] {
    return this.runner.collected(sinkName).map((r) => r.value as T);
  }

  /** Collected records with their event time and key. */
  collectedRecords(sinkName: string): readonly CollectedRecord[] {
    return this.runner.collected(sinkName);
  }

  /** JSON values written to a topic (all partitions, in offset order per partition). */
  async topicValues<T = unknown>(topic: string): Promise<T[]> {
    return (await this.topicRecords(topic)).map((r) => (r.value === null ? null : JSON.parse(Buffer.from(r.value).toString()))) as T[];
  }

  /** Raw records of a topic (all partitions). */
  async topicRecords(topic: string): Promise<ConsumedRecord[]> {
    const described = await this.log.describeTopic(topic).catch(() => {
      throw new FreshetError(ErrorCodes.UNKNOWN_TOPIC, `the pipeline wrote nothing to '${topic}'`);
    });
    const out: ConsumedRecord[] = [];
    for (const p of described.partitions) {
      let offset = p.earliestOffset;
      while (offset < p.latestOffset) {
        const r = await this.log.read(topic, p.partition, offset, { maxRecords: 100_000, maxBytes: 1 << 30 });
        out.push(...recordsOf(r.batches));
        offset = r.nextOffset;
      }
    }
    return out;
  }

  /** Current source watermarks by source name. */
  watermarks(): Record<string, number> {
    return this.runner.sourceWatermarks();
  }
}
