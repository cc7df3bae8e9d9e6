/**
 * Feeds the shop's generator into a log at a steady rate: the demo's stand-in for the shop's web
 * servers. Every `tickMs` it appends the events due by now, as HTTP ingest would store them (record key,
 * JSON bytes, the `freshet.ingest.ms` header for end-to-end latency).
 */
import { type Clock, type EventLog, FreshetHeaders, type ProducerRecord, systemClock } from '../../src/index.js';
import { type GeneratedRecord, ShopGenerator, ShopTopics, STREAM_TOPICS } from './generator.js';

/** Options of `ShopProducer.start`. */
export interface ShopProducerOptions {
  readonly log: EventLog;
  /** Stream events per second. Default 200. */
  readonly ratePerS?: number;
  /** The generator's seed. Default 42. */
  readonly seed?: number;
  readonly clock?: Clock;
  /** Time between appends. Default 100 ms. */
  readonly tickMs?: number;
  /** Partitions of the stream topics (created if missing). Default 2. */
  readonly partitions?: number;
  /** Retention of the stream topics, so a demo left running does not fill the disk. Default 1 h. */
  readonly retentionMs?: number;
}

/** Default retention of the demo's topics. */
export const DEMO_RETENTION_MS = 60 * 60_000;
/** Table rows are stamped this far in the past, so that late events still find their product. */
export const TABLE_BACKDATE_MS = 24 * 60 * 60_000;
/** Records per append, at most (well under the log's batch bound). */
const MAX_RECORDS_PER_APPEND = 10_000;

/**
 * Runs a ShopGenerator against a log until stopped.
 *
 * @example
 * ```ts
 * const producer = await ShopProducer.start({ log, ratePerS: 500 });
 * // ... later
 * await producer.stop();
 * console.log(producer.produced, 'events');
 * ```
 */
export class ShopProducer {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private count = 0;
  private failure: unknown = null;

  private constructor(
    private readonly log: EventLog,
    readonly generator: ShopGenerator,
    private readonly clock: Clock,
    private readonly tickMs: number,
  ) {}

  /** Creates the topics, writes the product and customer tables (once per log), and starts appending. */
  static async start(options: ShopProducerOptions): Promise<ShopProducer> {
    const clock = options.clock ?? systemClock;
    const { log } = options;
    const retentionMs = options.retentionMs ?? DEMO_RETENTION_MS;
    const partitions = options.partitions ?? 2;
    for (const topic of STREAM_TOPICS) await log.ensureTopic(topic, { partitions, retentionMs });
    const generator = new ShopGenerator({ seed: options.seed ?? 42, startMs: clock.nowMs(), ...(options.ratePerS !== undefined && { ratePerS: options.ratePerS }) });
    // Tables are compacted by nature (latest per key): written once, kept without retention.
    for (const topic of [ShopTopics.products, ShopTopics.customers]) {
      await log.ensureTopic(topic, { partitions: 1 });
      if ((await log.latestOffset(topic, 0)) === 0) {
        const rows = generator.tables().filter((r) => r.topic === topic);
        await append(log, topic, rows, clock.nowMs() - TABLE_BACKDATE_MS, clock.nowMs());
      }
    }
    const producer = new ShopProducer(log, generator, clock, options.tickMs ?? 100);
    producer.timer = setInterval(() => producer.tick(), producer.tickMs);
    return producer;
  }

  /** Events appended so far. */
  get produced(): number {
    return this.count;
  }

  /** Stops appending and waits for the append in flight. Rejects with the first append failure, if any. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
    if (this.failure !== null) throw this.failure;
  }

  private tick(): void {
    // One append at a time: a slow disk delays ticks instead of piling them up.
    const next = this.inFlight.then(async () => {
      if (this.timer === null || this.failure !== null) return;
      const nowMs = this.clock.nowMs();
      const records = this.generator.generate(nowMs);
      const byTopic = new Map<string, GeneratedRecord[]>();
      for (const r of records) {
        let list = byTopic.get(r.topic);
        if (list === undefined) byTopic.set(r.topic, (list = []));
        list.push(r);
      }
      try {
        for (const [topic, list] of byTopic) await append(this.log, topic, list, nowMs, nowMs);
        this.count += records.length;
      } catch (error) {
        // The log closed or failed: stop ticking; stop() reports it.
        this.failure = error;
        if (this.timer !== null) clearInterval(this.timer);
      }
    });
    this.inFlight = next;
  }
}

async function append(log: EventLog, topic: string, rows: readonly GeneratedRecord[], timestampMs: number, ingestMs: number): Promise<void> {
  const headers = [{ key: FreshetHeaders.INGEST_MS, value: Buffer.from(String(ingestMs)) }];
  for (let i = 0; i < rows.length; i += MAX_RECORDS_PER_APPEND) {
    const records: ProducerRecord[] = rows.slice(i, i + MAX_RECORDS_PER_APPEND).map((r) => ({ key: Buffer.from(r.key), value: r.value, timestampMs, headers }));
    await log.produce(topic, records);
  }
}
