import { assert } from '../core/assert.js';

/** DedupState's checkpoint form: `[ids, keptTimes, evicted, heapTimes, heapIds]`. */
export type DedupSnapshot = [ids: (string | number)[], times: number[], evicted: number, heapTimes: number[], heapIds: (string | number)[]];

/**
 * De-duplication state with a time-to-live in event time and a bound on memory.
 *
 * The rule, for a record with id `id` and event time `t`, given the current watermark `W`:
 * - the state maps each id to `k`, the newest event time among the records of that id kept;
 * - an entry is *live* when `k >= W - horizonMs` (older entries are expired: their id may come again);
 * - the record is a duplicate when a live entry exists and `|t - k| <= horizonMs`;
 * - otherwise it is kept: with a live entry, `k` becomes `max(k, t)`; without one, and unless the record
 *   is itself already expired (`t < W - horizonMs`), it is remembered as `k = t`;
 * - when remembering makes the state hold more than `maxKeys` ids, the entry with the smallest `k` is
 *   evicted (counted in `evicted`): its id may then be seen again as new.
 *
 * Expired entries are also removed when the watermark advances (`expire`), so memory follows the
 * horizon. A min-heap of (k, id) finds the oldest entry; it may hold stale pairs (an id kept again
 * later), skipped when popped and compacted when they outnumber the live ones.
 *
 * @example
 * ```ts
 * const state = new DedupState(60_000, 1_000_000);
 * state.isDuplicate('order-1', 1_000, -Infinity); // false: kept
 * state.isDuplicate('order-1', 30_000, -Infinity); // true
 * state.expire(70_000); // order-1 (kept at 1,000) is forgotten
 * ```
 */
export class DedupState {
  private readonly kept = new Map<string | number, number>();
  // The heap as parallel arrays: no object per entry.
  private heapTimes: number[] = [];
  private heapIds: (string | number)[] = [];
  /** Entries evicted early because the state was full, since creation. */
  evicted = 0;

  constructor(
    readonly horizonMs: number,
    readonly maxKeys: number,
  ) {
    assert(horizonMs > 0 && maxKeys >= 1, 'dedup horizon and maxKeys are positive');
  }

  /** Ids remembered now. */
  get size(): number {
    return this.kept.size;
  }

  /** Judges one record (see the class comment for the rule) and updates the state: true = a duplicate. */
  isDuplicate(id: string | number, timestampMs: number, watermarkMs: number): boolean {
    const horizon = this.horizonMs;
    const expiredBefore = watermarkMs - horizon;
    const k = this.kept.get(id);
    if (k !== undefined && k >= expiredBefore) {
      if (Math.abs(timestampMs - k) <= horizon) return true;
      // Out of order by more than the horizon: kept, but the newer time stays the one compared with.
      if (timestampMs < k) return false;
    }
    if (timestampMs < expiredBefore) {
      // Kept, but already past the horizon: remembering it could never catch a duplicate.
      return false;
    }
    this.kept.set(id, timestampMs);
    this.heapPush(timestampMs, id);
    if (this.kept.size > this.maxKeys) {
      this.evictOldest();
      this.evicted++;
    }
    if (this.heapTimes.length > 2 * this.kept.size + 1024) this.compact();
    return false;
  }

  /**
   * The state as plain arrays, for checkpoints: the ids and kept times (in the map's order), the evicted
   * count, and the heap exactly as it is (stale pairs included), so a restored state evicts and expires
   * in the same order as the one saved, ties included.
   */
  snapshot(): DedupSnapshot {
    return [[...this.kept.keys()], [...this.kept.values()], this.evicted, [...this.heapTimes], [...this.heapIds]];
  }

  /** Replaces the state with a snapshot's (the horizon and bound are this instance's). */
  restore(snapshot: DedupSnapshot): void {
    const [ids, times, evicted, heapTimes, heapIds] = snapshot;
    this.kept.clear();
    for (let i = 0; i < ids.length; i++) this.kept.set(ids[i]!, times[i]!);
    this.heapTimes = [...heapTimes];
    this.heapIds = [...heapIds];
    // A smaller bound than when saved: the oldest go.
    while (this.kept.size > this.maxKeys) this.evictOldest();
    this.evicted = evicted;
  }

  /** Forgets entries the watermark has expired; returns how many. */
  expire(watermarkMs: number): number {
    const expiredBefore = watermarkMs - this.horizonMs;
    let removed = 0;
    while (this.heapTimes.length > 0 && this.heapTimes[0]! < expiredBefore) {
      const t = this.heapTimes[0]!;
      const id = this.heapIds[0]!;
      this.heapPop();
      if (this.kept.get(id) === t) {
        this.kept.delete(id);
        removed++;
      }
    }
    return removed;
  }

  /** Removes the live entry with the smallest kept time. */
  private evictOldest(): void {
    while (this.heapTimes.length > 0) {
      const t = this.heapTimes[0]!;
      const id = this.heapIds[0]!;
      this.heapPop();
      if (this.kept.get(id) === t) {
        this.kept.delete(id);
        return;
      }
    }
    assert(false, 'a full dedup state has a live heap entry');
  }

  /** Rebuilds the heap from the live entries, dropping stale pairs. */
  private compact(): void {
    this.heapTimes = [];
    this.heapIds = [];
    for (const [id, t] of this.kept) this.heapPush(t, id);
  }

  private heapPush(t: number, id: string | number): void {
    const times = this.heapTimes;
    const ids = this.heapIds;
    let i = times.length;
    times.push(t);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= t) break;
      times[i] = times[parent]!;
      ids[i] = ids[parent]!;
      i = parent;
    }
    times[i] = t;
    ids[i] = id;
  }

  private heapPop(): void {
    const times = this.heapTimes;
    const ids = this.heapIds;
    const lastT = times.pop()!;
    const lastId = ids.pop()!;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && times[r]! < times[l]! ? r : l;
      if (times[c]! >= lastT) break;
      times[i] = times[c]!;
      ids[i] = ids[c]!;
      i = c;
    }
    times[i] = lastT;
    ids[i] = lastId;
  }
}
