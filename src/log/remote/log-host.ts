import type { MessagePort } from 'node:worker_threads';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { EventLog, ReadOptions, TopicConfig, TopicPartitionOffset } from '../log.js';
import { type LogRequest, type LogResponse, type WireProduceResult, type WireReadResult, transferError } from './protocol.js';
import { decodeProducerRecords, encodeConsumedRecords } from './record-codec.js';

export interface LogHostOptions {
  /**
   * The client's `close()` also closes the served log (one client per log, e.g. a log opened for one
   * worker). Default false: closing the client only detaches it, and the log stays open for others.
   */
  readonly ownsLog?: boolean;
}

/**
 * Serves an EventLog to a `RemoteLog` on the other end of a MessagePort: the thread that owns the log
 * (the embedded log allows one writer per directory) lends it to worker threads. Each request is
 * dispatched to the log as soon as it arrives, in arrival order, so appends keep the client's call
 * order; responses go back when each call settles.
 *
 * @example
 * ```ts
 * const log = await EmbeddedLog.open({ dataDir: './.freshet' });
 * const { port1, port2 } = new MessageChannel();
 * const host = LogHost.serve(log, port1);
 * const worker = new Worker(url, { workerData: { logPort: port2 }, transferList: [port2] });
 * // in the worker: const remote = new RemoteLog(workerData.logPort);
 * ```
 */
export class LogHost {
  private readonly inflight = new Set<Promise<void>>();
  private detached = false;

  private constructor(
    private readonly log: EventLog,
    private readonly port: MessagePort,
    private readonly options: LogHostOptions,
  ) {
    port.on('message', (request: LogRequest) => this.handle(request));
  }

  /** Starts answering the requests arriving on `port` with `log`. */
  static serve(log: EventLog, port: MessagePort, options: LogHostOptions = {}): LogHost {
    return new LogHost(log, port, options);
  }

  /** Requests being served right now. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Stops serving: waits for the calls in flight, then closes the port (the log stays open). */
  async close(): Promise<void> {
    this.detached = true;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    this.port.close();
  }

  private handle(request: LogRequest): void {
    if (request.op === 'close') {
      void this.closeForClient(request.id);
      return;
    }
    let call: Promise<[unknown, ArrayBuffer[]]>;
    try {
      if (this.detached) throw new FreshetError(ErrorCodes.LOG_CLOSED, 'the log is closed');
      call = this.dispatch(request);
    } catch (error) {
      call = Promise.reject(error);
    }
    const tracked: Promise<void> = call.then(
      ([result, transfer]) => this.reply({ id: request.id, ok: true, result }, transfer),
      (error: unknown) => this.reply({ id: request.id, ok: false, error: transferError(error) }, []),
    );
    this.inflight.add(tracked);
    // A failed reply (the port is gone) must not become an unhandled rejection.
    tracked.catch(() => {}).finally(() => this.inflight.delete(tracked));
  }

  /** Calls the log at once (no await before the call: arrival order is call order). */
  private dispatch(request: LogRequest): Promise<[unknown, ArrayBuffer[]]> {
    const log = this.log;
    const a = request.args;
    const plain = async (p: Promise<unknown>): Promise<[unknown, ArrayBuffer[]]> => [await p, []];
    switch (request.op) {
      case 'createTopic':
        return plain(log.createTopic(a[0] as string, a[1] as TopicConfig));
      case 'ensureTopic':
        return plain(log.ensureTopic(a[0] as string, a[1] as TopicConfig));
      case 'deleteTopic':
        return plain(log.deleteTopic(a[0] as string));
      case 'listTopics':
        return plain(log.listTopics());
      case 'describeTopic':
        return plain(log.describeTopic(a[0] as string));
      case 'append':
        return plain(log.append(a[0] as string, a[1] as number, decodeProducerRecords(request.records!)));
      case 'produce':
        return log.produce(a[0] as string, decodeProducerRecords(request.records!)).then((acks) => {
          const partitions = new Uint32Array(acks.length);
          const offsets = new Float64Array(acks.length);
          for (let i = 0; i < acks.length; i++) {
            partitions[i] = acks[i]!.partition;
            offsets[i] = acks[i]!.offset;
          }
          const result: WireProduceResult = { partitions: partitions.buffer, offsets: offsets.buffer };
          return [result, [partitions.buffer, offsets.buffer]];
        });
      case 'read':
        return log.read(a[0] as string, a[1] as number, a[2] as number, a[3] as ReadOptions | undefined).then((r) => {
          const records = encodeConsumedRecords(r.batches);
          const result: WireReadResult = { records, nextOffset: r.nextOffset, highWatermark: r.highWatermark };
          return [result, records ? [records] : []];
        });
      case 'earliestOffset':
        return plain(log.earliestOffset(a[0] as string, a[1] as number));
      case 'latestOffset':
        return plain(log.latestOffset(a[0] as string, a[1] as number));
      case 'offsetForTimestamp':
        return plain(log.offsetForTimestamp(a[0] as string, a[1] as number, a[2] as number));
      case 'truncate':
        return plain(log.truncate(a[0] as string, a[1] as number, a[2] as number));
      case 'commitOffsets':
        return plain(log.commitOffsets(a[0] as string, a[1] as readonly TopicPartitionOffset[]));
      case 'committedOffsets':
        return plain(log.committedOffsets(a[0] as string, a[1] as string | undefined));
      default:
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `unknown log operation '${String(request.op)}'`);
    }
  }

  /** The client closed: let the calls in flight settle, close the log if we own it, answer, detach. */
  private async closeForClient(id: number): Promise<void> {
    this.detached = true;
    let response: LogResponse = { id, ok: true, result: undefined };
    // Calls in flight finish against an open log first.
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    try {
      if (this.options.ownsLog) await this.log.close();
    } catch (error) {
      response = { id, ok: false, error: transferError(error) };
    }
    this.reply(response, []);
    this.port.close();
  }

  private reply(response: LogResponse, transfer: ArrayBuffer[]): void {
    try {
      this.port.postMessage(response, transfer);
    } catch (error) {
      // A result that cannot be cloned is a bug; still answer so the caller does not hang.
      if (response.ok) this.port.postMessage({ id: response.id, ok: false, error: transferError(error) } satisfies LogResponse);
    }
  }
}
