import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { KeyValue } from '../../plan/plan.js';
import type { Operator } from '../batch.js';

/**
 * An operator with state a checkpoint must keep. `snapshotState` is called at a batch boundary (nothing
 * pending inside the operator: changed windows, late records and retractions are emitted at the end of
 * every batch) and returns plain data msgpack can encode (arrays, numbers, strings, bytes, and the user's
 * values as they were decoded); `restoreState` rebuilds the operator from it in a fresh process, before
 * any input. Each snapshot starts with its format version, so a later Freshet can migrate or refuse it.
 */
export interface StatefulOperator extends Operator {
  snapshotState(): OperatorSnapshot;
  restoreState(snapshot: OperatorSnapshot): void;
  /**
   * Optional, for large state: the msgpack bytes of a full snapshot (what `pack(snapshotState())` would
   * decode to), written directly, and the start of change tracking for `snapshotChanges`.
   * `reuseMemory`: nobody reads the bytes this operator's last snapshot returned any more (they are in
   * files), so it may write over them instead of allocating tens of MB again.
   */
  snapshotBytes?(reuseMemory?: boolean): Uint8Array;
  /**
   * Optional, incremental checkpoints: the msgpack bytes of what changed since the last `snapshotBytes`
   * or `snapshotChanges` (a delta `restoreChanges` applies on top of that snapshot), or null when there
   * is no base to build on (then take a full snapshot).
   */
  snapshotChanges?(reuseMemory?: boolean): Uint8Array | null;
  restoreChanges?(delta: OperatorSnapshot): void;
}

/** A snapshot: `[formatVersion, kind, ...state]`. */
export type OperatorSnapshot = readonly unknown[];

export function isStateful(operator: Operator): operator is StatefulOperator {
  return typeof (operator as Partial<StatefulOperator>).snapshotState === 'function';
}

/** Checks a snapshot's header; a mismatch is a coded error naming the operator, never a silent misread. */
export function checkSnapshot(operator: string, kind: string, version: number, snapshot: OperatorSnapshot): void {
  if (!Array.isArray(snapshot) || snapshot[1] !== kind || snapshot[0] !== version) {
    const found = Array.isArray(snapshot) ? `${String(snapshot[1])} v${String(snapshot[0])}` : typeof snapshot;
    throw new FreshetError(ErrorCodes.STATE_INCOMPATIBLE, `operator '${operator}': its saved state is ${found}, expected ${kind} v${version}`);
  }
}

/** Per-key (times, values) lists as flat arrays: keys, then each key's times and values. */
export function snapshotTimedLists(lists: ReadonlyMap<KeyValue, { times: number[]; values: unknown[] }>): unknown[] {
  const out: unknown[] = [];
  for (const [key, list] of lists) out.push(key, list.times, list.values);
  return out;
}

export function restoreTimedLists(flat: readonly unknown[], into: Map<KeyValue, { times: number[]; values: unknown[] }>): void {
  into.clear();
  for (let i = 0; i < flat.length; i += 3) into.set(flat[i] as KeyValue, { times: flat[i + 1] as number[], values: flat[i + 2] as unknown[] });
}

/** Built-in aggregators whose accumulators are plain numbers, arrays of numbers or flat objects of them. */
const PLAIN_KINDS = new Set(['count', 'sum', 'avg', 'min', 'max']);

/**
 * Whether an aggregator's accumulators can go into a snapshot as they are (msgpack packs and unpacks
 * them to equal plain data): the numeric built-ins and composites of them. Snapshots of a million keys
 * then skip a versioned binary encoding per accumulator (5x faster); other aggregators (sketches,
 * user-defined ones) use their `encode`/`decode`. The snapshot records which way it went.
 */
export function hasPlainState(aggregator: { readonly kind: string; readonly parts?: unknown }): boolean {
  if (PLAIN_KINDS.has(aggregator.kind)) return true;
  if (aggregator.kind === 'aggregate' && aggregator.parts !== null && typeof aggregator.parts === 'object') {
    return Object.values(aggregator.parts as Record<string, { kind: string; parts?: unknown }>).every(hasPlainState);
  }
  return false;
}
