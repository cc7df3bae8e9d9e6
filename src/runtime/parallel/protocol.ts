import type { MessagePort } from 'node:worker_threads';
import type { TransferredError } from '../../log/remote/protocol.js';
import type { TaskState } from '../checkpointing.js';
import type { CollectedRecord } from '../operators/simple-operators.js';
import type { PipelineModuleRef } from './pipeline-module.js';
import type { StageLayout, TaskSpec } from './stages.js';
import type { TaskOptions, TaskStats } from './task.js';

/*
 * Messages between a ParallelRunner (main thread) and its worker threads: one request per runner call
 * per worker (start, each round, finish, stats, end), never one per record. Results of `collect()` sinks
 * ride on the step replies, one array per sink per round.
 *
 *   request := { id, op, runId, nowMs, ... }   reply := { id, ok: true, result } | { id, ok: false, error }
 */

export interface StartRequest {
  readonly op: 'start';
  readonly runId: string;
  readonly nowMs: number;
  /** The pipeline's module, with an absolute URL. */
  readonly pipeline: PipelineModuleRef & { readonly module: string };
  /** `describePlan` of the main thread's plan as JSON: every worker must build the same plan. */
  readonly planJson: string;
  readonly layout: StageLayout;
  /** The tasks this worker runs, in the order it runs them each round. */
  readonly tasks: readonly TaskSpec[];
  readonly options: TaskOptions;
  /** The worker's end of a channel served by a LogHost in the main thread. */
  readonly logPort: MessagePort;
  /** Restored from a checkpoint: the state of (some of) this worker's tasks. */
  readonly restore?: readonly TaskState[];
}

export interface RunRequest {
  readonly op: 'step' | 'finishSources' | 'commit' | 'stats' | 'snapshot' | 'end';
  readonly runId: string;
  readonly nowMs: number;
}

export type WorkerRequest = StartRequest | RunRequest;

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: TransferredError };

/** Sent once by a worker when it is ready for requests, or when it failed to load. */
export type WorkerHello = { readonly hello: 'ready' } | { readonly hello: 'failed'; readonly error: TransferredError };

/** What a round (or finishing the sources) did in one worker. */
export interface RoundReply {
  /** Records read (data and control). */
  readonly read: number;
  /** Records written to repartition topics (data and control). */
  readonly written: number;
  /** Results of `collect()` sinks since the last reply. */
  readonly collected: readonly (readonly [string, CollectedRecord[]])[];
}

export type StatsReply = readonly TaskStats[];
