/**
 * `freshet dlq replay`: re-submits dead letters to the topic they came from (header `freshet.dlq.topic`),
 * optionally only some (by reason) and optionally repaired by a fix function, so they run through the
 * pipeline and its checks again. A replayed record carries `freshet.replay.of = <dlq>/<partition>/<offset>`.
 *
 * What was handled (replayed, or dropped because the fix returned null) is remembered so nothing is
 * replayed twice:
 * - the consumer group `freshet.dlq-replay` commits, per dead-letter partition, the offset below which
 *   every record is handled (the contiguous prefix, as any consumer's position);
 * - records handled above it (because `--only-reason` passed over earlier ones, which stay pending) are
 *   listed in the ledger topic `<dlq>.replayed`: one JSON record per round,
 *   `{"partition":p,"ranges":[[from,toExclusive],...]}`, read back as a union.
 * Each round produces first, then writes the ledger, then commits: a crash in between replays that
 * round's records again on the next run (at least once), never loses one.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isUtf8 } from 'node:buffer';
import { pack, unpack } from 'msgpackr';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { FreshetHeaders } from '../core/headers.js';
import type { EventLog, ProducerRecord, TopicDescription } from '../log/log.js';
import { readDeadLetter, type StoredDeadLetter } from './dead-letter.js';
import { QualityLimits } from './limits.js';

/** The consumer group whose committed offsets on a dead-letter topic say what replay has handled. */
export const REPLAY_GROUP = 'freshet.dlq-replay';

/**
 * The ledger topic of a dead-letter topic (see the module comment).
 *
 * @example
 * ```ts
 * replayLedgerTopic('orders.dlq') // 'orders.dlq.replayed'
 * ```
 */
export function replayLedgerTopic(dlqTopic: string): string {
  return `${dlqTopic}.replayed`;
}

/**
 * A set of offsets as sorted, disjoint, non-adjacent half-open ranges.
 *
 * @example
 * ```ts
 * const set = new OffsetRanges();
 * set.add(3); set.add(4); set.add(7);
 * set.ranges // [[3, 5], [7, 8]]
 * set.firstMissingFrom(3) // 5
 * ```
 */
export class OffsetRanges {
  private list: [number, number][] = [];

  get ranges(): readonly (readonly [number, number])[] {
    return this.list;
  }

  has(offset: number): boolean {
    let lo = 0;
    let hi = this.list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = this.list[mid]!;
      if (offset < a) hi = mid - 1;
      else if (offset >= b) lo = mid + 1;
      else return true;
    }
    return false;
  }

  add(offset: number): void {
    this.addRange(offset, offset + 1);
  }

  addRange(from: number, to: number): void {
    if (to <= from) return;
    const last = this.list[this.list.length - 1];
    // The common case: offsets arrive in order.
    if (last === undefined || from > last[1]) {
      this.list.push([from, to]);
      return;
    }
    if (from >= last[0]) {
      last[1] = Math.max(last[1], to);
      return;
    }
    // Out of order (a ledger read back): merge into a fresh canonical list.
    const merged: [number, number][] = [];
    for (const r of [...this.list, [from, to] as [number, number]].sort((x, y) => x[0] - y[0])) {
      const top = merged[merged.length - 1];
      if (top !== undefined && r[0] <= top[1]) top[1] = Math.max(top[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.list = merged;
  }

  /** The smallest offset >= `from` not in the set. */
  firstMissingFrom(from: number): number {
    let at = from;
    for (const [a, b] of this.list) {
      if (b <= at) continue;
      if (a > at) break;
      at = b;
    }
    return at;
  }

  /** Offsets in the set within [from, to). */
  countWithin(from: number, to: number): number {
    let n = 0;
    for (const [a, b] of this.list) n += Math.max(0, Math.min(b, to) - Math.max(a, from));
    return n;
  }

  /** The ranges at or above `from` (what a ledger record keeps). */
  above(from: number): [number, number][] {
    const out: [number, number][] = [];
    for (const [a, b] of this.list) if (b > from) out.push([Math.max(a, from), b]);
    return out;
  }
}

/** Reads the ledger of a dead-letter topic: handled offsets per partition. */
async function readLedger(log: EventLog, dlqTopic: string): Promise<Map<number, OffsetRanges>> {
  const ledger = new Map<number, OffsetRanges>();
  const topic = replayLedgerTopic(dlqTopic);
  if (!(await log.listTopics()).includes(topic)) return ledger;
  const description = await log.describeTopic(topic);
  for (const p of description.partitions) {
    let offset = p.earliestOffset;
    while (offset < p.latestOffset) {
      const { batches, nextOffset } = await log.read(topic, p.partition, offset);
      if (batches.length === 0) break;
      for (const b of batches) {
        for (let i = 0; i < b.count; i++) {
          const bytes = b.valueAt(i);
          if (bytes === null) continue;
          const entry = JSON.parse(Buffer.from(bytes).toString('utf8')) as { partition: number; ranges: [number, number][] };
          let set = ledger.get(entry.partition);
          if (!set) ledger.set(entry.partition, (set = new OffsetRanges()));
          for (const [from, to] of entry.ranges) set.addRange(from, to);
        }
      }
      offset = nextOffset;
    }
  }
  return ledger;
}

/**
 * Replay's position on a dead-letter topic: per partition the committed offset and how many records
 * are still pending (neither replayed nor dropped by a fix).
 *
 * @example
 * ```ts
 * const { pending } = await replayProgress(log, 'orders.dlq');
 * ```
 */
export async function replayProgress(
  log: EventLog,
  dlqTopic: string,
): Promise<{ pending: number; partitions: { partition: number; committed: number; latest: number; pending: number }[] }> {
  const description = await log.describeTopic(dlqTopic);
  const committed = new Map((await log.committedOffsets(REPLAY_GROUP, dlqTopic)).map((c) => [c.partition, c.offset]));
  const ledger = await readLedger(log, dlqTopic);
  let pending = 0;
  const partitions = description.partitions.map((p) => {
    const from = Math.max(committed.get(p.partition) ?? p.earliestOffset, p.earliestOffset);
    const handled = ledger.get(p.partition)?.countWithin(from, p.latestOffset) ?? 0;
    const n = Math.max(0, p.latestOffset - from - handled);
    pending += n;
    return { partition: p.partition, committed: from, latest: p.latestOffset, pending: n };
  });
  return { pending, partitions };
}

/** A fix: the dead letter's decoded value in, the value to re-submit out, or null to drop it (handled). */
export type FixFunction = (value: unknown, letter: StoredDeadLetter) => unknown;

/** Options of `replayDeadLetters`. */
export interface ReplayOptions {
  /** Only dead letters whose reason contains this text (case-insensitive); the others stay pending. */
  readonly onlyReason?: string;
  /** Repairs each value (see FixFunction and docs/quality.md for how values are decoded and encoded). */
  readonly fix?: FixFunction;
  /** Re-submit to this topic instead of each record's `freshet.dlq.topic`. */
  readonly to?: string;
  /** Report what would happen; write nothing. */
  readonly dryRun?: boolean;
  /** Records per round (one produce, one ledger record, one commit). Default QualityLimits.replayBatchRecords. */
  readonly batchRecords?: number;
}

/**
 * What a replay did.
 *
 * @example
 * ```ts
 * const result = await replayDeadLetters(log, 'orders.dlq', { onlyReason: 'amount' });
 * console.log(`${result.replayed} replayed, ${result.pending} still pending`);
 * ```
 */
export interface ReplayResult {
  readonly dlqTopic: string;
  /** Pending records looked at. */
  readonly examined: number;
  readonly replayed: number;
  /** The fix returned null: handled, not re-submitted. */
  readonly dropped: number;
  /** Not matching `onlyReason`: still pending. */
  readonly skipped: number;
  /** No `freshet.dlq.topic` header and no `to`: still pending. */
  readonly noTarget: number;
  /** Records re-submitted per target topic. */
  readonly byTopic: Readonly<Record<string, number>>;
  /** Records still pending after this run. */
  readonly pending: number;
  readonly dryRun: boolean;
}

interface Prepared {
  readonly topic: string;
  /** The original partition when the record goes back to its own topic (keeps per-partition order). */
  readonly partition: number | null;
  readonly record: ProducerRecord;
}

/**
 * Re-submits pending dead letters of `dlqTopic` (see the module comment). Throws FRESHET_DLQ_REPLAY_FAILED
 * when the fix throws or returns undefined (what was replayed before it stays recorded), and
 * FRESHET_UNKNOWN_TOPIC when a target topic does not exist.
 *
 * @example
 * ```ts
 * await replayDeadLetters(log, 'orders.dlq', { fix: (v) => ({ ...(v as object), amount: Math.abs((v as { amount: number }).amount) }) });
 * ```
 */
export async function replayDeadLetters(log: EventLog, dlqTopic: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  const description = await log.describeTopic(dlqTopic);
  const committed = new Map((await log.committedOffsets(REPLAY_GROUP, dlqTopic)).map((c) => [c.partition, c.offset]));
  const ledger = await readLedger(log, dlqTopic);
  const needle = options.onlyReason?.toLowerCase();
  const batchRecords = options.batchRecords ?? QualityLimits.replayBatchRecords;
  const dryRun = options.dryRun === true;
  const targets = new Map<string, TopicDescription>();
  const byTopic: Record<string, number> = {};
  let examined = 0;
  let replayed = 0;
  let dropped = 0;
  let skipped = 0;
  let noTarget = 0;

  const target = async (topic: string): Promise<TopicDescription> => {
    let d = targets.get(topic);
    if (!d) {
      d = await log.describeTopic(topic).catch((error: unknown) => {
        throw new FreshetError(ErrorCodes.UNKNOWN_TOPIC, `cannot replay to '${topic}': ${(error as Error).message}`, { topic }, { cause: error });
      });
      targets.set(topic, d);
    }
    return d;
  };

  for (const p of description.partitions) {
    const start = Math.max(committed.get(p.partition) ?? p.earliestOffset, p.earliestOffset);
    const handled = ledger.get(p.partition) ?? new OffsetRanges();
    // Only what is there now: records dead-lettered while we replay wait for the next run.
    const end = p.latestOffset;
    let offset = start;
    let committedNow = start;
    while (offset < end) {
      const { batches, nextOffset } = await log.read(dlqTopic, p.partition, offset, { maxRecords: Math.min(batchRecords, end - offset) });
      if (batches.length === 0) break;
      const prepared: Prepared[] = [];
      const handledNow: number[] = [];
      let failure: FreshetError | null = null;
      scan: for (const b of batches) {
        for (let i = 0; i < b.count; i++) {
          const at = b.offsetAt(i);
          if (at >= end) break scan;
          if (handled.has(at)) continue;
          examined++;
          const letter = readDeadLetter(b.recordAt(i));
          if (needle !== undefined && !letter.reason.toLowerCase().includes(needle)) {
            skipped++;
            continue;
          }
          const topic = options.to ?? letter.topic;
          if (topic === undefined) {
            noTarget++;
            continue;
          }
          const d = await target(topic);
          let value: Uint8Array | null = letter.value;
          if (options.fix) {
            let fixed: unknown;
            try {
              fixed = await options.fix(decodeForFix(letter), letter);
            } catch (error) {
              failure = replayFailure(letter, `the fix threw: ${(error as Error)?.message ?? String(error)}`, error);
              break scan;
            }
            if (fixed === undefined) {
              failure = replayFailure(letter, 'the fix returned undefined (return the value, or null to drop the record)');
              break scan;
            }
            if (fixed === null) {
              dropped++;
              handledNow.push(at);
              continue;
            }
            value = encodeFixed(fixed, letter);
          }
          const samePartition = topic === letter.topic && letter.partition !== undefined && letter.partition < d.partitions.length ? letter.partition : null;
          prepared.push({
            topic,
            partition: samePartition,
            record: {
              key: letter.key,
              value,
              timestampMs: letter.timestampMs,
              headers: [{ key: FreshetHeaders.REPLAY_OF, value: Buffer.from(`${dlqTopic}/${p.partition}/${at}`) }],
            },
          });
          handledNow.push(at);
        }
      }
      if (!dryRun) await submit(log, prepared);
      for (const r of prepared) byTopic[r.topic] = (byTopic[r.topic] ?? 0) + 1;
      replayed += prepared.length;
      for (const at of handledNow) handled.add(at);
      if (!dryRun && handledNow.length > 0) {
        const next = handled.firstMissingFrom(committedNow);
        const above = handled.above(next);
        if (above.length > 0) {
          const ledgerTopic = replayLedgerTopic(dlqTopic);
          await log.ensureTopic(ledgerTopic, { partitions: 1 });
          const ranges = rangesOf(handledNow).filter(([, to]) => to > next);
          await log.produce(ledgerTopic, [{ value: Buffer.from(JSON.stringify({ partition: p.partition, ranges })) }]);
        }
        if (next > committedNow) {
          await log.commitOffsets(REPLAY_GROUP, [{ topic: dlqTopic, partition: p.partition, offset: next }]);
          committedNow = next;
        }
      }
      if (failure !== null) throw failure;
      offset = nextOffset;
    }
  }
  const pending = dryRun
    ? Math.max(0, (await replayProgress(log, dlqTopic)).pending - replayed - dropped)
    : (await replayProgress(log, dlqTopic)).pending;
  return { dlqTopic, examined, replayed, dropped, skipped, noTarget, byTopic, pending, dryRun };
}

/** Offsets (ascending) as half-open ranges. */
function rangesOf(offsets: readonly number[]): [number, number][] {
  const set = new OffsetRanges();
  for (const o of offsets) set.add(o);
  return set.ranges.map(([a, b]) => [a, b]);
}

/** Appends prepared records: to their original partition when known, else partitioned by key. */
async function submit(log: EventLog, prepared: readonly Prepared[]): Promise<void> {
  const groups = new Map<string, { topic: string; partition: number | null; records: ProducerRecord[] }>();
  for (const p of prepared) {
    const id = `${p.topic}\u0000${p.partition ?? ''}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { topic: p.topic, partition: p.partition, records: [] }));
    g.records.push(p.record);
  }
  for (const g of groups.values()) {
    if (g.partition !== null) await log.append(g.topic, g.partition, g.records);
    else await log.produce(g.topic, g.records);
  }
}

function replayFailure(letter: StoredDeadLetter, message: string, cause?: unknown): FreshetError {
  return new FreshetError(
    ErrorCodes.DLQ_REPLAY_FAILED,
    `dead letter ${letter.dlqTopic}/${letter.dlqPartition}/${letter.dlqOffset}: ${message}`,
    { topic: letter.dlqTopic, partition: letter.dlqPartition, offset: letter.dlqOffset },
    cause !== undefined ? { cause } : undefined,
  );
}

/**
 * The value a fix function receives: msgpack payloads unpacked, JSON parsed, other UTF-8 text as a
 * string (e.g. a line that was not valid JSON), other bytes as a Uint8Array; a tombstone as null.
 *
 * @example
 * ```ts
 * decodeForFix(letter) // { id: 1, amount: -5 }
 * ```
 */
export function decodeForFix(letter: StoredDeadLetter): unknown {
  const bytes = letter.value;
  if (bytes === null) return null;
  if (letter.payload === 'msgpack') return unpack(bytes);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isUtf8(buf)) return new Uint8Array(buf);
  const text = buf.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The bytes of a fix's result: a Uint8Array as is, a string as its UTF-8 text (repaired raw text), any
 * other value as JSON (msgpack when the dead letter's payload was msgpack).
 *
 * @example
 * ```ts
 * encodeFixed({ id: 1 }, letter) // bytes of '{"id":1}'
 * ```
 */
export function encodeFixed(value: unknown, letter: StoredDeadLetter): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value);
  if (letter.payload === 'msgpack') return pack(value);
  const text = JSON.stringify(value);
  if (text === undefined) throw replayFailure(letter, 'the fix returned a value JSON cannot encode');
  return Buffer.from(text);
}

/**
 * Loads a fix module: its default export, or an export named `fix`, must be a function
 * `(value, letter) => value | null` (it may be async). TypeScript modules are compiled on the fly.
 *
 * @example
 * ```ts
 * // fix.mjs: export default (order) => (order.amount < 0 ? null : order);
 * const fix = await loadFixModule('./fix.mjs');
 * ```
 */
export async function loadFixModule(modulePath: string): Promise<FixFunction> {
  const href = pathToFileURL(path.resolve(modulePath)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(href)) as Record<string, unknown>;
  } catch (error) {
    if (/\.[mc]?ts$/.test(modulePath) && (error as { code?: string }).code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(href, import.meta.url)) as Record<string, unknown>;
    } else {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `cannot load fix module ${modulePath}: ${(error as Error).message}`, { module: modulePath }, { cause: error });
    }
  }
  let fn = mod.default ?? mod.fix;
  // A CommonJS module seen through ESM interop nests its default export once more.
  if (typeof fn === 'object' && fn !== null && typeof (fn as { default?: unknown }).default === 'function') fn = (fn as { default: unknown }).default;
  if (typeof fn !== 'function') {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `fix module ${modulePath} must export a function (default export, or named 'fix'): value => value | null`, {
      module: modulePath,
    });
  }
  return fn as FixFunction;
}
