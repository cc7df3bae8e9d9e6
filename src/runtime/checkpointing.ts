import { pack, unpack } from 'msgpackr';
import { assert } from '../core/assert.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { EventLog, TopicPartitionOffset } from '../log/log.js';
import type { Plan } from '../plan/plan.js';
import { checkSource } from '../quality/check-source.js';
import { deadLetterTopic } from '../quality/dead-letter.js';
import type { Operator } from './batch.js';
import { type OperatorSnapshot, isStateful } from './operators/stateful.js';

/**
 * What the runner needs from a checkpoint store (src/state's CheckpointStore, through an adapter): the
 * newest complete checkpoint, and a way to add one atomically.
 */
export interface CheckpointStorage {
  /** The id the next checkpoint must have (above every id ever written, complete or not). */
  nextId(): number;
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
  /** msgpack of each stateful operator's snapshot, by operator name. */
  readonly operators: ReadonlyMap<string, Uint8Array>;
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

/** Snapshots every stateful operator (each once, however many plan nodes it runs). */
export function snapshotOperators(operators: ReadonlyMap<string, Operator>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const op of new Set(operators.values())) {
    if (!isStateful(op)) continue;
    assert(!out.has(op.name), `two stateful operators named '${op.name}'`);
    out.set(op.name, pack(op.snapshotState()));
  }
  return out;
}

/**
 * Restores every stateful operator from a checkpoint. An operator without saved state starts empty (it
 * is new in this plan); saved state whose operator is gone is refused unless `allowNonRestoredState`
 * (as Flink), so a renamed operator cannot silently lose its state.
 */
export function restoreOperators(operators: ReadonlyMap<string, Operator>, saved: ReadonlyMap<string, Uint8Array>, allowNonRestoredState = false): void {
  const used = new Set<string>();
  for (const op of new Set(operators.values())) {
    if (!isStateful(op)) continue;
    const bytes = saved.get(op.name);
    if (bytes === undefined) continue;
    op.restoreState(unpack(bytes) as OperatorSnapshot);
    used.add(op.name);
  }
  const orphans = [...saved.keys()].filter((name) => !used.has(name));
  if (orphans.length > 0 && !allowNonRestoredState) {
    throw new FreshetError(
      ErrorCodes.STATE_NOT_RESTORED,
      `saved state of operator(s) ${orphans.map((o) => `'${o}'`).join(', ')} matches no operator of this plan (renamed or removed?); pass allowNonRestoredState to drop it`,
    );
  }
}
