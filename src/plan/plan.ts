/**
 * The plan graph: what the DSL builds and the runtime reads. Nodes are plain data plus references to user
 * functions; `describePlan` gives the serialisable form (functions replaced by their node names), which is
 * what checkpoints and savepoints compare across code changes.
 *
 * Every node has a stable `name`, unique in its pipeline: the key for its state, checkpoints and metrics.
 */

import type { QualityAction, QualityCheck } from './quality-check.js';
import type { ViewDefinition } from './view-update.js';

/** Values a key may take: keys are compared and hashed as primitives, as ksqlDB keys are. */
export type KeyValue = string | number;

/** A window definition, as made by `tumbling()`, `hopping()`, `sliding()` and `session()` (see docs/windows.md). */
export type WindowSpec =
  | { readonly type: 'tumbling'; readonly sizeMs: number; readonly offsetMs: number }
  | { readonly type: 'hopping'; readonly sizeMs: number; readonly advanceMs: number; readonly offsetMs: number }
  | { readonly type: 'sliding'; readonly maxDifferenceMs: number }
  | { readonly type: 'session'; readonly gapMs: number };

/** `final`: one result per window when it closes; `updates`: also every change, once per batch. */
export type EmitMode = 'final' | 'updates';

/** Value formats of topics at the edges of a pipeline. */
export type TopicFormat = 'json' | 'msgpack';

// Function types stored in the plan. `unknown` at this level: the DSL keeps them typed.
export type RecordFn = (value: unknown) => unknown;
export type PredicateFn = (value: unknown) => boolean;
export type FlatMapFn = (value: unknown) => Iterable<unknown>;
export type EventTimeFn = (value: unknown) => number;

/** Runs several aggregators as one; see src/dsl/aggregators. Kept structural so plan/ does not import dsl/. */
export interface PlanAggregator {
  readonly kind: string;
  /** Set by built-ins whose accumulators fit in a fixed run of doubles: window operators then keep them column-wise. */
  readonly columns?: AccumulatorColumns;
  create(): unknown;
  add(acc: unknown, input: unknown, timestampMs: number): unknown;
  merge(a: unknown, b: unknown): unknown;
  result(acc: unknown): unknown;
  encode(acc: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/**
 * An aggregator's accumulators as a fixed run of `width` doubles at offset `at` of a shared
 * Float64Array, so a window of a million keys is a few typed arrays instead of a million small objects
 * (less to trace for the garbage collector, and a snapshot reads doubles instead of chasing pointers).
 * All zeros is the empty accumulator. An accumulator that outgrows its run moves, whole, into `spill`
 * under its offset (the layout marks the run so it knows). Internal to the built-in aggregators.
 */
export interface AccumulatorColumns {
  /** Names the layout: snapshots of columns restore only into the same layout. */
  readonly id: string;
  readonly width: number;
  add(store: Float64Array, at: number, input: unknown, spill: Map<number, unknown>): void;
  /** The accumulator in the aggregator's own form (a new object, or the spilled one: read it, do not change it). */
  toAcc(store: Float64Array, at: number, spill: ReadonlyMap<number, unknown>): unknown;
  /** Stores `acc` (the aggregator's own form, as plain snapshots decode it) at `at`, whose run is all zeros. */
  fromAcc(acc: unknown, store: Float64Array, at: number, spill: Map<number, unknown>): void;
}

/** Validates a decoded source value; returns the value or an issue message (goes to the dead-letter topic). */
export type ValidateFn = (value: unknown) => { readonly value: unknown } | { readonly issue: string };

export interface SourceNode {
  readonly kind: 'source';
  readonly name: string;
  readonly topic: string;
  /** `table`: a changelog (latest value per key, null value = delete), read before streams in each round. */
  readonly role: 'stream' | 'table';
  /** Tables: the key of a value when the record has no key (tombstones always need the record key). */
  readonly tableKey: ((value: unknown) => KeyValue) | null;
  readonly format: TopicFormat;
  readonly validate: ValidateFn | null;
  /** Event time from the value; null = the record's log timestamp. */
  readonly eventTime: EventTimeFn | null;
  readonly maxOutOfOrderMs: number;
  /** A partition with no records for this long stops holding the watermark back. */
  readonly idleTimeoutMs: number;
}

export interface FilterNode {
  readonly kind: 'filter';
  readonly name: string;
  readonly input: string;
  readonly fn: PredicateFn;
}

export interface MapNode {
  readonly kind: 'map';
  readonly name: string;
  readonly input: string;
  readonly fn: RecordFn;
}

export interface FlatMapNode {
  readonly kind: 'flatMap';
  readonly name: string;
  readonly input: string;
  readonly fn: FlatMapFn;
}

export interface KeyByNode {
  readonly kind: 'keyBy';
  readonly name: string;
  readonly input: string;
  readonly fn: (value: unknown) => KeyValue;
}

export interface MergeNode {
  readonly kind: 'merge';
  readonly name: string;
  readonly inputs: readonly string[];
}

export interface WindowAggregateNode {
  readonly kind: 'windowAggregate';
  readonly name: string;
  readonly input: string;
  readonly window: WindowSpec;
  readonly aggregator: PlanAggregator;
  readonly emit: EmitMode;
  readonly allowedLatenessMs: number;
}

/**
 * Stream–table join in event time, as Kafka Streams' versioned tables: each stream record meets the table
 * version that was current at the record's event time, among the table updates read so far.
 */
export interface TableJoinNode {
  readonly kind: 'tableJoin';
  readonly name: string;
  /** The stream (input 0). */
  readonly input: string;
  /** The table's source node (input 1). */
  readonly table: string;
  readonly key: (value: unknown) => KeyValue;
  readonly join: (value: unknown, row: unknown) => unknown;
  readonly type: 'inner' | 'left';
  /** Table versions older than this behind the newest are dropped (one is always kept). */
  readonly historyRetentionMs: number;
}

/**
 * Stream–stream interval join of two keyed streams (inner): a left record at time t meets right records of
 * its key with timestamps in [t - beforeMs, t + afterMs]. The result's event time is the later of the two.
 */
export interface IntervalJoinNode {
  readonly kind: 'intervalJoin';
  readonly name: string;
  readonly left: string;
  readonly right: string;
  readonly beforeMs: number;
  readonly afterMs: number;
  readonly join: (left: unknown, right: unknown) => unknown;
}

/** Routes records that arrived too late for their window (after allowed lateness). */
export interface LateOutputNode {
  readonly kind: 'lateOutput';
  readonly name: string;
  /** The window operator whose late records this stream carries. */
  readonly input: string;
}

export interface TopicSinkNode {
  readonly kind: 'topicSink';
  readonly name: string;
  readonly input: string;
  readonly topic: string;
  readonly format: TopicFormat;
  readonly partitions: number;
}

/**
 * Writes results to a view (the serving side's read model): `ViewUpdate`s to the view's results topic,
 * and the view's definition to the registry topic when the pipeline starts. See src/plan/view-update.ts.
 */
export interface ViewSinkNode {
  readonly kind: 'viewSink';
  readonly name: string;
  readonly input: string;
  readonly view: ViewDefinition;
  readonly partitions: number;
  /** The view key of a value that is not a window result; null: the stream's key. */
  readonly key: ((value: unknown) => KeyValue) | null;
  /** The window aggregator feeding it, when its input is a window aggregate (time series keep its accumulators). */
  readonly aggregator: PlanAggregator | null;
}

/** A data-quality check on a stream (`.expect(...)`): records pass through, failures follow `action`. */
export interface ExpectNode {
  readonly kind: 'expect';
  /** The check's name: unique in the pipeline; also its metric label and dead letters' `freshet.dlq.check`. */
  readonly name: string;
  readonly input: string;
  readonly check: QualityCheck;
  readonly action: QualityAction;
  /** The stage the check runs after (its input node's name). */
  readonly stage: string;
}

export interface CollectSinkNode {
  readonly kind: 'collectSink';
  readonly name: string;
  readonly input: string;
  /** The name readers (tests, views) use to find the collected results. */
  readonly sinkName: string;
}

/** Any node of a plan graph. */
export type PlanNode =
  | SourceNode
  | FilterNode
  | MapNode
  | FlatMapNode
  | KeyByNode
  | MergeNode
  | WindowAggregateNode
  | LateOutputNode
  | TableJoinNode
  | IntervalJoinNode
  | TopicSinkNode
  | ViewSinkNode
  | ExpectNode
  | CollectSinkNode;

/**
 * A named pipeline definition: what a pipeline module exports (made by the DSL's `pipeline()`) and what
 * runners and `freshet run` take. Defined here so the runtime depends on plans, not on the DSL.
 */
export interface PipelineDefinition {
  readonly name: string;
  /** Builds a fresh plan (each call runs the definition function again). */
  plan(): Plan;
}

/** A pipeline's plan: its nodes in the order they were defined (inputs always come first). */
export interface Plan {
  readonly pipeline: string;
  readonly nodes: readonly PlanNode[];
}

/** Names of a node's inputs. */
export function inputsOf(node: PlanNode): readonly string[] {
  if (node.kind === 'source') return [];
  if (node.kind === 'merge') return node.inputs;
  if (node.kind === 'tableJoin') return [node.input, node.table];
  if (node.kind === 'intervalJoin') return [node.left, node.right];
  return [node.input];
}

/** A check spec as JSON-safe data: functions become `"fn"`, Standard Schema objects `"schema"`. */
function jsonSafe(value: unknown): unknown {
  if (typeof value === 'function') return 'fn';
  if (value === null || typeof value !== 'object') return value;
  if ('~standard' in value) return 'schema';
  if (Array.isArray(value)) return value.map(jsonSafe);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
}

/** The plan as JSON-safe data: functions become `"fn"`, aggregators their kind. Stable across runs. */
export function describePlan(plan: Plan): unknown {
  return {
    pipeline: plan.pipeline,
    nodes: plan.nodes.map((node) =>
      Object.fromEntries(
        Object.entries(node).map(([k, v]) => {
          if (typeof v === 'function') return [k, 'fn'];
          if (k === 'aggregator') return [k, v === null ? null : (v as PlanAggregator).kind];
          if (k === 'check') return [k, jsonSafe(v)];
          return [k, v];
        }),
      ),
    ),
  };
}
