import { type RefEvent, type Tick, statsOf } from './window-reference.js';

/**
 * Brute-force reference for Kafka-style sliding windows (d = maxDifferenceMs): the windows are, for each
 * accepted record at t, [t - d, t] and, when it holds records, [t + 1, t + 1 + d]. A window known before it
 * expires is frozen when W passes its end (exclusive, start + d + 1) + allowedLatenessMs; its content is
 * then every accepted record in its range. Windows that would be born expired never exist.
 */
export interface SlidingRefOptions {
  readonly maxDifferenceMs: number;
  readonly allowedLatenessMs: number;
  readonly maxOutOfOrderMs: number;
  readonly partitions: number;
}

export function referenceSliding(ticks: readonly Tick[], options: SlidingRefOptions): { table: Map<string, string>; late: RefEvent[] } {
  const d = options.maxDifferenceMs;
  const lateness = options.allowedLatenessMs;
  let watermark = Number.NEGATIVE_INFINITY;
  const partitionMax = new Array<number>(options.partitions).fill(Number.NEGATIVE_INFINITY);
  const accepted = new Map<string, RefEvent[]>();
  const known = new Map<string, Set<number>>(); // key -> starts of live windows
  const table = new Map<string, string>();
  const late: RefEvent[] = [];
  const expired = (start: number, w: number) => start + d + 1 + lateness <= w;
  const windowsOf = (events: readonly RefEvent[]): Set<number> => {
    const starts = new Set<number>();
    for (const e of events) {
      starts.add(e.ts - d);
      if (events.some((x) => x.ts >= e.ts + 1 && x.ts <= e.ts + 1 + d)) starts.add(e.ts + 1);
    }
    return starts;
  };
  const freeze = (w: number) => {
    for (const [key, starts] of known) {
      for (const start of [...starts]) {
        if (!expired(start, w)) continue;
        const members = accepted.get(key)!.filter((e) => e.ts >= start && e.ts <= start + d);
        const s = statsOf(members);
        table.set(`${key}|${start}`, `${start + d + 1},${s.count},${s.sum},${s.min},${s.max}`);
        starts.delete(start);
      }
    }
  };
  for (const tick of ticks) {
    for (let p = 0; p < options.partitions; p++) {
      for (const e of tick.get(p) ?? []) {
        if (e.ts + d + 1 + lateness <= watermark) {
          late.push(e);
          continue;
        }
        const events = [...(accepted.get(e.key) ?? []), e];
        accepted.set(e.key, events);
        const starts = known.get(e.key) ?? new Set<number>();
        known.set(e.key, starts);
        // Windows e touches: those that hold it, and its own right window (which holds later records).
        // New ones are born unless already expired.
        for (const start of windowsOf(events)) {
          const holdsE = e.ts >= start && e.ts <= start + d;
          if ((holdsE || start === e.ts + 1) && !expired(start, watermark)) starts.add(start);
        }
      }
    }
    for (const [p, events] of tick) for (const e of events) partitionMax[p] = Math.max(partitionMax[p]!, e.ts);
    const next = Math.min(...partitionMax) - options.maxOutOfOrderMs;
    if (next > watermark) {
      watermark = next;
      freeze(watermark);
    }
  }
  freeze(Number.POSITIVE_INFINITY);
  return { table, late };
}
