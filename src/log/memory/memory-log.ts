import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { Limits } from '../../core/limits.js';
import type {
  AppendResult,
  ConsumedRecord,
  EventLog,
  ProducerRecord,
  ReadOptions,
  ReadResult,
  TopicConfig,
  TopicDescription,
  TopicPartitionOffset,
} from '../log.js';
import { partitionForKey } from '../partitioner.js';
import { ArrayRecordBatch } from '../record-batch.js';
import {
  checkRecordSize,
  validateAppend,
  validateCommittedOffset,
  validateGroupName,
  validateReadBounds,
  validateTopicConfig,
  validateTopicName,
} from '../topic-config.js';

interface MemoryPartition {
  /** Offset of records[0]. */
  startOffset: number;
  records: ConsumedRecord[];
}

interface MemoryTopic {
  config: TopicConfig;
  partitions: MemoryPartition[];
  roundRobin: number;
}

/**
 * An event log held in memory: obviously correct and fast to set up. It is the reference the embedded
 * log's property tests compare against, and the log behind `freshet/testing`. Nothing survives the
 * process; retention is not applied.
 *
 * @example
 * ```ts
 * const log = new MemoryLog();
 * await log.createTopic('clicks', { partitions: 1 });
 * await log.append('clicks', 0, [{ value: new TextEncoder().encode('{}') }]);
 * ```
 */
export class MemoryLog implements EventLog {
  private readonly topics = new Map<string, MemoryTopic>();
  private readonly groups = new Map<string, Map<string, number>>();
  private closed = false;

  constructor(private readonly clock: Clock = systemClock) {}

  async createTopic(name: string, config: TopicConfig): Promise<void> {
    this.checkOpen();
    validateTopicName(name);
    validateTopicConfig(config);
    if (this.topics.has(name)) throw new FreshetError(ErrorCodes.TOPIC_EXISTS, `topic '${name}' already exists`, { topic: name });
    const partitions: MemoryPartition[] = [];
    for (let p = 0; p < config.partitions; p++) partitions.push({ startOffset: 0, records: [] });
    this.topics.set(name, { config: { ...config }, partitions, roundRobin: 0 });
  }

  async ensureTopic(name: string, config: TopicConfig): Promise<TopicDescription> {
    if (!this.topics.has(name)) await this.createTopic(name, config);
    return this.describeTopic(name);
  }

  async deleteTopic(name: string): Promise<void> {
    this.topic(name);
    this.topics.delete(name);
  }

  async listTopics(): Promise<readonly string[]> {
    this.checkOpen();
    return [...this.topics.keys()].sort();
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    const topic = this.topic(name);
    return {
      name,
      config: { ...topic.config },
      partitions: topic.partitions.map((p, partition) => ({
        partition,
        earliestOffset: p.startOffset,
        latestOffset: p.startOffset + p.records.length,
        sizeBytes: p.records.reduce((n, r) => n + (r.key?.length ?? 0) + (r.value?.length ?? 0), 0),
        segments: 1,
      })),
    };
  }

  async append(topicName: string, partition: number, records: readonly ProducerRecord[]): Promise<AppendResult> {
    const p = this.partition(topicName, partition);
    validateAppend(records);
    const nowMs = this.clock.nowMs();
    const baseOffset = p.startOffset + p.records.length;
    records.forEach((r, i) => {
      p.records.push({
        topic: topicName,
        partition,
        offset: baseOffset + i,
        timestampMs: r.timestampMs ?? nowMs,
        key: r.key ? Uint8Array.from(r.key) : null,
        value: r.value ? Uint8Array.from(r.value) : null,
        headers: (r.headers ?? []).map((h) => ({ key: h.key, value: Uint8Array.from(h.value) })),
      });
    });
    return { topic: topicName, partition, baseOffset, lastOffset: baseOffset + records.length - 1 };
  }

  async produce(topicName: string, records: readonly ProducerRecord[]): Promise<readonly TopicPartitionOffset[]> {
    const topic = this.topic(topicName);
    for (const r of records) checkRecordSize(r);
    const out: TopicPartitionOffset[] = [];
    for (const r of records) {
      const partition = r.key ? partitionForKey(r.key, topic.config.partitions) : topic.roundRobin++ % topic.config.partitions;
      const ack = await this.append(topicName, partition, [r]);
      out.push({ topic: topicName, partition, offset: ack.baseOffset });
    }
    return out;
  }

  async read(topicName: string, partition: number, offset: number, options: ReadOptions = {}): Promise<ReadResult> {
    const p = this.partition(topicName, partition);
    const highWatermark = p.startOffset + p.records.length;
    if (!Number.isInteger(offset) || offset < p.startOffset || offset > highWatermark) {
      throw new FreshetError(ErrorCodes.OFFSET_OUT_OF_RANGE, `offset ${offset} is outside [${p.startOffset}, ${highWatermark}] of ${topicName}/${partition}`, {
        topic: topicName,
        partition,
        offset,
      });
    }
    const maxRecords = options.maxRecords ?? Limits.defaultReadMaxRecords;
    const maxBytes = options.maxBytes ?? Limits.defaultReadMaxBytes;
    validateReadBounds(maxRecords, maxBytes);
    // At least one record; then stop before maxBytes of payload would be exceeded.
    const slice: ConsumedRecord[] = [];
    let bytes = 0;
    for (let i = offset - p.startOffset; i < p.records.length && slice.length < maxRecords; i++) {
      const r = p.records[i]!;
      const size = (r.key?.length ?? 0) + (r.value?.length ?? 0);
      if (slice.length > 0 && bytes + size > maxBytes) break;
      slice.push(r);
      bytes += size;
    }
    return {
      batches: slice.length > 0 ? [new ArrayRecordBatch(topicName, partition, slice)] : [],
      nextOffset: offset + slice.length,
      highWatermark,
    };
  }

  async earliestOffset(topic: string, partition: number): Promise<number> {
    return this.partition(topic, partition).startOffset;
  }

  async latestOffset(topic: string, partition: number): Promise<number> {
    const p = this.partition(topic, partition);
    return p.startOffset + p.records.length;
  }

  async offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number | null> {
    const found = this.partition(topic, partition).records.find((r) => r.timestampMs >= timestampMs);
    return found ? found.offset : null;
  }

  async truncate(topicName: string, partition: number, endOffset: number): Promise<void> {
    const p = this.partition(topicName, partition);
    const latest = p.startOffset + p.records.length;
    checkTruncateOffset(topicName, partition, endOffset, p.startOffset, latest);
    p.records.length = endOffset - p.startOffset;
  }

  async commitOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.checkOpen();
    validateGroupName(group);
    for (const o of offsets) {
      this.partition(o.topic, o.partition);
      validateCommittedOffset(o.offset);
    }
    const stored = this.groups.get(group) ?? new Map<string, number>();
    for (const o of offsets) stored.set(`${o.topic}\u0000${o.partition}`, o.offset);
    this.groups.set(group, stored);
  }

  async committedOffsets(group: string, topic?: string): Promise<readonly TopicPartitionOffset[]> {
    this.checkOpen();
    validateGroupName(group);
    const out: TopicPartitionOffset[] = [];
    for (const [k, offset] of this.groups.get(group) ?? []) {
      const [t, p] = k.split('\u0000') as [string, string];
      if (topic === undefined || t === topic) out.push({ topic: t, partition: Number(p), offset });
    }
    return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new FreshetError(ErrorCodes.LOG_CLOSED, 'the log is closed');
  }

  private topic(name: string): MemoryTopic {
    this.checkOpen();
    const topic = this.topics.get(name);
    if (!topic) throw new FreshetError(ErrorCodes.UNKNOWN_TOPIC, `unknown topic '${name}'`, { topic: name });
    return topic;
  }

  private partition(topicName: string, partition: number): MemoryPartition {
    const p = this.topic(topicName).partitions[partition];
    if (!p || !Number.isInteger(partition)) {
      throw new FreshetError(ErrorCodes.UNKNOWN_PARTITION, `topic '${topicName}' has no partition ${partition}`, { topic: topicName, partition });
    }
    return p;
  }
}

/** The contract's rule for `truncate`: an integer end within [earliest, latest]. */
function checkTruncateOffset(topic: string, partition: number, endOffset: number, earliestOffset: number, latestOffset: number): void {
  if (!Number.isInteger(endOffset) || endOffset < earliestOffset || endOffset > latestOffset) {
    throw new FreshetError(
      ErrorCodes.OFFSET_OUT_OF_RANGE,
      `cannot truncate ${topic}/${partition} to ${endOffset}: the end must be an offset in [${earliestOffset}, ${latestOffset}]`,
      { topic, partition, offset: endOffset, earliestOffset, latestOffset },
    );
  }
}
