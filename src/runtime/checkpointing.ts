import { pack, unpack } from 'msgpackr';
import { assert } from '../core/assert.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { EventLog, TopicPartitionOffset } from '../log/log.js';
import type { Plan } from '../plan/plan.js';
import { checkSource } from '../quality/check-source.js';
import { deadLetterTopic } from '../quality/dead-letter.js';
import { StateLimits } from '../state/limits.js';
import type { Operator } from './batch.js';
import { type OperatorSnapshot, isStateful } from './operators/stateful.js';

/**
 * What the runner needs from a checkpoint store (src/state's CheckpointStore, through an adapter): the
 * newest complete checkpoint, and a way to add one atomically.
 */
export interface CheckpointStorage {
  /** The id the next checkpoint must have (above every id ever written, complete or not). */
  nextId(): number;
  /**
   * Whether `save` takes deltas (a piece of `type: 'delta'` building on the checkpoint it names) and
   * `latest` returns chains. Without it, every checkpoint holds full snapshots.
   */
  readonly supportsDeltas?: boolean;
  /**
   * Whether `save` keeps no reference to a checkpoint's bytes once it resolves (they are in files): the
   * runner then lets operators write the next checkpoint into the same memory.
   */
  readonly releasesBytes?: boolean;
  /** The newest complete checkpoint, or null when there is none. Damaged ones are skipped (with a warning) by the store. */
  latest(): Promise<RunnerCheckpoint | null>;
  /** Writes a checkpoint atomically: once this resolves it survives a crash; a crash during it leaves the previous one. */
  save(checkpoint: RunnerCheckpoint): Promise<void>;
}

/**
 * A consistent cut of a pipeline, taken at a round boundary (every sink flushed, no record inside an
 * operator, in every task): how far every output partition had been written, and per task where each
 * input partition continues and every stateful operator's state.
 */
export interface RunnerCheckpoint {
  /** Increases with every checkpoint of a pipeline. */
  readonly id: number;
  readonly takenAtMs: number;
  /** End offset per output partition (sink, view, dead-letter and repartition topics) when the checkpoint was taken. */
  readonly outputs: readonly TopicPartitionOffset[];
  /** One per task: `main` for a single-process run, the stage tasks of a `--workers` run. */
  readonly tasks: readonly TaskState[];
}

/** One task's part of a checkpoint. */
export interface TaskState {
  readonly taskId: string;
  /** Next offset to read, per input partition (tables included: their rows are state too). */
  readonly inputs: readonly TopicPartitionOffset[];
  /**
   * Each stateful operator's state, by operator name: a chain of msgpack snapshots, a full one then the
   * deltas on it, oldest first (restore applies them in order). A checkpoint being saved holds one piece
   * per operator: a full snapshot, or a delta on the checkpoint it names.
   */
  readonly operators: ReadonlyMap<string, readonly SnapshotPiece[]>;
}

/** One link of an operator's snapshot chain. */
export interface SnapshotPiece {
  readonly type: 'full' | 'delta';
  /** For a delta: the checkpoint it builds on (the previous one of the run). */
  readonly baseCheckpointId?: number;
  /** msgpack of the operator's snapshot (`snapshotState`) or delta (`snapshotChanges`). */
  readonly bytes: Uint8Array;
}

/**
 * When a checkpoint may hold deltas: after a full one, until the chain since it reaches
 * `StateLimits.maxDeltaChain` deltas or their bytes exceed `maxDeltaBytesRatio` times the full one's
 * (then restore would read more than two full snapshots' worth), as Flink bounds RocksDB's incremental
 * chains. A checkpoint whose pieces are all full starts a new chain.
 */
export class DeltaChainPolicy {
  private fullBytes = -1;
  private deltas = 0;
  private deltaBytes = 0;

  allowsDelta(): boolean {
    return this.fullBytes >= 0 && this.deltas < StateLimits.maxDeltaChain && this.deltaBytes <= StateLimits.maxDeltaBytesRatio * this.fullBytes;
  }

  /** A checkpoint was written. */
  record(task: TaskState): void {
    let full = 0;
    let delta = 0;
    let anyDelta = false;
    for (const chain of task.operators.values()) {
      for (const piece of chain) {
        if (piece.type === 'full') full += piece.bytes.byteLength;
        else {
          delta += piece.bytes.byteLength;
          anyDelta = true;
        }
      }
    }
    if (!anyDelta) {
      this.fullBytes = full;
      this.deltas = 0;
      this.deltaBytes = 0;
    } else {
      this.deltas++;
      this.deltaBytes += delta;
    }
  }

  /** A write failed: the next checkpoint is full. */
  reset(): void {
    this.fullBytes = -1;
  }
}

/** Bytes of a task's operator state (every piece). */
export function stateBytes(task: TaskState): number {
  let bytes = 0;
  for (const chain of task.operators.values()) for (const piece of chain) bytes += piece.bytes.byteLength;
  return bytes;
}

/** The task id of a single-process run. */
export const MAIN_TASK = 'main';

/** The topics a plan writes (and only this pipeline writes): what recovery truncates back to the checkpoint. */
export function outputTopicsOf(plan: Plan): string[] {
  const topics = new Set<string>();
  for (const node of plan.nodes) {
    if (node.kind === 'topicSink') topics.add(node.topic);
    if (node.kind === 'viewSink') topics.add(node.view.topic);
    if (node.kind === 'source') topics.add(deadLetterTopic(node.topic));
    // A check whose records cannot be traced to a source dead-letters to its own topic.
    if (node.kind === 'expect' && checkSource(plan.nodes, node.input) === null) topics.add(deadLetterTopic(`${plan.pipeline}.${node.name}`.replace(/[^a-zA-Z0-9._-]/g, '_')));
  }
  return [...topics];
}

/** End offsets of every existing partition of the plan's output topics (and `extraTopics`, e.g. repartition topics). */
export async function outputPositions(log: EventLog, plan: Plan, extraTopics: readonly string[] = []): Promise<TopicPartitionOffset[]> {
  const existing = new Set(await log.listTopics());
  const out: TopicPartitionOffset[] = [];
  for (const topic of [...outputTopicsOf(plan), ...extraTopics]) {
    if (!existing.has(topic)) continue;
    for (const p of (await log.describeTopic(topic)).partitions) out.push({ topic, partition: p.partition, offset: p.latestOffset });
  }
  return out;
}

/**
 * Drops what was written to the plan's outputs after the checkpoint: each output partition is cut back to
 * its checkpointed end (to its start when it did not exist then). Replaying the input from the
 * checkpoint's offsets then writes those records again, once.
 */
export async function truncateOutputs(log: EventLog, plan: Plan, checkpoint: RunnerCheckpoint, extraTopics: readonly string[] = []): Promise<number> {
  const ends = new Map(checkpoint.outputs.map((o) => [`${o.topic}/${o.partition}`, o.offset]));
  const existing = new Set(await log.listTopics());
  let dropped = 0;
  for (const topic of [...outputTopicsOf(plan), ...extraTopics]) {
    if (!existing.has(topic)) continue;
    for (const p of (await log.describeTopic(topic)).partitions) {
      const end = ends.get(`${topic}/${p.partition}`) ?? p.earliestOffset;
      if (end < p.earliestOffset) {
        throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `output ${topic}/${p.partition} starts at ${p.earliestOffset}, after the checkpoint's end ${end}: retention deleted output the checkpoint needs`);
      }
      if (p.latestOffset > end) {
        dropped += p.latestOffset - end;
        await log.truncate(topic, p.partition, end);
      }
    }
  }
  return dropped;
}

/**
 * Snapshots every stateful operator (each once, however many plan nodes it runs): with `deltaBase`, a
 * delta on that checkpoint from each operator that tracks its changes (`snapshotChanges`), a full
 * snapshot from the others. `reuseMemory`: the bytes of the operators' previous snapshots are no longer
 * read (see StatefulOperator.snapshotBytes).
 */
export function snapshotOperators(operators: ReadonlyMap<string, Operator>, deltaBase?: number, reuseMemory = false): Map<string, SnapshotPiece[]> {
  const out = new Map<string, SnapshotPiece[]>();
  for (const op of new Set(operators.values())) {
    if (!isStateful(op)) continue;
    assert(!out.has(op.name), `two stateful operators named '${op.name}'`);
    const delta = deltaBase !== undefined && op.snapshotChanges ? op.snapshotChanges(reuseMemory) : null;
    if (delta !== null) out.set(op.name, [{ type: 'delta', baseCheckpointId: deltaBase, bytes: delta }]);
    else out.set(op.name, [{ type: 'full', bytes: op.snapshotBytes ? op.snapshotBytes(reuseMemory) : pack(op.snapshotState()) }]);
  }
  return out;
}

/**
 * Restores every stateful operator from a checkpoint. An operator without saved state starts empty (it
 * is new in this plan); saved state whose operator is gone is refused unless `allowNonRestoredState`
 * (as Flink), so a renamed operator cannot silently lose its state.
 */
export function restoreOperators(operators: ReadonlyMap<string, Operator>, saved: ReadonlyMap<string, readonly SnapshotPiece[]>, allowNonRestoredState = false): void {
  const used = new Set<string>();
  for (const op of new Set(operators.values())) {
    if (!isStateful(op)) continue;
    const chain = saved.get(op.name);
    if (chain === undefined || chain.length === 0) continue;
    assert(chain[0]!.type === 'full', `the snapshot chain of operator '${op.name}' starts with a full snapshot`);
    op.restoreState(unpack(chain[0]!.bytes) as OperatorSnapshot);
    for (let i = 1; i < chain.length; i++) {
      if (!op.restoreChanges) throw new FreshetError(ErrorCodes.STATE_INCOMPATIBLE, `operator '${op.name}': its saved state has deltas, which this operator cannot apply`);
      op.restoreChanges(unpack(chain[i]!.bytes) as OperatorSnapshot);
    }
    used.add(op.name);
  }
  const orphans = [...saved.keys()].filter((name) => !used.has(name));
  if (orphans.length > 0 && !allowNonRestoredState) {
    throw new FreshetError(
      ErrorCodes.STATE_NOT_RESTORED,
      `saved state of operator(s) ${orphans.map((o) => `'${o}'`).join(', ')} matches no operator of this plan (renamed or removed?); pass allowNonRestoredState (freshet run --allow-non-restored-state) to drop it`,
    );
  }
}
