import { ErrorCodes, FreshetError } from '../core/errors.js';
import { type Plan, type PlanNode, inputsOf } from '../plan/plan.js';
import type { Clock } from '../core/clock.js';
import type { QualityEventFn, QualityMetricsFn } from '../plan/quality-check.js';
import { checkSource } from '../quality/check-source.js';
import type { Operator } from './batch.js';
import { QualityOperator } from './operators/quality-operator.js';
import type { DeadLetterFn } from './source-decoder.js';
import { ChainOperator, type ChainStep } from './operators/chain-operator.js';
import { IntervalJoinOperator, TableJoinOperator } from './operators/join-operators.js';
import { CollectSinkOperator, type CollectedRecord, IdentityOperator, MergeOperator } from './operators/simple-operators.js';
import { SourceOperator } from './operators/source-operator.js';
import { TopicSinkOperator, formatEncoder, viewUpdateEncoder } from './operators/topic-sink-operator.js';
import { SessionWindowOperator } from './operators/session-window-operator.js';
import { SlidingWindowOperator } from './operators/sliding-window-operator.js';
import { AlignedWindowOperator, WindowOperatorBase } from './operators/window-operator.js';
import { BackendWindowOperator, windowStateNamespace } from './operators/backend-window-operator.js';
import type { StateBackend } from '../state/state-store.js';

/** The operator graph of one task: what the runner drives. */
export interface CompiledGraph {
  readonly sources: readonly SourceOperator[];
  readonly topicSinks: readonly TopicSinkOperator[];
  /** Collected results by sink name. */
  readonly collected: ReadonlyMap<string, CollectedRecord[]>;
  /** Every operator by the name of the plan node it runs (fused nodes share their chain's operator). */
  readonly operators: ReadonlyMap<string, Operator>;
}

export interface CompileContext {
  /** Partitions of each source topic. */
  readonly partitionsOf: (topic: string) => number;
  readonly nowMs: number;
  /**
   * Supplies the operator of a node instead of the built-in one (undefined: built-in). A parallel run
   * uses it for the ends of a repartition topic inside a stage's sub-plan; the operator is wired to the
   * node's inputs like any other.
   */
  readonly operatorFor?: (node: PlanNode) => Operator | undefined;
  /** Where quality checks (`expect` nodes) send dead letters: the runner's buffer, flushed each round. */
  readonly deadLetter?: DeadLetterFn;
  /** Quality-check outcomes (e.g. `qualityMetricsTo(pipelineMetrics)`). */
  readonly qualityMetrics?: QualityMetricsFn;
  /** Window checks' findings (volume, completeness, anomalies), for alerts and the dashboard. */
  readonly onQualityEvent?: QualityEventFn;
  /** For freshness checks against the wall clock. */
  readonly clock?: Clock;
  /**
   * Where tumbling and hopping windows keep their accumulators (e.g. LMDB, for state larger than
   * memory); without it, on the heap. Other operators keep their state on the heap either way.
   */
  readonly stateBackend?: StateBackend;
}

const STATELESS = new Set(['filter', 'map', 'flatMap', 'keyBy']);

/**
 * Turns a plan into connected operators. Consecutive stateless nodes (filter, map, flatMap, keyBy) whose
 * intermediate results have a single consumer are fused into one ChainOperator.
 */
export function compile(plan: Plan, context: CompileContext): CompiledGraph {
  const consumers = new Map<string, PlanNode[]>();
  for (const node of plan.nodes) {
    for (const input of inputsOf(node)) {
      if (!plan.nodes.some((n) => n.name === input)) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `operator '${node.name}' reads '${input}', which does not exist`);
      }
      consumers.set(input, [...(consumers.get(input) ?? []), node]);
    }
  }
  const operators = new Map<string, Operator>();
  const chainSteps = new Map<string, ChainStep[]>();
  const sources: SourceOperator[] = [];
  const topicSinks: TopicSinkOperator[] = [];
  const collected = new Map<string, CollectedRecord[]>();

  const connect = (from: string, to: Operator, input: number): void => {
    operators.get(from)!.outputs.push({ operator: to, input });
  };

  for (const node of plan.nodes) {
    const supplied = context.operatorFor?.(node);
    if (supplied !== undefined) {
      operators.set(node.name, supplied);
      inputsOf(node).forEach((input, i) => connect(input, supplied, i));
      continue;
    }
    switch (node.kind) {
      case 'source': {
        const op = new SourceOperator(node, context.partitionsOf(node.topic), context.nowMs);
        sources.push(op);
        operators.set(node.name, op);
        break;
      }
      case 'filter':
      case 'map':
      case 'flatMap':
      case 'keyBy': {
        const step = { kind: node.kind, fn: node.fn } as ChainStep;
        const upstream = plan.nodes.find((n) => n.name === node.input)!;
        const steps = chainSteps.get(upstream.name);
        if (STATELESS.has(upstream.kind) && steps && consumers.get(upstream.name)!.length === 1) {
          // Fuse into the upstream chain: same operator, one more step.
          steps.push(step);
          chainSteps.set(node.name, steps);
          operators.set(node.name, operators.get(upstream.name)!);
        } else {
          const newSteps = [step];
          const op = new ChainOperator(node.name, newSteps);
          chainSteps.set(node.name, newSteps);
          operators.set(node.name, op);
          connect(node.input, op, 0);
        }
        break;
      }
      case 'merge': {
        const op = new MergeOperator(node.name, node.inputs.length);
        operators.set(node.name, op);
        node.inputs.forEach((input, i) => connect(input, op, i));
        break;
      }
      case 'windowAggregate': {
        const { window } = node;
        let op: WindowOperatorBase;
        if ((window.type === 'tumbling' || window.type === 'hopping') && context.stateBackend !== undefined) {
          const state = context.stateBackend.operator(windowStateNamespace(node.name));
          op = new BackendWindowOperator(node.name, window, node.aggregator, node.emit, node.allowedLatenessMs, state);
        } else if (window.type === 'tumbling' || window.type === 'hopping') {
          op = new AlignedWindowOperator(node.name, window, node.aggregator, node.emit, node.allowedLatenessMs);
        } else if (window.type === 'session') {
          op = new SessionWindowOperator(node.name, window.gapMs, node.aggregator, node.emit, node.allowedLatenessMs);
        } else {
          op = new SlidingWindowOperator(node.name, window.maxDifferenceMs, node.aggregator, node.emit, node.allowedLatenessMs);
        }
        operators.set(node.name, op);
        connect(node.input, op, 0);
        break;
      }
      case 'lateOutput': {
        const op = new IdentityOperator(node.name);
        operators.set(node.name, op);
        (operators.get(node.input) as WindowOperatorBase | IntervalJoinOperator).lateOutputs.push({ operator: op, input: 0 });
        break;
      }
      case 'tableJoin': {
        const op = new TableJoinOperator(node);
        operators.set(node.name, op);
        connect(node.input, op, 0);
        connect(node.table, op, 1);
        break;
      }
      case 'intervalJoin': {
        const op = new IntervalJoinOperator(node);
        operators.set(node.name, op);
        connect(node.left, op, 0);
        connect(node.right, op, 1);
        break;
      }
      case 'topicSink': {
        const op = new TopicSinkOperator(node.name, node.topic, formatEncoder(node.format));
        topicSinks.push(op);
        operators.set(node.name, op);
        connect(node.input, op, 0);
        break;
      }
      case 'viewSink': {
        const op = new TopicSinkOperator(node.name, node.view.topic, viewUpdateEncoder(node));
        topicSinks.push(op);
        operators.set(node.name, op);
        connect(node.input, op, 0);
        // A time-series view re-aggregates windows from their accumulators; attach them only when every
        // reader of the window is a view (other sinks would write the bytes out).
        const upstream = operators.get(node.input);
        const readers = consumers.get(node.input) ?? [];
        if (node.view.kind === 'timeseries' && upstream instanceof WindowOperatorBase && readers.every((r) => r.kind === 'viewSink' || r.kind === 'lateOutput')) {
          upstream.attachAccumulators = true;
        }
        break;
      }
      case 'expect': {
        if (context.deadLetter === undefined) {
          throw new FreshetError(ErrorCodes.ASSERTION_FAILED, `check '${node.name}': compiled without a dead-letter sink`);
        }
        const source = checkSource(plan.nodes, node.input);
        const op = new QualityOperator(node.name, node.check, node.action, {
          pipeline: plan.pipeline,
          stage: node.stage,
          deadLetter: context.deadLetter,
          sourceTopic: source?.topic ?? null,
          sourceFormat: source?.format ?? 'json',
          ...(context.clock ? { clock: context.clock } : {}),
          ...(context.qualityMetrics ? { metrics: context.qualityMetrics } : {}),
          ...(context.onQualityEvent ? { onEvent: context.onQualityEvent } : {}),
        });
        operators.set(node.name, op);
        connect(node.input, op, 0);
        break;
      }
      case 'collectSink': {
        const records = collected.get(node.sinkName) ?? [];
        collected.set(node.sinkName, records);
        const op = new CollectSinkOperator(node.name, records);
        operators.set(node.name, op);
        connect(node.input, op, 0);
        break;
      }
    }
  }
  return { sources, topicSinks, collected, operators };
}
