/**
 * What a benchmark query is: how to build it with Freshet's DSL, how to read its outputs as the oracle's
 * canonical rows, and where each output sits in event time (for latency). The expected rows come from
 * the oracle (bench/oracle/), written independently in SQL.
 */
import type { PipelineBuilder } from '../../src/dsl/pipeline.js';
import type { Stream } from '../../src/dsl/stream.js';
import type { TopicFormat } from '../../src/plan/plan.js';
import type { NexmarkConfig } from '../generators/nexmark.js';

/** A canonical output row: the oracle's columns, by name. */
export type Row = Record<string, number | string | null>;

/** What a query's definition needs to know about its run. */
export interface QueryContext {
  /** The topic holding the events (see topicFor in generators/log-writer.ts). */
  readonly topic: string;
  readonly format: TopicFormat;
  /** The generator's configuration (time bounds of joins derive from it). */
  readonly nexmark: NexmarkConfig;
}

/**
 * One benchmark query.
 *
 * @example
 * ```ts
 * const q: BenchQuery<Bid> = {
 *   name: 'q0', suite: 'nexmark', description: 'pass-through',
 *   build: (p, ctx) => nexmarkEvents(p, ctx).filter(isBid),
 *   toRow: (b) => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra }),
 *   checksum: (b) => b.price, latencyTimeOf: (b) => b.dateTime, resultPeriodMs: 0,
 * };
 * ```
 */
export interface BenchQuery<Out = any> {
  /** `q0`…`q11`, `ysb`: the oracle query of the same name gives the expected rows. */
  readonly name: string;
  readonly suite: 'nexmark' | 'ysb';
  readonly description: string;
  /** Builds the query on the pipeline and returns its output stream (the harness adds the sink). */
  build(p: PipelineBuilder, ctx: QueryContext): Stream<Out>;
  /** The canonical row of one output. */
  toRow(out: Out): Row;
  /** An integer per output whose sum the oracle also computes: the cheap check of measured runs. */
  checksum(out: Out): number;
  /** The event time an output stands for (results are due then); null: no latency run (results only at the end). */
  readonly latencyTimeOf: ((out: Out) => number) | null;
  /** Results come out together once per this many ms of event time (window queries); 0: continuously. */
  readonly resultPeriodMs: number;
}
