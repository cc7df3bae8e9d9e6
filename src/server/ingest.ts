import { ErrorCodes, FreshetError, isFreshetError, type ErrorCode } from '../core/errors.js';
import { FreshetHeaders } from '../core/headers.js';
import { deadLetterTopic } from '../quality/dead-letter.js';
import { Limits } from '../core/limits.js';
import type { AppendResult, ProducerRecord, RecordHeader, TopicDescription } from '../log/log.js';
import { partitionForKey } from '../log/partitioner.js';
import { validateTopicName } from '../log/topic-config.js';
import { eventTooLarge, parseJson, parseNdjson, type BodyFormat } from './body.js';
import { parseEventTime } from './event-time.js';
import { MAX_INGEST_TOPIC_NAME_CHARS, type ResolvedServerOptions, type ResolvedTopicOptions } from './options.js';
import { truncateReason } from './validators.js';

/** Header names ingest writes (see FreshetHeaders). */
export const IngestHeaders = {
  INGEST_MS: FreshetHeaders.INGEST_MS,
  DLQ_REASON: FreshetHeaders.DLQ_REASON,
  DLQ_CODE: FreshetHeaders.DLQ_CODE,
  DLQ_STAGE: FreshetHeaders.DLQ_STAGE,
  DLQ_TOPIC: FreshetHeaders.DLQ_TOPIC,
  DLQ_INDEX: FreshetHeaders.DLQ_INDEX,
} as const;

/**
 * The dead-letter topic of `topic`.
 *
 * @example
 * ```ts
 * dlqTopicName('orders') // 'orders.dlq'
 * ```
 */
export const dlqTopicName: (topic: string) => string = deadLetterTopic;

/** One event refused by ingest (it went to the DLQ). */
export interface IngestRejection {
  readonly index: number;
  readonly code: ErrorCode;
  readonly reason: string;
}

/** Where one accepted event was stored. */
export interface IngestOffset {
  readonly index: number;
  readonly partition: number;
  readonly offset: number;
}

/** The result of one ingest request (the HTTP 200 body). */
export interface IngestOutcome {
  readonly accepted: number;
  readonly rejected: readonly IngestRejection[];
  readonly offsets: readonly IngestOffset[];
}

/** Topics remembered (name → partitions, options); past this the cache starts over. */
export const MAX_CACHED_TOPICS = 10_000;

/** Upper bound of the `freshet.ingest.ms` header's bytes (key + a 16-digit value), counted per record. */
const INGEST_HEADER_BYTES = IngestHeaders.INGEST_MS.length + 16;

const NOT_AN_OBJECT = 'event must be a JSON object';

interface TopicState {
  readonly name: string;
  readonly partitions: number;
  readonly options: ResolvedTopicOptions;
  /** Next partition for unkeyed events. */
  roundRobin: number;
}

const NO_VALIDATION: ResolvedTopicOptions = { partitions: 1, validator: null, eventTimeField: null, keyField: null };

/**
 * The ingest pipeline without HTTP: body bytes in, records appended, outcome out. One request does
 * one `append` per partition it touches (plus one for the DLQ), each an atomic batch, all awaited
 * together; there is no promise, closure or try/catch per event.
 *
 * Ordering inside a request: events keep their order within each partition. Across partitions, if
 * one append fails (e.g. FRESHET_LOG_BUSY) others may already be stored: ingest is at-least-once,
 * and a retried request may duplicate events of the partitions that succeeded.
 *
 * @example
 * ```ts
 * const ingestor = new Ingestor(resolveServerOptions({ log, topics: { orders: { partitions: 2 } } }));
 * const outcome = await ingestor.ingest('orders', Buffer.from('{"id":1}\n'), 'ndjson');
 * ```
 */
export class Ingestor {
  private readonly topics = new Map<string, TopicState>();
  private readonly loading = new Map<string, Promise<TopicState>>();
  /** The last append failure that means the log cannot write (cleared by the next success). */
  private writeFailure: FreshetError | null = null;

  constructor(private readonly options: ResolvedServerOptions) {}

  /** Null while the log accepts writes, else the error of the last failed append. */
  get lastWriteFailure(): FreshetError | null {
    return this.writeFailure;
  }

  /** Creates every configured topic that does not exist yet. */
  async ensureConfiguredTopics(): Promise<void> {
    await Promise.all([...this.options.topics.keys()].map((name) => this.topic(name)));
  }

  /**
   * Ingests one request body into `topicName`.
   *
   * @example
   * ```ts
   * const outcome = await ingestor.ingest('orders', Buffer.from('{"id":1}\n{"id":2}\n'), 'ndjson');
   * outcome.offsets // [{ index: 0, partition: 0, offset: 0 }, { index: 1, partition: 0, offset: 1 }]
   * ```
   */
  async ingest(topicName: string, body: Buffer, format: BodyFormat): Promise<IngestOutcome> {
    const topic = this.topics.get(topicName) ?? (await this.topic(topicName));
    const { log, limits, clock } = this.options;
    const ingestMs = clock.nowMs();
    const { values, events } = format === 'ndjson' ? parseNdjson(body, limits) : parseJson(body, limits);
    const count = events.length;
    if (count === 0) return { accepted: 0, rejected: [], offsets: [] };

    const { validator, eventTimeField, keyField } = topic.options;
    // Schema results first; only asynchronous Standard Schemas make this await (once per request).
    let schemaReasons: (string | null | Promise<string | null>)[] | null = null;
    if (validator !== null) {
      schemaReasons = new Array(count);
      let anyAsync = false;
      for (let i = 0; i < count; i++) {
        const event = events[i];
        const r = isObject(event) ? validator(event) : null;
        if (r !== null && typeof r !== 'string') anyAsync = true;
        schemaReasons[i] = r;
      }
      if (anyAsync) schemaReasons = await Promise.all(schemaReasons);
    }

    // One header array shared by every record of the request: its bytes are the same for all.
    const ingestMsText = String(ingestMs);
    const ingestHeaders: readonly RecordHeader[] = [{ key: IngestHeaders.INGEST_MS, value: Buffer.from(ingestMsText) }];
    const partitions = topic.partitions;
    const byPartition: ProducerRecord[][] = new Array(partitions);
    const batchBytes = new Float64Array(partitions);
    const partitionOf = new Int32Array(count).fill(-1);
    const positionOf = new Int32Array(count);
    const rejected: IngestRejection[] = [];
    const dlqRecords: ProducerRecord[] = [];
    const reject = (index: number, code: ErrorCode, reason: string): void => {
      const bounded = truncateReason(reason);
      rejected.push({ index, code, reason: bounded });
      dlqRecords.push(dlqRecord(values[index]!, ingestMs, ingestMsText, topic.name, index, code, bounded));
    };

    for (let i = 0; i < count; i++) {
      const event = events[i];
      if (!isObject(event)) {
        reject(i, ErrorCodes.SCHEMA_VIOLATION, NOT_AN_OBJECT);
        continue;
      }
      if (schemaReasons !== null) {
        const reason = schemaReasons[i] as string | null;
        if (reason !== null) {
          reject(i, ErrorCodes.SCHEMA_VIOLATION, reason);
          continue;
        }
      }
      let timestampMs = ingestMs;
      if (eventTimeField !== null) {
        const raw = event[eventTimeField];
        timestampMs = parseEventTime(raw, ingestMs);
        if (Number.isNaN(timestampMs)) {
          reject(i, ErrorCodes.INVALID_EVENT_TIME, `${eventTimeField} must be an ISO-8601 string with offset or epoch ms >= 0, got ${preview(raw)}`);
          continue;
        }
      }
      let key: Uint8Array | null = null;
      if (keyField !== null) {
        const raw = event[keyField];
        if (typeof raw === 'string') key = Buffer.from(raw);
        else if (typeof raw === 'number' && Number.isFinite(raw)) key = Buffer.from(String(raw));
        else if (raw !== undefined && raw !== null) {
          reject(i, ErrorCodes.SCHEMA_VIOLATION, `key field ${keyField} must be a string or a finite number, got ${preview(raw)}`);
          continue;
        }
      }
      const value = values[i]!;
      const recordBytes = value.length + (key === null ? 0 : key.length) + INGEST_HEADER_BYTES;
      if (recordBytes > Limits.maxRecordBytes) throw eventTooLarge(i, recordBytes, Limits.maxRecordBytes);
      const partition = key === null ? topic.roundRobin++ % partitions : partitionForKey(key, partitions);
      let records = byPartition[partition];
      if (records === undefined) byPartition[partition] = records = [];
      partitionOf[i] = partition;
      positionOf[i] = records.length;
      batchBytes[partition]! += recordBytes;
      records.push({ key, value, timestampMs, headers: ingestHeaders });
    }
    if (topic.roundRobin > 0x3fffffff) topic.roundRobin %= partitions;

    // A batch is atomic in the log, so a request that would exceed the log's batch bound is refused
    // whole rather than split into several batches.
    for (let p = 0; p < partitions; p++) {
      if (batchBytes[p]! > Limits.maxBatchBytes) {
        throw new FreshetError(
          ErrorCodes.PAYLOAD_TOO_LARGE,
          `the request's events for partition ${p} take ${batchBytes[p]} bytes, over the log's ${Limits.maxBatchBytes}-byte batch bound`,
          { partition: p, sizeBytes: batchBytes[p], limitBytes: Limits.maxBatchBytes },
        );
      }
    }

    // The DLQ topic is resolved before anything is appended, so failing to create it appends nothing.
    const dlq = dlqRecords.length > 0 ? await this.topic(dlqTopicName(topic.name), true) : null;

    const appends: Promise<AppendResult>[] = [];
    for (let p = 0; p < partitions; p++) {
      const records = byPartition[p];
      if (records !== undefined) appends.push(log.append(topic.name, p, records));
    }
    if (dlq !== null) {
      appends.push(log.append(dlq.name, dlq.roundRobin++ % dlq.partitions, dlqRecords));
      if (dlq.roundRobin > 0x3fffffff) dlq.roundRobin %= dlq.partitions;
    }
    let results: AppendResult[];
    try {
      results = await Promise.all(appends);
    } catch (error) {
      if (isFreshetError(error, ErrorCodes.LOG_WRITE_FAILED) || isFreshetError(error, ErrorCodes.LOG_CLOSED)) this.writeFailure = error;
      throw error;
    }
    this.writeFailure = null;

    const baseOffsets = new Float64Array(partitions);
    for (const r of results) if (r.topic === topic.name) baseOffsets[r.partition] = r.baseOffset;
    const offsets: IngestOffset[] = new Array(count - rejected.length);
    let k = 0;
    for (let i = 0; i < count; i++) {
      const partition = partitionOf[i]!;
      if (partition >= 0) offsets[k++] = { index: i, partition, offset: baseOffsets[partition]! + positionOf[i]! };
    }
    return { accepted: k, rejected, offsets };
  }

  /** The topic's state, loading (and creating) it on first use. */
  private topic(name: string, isDlq = false): TopicState | Promise<TopicState> {
    const known = this.topics.get(name);
    if (known) return known;
    let pending = this.loading.get(name);
    if (!pending) {
      pending = this.loadTopic(name, isDlq).finally(() => this.loading.delete(name));
      this.loading.set(name, pending);
    }
    return pending;
  }

  private async loadTopic(name: string, isDlq: boolean): Promise<TopicState> {
    validateTopicName(name);
    if (!isDlq && name.length > MAX_INGEST_TOPIC_NAME_CHARS) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `topic names must be at most ${MAX_INGEST_TOPIC_NAME_CHARS} characters so '<topic>.dlq' is valid`, {
        topic: name,
      });
    }
    const { log, topics, autoCreateTopics, defaultPartitions } = this.options;
    const configured = topics.get(name);
    let description: TopicDescription;
    if (configured !== undefined || autoCreateTopics || isDlq) {
      // Dead-letter topics get one partition unless configured: they are for inspection, not throughput.
      const partitions = configured?.partitions ?? (isDlq ? 1 : defaultPartitions);
      description = await ensureTopic(this.options, name, partitions);
    } else {
      description = await log.describeTopic(name); // FRESHET_UNKNOWN_TOPIC → 404
    }
    // An existing topic keeps its own partition count (as in Kafka): keys must map to real partitions.
    const state: TopicState = {
      name,
      partitions: description.partitions.length || description.config.partitions,
      options: configured ?? NO_VALIDATION,
      roundRobin: 0,
    };
    if (this.topics.size >= MAX_CACHED_TOPICS) this.topics.clear();
    this.topics.set(name, state);
    return state;
  }
}

async function ensureTopic(options: ResolvedServerOptions, name: string, partitions: number): Promise<TopicDescription> {
  try {
    return await options.log.ensureTopic(name, { partitions });
  } catch (error) {
    // Another writer created it between the log's existence check and its create.
    if (isFreshetError(error, ErrorCodes.TOPIC_EXISTS)) return options.log.describeTopic(name);
    throw error;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dlqRecord(value: Uint8Array, ingestMs: number, ingestMsText: string, topic: string, index: number, code: ErrorCode, reason: string): ProducerRecord {
  return {
    key: null,
    value,
    timestampMs: ingestMs,
    headers: [
      { key: IngestHeaders.DLQ_REASON, value: Buffer.from(reason) },
      { key: IngestHeaders.DLQ_CODE, value: Buffer.from(code) },
      { key: IngestHeaders.DLQ_STAGE, value: Buffer.from('ingest') },
      { key: IngestHeaders.DLQ_TOPIC, value: Buffer.from(topic) },
      { key: IngestHeaders.DLQ_INDEX, value: Buffer.from(String(index)) },
      { key: IngestHeaders.INGEST_MS, value: Buffer.from(ingestMsText) },
    ],
  };
}

/** A short rendering of a bad field value for a reason. */
function preview(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? 'undefined' : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > 64 ? `${text.slice(0, 63)}…` : text;
}
