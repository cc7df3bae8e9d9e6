import type { TopicFormat } from '../plan/plan.js';

/** Node kinds that pass values through as they are: a record after them is the record as read. */
const VALUE_PRESERVING = new Set(['filter', 'keyBy', 'expect']);

/** The part of a plan node this walk reads (structural, so it also takes node kinds plan.ts adds later). */
interface NodeLike {
  readonly kind: string;
  readonly name: string;
  readonly input?: string;
  readonly topic?: string;
  readonly format?: TopicFormat;
  readonly role?: string;
}

/**
 * The source a check's input values come from unchanged, if any: the walk from the check's input back
 * through filter, keyBy and other checks must end at a stream source. That is the topic a check's
 * re-encoded dead letters belong to (`QualityOperatorContext.sourceTopic`); after a map, a join, a merge or
 * an aggregate there is none (null).
 *
 * @example
 * ```ts
 * // source-orders → filter → expect 'amount-min'
 * checkSource(plan.nodes, 'filter-1') // { topic: 'orders', format: 'json' }
 * ```
 */
export function checkSource(nodes: readonly NodeLike[], input: string): { topic: string; format: TopicFormat } | null {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  let node = byName.get(input);
  // Bounded by the plan's size: plans are acyclic, but never loop on a malformed one.
  for (let steps = 0; node !== undefined && steps <= nodes.length; steps++) {
    if (node.kind === 'source') return node.role === 'table' || node.topic === undefined ? null : { topic: node.topic, format: node.format ?? 'json' };
    if (!VALUE_PRESERVING.has(node.kind) || node.input === undefined) return null;
    node = byName.get(node.input);
  }
  return null;
}
