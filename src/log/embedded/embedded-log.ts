import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Clock, systemClock } from '../../core/clock.js';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { Limits } from '../../core/limits.js';
import type {
  AppendResult,
  EventLog,
  ProducerRecord,
  ReadOptions,
  ReadResult,
  TopicConfig,
  TopicDescription,
  TopicPartitionOffset,
} from '../log.js';
import { partitionForKey } from '../partitioner.js';
import {
  validateAppend,
  validateCommittedOffset,
  validateGroupName,
  validateReadBounds,
  validateTopicConfig,
  validateTopicName,
} from '../topic-config.js';
import { chunkForAppend, encodedRecordBytes } from './batch-format.js';
import { fsyncDirSync, mkdirDurableSync, removeTempFilesSync, writeFileAtomicSync } from './files.js';
import { type FsyncPolicy, PartitionLog } from './partition-log.js';

export type { FsyncPolicy } from './partition-log.js';

/** Options of `EmbeddedLog.open`; only `dataDir` is required. */
export interface EmbeddedLogOptions {
  /** Directory holding everything (created if missing). */
  readonly dataDir: string;
  /**
   * When an append is acknowledged: `always` after an fdatasync (concurrent appends share one: group
   * commit); `interval` once written to the OS, with an fdatasync every `fsyncIntervalMs`; `never` once
   * written to the OS. Written data survives a process crash (`kill -9`) under every policy; only
   * `always` also survives power loss. Default `always`.
   */
  readonly fsync?: FsyncPolicy;
  /** For `interval`: ms between background fsyncs (default 1000). */
  readonly fsyncIntervalMs?: number;
  readonly clock?: Clock;
  /** ms between retention passes; 0 disables the timer (call `enforceRetention`). Default 60,000. */
  readonly retentionCheckIntervalMs?: number;
  /** Appends waiting for their fsync per partition before FRESHET_LOG_BUSY. */
  readonly maxPendingAppendsPerPartition?: number;
  readonly maxPendingAppendBytesPerPartition?: number;
  /**
   * Open without taking the directory lock and without writing: for tools (e.g. `freshet tail`) that
   * read a log another process is writing. Reads pick up what that process appends, as soon as it is in
   * the file: under fsync `always` that can be before the writer has acknowledged it (a reader in the
   * writing process sees only acknowledged records). Throws FRESHET_LOG_NOT_FOUND when there is no log.
   */
  readonly readOnly?: boolean;
  /** Receives recoverable problems (e.g. a torn tail was truncated). Default: stderr. */
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
}

interface TopicState {
  readonly name: string;
  readonly config: TopicConfig;
  readonly partitions: PartitionLog[];
  roundRobin: number;
}

const TOPIC_FILE = 'topic.json';
const LOCK_FILE = 'LOCK';

/*
 * Directory layout:
 *   <dataDir>/LOCK                                  pid of the process that has the log open for writing
 *   <dataDir>/topics/<topic>/topic.json             { name, config } (written atomically)
 *   <dataDir>/topics/<topic>/<partition>/<20-digit base offset>.log|.index|.timeindex
 *   <dataDir>/groups/<sha-256 of group name>.json   { group, offsets } committed offsets (written atomically)
 */

/**
 * The embedded event log: a segmented, append-only file log with Kafka's semantics. See docs/log.md.
 *
 * @example
 * ```ts
 * const log = await EmbeddedLog.open({ dataDir: './.freshet', fsync: 'always' });
 * await log.ensureTopic('orders', { partitions: 4, retentionMs: 7 * 86_400_000 });
 * const acks = await log.produce('orders', [{ key: Buffer.from('c-1'), value: Buffer.from('{"total":12}') }]);
 * const { batches } = await log.read('orders', acks[0]!.partition, acks[0]!.offset);
 * await log.close();
 * ```
 */
export class EmbeddedLog implements EventLog {
  private readonly topics = new Map<string, TopicState>();
  private readonly topicsDir: string;
  private readonly groupsDir: string;
  private readonly clock: Clock;
  private readonly fsync: FsyncPolicy;
  private readonly readOnly: boolean;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;

  private constructor(private readonly options: EmbeddedLogOptions) {
    this.topicsDir = path.join(options.dataDir, 'topics');
    this.groupsDir = path.join(options.dataDir, 'groups');
    this.clock = options.clock ?? systemClock;
    this.fsync = options.fsync ?? 'always';
    this.readOnly = options.readOnly ?? false;
  }

  /** The directory this log lives in. */
  get dataDir(): string {
    return this.options.dataDir;
  }

  /** Opens the log in `dataDir`, recovering every partition (torn tails are truncated, with a warning). */
  static async open(options: EmbeddedLogOptions): Promise<EmbeddedLog> {
    const fsync = options.fsync ?? 'always';
    if (!['always', 'interval', 'never'].includes(fsync)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `fsync must be always, interval or never, got '${fsync}'`);
    }
    const log = new EmbeddedLog(options);
    try {
      if (!log.readOnly) {
        mkdirDurableSync(log.topicsDir);
        mkdirDurableSync(log.groupsDir);
        acquireLock(options.dataDir);
        removeTempFilesSync(log.groupsDir);
      } else if (!fs.existsSync(log.topicsDir)) {
        throw new FreshetError(ErrorCodes.LOG_NOT_FOUND, `no Freshet log in ${options.dataDir}`, { dataDir: options.dataDir });
      }
    } catch (error) {
      if (error instanceof FreshetError) throw error;
      throw new FreshetError(ErrorCodes.LOG_OPEN_FAILED, `cannot open the log in ${options.dataDir}: ${(error as Error).message}`, { dataDir: options.dataDir }, { cause: error });
    }
    try {
      for (const name of fs.readdirSync(log.topicsDir)) {
        const file = path.join(log.topicsDir, name, TOPIC_FILE);
        if (!fs.existsSync(file)) continue; // a topic whose creation or deletion was interrupted
        const { config } = JSON.parse(fs.readFileSync(file, 'utf8')) as { config: TopicConfig };
        log.topics.set(name, log.openTopic(name, config));
      }
    } catch (error) {
      await log.close();
      throw error;
    }
    if (!log.readOnly) log.startTimers();
    return log;
  }

  async createTopic(name: string, config: TopicConfig): Promise<void> {
    this.checkWritable();
    validateTopicName(name);
    validateTopicConfig(config);
    if (this.topics.has(name)) throw new FreshetError(ErrorCodes.TOPIC_EXISTS, `topic '${name}' already exists`, { topic: name });
    const dir = path.join(this.topicsDir, name);
    fs.rmSync(dir, { recursive: true, force: true }); // leftovers of an interrupted create
    const stored: TopicConfig = { ...config };
    fs.mkdirSync(dir);
    for (let p = 0; p < config.partitions; p++) fs.mkdirSync(path.join(dir, String(p)));
    // topic.json is written last: a topic exists once it is there.
    const topic = this.openTopic(name, stored);
    writeFileAtomicSync(path.join(dir, TOPIC_FILE), JSON.stringify({ name, config: stored }));
    fsyncDirSync(this.topicsDir);
    this.topics.set(name, topic);
  }

  async ensureTopic(name: string, config: TopicConfig): Promise<TopicDescription> {
    if (!this.topics.has(name)) await this.createTopic(name, config);
    return this.describeTopic(name);
  }

  async deleteTopic(name: string): Promise<void> {
    this.checkWritable();
    const topic = this.topic(name);
    this.topics.delete(name);
    for (const p of topic.partitions) await p.close();
    const dir = path.join(this.topicsDir, name);
    // Remove the marker first so a crash mid-delete leaves a directory open() ignores.
    fs.rmSync(path.join(dir, TOPIC_FILE), { force: true });
    fsyncDirSync(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    fsyncDirSync(this.topicsDir);
  }

  async listTopics(): Promise<readonly string[]> {
    this.checkOpen();
    if (this.readOnly) this.discoverTopics();
    return [...this.topics.keys()].sort();
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    const topic = this.topic(name);
    return {
      name,
      config: { ...topic.config },
      partitions: topic.partitions.map((p, partition) => ({
        partition,
        earliestOffset: p.currentEarliestOffset(),
        latestOffset: p.latestOffset,
        sizeBytes: p.sizeBytes,
        segments: p.segmentCount,
      })),
    };
  }

  async append(topic: string, partition: number, records: readonly ProducerRecord[]): Promise<AppendResult> {
    this.checkWritable();
    return this.partition(topic, partition).append(records, this.clock.nowMs());
  }

  async produce(topicName: string, records: readonly ProducerRecord[]): Promise<readonly TopicPartitionOffset[]> {
    this.checkWritable();
    const topic = this.topic(topicName);
    const n = topic.config.partitions;
    // Group by partition so each partition gets one batch; remember where each record went.
    const partitionOf = new Int32Array(records.length);
    const groups = new Map<number, ProducerRecord[]>();
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const p = r.key ? partitionForKey(r.key, n) : topic.roundRobin++ % n;
      partitionOf[i] = p;
      let group = groups.get(p);
      if (!group) groups.set(p, (group = []));
      group.push(r);
    }
    const nowMs = this.clock.nowMs();
    // Every append is checked before the first is written, so invalid input never half-writes a call.
    const chunksOf = new Map<number, ProducerRecord[][]>();
    for (const [p, group] of groups) {
      const chunks = chunkForAppend(group);
      for (const chunk of chunks) validateAppend(chunk, encodedRecordBytes);
      chunksOf.set(p, chunks);
    }
    // Offsets are assigned synchronously, so the chunks of one partition land in order and contiguously.
    // All appends are awaited together: none is left unobserved if another fails (e.g. FRESHET_LOG_BUSY).
    const parts = [...chunksOf].map(([p, chunks]) => {
      const partitionLog = this.partition(topicName, p);
      const appendChunk = (chunk: ProducerRecord[]): Promise<AppendResult> => {
        try {
          return partitionLog.append(chunk, nowMs);
        } catch (error) {
          return Promise.reject(error); // e.g. FRESHET_LOG_BUSY: observed with the others below
        }
      };
      return Promise.all(chunks.map(appendChunk)).then((results) => [p, results[0]!.baseOffset] as const);
    });
    const bases = new Map<number, number>(await Promise.all(parts));
    const out: TopicPartitionOffset[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const p = partitionOf[i]!;
      const offset = bases.get(p)!;
      bases.set(p, offset + 1);
      out[i] = { topic: topicName, partition: p, offset };
    }
    return out;
  }

  async read(topic: string, partition: number, offset: number, options: ReadOptions = {}): Promise<ReadResult> {
    const maxRecords = options.maxRecords ?? Limits.defaultReadMaxRecords;
    const maxBytes = options.maxBytes ?? Limits.defaultReadMaxBytes;
    validateReadBounds(maxRecords, maxBytes);
    return this.partition(topic, partition).read(offset, maxRecords, maxBytes);
  }

  async earliestOffset(topic: string, partition: number): Promise<number> {
    return this.partition(topic, partition).currentEarliestOffset();
  }

  async latestOffset(topic: string, partition: number): Promise<number> {
    return this.partition(topic, partition).latestOffset;
  }

  async offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number | null> {
    return this.partition(topic, partition).offsetForTimestamp(timestampMs);
  }

  async truncate(topic: string, partition: number, endOffset: number): Promise<void> {
    this.checkWritable();
    return this.partition(topic, partition).truncate(endOffset);
  }

  async commitOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.checkWritable();
    validateGroupName(group);
    for (const o of offsets) {
      this.partition(o.topic, o.partition);
      validateCommittedOffset(o.offset);
    }
    const stored = this.readGroup(group);
    for (const o of offsets) stored[`${o.topic}/${o.partition}`] = o.offset;
    writeFileAtomicSync(this.groupFile(group), JSON.stringify({ group, offsets: stored }));
  }

  async committedOffsets(group: string, topic?: string): Promise<readonly TopicPartitionOffset[]> {
    this.checkOpen();
    validateGroupName(group);
    const out: TopicPartitionOffset[] = [];
    for (const [k, offset] of Object.entries(this.readGroup(group))) {
      const slash = k.lastIndexOf('/');
      const t = k.slice(0, slash);
      if (topic === undefined || t === topic) out.push({ topic: t, partition: Number(k.slice(slash + 1)), offset });
    }
    return out.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  /** Applies every topic's retention now (also runs on a timer). Returns the number of segments deleted. */
  async enforceRetention(): Promise<number> {
    this.checkWritable();
    const nowMs = this.clock.nowMs();
    let deleted = 0;
    for (const topic of this.topics.values()) {
      const { retentionMs, retentionBytes } = topic.config;
      if (retentionMs === undefined && retentionBytes === undefined) continue;
      for (const p of topic.partitions) deleted += p.enforceRetention(nowMs, retentionMs, retentionBytes);
    }
    return deleted;
  }

  /** Flushes and closes every partition; later calls fail with FRESHET_LOG_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const topic of this.topics.values()) for (const p of topic.partitions) await p.close();
    if (!this.readOnly) releaseLock(this.options.dataDir);
  }

  private openTopic(name: string, config: TopicConfig): TopicState {
    const partitions: PartitionLog[] = [];
    try {
      for (let p = 0; p < config.partitions; p++) {
        partitions.push(
          PartitionLog.open({
            topic: name,
            partition: p,
            dir: path.join(this.topicsDir, name, String(p)),
            fsync: this.fsync,
            segmentBytes: config.segmentBytes ?? Limits.segmentBytes,
            readOnly: this.readOnly,
            maxPendingAppends: this.options.maxPendingAppendsPerPartition ?? Limits.maxPendingAppendsPerPartition,
            maxPendingAppendBytes: this.options.maxPendingAppendBytesPerPartition ?? Limits.maxPendingAppendBytesPerPartition,
            onWarning: this.options.onWarning ?? defaultWarning,
          }),
        );
      }
    } catch (error) {
      for (const p of partitions) void p.close();
      throw error;
    }
    return { name, config, partitions, roundRobin: 0 };
  }

  /** Read-only mode: topics created by the writing process since we opened. */
  private discoverTopics(): void {
    for (const name of fs.readdirSync(this.topicsDir)) {
      if (this.topics.has(name)) continue;
      const file = path.join(this.topicsDir, name, TOPIC_FILE);
      if (!fs.existsSync(file)) continue;
      const { config } = JSON.parse(fs.readFileSync(file, 'utf8')) as { config: TopicConfig };
      this.topics.set(name, this.openTopic(name, config));
    }
  }

  private startTimers(): void {
    if (this.fsync === 'interval') {
      const timer = setInterval(() => {
        for (const topic of this.topics.values()) for (const p of topic.partitions) p.syncIfDirty();
      }, this.options.fsyncIntervalMs ?? 1000);
      timer.unref();
      this.timers.push(timer);
    }
    const retentionMs = this.options.retentionCheckIntervalMs ?? 60_000;
    if (retentionMs > 0) {
      const timer = setInterval(() => {
        this.enforceRetention().catch((error: unknown) => (this.options.onWarning ?? defaultWarning)(`retention failed: ${String(error)}`, {}));
      }, retentionMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  private readGroup(group: string): Record<string, number> {
    try {
      return (JSON.parse(fs.readFileSync(this.groupFile(group), 'utf8')) as { offsets: Record<string, number> }).offsets;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
  }

  private groupFile(group: string): string {
    // Hashed: group names are opaque strings of any length; the name itself is stored inside the file.
    return path.join(this.groupsDir, `${createHash('sha256').update(group).digest('hex').slice(0, 40)}.json`);
  }

  private checkOpen(): void {
    if (this.closed) throw new FreshetError(ErrorCodes.LOG_CLOSED, 'the log is closed');
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the log was opened read-only');
  }

  private topic(name: string): TopicState {
    this.checkOpen();
    let topic = this.topics.get(name);
    if (!topic && this.readOnly) {
      this.discoverTopics();
      topic = this.topics.get(name);
    }
    if (!topic) throw new FreshetError(ErrorCodes.UNKNOWN_TOPIC, `unknown topic '${name}'`, { topic: name });
    return topic;
  }

  private partition(topicName: string, partition: number): PartitionLog {
    const p = this.topic(topicName).partitions[partition];
    if (!p || !Number.isInteger(partition)) {
      throw new FreshetError(ErrorCodes.UNKNOWN_PARTITION, `topic '${topicName}' has no partition ${partition}`, { topic: topicName, partition });
    }
    return p;
  }
}

function defaultWarning(message: string): void {
  process.stderr.write(`freshet: warning: ${message}\n`);
}

/**
 * One writer per data directory: a LOCK file holding the owner's pid. A lock left by a dead process
 * (kill -9) is taken over.
 */
function acquireLock(dataDir: string): void {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (isAlive(owner)) {
        throw new FreshetError(ErrorCodes.LOG_LOCKED, `${dataDir} is in use by process ${owner}; stop it or open the log read-only`, {
          dataDir,
          pid: owner,
        });
      }
      fs.rmSync(file, { force: true });
    }
  }
}

function releaseLock(dataDir: string): void {
  const file = path.join(dataDir, LOCK_FILE);
  try {
    if (Number(fs.readFileSync(file, 'utf8')) === process.pid) fs.rmSync(file);
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
