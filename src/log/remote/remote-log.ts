import type { MessagePort } from 'node:worker_threads';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
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
import { type LogOp, type LogRequest, type LogResponse, type WireProduceResult, type WireReadResult, restoreError } from './protocol.js';
import { PackedRecordBatch, encodeProducerRecords } from './record-codec.js';

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/**
 * An EventLog whose calls are served by a `LogHost` at the other end of a MessagePort: how worker
 * threads use the log the main thread owns. One message per call: an append or produce sends its
 * records as one transferred buffer, a read returns its records as one buffer wrapped in a
 * `PackedRecordBatch` view (no per-record objects, no per-record messages). Errors keep their
 * `FRESHET_*` codes.
 *
 * `close()` detaches this client (and closes the log too when the host was started with
 * `ownsLog: true`); later calls fail with FRESHET_LOG_CLOSED.
 *
 * @example
 * ```ts
 * // worker thread
 * import { workerData } from 'node:worker_threads';
 * const log = new RemoteLog(workerData.logPort);
 * const { batches } = await log.read('orders', 0, 0, { maxRecords: 1000 });
 * await log.produce('orders.enriched', records);
 * await log.close();
 * ```
 */
export class RemoteLog implements EventLog {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(private readonly port: MessagePort) {
    port.on('message', (response: LogResponse) => {
      const p = this.pending.get(response.id);
      if (p === undefined) return;
      this.pending.delete(response.id);
      if (response.ok) p.resolve(response.result);
      else p.reject(restoreError(response.error));
    });
    port.on('close', () => this.failPending('the log host went away'));
  }

  async createTopic(name: string, config: TopicConfig): Promise<void> {
    await this.call('createTopic', [name, config]);
  }

  async ensureTopic(name: string, config: TopicConfig): Promise<TopicDescription> {
    return (await this.call('ensureTopic', [name, config])) as TopicDescription;
  }

  async deleteTopic(name: string): Promise<void> {
    await this.call('deleteTopic', [name]);
  }

  async listTopics(): Promise<readonly string[]> {
    return (await this.call('listTopics', [])) as string[];
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    return (await this.call('describeTopic', [name])) as TopicDescription;
  }

  async append(topic: string, partition: number, records: readonly ProducerRecord[]): Promise<AppendResult> {
    this.checkOpen();
    return (await this.call('append', [topic, partition], encodeProducerRecords(records))) as AppendResult;
  }

  async produce(topic: string, records: readonly ProducerRecord[]): Promise<readonly TopicPartitionOffset[]> {
    this.checkOpen();
    const wire = (await this.call('produce', [topic], encodeProducerRecords(records))) as WireProduceResult;
    const partitions = new Uint32Array(wire.partitions);
    const offsets = new Float64Array(wire.offsets);
    const out: TopicPartitionOffset[] = new Array(partitions.length);
    for (let i = 0; i < partitions.length; i++) out[i] = { topic, partition: partitions[i]!, offset: offsets[i]! };
    return out;
  }

  async read(topic: string, partition: number, offset: number, options?: ReadOptions): Promise<ReadResult> {
    const wire = (await this.call('read', options === undefined ? [topic, partition, offset] : [topic, partition, offset, options])) as WireReadResult;
    return {
      batches: wire.records === null ? [] : [new PackedRecordBatch(topic, partition, wire.records)],
      nextOffset: wire.nextOffset,
      highWatermark: wire.highWatermark,
    };
  }

  async earliestOffset(topic: string, partition: number): Promise<number> {
    return (await this.call('earliestOffset', [topic, partition])) as number;
  }

  async latestOffset(topic: string, partition: number): Promise<number> {
    return (await this.call('latestOffset', [topic, partition])) as number;
  }

  async offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number | null> {
    return (await this.call('offsetForTimestamp', [topic, partition, timestampMs])) as number | null;
  }

  async truncate(topic: string, partition: number, endOffset: number): Promise<void> {
    this.checkOpen();
    await this.call('truncate', [topic, partition, endOffset]);
  }

  async commitOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    await this.call('commitOffsets', [group, offsets]);
  }

  async committedOffsets(group: string, topic?: string): Promise<readonly TopicPartitionOffset[]> {
    return (await this.call('committedOffsets', topic === undefined ? [group] : [group, topic])) as TopicPartitionOffset[];
  }

  /** Detaches from the host (idempotent). Calls already sent complete or fail with a coded error first. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    this.closing = this.send('close', [])
      .then(
        () => undefined,
        (error: unknown) => {
          if ((error as { code?: string }).code !== ErrorCodes.LOG_CLOSED) throw error;
        },
      )
      .finally(() => {
        this.port.close();
        this.failPending('the log is closed');
      });
    return this.closing;
  }

  private checkOpen(): void {
    if (this.closed) throw new FreshetError(ErrorCodes.LOG_CLOSED, 'the log is closed');
  }

  private call(op: LogOp, args: readonly unknown[], records?: ArrayBuffer): Promise<unknown> {
    if (this.closed) return Promise.reject(new FreshetError(ErrorCodes.LOG_CLOSED, 'the log is closed'));
    return this.send(op, args, records);
  }

  private send(op: LogOp, args: readonly unknown[], records?: ArrayBuffer): Promise<unknown> {
    const id = this.nextId++;
    const request: LogRequest = records === undefined ? { id, op, args } : { id, op, args, records };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.port.postMessage(request, records === undefined ? [] : [records]);
      } catch (error) {
        this.pending.delete(id);
        reject(new FreshetError(ErrorCodes.INVALID_ARGUMENT, `cannot send ${op} to the log host: ${(error as Error).message}`, undefined, { cause: error }));
      }
    });
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new FreshetError(ErrorCodes.LOG_CLOSED, reason));
    }
  }
}
