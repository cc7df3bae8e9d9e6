/**
 * Freshet's public API. Users import from here ('freshet') and from 'freshet/testing'.
 *
 * @example
 * ```ts
 * import { pipeline, tumbling, count, sum } from 'freshet';
 *
 * export default pipeline('revenue', (p) => {
 *   p.source<Order>('orders', { eventTime: 'ts', maxOutOfOrderMs: 5_000 })
 *     .keyBy((o) => o.customerId)
 *     .window(tumbling({ sizeMs: 60_000 }))
 *     .aggregate({ orders: count(), revenue: sum((o: Order) => o.amount) })
 *     .toTopic('revenue-per-minute');
 * });
 * ```
 */

// Errors, limits and time
export { ErrorCodes, FreshetError, isFreshetError, type ErrorCode } from './core/errors.js';
export { Limits } from './core/limits.js';
export { type Clock, ManualClock, systemClock } from './core/clock.js';

// The event log
export * from './log/index.js';

// Pipelines: the DSL, windows and aggregators
export { pipeline, PipelineBuilder, type PipelineDefinition, type SourceOptions, type TableOptions, type EventTimeOption } from './dsl/pipeline.js';
export { Stream, KeyedStream, WindowedStream, WindowedResults, JoinedStream, Table, type WindowResult, type OperatorOptions } from './dsl/stream.js';
export { tumbling, hopping, sliding, session } from './dsl/windows.js';
export * from './dsl/aggregators/index.js';
export type { Plan, PlanNode, WindowSpec, EmitMode, KeyValue, TopicFormat } from './plan/plan.js';
export { describePlan } from './plan/plan.js';

// Running pipelines
export { PipelineRunner, type RunnerOptions } from './runtime/pipeline-runner.js';
export { ParallelRunner, type ParallelRunnerOptions, type WorkerTaskStats } from './runtime/parallel/parallel-runner.js';
export { WorkerPool } from './runtime/parallel/worker-pool.js';
export type { PipelineModuleRef } from './runtime/parallel/pipeline-module.js';
export type { StageLayout, StageSpec, TaskSpec, TaskInput, RepartitionSpec } from './runtime/parallel/stages.js';

// State, checkpoints and savepoints (docs/state.md)
export * from './state/index.js';

// Data quality
export { deadLetterTopic, deadLetterRecord, type DeadLetter } from './quality/dead-letter.js';
export { readDeadLetter, isDeadLetterTopic, type StoredDeadLetter, type DeadLetterPayload } from './quality/dead-letter.js';
export { checks, describeCheck, summarizeCheck, validateCheck, DEFAULT_ANOMALY_RULE } from './quality/checks.js';
export type { RangeOptions, UniqueOptions, FreshnessOptions, CompletenessOptions, VolumeOptions } from './quality/checks.js';
export type * from './plan/quality-check.js';
export { QualityLimits } from './quality/limits.js';
export { qualityMetricsTo, type QualityMetricsSink } from './quality/metrics-adapter.js';
export { listDeadLetterTopics, readDeadLetters, type DeadLetterTopicSummary, type ReadDeadLettersOptions } from './quality/dlq-tools.js';
export { replayDeadLetters, replayProgress, loadFixModule, REPLAY_GROUP, type FixFunction, type ReplayOptions, type ReplayResult } from './quality/replay.js';
export { FreshetHeaders, MAX_DLQ_REASON_CHARS } from './core/headers.js';

// The HTTP server (ingest)
export * from './server/index.js';

// Observability: metrics, alerts, structured logs (docs/observability.md)
export * from './observe/index.js';
export { observeRoutes, UNMATCHED_ROUTE, type ObserveRoutesOptions } from './server/observe-routes.js';

// Serving: views (kv, time series, DuckDB tables), read-only SQL, live push (docs/api.md)
export * from './serving/index.js';
export { specOf, aggregatorFromSpec, COMPOSITE_SPEC_KIND } from './dsl/aggregators/spec.js';
export { queryRoutes, renderSql, type QueryRoutesOptions, type SqlFormat } from './server/query-routes.js';
export { VIEW_REGISTRY_TOPIC, viewTopic, encodeViewUpdate, decodeViewUpdate, type ViewDefinition, type ViewKind, type ViewUpdate, type AggregatorSpec } from './plan/view-update.js';
