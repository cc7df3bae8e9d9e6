/**
 * TEMPORARY development stand-in for the embedded log: a MemoryLog persisted as one JSON file, so the
 * CLI can be exercised across processes before `EmbeddedLog` exists. Reloads the file when another
 * process changed it. Not for real data: it rewrites the whole file on every mutation.
 */
import fs from 'node:fs';
import path from 'node:path';
import type {
  AppendResult,
  EventLog,
  ProducerRecord,
  ReadOptions,
  ReadResult,
  TopicConfig,
  TopicDescription,
  TopicPartitionOffset,
} from '../log/log.js';
import { MemoryLog } from '../log/memory/memory-log.js';
import { recordsOf } from '../log/record-batch.js';

interface StoredRecord {
  o: number;
  t: number;
  k: string | null;
  v: string | null;
  h: [string, string][];
}
interface StoredTopic {
  config: TopicConfig;
  partitions: StoredRecord[][];
}

const b64 = (b: Uint8Array | null | undefined): string | null => (b ? Buffer.from(b).toString('base64') : null);
const unb64 = (s: string | null): Uint8Array | null => (s === null ? null : new Uint8Array(Buffer.from(s, 'base64')));

export class DevFileLog implements EventLog {
  private inner = new MemoryLog();
  private stamp = '';

  private constructor(private readonly file: string) {}

  static async open(options: { dataDir: string }): Promise<DevFileLog> {
    fs.mkdirSync(options.dataDir, { recursive: true });
    const log = new DevFileLog(path.join(options.dataDir, 'dev-log.json'));
    await log.refresh();
    return log;
  }

  private async refresh(): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      return;
    }
    const stamp = `${st.mtimeMs}:${st.size}`;
    if (stamp === this.stamp) return;
    const data = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, StoredTopic>;
    const inner = new MemoryLog();
    for (const [name, topic] of Object.entries(data)) {
      await inner.createTopic(name, topic.config);
      for (const [p, records] of topic.partitions.entries()) {
        if (records.length === 0) continue;
        await inner.append(
          name,
          p,
          records.map((r) => ({
            timestampMs: r.t,
            key: unb64(r.k),
            value: unb64(r.v),
            headers: r.h.map(([key, v]) => ({ key, value: unb64(v)! })),
          })),
        );
      }
    }
    this.inner = inner;
    this.stamp = stamp;
  }

  private async persist(): Promise<void> {
    const data: Record<string, StoredTopic> = {};
    for (const name of await this.inner.listTopics()) {
      const d = await this.inner.describeTopic(name);
      const partitions: StoredRecord[][] = [];
      for (const p of d.partitions) {
        const { batches } = await this.inner.read(name, p.partition, 0, { maxRecords: Number.MAX_SAFE_INTEGER });
        partitions.push(
          recordsOf(batches).map((r) => ({ o: r.offset, t: r.timestampMs, k: b64(r.key), v: b64(r.value), h: r.headers.map((h) => [h.key, b64(h.value)!]) })),
        );
      }
      data[name] = { config: d.config, partitions };
    }
    const tmp = `${this.file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(data));
    fs.renameSync(tmp, this.file);
    const st = fs.statSync(this.file);
    this.stamp = `${st.mtimeMs}:${st.size}`;
  }

  async createTopic(name: string, config: TopicConfig): Promise<void> {
    await this.refresh();
    await this.inner.createTopic(name, config);
    await this.persist();
  }
  async ensureTopic(name: string, config: TopicConfig): Promise<TopicDescription> {
    await this.refresh();
    const d = await this.inner.ensureTopic(name, config);
    await this.persist();
    return d;
  }
  async deleteTopic(name: string): Promise<void> {
    await this.refresh();
    await this.inner.deleteTopic(name);
    await this.persist();
  }
  async listTopics(): Promise<readonly string[]> {
    await this.refresh();
    return this.inner.listTopics();
  }
  async describeTopic(name: string): Promise<TopicDescription> {
    await this.refresh();
    return this.inner.describeTopic(name);
  }
  async append(topic: string, partition: number, records: readonly ProducerRecord[]): Promise<AppendResult> {
    await this.refresh();
    const r = await this.inner.append(topic, partition, records);
    await this.persist();
    return r;
  }
  async produce(topic: string, records: readonly ProducerRecord[]): Promise<readonly TopicPartitionOffset[]> {
    await this.refresh();
    const r = await this.inner.produce(topic, records);
    await this.persist();
    return r;
  }
  async read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<ReadResult> {
    await this.refresh();
    return this.inner.read(topic, partition, offset, options);
  }
  async earliestOffset(topic: string, partition: number): Promise<number> {
    await this.refresh();
    return this.inner.earliestOffset(topic, partition);
  }
  async latestOffset(topic: string, partition: number): Promise<number> {
    await this.refresh();
    return this.inner.latestOffset(topic, partition);
  }
  async offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number | null> {
    await this.refresh();
    return this.inner.offsetForTimestamp(topic, partition, timestampMs);
  }
  async commitOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    await this.inner.commitOffsets(group, offsets);
  }
  async committedOffsets(group: string, topic?: string): Promise<readonly TopicPartitionOffset[]> {
    return this.inner.committedOffsets(group, topic);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}
