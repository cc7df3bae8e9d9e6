/**
 * A producer process for latency runs: appends generated events to an embedded log at a fixed rate,
 * with event time = the wall clock (event n happens at `baseTimeMs + floor(n * 1000 / rate)` and is
 * appended as soon as that time has come, checking every PRODUCER_LINGER_MS). It runs in its own process,
 * as producers do, so the engine under test (a read-only follower of the same log directory) keeps its
 * thread to itself.
 *
 * Protocol (one JSON object per line): the process writes the topics (and, for YSB, the ads table), prints
 * `{"ready":true}`, reads one line `{"baseTimeMs":...}` from stdin, produces until base + seconds, then
 * prints `{"produced":N}` and exits.
 *
 * @example
 * ```sh
 * node --import tsx bench/generators/live-producer.ts '{"suite":"nexmark","dataDir":"/tmp/live","topic":"live","ratePerS":100000,"seconds":15,"seed":1}'
 * ```
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { ProducerRecord } from '../../src/log/log.js';
import { WRITE_CHUNK_EVENTS } from './log-writer.js';
import { NexmarkGenerator } from './nexmark.js';
import { YsbGenerator } from './ysb.js';

/** The producer appends what is due at most this often (as a Kafka producer's linger). */
export const PRODUCER_LINGER_MS = 1;
/** The YSB ads table's topic (the query reads it as a table). */
const YSB_ADS_TOPIC = 'ysb-ads';

/** What the producer process is told (as JSON on its command line). */
export interface LiveProducerOptions {
  readonly suite: 'nexmark' | 'ysb';
  readonly dataDir: string;
  readonly topic: string;
  readonly ratePerS: number;
  readonly seconds: number;
  readonly seed: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * Creates the topics, then produces from `baseTimeMs` (given by `start`) for `seconds`; returns the events produced.
 *
 * @example
 * ```ts
 * const produced = await produceLive(options, async () => Date.now() + 100);
 * ```
 */
export async function produceLive(options: LiveProducerOptions, start: () => Promise<number>): Promise<number> {
  const log = await EmbeddedLog.open({ dataDir: options.dataDir, fsync: 'never', retentionCheckIntervalMs: 0 });
  try {
    await log.createTopic(options.topic, { partitions: 1 });
    if (options.suite === 'ysb') {
      await log.createTopic(YSB_ADS_TOPIC, { partitions: 1 });
      const ads = new YsbGenerator({ seed: options.seed }).ads();
      await log.append(YSB_ADS_TOPIC, 0, ads.map((ad) => ({ key: Buffer.from(ad.ad_id), value: Buffer.from(JSON.stringify(ad)), timestampMs: 0 })));
    }
    const baseTimeMs = await start();
    let event: (n: number) => ProducerRecord;
    if (options.suite === 'nexmark') {
      const gen = new NexmarkGenerator({ seed: options.seed, eventsPerSecond: options.ratePerS, baseTimeMs });
      event = (n) => {
        const e = gen.event(n);
        return { value: Buffer.from(JSON.stringify(e)), timestampMs: e.dateTime };
      };
    } else {
      const gen = new YsbGenerator({ seed: options.seed, eventsPerSecond: options.ratePerS, baseTimeMs });
      event = (n) => {
        const e = gen.event(n);
        return { value: Buffer.from(JSON.stringify(e)), timestampMs: e.event_time };
      };
    }
    const endMs = baseTimeMs + options.seconds * 1000;
    let produced = 0;
    while (wallNow() < baseTimeMs) await sleep(1);
    for (let now = wallNow(); now < endMs; now = wallNow()) {
      // Everything whose event time has come is due.
      const due = Math.floor(((now - baseTimeMs) * options.ratePerS) / 1000) + 1;
      while (produced < due) {
        const end = Math.min(due, produced + WRITE_CHUNK_EVENTS);
        const records: ProducerRecord[] = new Array(end - produced);
        for (let n = produced; n < end; n++) records[n - produced] = event(n);
        await log.append(options.topic, 0, records);
        produced = end;
      }
      await sleep(PRODUCER_LINGER_MS);
    }
    return produced;
  } finally {
    await log.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as LiveProducerOptions;
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const produced = await produceLive(options, async () => {
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    const line = await lines.next();
    if (line.done) throw new Error('live producer: stdin closed before the start line');
    return (JSON.parse(line.value) as { baseTimeMs: number }).baseTimeMs;
  });
  process.stdout.write(`${JSON.stringify({ produced })}\n`);
  process.exit(0);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
