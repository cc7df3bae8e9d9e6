import { prepareSinkTopics } from '../sink-topics.js';
import { MessageChannel } from 'node:worker_threads';
import { type Clock, systemClock } from '../../core/clock.js';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { PipelineDefinition } from '../../plan/plan.js';
import type { EventLog } from '../../log/log.js';
import { LogHost } from '../../log/remote/log-host.js';
import { type Plan, describePlan } from '../../plan/plan.js';
import type { CollectedRecord } from '../operators/simple-operators.js';
import { type PipelineModuleRef, loadPipelineDefinition, resolveModuleRef } from './pipeline-module.js';
import type { RoundReply, StartRequest, StatsReply } from './protocol.js';
import { type StageLayout, type TaskSpec, planStages } from './stages.js';
import type { TaskStats } from './task.js';
import { WorkerPool } from './worker-pool.js';
import { type CheckpointStorage, type RunnerCheckpoint, type TaskState, outputPositions, truncateOutputs } from '../checkpointing.js';

export interface ParallelRunnerOptions {
  /** The log, owned by this (the main) thread; workers reach it through a LogHost. */
  readonly log: EventLog;
  /** Worker threads to start (default 1). Ignored when `pool` is given. */
  readonly workers?: number;
  /** Run on these threads instead of starting new ones (the pool outlives the runner). */
  readonly pool?: WorkerPool;
  /** The clock of watermark idleness and commits; workers get its time with every round. */
  readonly clock?: Clock;
  /** Records read per input partition per round. Default 4096. */
  readonly maxBatchRecords?: number;
  /** Where inputs without committed offsets start. Default earliest. */
  readonly startFrom?: 'earliest' | 'latest';
  /** ms between offset commits while running. Default 1000. */
  readonly commitIntervalMs?: number;
  /** Partitions of every repartition topic. Default: the largest partition count of the stream sources. */
  readonly repartitionPartitions?: number;
  /**
   * Exactly-once: a checkpoint every `intervalMs` (default 1000) between rounds, when every task of every
   * worker is at a round boundary; on start, the newest one is restored in every task and the outputs
   * (repartition topics included) are cut back to it. See docs/exactly-once.md.
   */
  readonly checkpoints?: { readonly storage: CheckpointStorage; readonly intervalMs?: number };
}

/** A task's stats with the worker that runs it. */
export interface WorkerTaskStats extends TaskStats {
  readonly worker: number;
}

let runCounter = 0;

/**
 * Runs one pipeline over N worker threads. The plan is split at every keyBy into stages joined by
 * repartition topics (`<pipeline>.<keyBy>.repartition`, partitioned by key), each stage runs as one task
 * per partition, and tasks are spread round-robin over the workers. The main thread owns the log and
 * serves it to the workers; results of `collect()` sinks come back to it after every round.
 *
 * Results are the same for any number of workers (for input without late data; see
 * docs/adr/0007-workers.md for what may differ otherwise). Plans hold functions, so the pipeline is
 * given as a module every thread imports, not as a plan.
 *
 * @example
 * ```ts
 * const runner = await ParallelRunner.start({ module: './pipelines/revenue.ts' }, { log, workers: 4 });
 * await runner.finish();          // bounded: read everything, close every window
 * console.log(runner.collected('revenue'));
 * await runner.close();           // ends the worker threads
 * ```
 */
export class ParallelRunner {
  private readonly clock: Clock;
  private readonly collectedBySink = new Map<string, CollectedRecord[]>();
  private lastWritten = 0;
  private stopped = false;
  private closed = false;
  private lastCheckpointMs: number;

  private constructor(
    readonly definition: PipelineDefinition,
    readonly plan: Plan,
    /** Stages and tasks of the run. */
    readonly layout: StageLayout,
    /** Task ids run by each worker, in run order. */
    readonly assignment: readonly (readonly string[])[],
    private readonly pool: WorkerPool,
    private readonly ownsPool: boolean,
    private readonly hosts: readonly LogHost[],
    private readonly runId: string,
    private readonly options: ParallelRunnerOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.lastCheckpointMs = this.clock.nowMs();
  }

  /** Loads the pipeline, creates sink and repartition topics, starts (or borrows) workers and their tasks. */
  static async start(pipeline: PipelineModuleRef, options: ParallelRunnerOptions): Promise<ParallelRunner> {
    const { log } = options;
    const clock = options.clock ?? systemClock;
    const ref = resolveModuleRef(pipeline) as StartRequest['pipeline'];
    const definition = await loadPipelineDefinition(ref);
    const plan = definition.plan();
    const partitions = new Map<string, number>();
    for (const node of plan.nodes) {
      if (node.kind === 'source' && !partitions.has(node.topic)) partitions.set(node.topic, (await log.describeTopic(node.topic)).partitions.length);
    }
    await prepareSinkTopics(plan, log, clock.nowMs());
    const layout = planStages(plan, {
      partitionsOf: (topic) => partitions.get(topic)!,
      ...(options.repartitionPartitions !== undefined && { repartitionPartitions: options.repartitionPartitions }),
    });
    for (const r of layout.repartitions) {
      const existing = await log.ensureTopic(r.topic, { partitions: layout.repartitionPartitions });
      if (existing.partitions.length !== layout.repartitionPartitions) {
        throw new FreshetError(
          ErrorCodes.INVALID_ARGUMENT,
          `repartition topic '${r.topic}' has ${existing.partitions.length} partitions, this run needs ${layout.repartitionPartitions}: pass repartitionPartitions: ${existing.partitions.length} or delete the topic`,
          { topic: r.topic },
        );
      }
    }
    const ownsPool = options.pool === undefined;
    const pool = options.pool ?? (await WorkerPool.start(options.workers ?? 1));
    const byWorker: TaskSpec[][] = Array.from({ length: pool.size }, () => []);
    layout.tasks.forEach((task, i) => byWorker[i % pool.size]!.push(task));
    const runId = `${plan.pipeline}#${process.pid}.${++runCounter}`;
    const hosts: LogHost[] = [];
    const planJson = JSON.stringify(describePlan(plan));
    const taskOptions = {
      maxBatchRecords: options.maxBatchRecords ?? 4096,
      startFrom: options.startFrom ?? 'earliest',
      commitIntervalMs: options.commitIntervalMs ?? 1000,
      group: `freshet.${plan.pipeline}`,
    } as const;
    // From a checkpoint: outputs (repartition topics too) cut back to it, every task's state handed over.
    const repartitionTopics = layout.repartitions.map((r) => r.topic);
    const checkpoint = options.checkpoints ? await options.checkpoints.storage.latest() : null;
    if (checkpoint !== null) await truncateOutputs(log, plan, checkpoint, repartitionTopics);
    const restoreOf = new Map(checkpoint?.tasks.map((t) => [t.taskId, t]));
    const started: number[] = [];
    try {
      await Promise.all(
        byWorker.map(async (tasks, w) => {
          if (tasks.length === 0) return;
          const { port1, port2 } = new MessageChannel();
          hosts.push(LogHost.serve(log, port1));
          const restore = checkpoint === null ? undefined : tasks.flatMap((t) => restoreOf.get(t.id) ?? []);
          const request: StartRequest = {
            op: 'start',
            runId,
            nowMs: clock.nowMs(),
            pipeline: ref,
            planJson,
            layout,
            tasks,
            options: taskOptions,
            logPort: port2,
            ...(restore !== undefined ? { restore } : {}),
          };
          await pool.call(w, request, [port2]);
          started.push(w);
        }),
      );
    } catch (error) {
      await Promise.allSettled(started.map((w) => pool.call(w, { op: 'end', runId, nowMs: clock.nowMs() })));
      await Promise.allSettled(hosts.map((h) => h.close()));
      if (ownsPool) await pool.close();
      throw error;
    }
    const assignment = byWorker.map((tasks) => tasks.map((t) => t.id));
    const runner = new ParallelRunner(definition, plan, layout, assignment, pool, ownsPool, hosts, runId, options);
    // A first checkpoint before any input (see PipelineRunner.start).
    if (options.checkpoints !== undefined && checkpoint === null) await runner.checkpoint();
    return runner;
  }

  /**
   * Takes a checkpoint now, between rounds: every task is at a round boundary with its outputs flushed,
   * so the tasks' offsets and state and the outputs' ends (repartition topics included) are one cut.
   */
  async checkpoint(): Promise<RunnerCheckpoint> {
    const storage = this.options.checkpoints?.storage;
    if (storage === undefined) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `pipeline '${this.plan.pipeline}' runs without checkpoints`);
    const tasks = (await this.everyWorker<TaskState[]>('snapshot')).flat();
    const checkpoint: RunnerCheckpoint = {
      id: storage.nextId(),
      takenAtMs: this.clock.nowMs(),
      outputs: await outputPositions(this.options.log, this.plan, this.layout.repartitions.map((r) => r.topic)),
      tasks,
    };
    await storage.save(checkpoint);
    this.lastCheckpointMs = checkpoint.takenAtMs;
    return checkpoint;
  }

  /** Results collected by `collect(sinkName)` sinks in every worker (each worker's in its order). */
  collected(sinkName: string): readonly CollectedRecord[] {
    return this.collectedBySink.get(sinkName) ?? [];
  }

  /** One round in every worker (concurrently). Returns the records read (data and control). */
  async step(): Promise<number> {
    const reply = await this.everyWorker<RoundReply>('step');
    let read = 0;
    let written = 0;
    for (const r of reply) {
      read += r.read;
      written += r.written;
      this.gather(r);
    }
    this.lastWritten = written;
    const checkpoints = this.options.checkpoints;
    if (checkpoints !== undefined && this.clock.nowMs() - this.lastCheckpointMs >= (checkpoints.intervalMs ?? 1000)) await this.checkpoint();
    return read;
  }

  /** Steps until a round neither reads nor writes anything (repartition topics included). */
  async runUntilCaughtUp(): Promise<void> {
    while ((await this.step()) > 0 || this.lastWritten > 0) {
      // keep going
    }
  }

  /** Runs until `stop()`, polling every `pollIntervalMs` when caught up; commits on the way out. */
  async run(pollIntervalMs = 50): Promise<void> {
    while (!this.stopped) {
      const read = await this.step();
      if (read === 0 && this.lastWritten === 0 && !this.stopped) await new Promise((r) => setTimeout(r, pollIntervalMs));
    }
    if (this.options.checkpoints !== undefined) await this.checkpoint();
    await this.everyWorker('commit');
  }

  /**
   * Bounded runs: reads everything, then moves every source's watermark to the end; the end travels
   * through the repartition topics as control records, so every window of every stage closes.
   */
  async finish(): Promise<void> {
    await this.runUntilCaughtUp();
    for (const r of await this.everyWorker<RoundReply>('finishSources')) this.gather(r);
    await this.runUntilCaughtUp();
    if (this.options.checkpoints !== undefined) await this.checkpoint();
    await this.everyWorker('commit');
  }

  /** Asks `run()` to return after its current round. */
  stop(): void {
    this.stopped = true;
  }

  /** Every task's counters and watermarks, with its worker. */
  async stats(): Promise<WorkerTaskStats[]> {
    const out: WorkerTaskStats[] = [];
    const workers = this.activeWorkers();
    const replies = await Promise.all(workers.map((w) => this.pool.call<StatsReply>(w, { op: 'stats', runId: this.runId, nowMs: this.clock.nowMs() })));
    replies.forEach((stats, i) => {
      for (const s of stats) out.push({ ...s, worker: workers[i]! });
    });
    return out;
  }

  /** Commits, ends the tasks, and ends the worker threads unless the pool was borrowed (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.everyWorker('end');
    } finally {
      await Promise.allSettled(this.hosts.map((h) => h.close()));
      if (this.ownsPool) await this.pool.close();
    }
  }

  private activeWorkers(): number[] {
    return this.assignment.flatMap((tasks, w) => (tasks.length > 0 ? [w] : []));
  }

  private async everyWorker<T>(op: 'step' | 'finishSources' | 'commit' | 'snapshot' | 'end'): Promise<T[]> {
    if (this.closed && op !== 'end') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the runner is closed');
    const nowMs = this.clock.nowMs();
    return Promise.all(this.activeWorkers().map((w) => this.pool.call<T>(w, { op, runId: this.runId, nowMs })));
  }

  private gather(reply: RoundReply): void {
    for (const [sinkName, records] of reply.collected) {
      const list = this.collectedBySink.get(sinkName);
      if (list === undefined) this.collectedBySink.set(sinkName, records);
      else for (const r of records) list.push(r);
    }
  }
}
