import { type TransferListItem, Worker } from 'node:worker_threads';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { Limits } from '../../core/limits.js';
import { restoreError, transferError } from '../../log/remote/protocol.js';
import type { WorkerHello, WorkerReply, WorkerRequest } from './protocol.js';

/*
 * Worker threads start from a tiny CommonJS bootstrap (evaluated, so no extra file ships): it registers
 * tsx when Freshet itself runs from TypeScript sources (tests, `node --import tsx src/cli/main.ts`), then
 * imports worker-main. From the compiled package no loader is needed; a TypeScript pipeline module is
 * then loaded with tsx's tsImport by pipeline-module.ts.
 */
const BOOTSTRAP = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.main);
})().catch((error) => {
  parentPort.postMessage({ hello: 'failed', error: { name: 'Error', message: String((error && error.message) || error), stack: error && error.stack } });
});
`;

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/** One worker thread and its outstanding requests. */
class PoolWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | null = null;
  readonly ready: Promise<void>;

  constructor(
    readonly index: number,
    readonly worker: Worker,
  ) {
    this.ready = new Promise((resolve, reject) => {
      worker.on('message', (message: WorkerReply | WorkerHello) => {
        if ('hello' in message) {
          if (message.hello === 'ready') resolve();
          else this.fail(restoreError(message.error), reject);
          return;
        }
        const p = this.pending.get(message.id);
        if (p === undefined) return;
        this.pending.delete(message.id);
        if (message.ok) p.resolve(message.result);
        else p.reject(restoreError(message.error));
      });
      worker.on('error', (error) => this.fail(error, reject));
      worker.on('exit', (code) => this.fail(new FreshetError(ErrorCodes.INTERNAL, `worker thread ${index} exited (code ${code})`), reject));
    });
  }

  call(request: WorkerRequest, transfer: readonly TransferListItem[]): Promise<unknown> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...request, id }, transfer as TransferListItem[]);
      } catch (error) {
        this.pending.delete(id);
        reject(restoreError(transferError(error)));
      }
    });
  }

  private fail(error: Error, rejectReady: (error: Error) => void): void {
    if (this.failure !== null) return;
    this.failure = new FreshetError(ErrorCodes.INTERNAL, `worker thread ${this.index} failed: ${error.message}`, undefined, { cause: error });
    rejectReady(this.failure);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}

/**
 * A set of worker threads that run pipeline tasks. A ParallelRunner starts one of its own by default;
 * pass a pool to share threads between runs (starting a thread and loading the pipeline code costs
 * hundreds of milliseconds, so tests and hosts that run many pipelines keep one pool).
 *
 * @example
 * ```ts
 * const pool = await WorkerPool.start(4);
 * const a = await ParallelRunner.start({ module: './a.ts' }, { log, pool });
 * const b = await ParallelRunner.start({ module: './b.ts' }, { log, pool });
 * // ...
 * await a.close(); await b.close();
 * await pool.close();
 * ```
 */
export class WorkerPool {
  private closed = false;

  private constructor(private readonly workers: readonly PoolWorker[]) {}

  /** Starts `size` worker threads and waits until each is ready. */
  static async start(size: number): Promise<WorkerPool> {
    if (!Number.isInteger(size) || size < 1 || size > Limits.maxWorkers) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `workers must be an integer in [1, ${Limits.maxWorkers}], got ${size}`);
    }
    const fromSources = import.meta.url.endsWith('.ts');
    const main = new URL(`./worker-main.${fromSources ? 'ts' : 'js'}`, import.meta.url).href;
    const tsx = fromSources ? import.meta.resolve('tsx/esm/api') : null;
    const workers = Array.from({ length: size }, (_, i) => new PoolWorker(i, new Worker(BOOTSTRAP, { eval: true, workerData: { main, tsx }, name: `freshet-worker-${i}` })));
    const pool = new WorkerPool(workers);
    try {
      await Promise.all(workers.map((w) => w.ready));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Sends one request to worker `index` and resolves with its reply. */
  call<T>(index: number, request: WorkerRequest, transfer: readonly TransferListItem[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the worker pool is closed'));
    return this.workers[index]!.call(request, transfer) as Promise<T>;
  }

  /** Terminates every thread (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
