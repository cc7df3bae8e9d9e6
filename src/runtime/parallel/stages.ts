import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { validateTopicName } from '../../log/topic-config.js';
import { type Plan, type PlanNode, type SourceNode, type TopicSinkNode, inputsOf } from '../../plan/plan.js';

/*
 * How a plan is split for a parallel run (docs/adr/0007-workers.md):
 *
 * - Every keyBy is a repartition: upstream of it, records are written to the internal topic
 *   `<pipeline>.<keyBy>.repartition`, partitioned by key (murmur2); its consumers read that topic.
 * - A stage is a connected part of the plan once keyBy edges are cut (Kafka Streams' sub-topologies).
 *   Table sources belong to no stage: tables are global, and every task that joins one reads all of it.
 * - A stage runs as one task per partition: task p reads partition p of each of the stage's inputs (its
 *   stream sources and the repartition topics it consumes) that has one. All repartition topics of a
 *   pipeline have the same partition count, so the two keyed inputs of an interval join are
 *   co-partitioned: task p sees every record of its keys from both sides.
 * - A task's sub-plan keeps only the nodes its inputs reach ("alive"): a task of a stage that merges a
 *   3-partition source with a 2-partition one has no second source in task 2.
 *
 * Everything here is plain data (structured-cloneable), computed once in the main thread; each worker
 * rebuilds its tasks' sub-plans from its own copy of the plan with `buildTaskPlan`.
 */

/** One keyBy's repartition topic and the names of its two ends inside task sub-plans. */
export interface RepartitionSpec {
  readonly keyBy: string;
  readonly topic: string;
  /** The sink node writing the topic (input: the keyBy). */
  readonly sinkName: string;
  /** The source node reading the topic, which the keyBy's consumers read instead of the keyBy. */
  readonly sourceName: string;
}

export interface StageSpec {
  readonly index: number;
  /** Plan nodes of the stage (table sources excluded: they are global). */
  readonly nodes: readonly string[];
  /** Tasks of the stage: the largest partition count among its inputs. */
  readonly partitions: number;
}

/** An input partition set of a task. */
export type TaskInput =
  | { readonly kind: 'source'; readonly node: string; readonly topic: string; readonly role: 'stream' | 'table'; readonly partitions: readonly number[] }
  | {
      readonly kind: 'repartition';
      readonly keyBy: string;
      readonly topic: string;
      readonly partitions: readonly number[];
      /** Ids of the tasks that write this topic: the reader's watermark is the minimum of theirs. */
      readonly writers: readonly string[];
    };

export interface TaskSpec {
  /** `<stage>.<partition>`: names the task in control records, stats and errors. */
  readonly id: string;
  readonly stage: number;
  readonly partition: number;
  /** Plan nodes this task runs, in plan order (table sources it joins included). */
  readonly nodes: readonly string[];
  readonly inputs: readonly TaskInput[];
  /** keyBys whose repartition topic this task writes. */
  readonly outputs: readonly string[];
}

export interface StageLayout {
  readonly pipeline: string;
  readonly repartitionPartitions: number;
  readonly repartitions: readonly RepartitionSpec[];
  readonly stages: readonly StageSpec[];
  /** Every task, by stage, then partition. */
  readonly tasks: readonly TaskSpec[];
}

export interface StageOptions {
  /** Partitions of each source topic (stream and table). */
  readonly partitionsOf: (topic: string) => number;
  /** Partitions of every repartition topic. Default: the largest partition count of the stream sources. */
  readonly repartitionPartitions?: number;
}

/** The repartition topic of a keyBy: `<pipeline>.<keyBy>.repartition` (other characters become `_`). */
export function repartitionTopic(pipeline: string, keyBy: string): string {
  return `${pipeline}.${keyBy.replace(/[^a-zA-Z0-9._-]/g, '_')}.repartition`;
}

/**
 * Splits a plan into stages and tasks.
 *
 * @example
 * ```ts
 * const layout = planStages(definition.plan(), { partitionsOf: (t) => partitions.get(t)! });
 * layout.tasks.map((t) => t.id); // ['0.0', '0.1', '1.0', '1.1', ...]
 * ```
 */
export function planStages(plan: Plan, options: StageOptions): StageLayout {
  const byName = new Map(plan.nodes.map((n) => [n.name, n]));
  const index = new Map(plan.nodes.map((n, i) => [n.name, i]));
  const isTable = (name: string): boolean => {
    const n = byName.get(name);
    return n?.kind === 'source' && n.role === 'table';
  };
  const isKeyBy = (name: string): boolean => byName.get(name)?.kind === 'keyBy';
  for (const node of plan.nodes) {
    for (const input of inputsOf(node)) {
      if (!byName.has(input)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `operator '${node.name}' reads '${input}', which does not exist`);
    }
  }
  const tableTopics = new Set(plan.nodes.filter((n) => n.kind === 'source' && n.role === 'table').map((n) => (n as SourceNode).topic));
  for (const node of plan.nodes) {
    if (node.kind === 'source' && node.role === 'stream' && tableTopics.has(node.topic)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `topic '${node.topic}' is read both as a stream and as a table: a parallel run needs one role per topic`);
    }
  }

  // Repartition topics, one per keyBy that has consumers.
  const consumersOf = new Map<string, string[]>();
  for (const node of plan.nodes) for (const input of inputsOf(node)) consumersOf.set(input, [...(consumersOf.get(input) ?? []), node.name]);
  const repartitions: RepartitionSpec[] = [];
  const topicOwner = new Map<string, string>();
  for (const node of plan.nodes) {
    if (node.kind !== 'keyBy' || !consumersOf.has(node.name)) continue;
    const topic = repartitionTopic(plan.pipeline, node.name);
    validateTopicName(topic);
    const other = topicOwner.get(topic);
    if (other !== undefined) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `keyBy operators '${other}' and '${node.name}' would share the repartition topic '${topic}': rename one`);
    }
    topicOwner.set(topic, node.name);
    const spec = { keyBy: node.name, topic, sinkName: `${node.name}.repartition-sink`, sourceName: `${node.name}.repartition-source` };
    for (const name of [spec.sinkName, spec.sourceName]) {
      if (byName.has(name)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `an operator may not be named '${name}' (reserved for the repartition of '${node.name}')`);
    }
    repartitions.push(spec);
  }

  // Stages: union-find over nodes; an edge from a keyBy joins its consumers to a "reader" element of
  // that keyBy instead of to the keyBy itself, so the keyBy stays with its upstream.
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  const union = (a: string, b: string): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  const reader = (keyBy: string): string => `\u0000reader\u0000${keyBy}`;
  for (const node of plan.nodes) if (!isTable(node.name)) parent.set(node.name, node.name);
  for (const r of repartitions) parent.set(reader(r.keyBy), reader(r.keyBy));
  for (const node of plan.nodes) {
    if (isTable(node.name)) continue;
    for (const input of inputsOf(node)) {
      if (isTable(input)) continue;
      union(node.name, isKeyBy(input) ? reader(input) : input);
    }
  }
  const components = new Map<string, string[]>();
  for (const node of plan.nodes) {
    if (isTable(node.name)) continue;
    const root = find(node.name);
    components.set(root, [...(components.get(root) ?? []), node.name]);
  }
  // Stage order: by first node in plan order (upstream stages mostly come first; nothing depends on it).
  const stageNodes = [...components.values()].sort((a, b) => index.get(a[0]!)! - index.get(b[0]!)!);
  const stageOf = new Map<string, number>();
  stageNodes.forEach((nodes, s) => nodes.forEach((n) => stageOf.set(n, s)));

  const streamSources = plan.nodes.filter((n): n is SourceNode => n.kind === 'source' && n.role === 'stream');
  const repartitionPartitions = options.repartitionPartitions ?? Math.max(1, ...streamSources.map((n) => options.partitionsOf(n.topic)));
  if (!Number.isInteger(repartitionPartitions) || repartitionPartitions < 1) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `repartitionPartitions must be an integer >= 1, got ${repartitionPartitions}`);
  }

  const stages: StageSpec[] = [];
  const tasks: (Omit<TaskSpec, 'inputs'> & { inputs: TaskInput[] })[] = [];
  stageNodes.forEach((nodes, s) => {
    const members = new Set(nodes);
    // The keyBys this stage reads: inputs of its nodes that are keyBys.
    const reads = new Set<string>();
    for (const name of nodes) for (const input of inputsOf(byName.get(name)!)) if (isKeyBy(input)) reads.add(input);
    const direct = nodes.map((n) => byName.get(n)!).filter((n): n is SourceNode => n.kind === 'source');
    const partitions = Math.max(reads.size > 0 ? repartitionPartitions : 1, ...direct.map((n) => options.partitionsOf(n.topic)));
    stages.push({ index: s, nodes, partitions });
    for (let p = 0; p < partitions; p++) {
      const alive = new Set<string>();
      const readsHere = p < repartitionPartitions;
      const live = (input: string): boolean => (isKeyBy(input) ? readsHere : alive.has(input));
      for (const node of plan.nodes) {
        if (!members.has(node.name)) continue;
        let isAlive: boolean;
        switch (node.kind) {
          case 'source':
            isAlive = options.partitionsOf(node.topic) > p;
            break;
          case 'merge':
            isAlive = node.inputs.some(live);
            break;
          case 'tableJoin':
            isAlive = live(node.input);
            break;
          case 'intervalJoin':
            isAlive = live(node.left) || live(node.right);
            break;
          default:
            isAlive = live(inputsOf(node)[0]!);
        }
        if (isAlive) alive.add(node.name);
      }
      // Tables joined by a live join come along, whole.
      for (const node of plan.nodes) if (node.kind === 'tableJoin' && alive.has(node.name)) alive.add(node.table);
      const inputs: TaskInput[] = [];
      for (const node of plan.nodes) {
        if (node.kind !== 'source' || !alive.has(node.name)) continue;
        const all = Array.from({ length: options.partitionsOf(node.topic) }, (_, i) => i);
        inputs.push({ kind: 'source', node: node.name, topic: node.topic, role: node.role, partitions: node.role === 'table' ? all : [p] });
      }
      const usedReaders = new Set<string>();
      for (const name of alive) for (const input of inputsOf(byName.get(name)!)) if (isKeyBy(input)) usedReaders.add(input);
      for (const r of repartitions) {
        if (usedReaders.has(r.keyBy)) inputs.push({ kind: 'repartition', keyBy: r.keyBy, topic: r.topic, partitions: [p], writers: [] });
      }
      const outputs = repartitions.filter((r) => alive.has(r.keyBy)).map((r) => r.keyBy);
      tasks.push({ id: `${s}.${p}`, stage: s, partition: p, nodes: plan.nodes.filter((n) => alive.has(n.name)).map((n) => n.name), inputs, outputs });
    }
  });
  // Writers of each repartition topic, now that every task is known.
  const writers = new Map<string, string[]>();
  for (const t of tasks) for (const k of t.outputs) writers.set(k, [...(writers.get(k) ?? []), t.id]);
  for (const t of tasks) {
    t.inputs = t.inputs.map((input) => (input.kind === 'repartition' ? { ...input, writers: writers.get(input.keyBy) ?? [] } : input));
    for (const input of t.inputs) {
      if (input.kind === 'repartition' && input.writers.length === 0) {
        throw new FreshetError(ErrorCodes.ASSERTION_FAILED, `invariant violated: no task writes the repartition topic '${input.topic}'`);
      }
    }
  }
  return { pipeline: plan.pipeline, repartitionPartitions, repartitions, stages, tasks };
}

/** A task's sub-plan and the repartition ends in it (by node name). */
export interface TaskPlan {
  readonly plan: Plan;
  /** Repartition sink nodes: sink name → spec. */
  readonly sinks: ReadonlyMap<string, RepartitionSpec>;
  /** Repartition source nodes: source name → spec. */
  readonly sources: ReadonlyMap<string, RepartitionSpec>;
}

/**
 * Builds the plan one task runs: the task's nodes, with each keyBy it writes followed by a repartition
 * sink (a `topicSink` node to the repartition topic) and each keyBy it reads replaced, for its consumers,
 * by a repartition source (a `source` node on the topic). Node names are kept, so operator state keys do
 * not depend on how the pipeline is run.
 */
export function buildTaskPlan(plan: Plan, layout: StageLayout, task: TaskSpec): TaskPlan {
  const byName = new Map(plan.nodes.map((n) => [n.name, n]));
  const alive = new Set(task.nodes);
  const specs = new Map(layout.repartitions.map((r) => [r.keyBy, r]));
  const reading = new Set(task.inputs.filter((i) => i.kind === 'repartition').map((i) => (i as { keyBy: string }).keyBy));
  const writing = new Set(task.outputs);
  const nodes: PlanNode[] = [];
  const sinks = new Map<string, RepartitionSpec>();
  const sources = new Map<string, RepartitionSpec>();
  /** The name a consumer reads for `input`, adding the repartition source the first time; null if not in this task. */
  const resolve = (input: string): string | null => {
    const node = byName.get(input);
    if (node?.kind !== 'keyBy') return alive.has(input) ? input : null;
    if (!reading.has(input)) return null;
    const spec = specs.get(input)!;
    if (!sources.has(spec.sourceName)) {
      sources.set(spec.sourceName, spec);
      nodes.push({
        kind: 'source',
        name: spec.sourceName,
        topic: spec.topic,
        role: 'stream',
        tableKey: null,
        format: 'msgpack',
        validate: null,
        eventTime: null,
        maxOutOfOrderMs: 0,
        idleTimeoutMs: 0,
      });
    }
    return spec.sourceName;
  };
  const required = (owner: string, input: string): string => {
    const resolved = resolve(input);
    if (resolved === null) throw new FreshetError(ErrorCodes.ASSERTION_FAILED, `invariant violated: task ${task.id} runs '${owner}' without its input '${input}'`);
    return resolved;
  };
  for (const node of plan.nodes) {
    if (!alive.has(node.name)) continue;
    switch (node.kind) {
      case 'source':
        nodes.push(node);
        break;
      case 'merge': {
        const inputs = node.inputs.map(resolve).filter((i): i is string => i !== null);
        nodes.push({ ...node, inputs });
        break;
      }
      case 'tableJoin':
        nodes.push({ ...node, input: required(node.name, node.input), table: required(node.name, node.table) });
        break;
      case 'intervalJoin':
        nodes.push({ ...node, left: required(node.name, node.left), right: required(node.name, node.right) });
        break;
      default:
        nodes.push({ ...node, input: required(node.name, node.input) } as PlanNode);
    }
    if (node.kind === 'keyBy' && writing.has(node.name)) {
      const spec = specs.get(node.name)!;
      const sink: TopicSinkNode = { kind: 'topicSink', name: spec.sinkName, input: node.name, topic: spec.topic, format: 'msgpack', partitions: layout.repartitionPartitions };
      sinks.set(spec.sinkName, spec);
      nodes.push(sink);
    }
  }
  return { plan: { pipeline: plan.pipeline, nodes }, sinks, sources };
}

/** One line per stage and task, for logs and `--verbose`. */
export function describeStages(layout: StageLayout): string {
  const lines: string[] = [];
  for (const stage of layout.stages) {
    const tasks = layout.tasks.filter((t) => t.stage === stage.index);
    const reads = [...new Set(tasks.flatMap((t) => t.inputs.map((i) => i.topic)))];
    const writes = [...new Set(tasks.flatMap((t) => t.outputs.map((k) => layout.repartitions.find((r) => r.keyBy === k)!.topic)))];
    lines.push(`stage ${stage.index}: ${stage.partitions} task(s), reads ${reads.join(', ') || '-'}; writes ${writes.join(', ') || '-'}; nodes ${stage.nodes.join(', ')}`);
  }
  return lines.join('\n');
}
