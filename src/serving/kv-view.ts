import { type Clock, systemClock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { ViewDefinition, ViewUpdate } from '../plan/view-update.js';
import { ServingLimits } from './limits.js';
import { BaseView, windowRank } from './view.js';

/** One key's latest result in a key-value view. */
export interface KvEntry {
  readonly key: string;
  readonly value: unknown;
  readonly eventTimeMs: number;
  readonly windowStartMs?: number;
  readonly windowEndMs?: number;
  readonly final?: boolean;
}

/** Options of `KvView.list`. */
export interface KvListOptions {
  /** Only keys starting with this (default all). */
  readonly prefix?: string;
  /** Only keys sorting after this one (for paging). */
  readonly after?: string;
  /** At most this many entries (default `ServingLimits.defaultListEntries`, at most `maxListEntries`). */
  readonly limit?: number;
}

/** Options of `KvView.top`. */
export interface KvTopOptions {
  /** The numeric field of the value to rank by (dotted path, e.g. `stats.revenue`); '' ranks by the value itself. */
  readonly field: string;
  readonly n: number;
  /** Largest first (default) or smallest first. */
  readonly order?: 'desc' | 'asc';
}

/**
 * The key-value view: the latest result per key, for API lookups. An update replaces its key's entry,
 * except that a windowed update older than the entry's window (a late update of a past window) is
 * ignored, so the entry always shows the newest window; a delete removes the entry under the same rule.
 * Point lookups and multi-get are Map lookups; listing by prefix uses a sorted key index rebuilt lazily
 * after keys come or go; top-N scans the entries with a bounded heap.
 *
 * @example
 * ```ts
 * const view = new KvView({ name: 'spend', kind: 'kv', pipeline: 'p', topic: viewTopic('spend') });
 * await view.apply({ partition: 0, offsets: [0, 1], updates: [
 *   { key: 'ann', value: { total: 12 }, eventTimeMs: 1 },
 *   { key: 'bob', value: { total: 30 }, eventTimeMs: 2 },
 * ] });
 * view.get('ann')?.value;                   // { total: 12 }
 * view.top({ field: 'total', n: 1 })[0].key; // 'bob'
 * ```
 */
export class KvView extends BaseView {
  private readonly entries = new Map<string, KvEntry>();
  /** Keys sorted, or null after a key was added or removed (rebuilt on the next listing). */
  private sortedKeys: string[] | null = [];

  constructor(definition: ViewDefinition, clock: Clock = systemClock) {
    super(definition, clock);
  }

  protected applyRange(updates: readonly ViewUpdate[], from: number, to: number): void {
    const entries = this.entries;
    for (let i = from; i < to; i++) {
      const u = updates[i]!;
      const current = entries.get(u.key);
      if (current !== undefined && windowRank(u) < windowRank(current)) continue;
      if (u.deleted === true) {
        if (current !== undefined) {
          entries.delete(u.key);
          this.sortedKeys = null;
        }
        continue;
      }
      if (current === undefined) this.sortedKeys = null;
      entries.set(u.key, toEntry(u));
    }
  }

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  /** One result per key, in order; null where the view has no entry. */
  getMany(keys: readonly string[]): (KvEntry | null)[] {
    if (keys.length > ServingLimits.maxMultiGetKeys) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `at most ${ServingLimits.maxMultiGetKeys} keys per multi-get, got ${keys.length}`);
    }
    const out: (KvEntry | null)[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = this.entries.get(keys[i]!) ?? null;
    return out;
  }

  /** Entries in key order (code-unit order), optionally under a prefix and after a key. */
  list(options: KvListOptions = {}): { entries: KvEntry[]; truncated: boolean } {
    const limit = clampLimit(options.limit);
    const keys = this.keysSorted();
    const prefix = options.prefix ?? '';
    const start = options.after !== undefined && options.after >= prefix ? options.after : prefix;
    let i = lowerBound(keys, start);
    if (options.after !== undefined && keys[i] === options.after) i++;
    const entries: KvEntry[] = [];
    for (; i < keys.length && entries.length < limit; i++) {
      const k = keys[i]!;
      if (!k.startsWith(prefix)) break;
      entries.push(this.entries.get(k)!);
    }
    const truncated = entries.length === limit && i < keys.length && keys[i]!.startsWith(prefix);
    return { entries, truncated };
  }

  /** The `n` entries with the largest (or smallest) numeric `field`; entries without a number there are skipped. */
  top(options: KvTopOptions): KvEntry[] {
    const n = clampLimit(options.n);
    const path = options.field === '' ? [] : options.field.split('.');
    const sign = options.order === 'asc' ? -1 : 1;
    // A min-heap (by sign·score) of the best n so far: the root is the worst kept.
    const heap: { score: number; entry: KvEntry }[] = [];
    for (const entry of this.entries.values()) {
      const raw = pick(entry.value, path);
      if (typeof raw !== 'number' || Number.isNaN(raw)) continue;
      const score = sign * raw;
      if (heap.length < n) {
        heap.push({ score, entry });
        siftUp(heap, heap.length - 1);
      } else if (score > heap[0]!.score || (score === heap[0]!.score && entry.key < heap[0]!.entry.key)) {
        heap[0] = { score, entry };
        siftDown(heap, 0);
      }
    }
    heap.sort((a, b) => b.score - a.score || (a.entry.key < b.entry.key ? -1 : a.entry.key > b.entry.key ? 1 : 0));
    return heap.map((h) => h.entry);
  }

  size(): number {
    return this.entries.size;
  }

  private keysSorted(): string[] {
    if (this.sortedKeys === null) this.sortedKeys = [...this.entries.keys()].sort();
    return this.sortedKeys;
  }
}

function toEntry(u: ViewUpdate): KvEntry {
  return {
    key: u.key,
    value: u.value,
    eventTimeMs: u.eventTimeMs,
    ...(u.windowStartMs !== undefined && { windowStartMs: u.windowStartMs }),
    ...(u.windowEndMs !== undefined && { windowEndMs: u.windowEndMs }),
    ...(u.final !== undefined && { final: u.final }),
  };
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return ServingLimits.defaultListEntries;
  if (!Number.isInteger(limit) || limit < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `limit must be a positive integer, got ${limit}`);
  return Math.min(limit, ServingLimits.maxListEntries);
}

function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function pick(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** Heap order: a "worse" node (lower score, or equal score and larger key) sits above a better one. */
function worse(a: { score: number; entry: KvEntry }, b: { score: number; entry: KvEntry }): boolean {
  return a.score < b.score || (a.score === b.score && a.entry.key > b.entry.key);
}

function siftUp(heap: { score: number; entry: KvEntry }[], i: number): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!worse(heap[i]!, heap[parent]!)) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function siftDown(heap: { score: number; entry: KvEntry }[], i: number): void {
  for (;;) {
    let c = 2 * i + 1;
    if (c >= heap.length) return;
    if (c + 1 < heap.length && worse(heap[c + 1]!, heap[c]!)) c++;
    if (!worse(heap[c]!, heap[i]!)) return;
    [heap[i], heap[c]] = [heap[c]!, heap[i]!];
    i = c;
  }
}
