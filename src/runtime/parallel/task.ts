import type { EventLog, ProducerRecord, ReadResult } from '../../log/log.js';
import { IntervalJoinOperator } from '../operators/join-operators.js';
import { WindowOperatorBase } from '../operators/window-operator.js';
import { type Plan, type PlanNode, type SourceNode, type TopicSinkNode, inputsOf } from '../../plan/plan.js';
import type { Operator } from '../batch.js';
import { type CompiledGraph, compile } from '../compile.js';
import type { CollectedRecord } from '../operators/simple-operators.js';
import type { SourceOperator } from '../operators/source-operator.js';
import { DeadLetterBuffer, decodeSourceBatches } from '../source-decoder.js';
import { QualityOperator } from '../operators/quality-operator.js';
import { RepartitionSinkOperator, RepartitionSourceOperator } from './repartition.js';
import { type StageLayout, type TaskSpec, buildTaskPlan } from './stages.js';
import { type TaskState, restoreOperators, snapshotOperators } from '../checkpointing.js';

export interface TaskOptions {
  /** Records read per input partition per round. */
  readonly maxBatchRecords: number;
  /** Where inputs without a committed offset start (tables always start at the earliest offset). */
  readonly startFrom: 'earliest' | 'latest';
  /** ms between offset commits while running. */
  readonly commitIntervalMs: number;
  /** The consumer group offsets are committed under. */
  readonly group: string;
}

/** What a task reports about itself (for tests, metrics and `--verbose`). */
export interface TaskStats {
  readonly task: string;
  readonly stage: number;
  readonly partition: number;
  /** Records read from stream sources and tables. */
  readonly sourceRecords: number;
  /** Data and control records read from repartition topics. */
  readonly repartitionRecords: number;
  readonly controlRecords: number;
  /** Data records written to repartition topics. */
  readonly repartitionWritten: number;
  /** Watermark of each repartition source in the task, by topic. */
  readonly watermarks: Readonly<Record<string, number>>;
}

interface InputPartition {
  readonly kind: 'stream' | 'table' | 'repartition';
  readonly topic: string;
  readonly partition: number;
  /** The partition's index in its source operator (a task's source sees only the partitions it reads). */
  readonly local: number;
  readonly node: SourceNode | null;
  readonly source: SourceOperator | null;
  readonly repartition: RepartitionSourceOperator | null;
  offset: number;
  lastActivityMs: number;
}

/**
 * One task of a parallel run: one stage of the plan over one partition of its inputs. A round reads
 * tables to their end, then one batch from every other input partition, pushes them through the task's
 * operators, advances watermarks, and flushes sinks; repartition sinks also append their control records.
 */
export class StageTask {
  private lastCommitMs: number;
  /** Windows or interval joins hold records in memory (see commit()). */
  private readonly stateful: boolean;
  /** finishSources() ran: every window of this task closes. */
  private finished = false;
  private readonly deadLetters = new DeadLetterBuffer();
  /** Quality checks may dead-letter records' original bytes: source batches then carry their origins. */
  private readonly keepOrigins: boolean;
  private sourceRecords = 0;

  private constructor(
    readonly spec: TaskSpec,
    private readonly log: EventLog,
    private readonly graph: CompiledGraph,
    private readonly inputs: readonly InputPartition[],
    private readonly sinks: readonly { readonly op: RepartitionSinkOperator; readonly feeders: readonly InputPartition[] }[],
    private readonly options: TaskOptions,
    nowMs: number,
  ) {
    this.lastCommitMs = nowMs;
    this.stateful = [...graph.operators.values()].some((op) => op instanceof WindowOperatorBase || op instanceof IntervalJoinOperator);
    this.keepOrigins = [...graph.operators.values()].some((op) => op instanceof QualityOperator);
  }

  /** Builds the task's operators from its sub-plan and positions its inputs. */
  static async create(plan: Plan, layout: StageLayout, spec: TaskSpec, log: EventLog, options: TaskOptions, nowMs: number, restore?: TaskState): Promise<StageTask> {
    const taskPlan = buildTaskPlan(plan, layout, spec);
    const sinkOps = new Map<string, RepartitionSinkOperator>();
    const sourceOps = new Map<string, RepartitionSourceOperator>();
    for (const [name, r] of taskPlan.sinks) sinkOps.set(name, new RepartitionSinkOperator(name, r.topic, layout.repartitionPartitions, spec.id));
    for (const input of spec.inputs) {
      if (input.kind !== 'repartition') continue;
      const r = layout.repartitions.find((x) => x.keyBy === input.keyBy)!;
      sourceOps.set(r.sourceName, new RepartitionSourceOperator(r.sourceName, r.topic, input.writers));
    }
    const readCount = new Map<string, number>();
    for (const input of spec.inputs) if (input.kind === 'source') readCount.set(input.topic, input.partitions.length);
    const operatorFor = (node: PlanNode): Operator | undefined => sinkOps.get(node.name) ?? sourceOps.get(node.name);
    // Quality checks dead-letter into the task's buffer (bound once the task exists, before any input).
    let task: StageTask | undefined;
    const deadLetter = (topic: string, record: ProducerRecord): void => task!.deadLetters.add(topic, record);
    const graph = compile(taskPlan.plan, { partitionsOf: (topic) => readCount.get(topic)!, nowMs, operatorFor, deadLetter });

    // From a checkpoint: its operator state, and every input (tables too) where the checkpoint cut it.
    if (restore !== undefined) restoreOperators(graph.operators, restore.operators, true);
    const restored = new Map(restore?.inputs.map((i) => [`${i.topic}/${i.partition}`, i.offset]));
    const committed = new Map<string, number>();
    for (const c of await log.committedOffsets(options.group)) committed.set(`${c.topic}/${c.partition}`, c.offset);
    const position = async (topic: string, partition: number, fromCommitted: boolean): Promise<number> => {
      if (restore !== undefined) return restored.get(`${topic}/${partition}`) ?? log.earliestOffset(topic, partition);
      const stored = fromCommitted ? committed.get(`${topic}/${partition}`) : undefined;
      // A committed offset that retention has since deleted restarts at the earliest one.
      if (stored !== undefined) return Math.max(stored, await log.earliestOffset(topic, partition));
      return options.startFrom === 'latest' && fromCommitted ? log.latestOffset(topic, partition) : log.earliestOffset(topic, partition);
    };
    const inputs: InputPartition[] = [];
    const byNode = new Map<string, InputPartition[]>();
    // Tables first: a round applies table updates before the stream records that may join them.
    const ordered = [...spec.inputs].sort((a, b) => rank(a) - rank(b));
    for (const input of ordered) {
      const list: InputPartition[] = [];
      for (const [local, partition] of input.partitions.entries()) {
        if (input.kind === 'repartition') {
          const r = layout.repartitions.find((x) => x.keyBy === input.keyBy)!;
          list.push({
            kind: 'repartition',
            topic: input.topic,
            partition,
            local,
            node: null,
            source: null,
            repartition: sourceOps.get(r.sourceName)!,
            offset: await position(input.topic, partition, true),
            lastActivityMs: nowMs,
          });
        } else {
          const source = graph.sources.find((s) => s.name === input.node)!;
          list.push({
            kind: input.role,
            topic: input.topic,
            partition,
            local,
            node: source.node,
            source,
            repartition: null,
            // Tables are global and rebuilt from the start by every task that joins them.
            offset: await position(input.topic, partition, input.role === 'stream'),
            lastActivityMs: nowMs,
          });
        }
      }
      byNode.set(input.kind === 'repartition' ? layout.repartitions.find((x) => x.keyBy === input.keyBy)!.sourceName : input.node, list);
      inputs.push(...list);
    }
    // The inputs whose watermark reaches each repartition sink (tables never hold watermarks back).
    const nodes = new Map(taskPlan.plan.nodes.map((n) => [n.name, n]));
    const sinks = [...sinkOps.values()].map((op) => {
      const feeders: InputPartition[] = [];
      const seen = new Set<string>();
      const visit = (name: string): void => {
        if (seen.has(name)) return;
        seen.add(name);
        const node = nodes.get(name)!;
        if (node.kind === 'source') {
          if (node.role === 'stream') feeders.push(...(byNode.get(name) ?? []));
          return;
        }
        const ins = node.kind === 'tableJoin' ? [node.input] : inputsOf(node);
        for (const i of ins) visit(i);
      };
      visit((nodes.get(op.name) as TopicSinkNode).input);
      return { op, feeders };
    });
    task = new StageTask(spec, log, graph, inputs, sinks, options, nowMs);
    return task;
  }

  /** One round; returns the records read (data and control) and written to repartition topics. */
  async step(nowMs: number): Promise<{ read: number; written: number }> {
    let read = 0;
    const { maxBatchRecords } = this.options;
    // Tables to their end, one partition after the other.
    const streams: InputPartition[] = [];
    for (const input of this.inputs) {
      if (input.kind !== 'table') {
        streams.push(input);
        continue;
      }
      for (;;) {
        const result = await this.log.read(input.topic, input.partition, input.offset, { maxRecords: maxBatchRecords });
        if (result.batches.length === 0) break;
        read += this.apply(input, result, nowMs);
      }
    }
    // One batch of every other input, read concurrently, applied in input order.
    const results = await Promise.all(streams.map((input) => this.log.read(input.topic, input.partition, input.offset, { maxRecords: maxBatchRecords })));
    for (let i = 0; i < streams.length; i++) if (results[i]!.batches.length > 0) read += this.apply(streams[i]!, results[i]!, nowMs);
    for (const source of this.graph.sources) source.updateWatermark(nowMs);
    for (const input of this.inputs) input.repartition?.updateWatermark();
    const written = await this.flush(nowMs);
    if (nowMs - this.lastCommitMs >= this.options.commitIntervalMs) await this.commit(nowMs);
    return { read, written };
  }

  /** Bounded runs: every source of the task is at its end (watermark +Infinity); flushes what follows. */
  async finishSources(nowMs: number): Promise<number> {
    for (const source of this.graph.sources) if (source.currentWatermarkMs < Number.POSITIVE_INFINITY) source.finish();
    this.finished = true;
    return this.flush(nowMs);
  }

  /**
   * Commits the offsets of stream and repartition inputs (tables are always re-read). A task with windows
   * or interval joins commits only after its sources finished: until state is checkpointed, an earlier
   * commit would lose what open windows hold on a restart.
   */
  async commit(nowMs: number): Promise<void> {
    this.lastCommitMs = nowMs;
    if (this.stateful && !this.finished) return;
    const offsets = this.inputs.filter((i) => i.kind !== 'table').map((i) => ({ topic: i.topic, partition: i.partition, offset: i.offset }));
    if (offsets.length > 0) await this.log.commitOffsets(this.options.group, offsets);
  }

  /** The task's part of a checkpoint (call between rounds: everything is flushed then). */
  snapshot(): TaskState {
    return {
      taskId: this.spec.id,
      inputs: this.inputs.map((i) => ({ topic: i.topic, partition: i.partition, offset: i.offset })),
      operators: snapshotOperators(this.graph.operators),
    };
  }

  /** Moves the results collected since the last call into `out`, by sink name. */
  drainCollected(out: Map<string, CollectedRecord[]>): void {
    for (const [sinkName, records] of this.graph.collected) {
      if (records.length === 0) continue;
      const list = out.get(sinkName);
      const drained = records.splice(0);
      if (list === undefined) out.set(sinkName, drained);
      else for (const r of drained) list.push(r);
    }
  }

  stats(): TaskStats {
    let repartitionRecords = 0;
    let controlRecords = 0;
    const watermarks: Record<string, number> = {};
    for (const input of this.inputs) {
      const r = input.repartition;
      if (r === null || input.local !== 0) continue;
      repartitionRecords += r.dataRead;
      controlRecords += r.controlRead;
      watermarks[r.topic] = r.currentWatermarkMs;
    }
    return {
      task: this.spec.id,
      stage: this.spec.stage,
      partition: this.spec.partition,
      sourceRecords: this.sourceRecords,
      repartitionRecords,
      controlRecords,
      repartitionWritten: this.sinks.reduce((n, s) => n + s.op.recordsWritten, 0),
      watermarks,
    };
  }

  private apply(input: InputPartition, result: ReadResult, nowMs: number): number {
    const count = result.nextOffset - input.offset;
    if (input.repartition !== null) {
      input.repartition.pushBatches(result.batches);
    } else {
      const batch = decodeSourceBatches(input.node!, input.partition, result.batches, this.deadLetters.add, this.keepOrigins);
      input.source!.pushPartition(input.local, batch, nowMs);
      this.sourceRecords += count;
    }
    input.lastActivityMs = nowMs;
    input.offset = result.nextOffset;
    return count;
  }

  /** Whether every input behind a sink is idle: then its writer stops holding readers back. */
  private idle(feeders: readonly InputPartition[], nowMs: number): boolean {
    if (feeders.length === 0) return false;
    for (const f of feeders) {
      if (f.repartition !== null ? !f.repartition.idle : nowMs - f.lastActivityMs < f.node!.idleTimeoutMs) return false;
    }
    return true;
  }

  private async flush(nowMs: number): Promise<number> {
    const flushes: Promise<number>[] = [];
    for (const sink of this.graph.topicSinks) flushes.push(sink.flush(this.log).then(() => 0));
    for (const { op, feeders } of this.sinks) flushes.push(op.flush(this.log, this.idle(feeders, nowMs), nowMs));
    let written = 0;
    for (const n of await Promise.all(flushes)) written += n;
    await this.deadLetters.flush(this.log);
    return written;
  }
}

function rank(input: TaskSpec['inputs'][number]): number {
  return input.kind === 'source' && input.role === 'table' ? 0 : 1;
}
