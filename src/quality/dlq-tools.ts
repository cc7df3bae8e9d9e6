/**
 * Reading dead-letter topics: the summaries of `freshet dlq list` and the records of `freshet dlq show`.
 * Works on any EventLog (a read-only embedded log in the CLI, so it runs next to a live pipeline).
 */
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { FreshetHeaders } from '../core/headers.js';
import type { EventLog } from '../log/log.js';
import { deadLetterTopic, isDeadLetterTopic, readDeadLetter, type StoredDeadLetter } from './dead-letter.js';
import { QualityLimits } from './limits.js';
import { replayProgress } from './replay.js';

/**
 * One dead-letter topic as `freshet dlq list` shows it.
 *
 * @example
 * ```ts
 * const [orders] = await listDeadLetterTopics(log);
 * console.log(orders.topic, orders.records, orders.pending, orders.topReasons[0]?.reason);
 * ```
 */
export interface DeadLetterTopicSummary {
  /** The dead-letter topic (`orders.dlq`). */
  readonly topic: string;
  /** Records it holds now (retention may have deleted older ones). */
  readonly records: number;
  /** Records `freshet dlq replay` has not handled yet (replayed or dropped by a fix). */
  readonly pending: number;
  /** The most frequent reasons among the `scanned` newest records, most frequent first. */
  readonly topReasons: readonly { readonly reason: string; readonly count: number }[];
  /** Records per check or stage among the scanned (`check` when the record has one, else `stage`). */
  readonly bySource: readonly { readonly name: string; readonly count: number }[];
  readonly scanned: number;
}

/**
 * Summarises every dead-letter topic (`*.dlq`), sorted by name. Reasons are counted over at most
 * `scanRecords` of the newest records of each topic (spread over its partitions).
 *
 * @example
 * ```ts
 * for (const s of await listDeadLetterTopics(log)) console.log(`${s.topic}: ${s.records}`);
 * ```
 */
export async function listDeadLetterTopics(log: EventLog, options: { scanRecords?: number; topReasons?: number } = {}): Promise<DeadLetterTopicSummary[]> {
  const scanRecords = options.scanRecords ?? QualityLimits.listScanRecords;
  const top = options.topReasons ?? QualityLimits.listTopReasons;
  const topics = (await log.listTopics()).filter(isDeadLetterTopic).sort();
  const out: DeadLetterTopicSummary[] = [];
  for (const topic of topics) {
    const description = await log.describeTopic(topic);
    let records = 0;
    for (const p of description.partitions) records += p.latestOffset - p.earliestOffset;
    const reasons = new Map<string, number>();
    const sources = new Map<string, number>();
    let scanned = 0;
    const perPartition = Math.max(1, Math.floor(scanRecords / description.partitions.length));
    for (const p of description.partitions) {
      let offset = Math.max(p.earliestOffset, p.latestOffset - perPartition);
      while (offset < p.latestOffset) {
        const { batches, nextOffset } = await log.read(topic, p.partition, offset, { maxRecords: Math.min(10_000, p.latestOffset - offset) });
        if (batches.length === 0) break;
        for (const b of batches) {
          for (let i = 0; i < b.count; i++) {
            const letter = readDeadLetter(b.recordAt(i));
            reasons.set(letter.reason, (reasons.get(letter.reason) ?? 0) + 1);
            const source = letter.check ?? letter.stage ?? '(unknown)';
            sources.set(source, (sources.get(source) ?? 0) + 1);
            scanned++;
          }
        }
        offset = nextOffset;
      }
    }
    const progress = await replayProgress(log, topic);
    out.push({
      topic,
      records,
      pending: progress.pending,
      topReasons: ranked(reasons, top).map(([reason, count]) => ({ reason, count })),
      bySource: ranked(sources, Number.POSITIVE_INFINITY).map(([name, count]) => ({ name, count })),
      scanned,
    });
  }
  return out;
}

function ranked(counts: Map<string, number>, limit: number): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit);
}

/**
 * The dead-letter topic a user means: the name itself when it is a topic, else `<name>.dlq` (so both
 * `orders` and `orders.dlq` work). Throws FRESHET_UNKNOWN_TOPIC when neither exists.
 *
 * @example
 * ```ts
 * await resolveDeadLetterTopic(log, 'orders') // 'orders.dlq'
 * ```
 */
export async function resolveDeadLetterTopic(log: EventLog, name: string): Promise<string> {
  const topics = await log.listTopics();
  if (isDeadLetterTopic(name) && topics.includes(name)) return name;
  if (topics.includes(deadLetterTopic(name))) return deadLetterTopic(name);
  // A dead-letter topic with another name (`freshet produce --dlq bad-lines`): its records say so.
  if (topics.includes(name) && (await holdsDeadLetters(log, name))) return name;
  const expected = isDeadLetterTopic(name) ? name : deadLetterTopic(name);
  throw new FreshetError(
    ErrorCodes.UNKNOWN_TOPIC,
    `no dead-letter topic '${expected}'${topics.includes(name) && !isDeadLetterTopic(name) ? ` ('${name}' holds no dead letters)` : ' (nothing was dead-lettered there yet?)'}`,
    { topic: name },
  );
}

/** Whether the first record of the topic (any partition) is a dead letter. */
async function holdsDeadLetters(log: EventLog, topic: string): Promise<boolean> {
  for (const p of (await log.describeTopic(topic)).partitions) {
    if (p.latestOffset <= p.earliestOffset) continue;
    const { batches } = await log.read(topic, p.partition, p.earliestOffset, { maxRecords: 1 });
    const first = batches[0];
    if (first === undefined || first.count === 0) continue;
    return first.headersAt(0).some((h) => h.key === FreshetHeaders.DLQ_REASON);
  }
  return false;
}

/** Options of `readDeadLetters`. */
export interface ReadDeadLettersOptions {
  /** At most this many (matching) records. Default QualityLimits.showDefaultLimit. */
  readonly limit?: number;
  /** Only records whose reason contains this text (case-insensitive). */
  readonly reason?: string;
  /** Only records of this check (exact). */
  readonly check?: string;
}

/**
 * Dead letters of a topic, oldest first per partition (partition 0 first), filtered.
 *
 * @example
 * ```ts
 * const letters = await readDeadLetters(log, 'orders.dlq', { reason: 'duplicate', limit: 10 });
 * ```
 */
export async function readDeadLetters(log: EventLog, topic: string, options: ReadDeadLettersOptions = {}): Promise<StoredDeadLetter[]> {
  const limit = options.limit ?? QualityLimits.showDefaultLimit;
  const needle = options.reason?.toLowerCase();
  const out: StoredDeadLetter[] = [];
  const description = await log.describeTopic(topic);
  for (const p of description.partitions) {
    let offset = p.earliestOffset;
    while (out.length < limit && offset < p.latestOffset) {
      const { batches, nextOffset } = await log.read(topic, p.partition, offset);
      if (batches.length === 0) break;
      for (const b of batches) {
        for (let i = 0; i < b.count && out.length < limit; i++) {
          const letter = readDeadLetter(b.recordAt(i));
          if (needle !== undefined && !letter.reason.toLowerCase().includes(needle)) continue;
          if (options.check !== undefined && letter.check !== options.check) continue;
          out.push(letter);
        }
      }
      offset = nextOffset;
    }
  }
  return out;
}
