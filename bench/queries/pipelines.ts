/**
 * Builds a runnable pipeline from a benchmark query and a sink. This module is also what worker threads
 * import in parallel runs (`--workers N`): `benchPipeline` is the factory export, its spec is plain data.
 *
 * Sinks:
 * - `topic`: results go to a JSON topic (the verification run: read back, compared with the oracle);
 * - `discard`: results are dropped right after the query (throughput runs in worker threads);
 * - `probe` (single process only, a function): called with each result, which it then drops (throughput
 *   tallies and latency probes).
 *
 * @example
 * ```ts
 * const def = benchPipeline({ query: 'q5', name: 'nexmark-q5-1', topic: 'nexmark', format: 'json', nexmark, sink: { kind: 'discard' } });
 * const runner = await PipelineRunner.start(def.plan(), { log });
 * ```
 */
import { type PipelineDefinition, pipeline } from '../../src/dsl/pipeline.js';
import type { TopicFormat } from '../../src/plan/plan.js';
import type { NexmarkConfig } from '../generators/nexmark.js';
import { NEXMARK_QUERIES } from './nexmark.js';
import type { BenchQuery } from './types.js';
import { YSB_QUERY } from './ysb.js';

/** Where results go (see the module comment). */
export type SinkSpec = { readonly kind: 'topic'; readonly topic: string } | { readonly kind: 'discard' };

/** Everything a worker thread needs to build the same pipeline (plain data, structured-cloneable). */
export interface PipelineSpec {
  /** `q0`…`q11` or `ysb`. */
  readonly query: string;
  /** The pipeline's name: unique per run, so no run resumes another's offsets or repartition topics. */
  readonly name: string;
  readonly topic: string;
  readonly format: TopicFormat;
  readonly nexmark: NexmarkConfig;
  readonly sink: SinkSpec;
}

/**
 * The query named `name` (a Nexmark query or `ysb`); throws for unknown names.
 *
 * @example
 * ```ts
 * benchQuery('q5').description;
 * ```
 */
export function benchQuery(name: string): BenchQuery {
  const q = name === 'ysb' ? YSB_QUERY : NEXMARK_QUERIES[name];
  if (!q) throw new Error(`unknown benchmark query '${name}'; known: ${[...Object.keys(NEXMARK_QUERIES), 'ysb'].join(', ')}`);
  return q;
}

/**
 * The query as a pipeline; `probe`, when given, replaces the spec's sink (single process only).
 *
 * @example
 * ```ts
 * const def = benchPipeline(spec, (out) => { seen++; return false; });
 * ```
 */
export function benchPipeline(spec: PipelineSpec, probe?: (out: unknown) => boolean): PipelineDefinition {
  const query = benchQuery(spec.query);
  return pipeline(spec.name, (p) => {
    const out = query.build(p, { topic: spec.topic, format: spec.format, nexmark: spec.nexmark });
    if (probe !== undefined) out.filter(probe, { name: 'bench-probe' }).collect('out');
    else if (spec.sink.kind === 'topic') out.toTopic(spec.sink.topic, { name: 'bench-out' });
    else out.filter(dropAll, { name: 'bench-probe' }).collect('out');
  });
}

function dropAll(): boolean {
  return false;
}
