/**
 * Writes generated events into embedded-log topics, in JSON and/or msgpack (one topic per format, same
 * events, same partitions), optionally also as an NDJSON file (the same JSON bytes, one per line) for
 * the DuckDB oracle. As fast as possible, or paced at a rate of events per second of wall time, with
 * progress on stderr for large runs. Event n goes to partition n % partitions, so each partition is in
 * event-time order.
 *
 * @example
 * ```ts
 * const gen = new NexmarkGenerator();
 * await writeEvents({ log, topic: 'nexmark', formats: ['json', 'msgpack'], partitions: 1, total: 1_000_000,
 *   batches: gen.batches(0, 1_000_000), timeOf: (e) => e.dateTime, ndjsonPath: '/tmp/events.ndjson' });
 * ```
 */
import fs from 'node:fs';
import { pack } from 'msgpackr';
import type { EventLog, ProducerRecord } from '../../src/log/log.js';
import type { TopicFormat } from '../../src/plan/plan.js';

/** Records per append call. */
export const WRITE_CHUNK_EVENTS = 4096;
/** Progress lines at most this often. */
const PROGRESS_INTERVAL_MS = 2_000;
/** NDJSON output is buffered up to this many bytes between writes. */
const NDJSON_BUFFER_BYTES = 1 << 20;

/**
 * The topic holding events of `format`: `<base>` for JSON, `<base>-msgpack` for msgpack.
 *
 * @example
 * ```ts
 * topicFor('nexmark', 'msgpack'); // 'nexmark-msgpack'
 * ```
 */
export function topicFor(base: string, format: TopicFormat): string {
  return format === 'json' ? base : `${base}-msgpack`;
}

/** Options of writeEvents. */
export interface WriteEventsOptions<E> {
  readonly log: EventLog;
  /** Base topic name (see topicFor); topics are created with `partitions` partitions if missing. */
  readonly topic: string;
  readonly formats: readonly TopicFormat[];
  readonly partitions: number;
  /** Number of events `batches` yields (for progress). */
  readonly total: number;
  readonly batches: Iterable<E[]>;
  readonly timeOf: (event: E) => number;
  /** Also write the JSON of every event to this file, one per line. */
  readonly ndjsonPath?: string;
  /** Events per second of wall time; default: as fast as possible. */
  readonly ratePerS?: number;
  /** Label of progress lines; none when undefined. */
  readonly progressLabel?: string;
}

/**
 * Writes every event; returns the JSON bytes written (the encoded size of the events).
 *
 * @example
 * ```ts
 * await writeEvents({ log, topic: 'ysb', formats: ['json'], partitions: 1, total: n, batches: gen.batches(0, n), timeOf: (e) => e.event_time });
 * ```
 */
export async function writeEvents<E>(options: WriteEventsOptions<E>): Promise<{ events: number; jsonBytes: number; msgpackBytes: number }> {
  const { log, formats, partitions, timeOf } = options;
  for (const format of formats) await log.ensureTopic(topicFor(options.topic, format), { partitions, segmentBytes: 512 * 1024 * 1024 });
  const ndjson = options.ndjsonPath ? new NdjsonWriter(options.ndjsonPath) : null;
  const started = performance.now();
  let lastProgress = started;
  let n = 0;
  let jsonBytes = 0;
  let msgpackBytes = 0;
  try {
    for (const batch of options.batches) {
      if (options.ratePerS !== undefined) {
        const dueMs = (n * 1000) / options.ratePerS - (performance.now() - started);
        if (dueMs > 1) await new Promise((r) => setTimeout(r, dueMs));
      }
      const json: ProducerRecord[][] = Array.from({ length: partitions }, () => []);
      const msgpack: ProducerRecord[][] = Array.from({ length: partitions }, () => []);
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i]!;
        const p = (n + i) % partitions;
        const timestampMs = timeOf(e);
        const text = JSON.stringify(e);
        jsonBytes += text.length;
        if (ndjson) ndjson.line(text);
        if (formats.includes('json')) json[p]!.push({ value: Buffer.from(text), timestampMs });
        if (formats.includes('msgpack')) {
          const bytes = pack(e);
          msgpackBytes += bytes.length;
          msgpack[p]!.push({ value: bytes, timestampMs });
        }
      }
      for (let p = 0; p < partitions; p++) {
        if (json[p]!.length > 0) await log.append(topicFor(options.topic, 'json'), p, json[p]!);
        if (msgpack[p]!.length > 0) await log.append(topicFor(options.topic, 'msgpack'), p, msgpack[p]!);
      }
      n += batch.length;
      const now = performance.now();
      if (options.progressLabel !== undefined && now - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = now;
        const rate = Math.round(n / ((now - started) / 1000));
        process.stderr.write(`${options.progressLabel}: ${n.toLocaleString('en')}/${options.total.toLocaleString('en')} events written (${rate.toLocaleString('en')}/s)\n`);
      }
    }
  } finally {
    ndjson?.close();
  }
  return { events: n, jsonBytes, msgpackBytes };
}

/**
 * Appends lines to a file through one buffer.
 *
 * @example
 * ```ts
 * const w = new NdjsonWriter('/tmp/rows.ndjson');
 * w.line(JSON.stringify({ a: 1 }));
 * w.close();
 * ```
 */
export class NdjsonWriter {
  private readonly fd: number;
  private parts: string[] = [];
  private size = 0;

  constructor(path: string) {
    this.fd = fs.openSync(path, 'w');
  }

  line(text: string): void {
    this.parts.push(text);
    this.size += text.length + 1;
    if (this.size >= NDJSON_BUFFER_BYTES) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    fs.writeSync(this.fd, `${this.parts.join('\n')}\n`);
    this.parts = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}
