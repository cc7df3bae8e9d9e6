/**
 * The entry of a Freshet worker thread (started by WorkerPool). It loads pipeline modules, runs the tasks
 * the main thread assigns, and talks to the log through a RemoteLog. Several runs may share a worker;
 * each run's requests arrive one at a time.
 */
import { parentPort } from 'node:worker_threads';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { transferError } from '../../log/remote/protocol.js';
import { RemoteLog } from '../../log/remote/remote-log.js';
import { describePlan } from '../../plan/plan.js';
import type { CollectedRecord } from '../operators/simple-operators.js';
import { loadPipelineDefinition } from './pipeline-module.js';
import type { RoundReply, RunRequest, StartRequest, WorkerHello, WorkerReply, WorkerRequest } from './protocol.js';
import { StageTask } from './task.js';

/** One pipeline run's tasks in this worker. */
class WorkerRun {
  /** Set when a round failed: its offsets may be ahead of its flushed outputs, so they are not committed. */
  private failed = false;

  private constructor(
    private readonly log: RemoteLog,
    private readonly tasks: readonly StageTask[],
  ) {}

  static async start(request: StartRequest): Promise<WorkerRun> {
    const log = new RemoteLog(request.logPort);
    try {
      const definition = await loadPipelineDefinition(request.pipeline);
      const plan = definition.plan();
      if (JSON.stringify(describePlan(plan)) !== request.planJson) {
        throw new FreshetError(
          ErrorCodes.INVALID_ARGUMENT,
          `pipeline '${plan.pipeline}' built a different plan in a worker thread than in the main thread: a pipeline definition must build the same plan every time`,
        );
      }
      const tasks: StageTask[] = [];
      const restore = new Map(request.restore?.map((t) => [t.taskId, t]));
      for (const spec of request.tasks) tasks.push(await StageTask.create(plan, request.layout, spec, log, request.options, request.nowMs, restore.get(spec.id)));
      return new WorkerRun(log, tasks);
    } catch (error) {
      await log.close().catch(() => undefined);
      throw error;
    }
  }

  step(nowMs: number): Promise<RoundReply> {
    return this.guard(async () => {
      let read = 0;
      let written = 0;
      // Tasks run one after the other, upstream stages first, so a downstream task here sees this round's output.
      for (const task of this.tasks) {
        const r = await task.step(nowMs);
        read += r.read;
        written += r.written;
      }
      return { read, written, collected: this.drain() };
    });
  }

  finishSources(nowMs: number): Promise<RoundReply> {
    return this.guard(async () => {
      let written = 0;
      for (const task of this.tasks) written += await task.finishSources(nowMs);
      return { read: 0, written, collected: this.drain() };
    });
  }

  async commit(nowMs: number): Promise<void> {
    if (this.failed) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'a round of this run failed: its offsets are not committed');
    for (const task of this.tasks) await task.commit(nowMs);
  }

  stats() {
    return this.tasks.map((t) => t.stats());
  }

  snapshot() {
    if (this.failed) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'a round of this run failed: no checkpoint of it');
    return this.tasks.map((t) => t.snapshot());
  }

  async end(nowMs: number): Promise<void> {
    try {
      if (!this.failed) await this.commit(nowMs);
    } finally {
      await this.log.close();
    }
  }

  private async guard<T>(round: () => Promise<T>): Promise<T> {
    try {
      return await round();
    } catch (error) {
      this.failed = true;
      throw error;
    }
  }

  private drain(): [string, CollectedRecord[]][] {
    const out = new Map<string, CollectedRecord[]>();
    for (const task of this.tasks) task.drainCollected(out);
    return [...out];
  }
}

const port = parentPort;
if (port === null) throw new Error('worker-main runs in a worker thread');
const runs = new Map<string, WorkerRun>();

async function dispatch(request: WorkerRequest): Promise<unknown> {
  if (request.op === 'start') {
    if (runs.has(request.runId)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `run ${request.runId} already started`);
    runs.set(request.runId, await WorkerRun.start(request));
    return null;
  }
  const run = runs.get((request as RunRequest).runId);
  if (run === undefined) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `no run ${request.runId} in this worker`);
  switch (request.op) {
    case 'step':
      return run.step(request.nowMs);
    case 'finishSources':
      return run.finishSources(request.nowMs);
    case 'commit':
      return run.commit(request.nowMs);
    case 'stats':
      return run.stats();
    case 'snapshot':
      return run.snapshot();
    case 'end':
      runs.delete(request.runId);
      return run.end(request.nowMs);
  }
}

function reply(id: number, outcome: { result: unknown } | { error: unknown }): void {
  try {
    if ('result' in outcome) port!.postMessage({ id, ok: true, result: outcome.result ?? null } satisfies WorkerReply);
    else port!.postMessage({ id, ok: false, error: transferError(outcome.error) } satisfies WorkerReply);
  } catch (error) {
    // A result that cannot be cloned (e.g. a collected value holding a function): say so, do not crash.
    const reason = new FreshetError(ErrorCodes.INVALID_ARGUMENT, `cannot send a result to the main thread: ${(error as Error).message}`);
    port!.postMessage({ id, ok: false, error: transferError(reason) } satisfies WorkerReply);
  }
}

port.on('message', (message: WorkerRequest & { id: number }) => {
  dispatch(message).then(
    (result) => reply(message.id, { result }),
    (error: unknown) => reply(message.id, { error }),
  );
});
port.postMessage({ hello: 'ready' } satisfies WorkerHello);
