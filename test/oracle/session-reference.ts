import { type RefEvent, type Stats, type Tick, statsOf } from './window-reference.js';

/**
 * Brute-force reference for session windows: keeps the accepted events of live sessions per key and
 * regroups them from scratch whenever it needs the sessions. A session is a maximal run of events
 * (sorted by time) where each next event starts before the previous ones' max timestamp + gapMs.
 */
export interface SessionRefOptions {
  readonly gapMs: number;
  readonly allowedLatenessMs: number;
  readonly maxOutOfOrderMs: number;
  readonly partitions: number;
}

export interface RefSession {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly events: RefEvent[];
}

export function sessionsOf(key: string, events: readonly RefEvent[], gapMs: number): RefSession[] {
  const sorted = [...events].sort((a, b) => a.ts - b.ts);
  const out: RefSession[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && e.ts < last.end) {
      last.events.push(e);
      (last as { end: number }).end = Math.max(last.end, e.ts + gapMs);
    } else out.push({ key, start: e.ts, end: e.ts + gapMs, events: [e] });
  }
  return out;
}

/** Final sessions (key|start → "end,count,sum,min,max") and late events. */
export function referenceSessions(ticks: readonly Tick[], options: SessionRefOptions): { table: Map<string, string>; late: RefEvent[] } {
  const { gapMs, allowedLatenessMs: lateness } = options;
  let watermark = Number.NEGATIVE_INFINITY;
  const partitionMax = new Array<number>(options.partitions).fill(Number.NEGATIVE_INFINITY);
  const live = new Map<string, RefEvent[]>();
  const table = new Map<string, string>();
  const late: RefEvent[] = [];
  const row = (s: Stats, end: number) => `${end},${s.count},${s.sum},${s.min},${s.max}`;
  const purge = (w: number) => {
    for (const [key, events] of live) {
      const keep: RefEvent[] = [];
      for (const s of sessionsOf(key, events, gapMs)) {
        if (s.end + lateness <= w) table.set(`${key}|${s.start}`, row(statsOf(s.events), s.end));
        else keep.push(...s.events);
      }
      live.set(key, keep);
    }
  };
  for (const tick of ticks) {
    for (let p = 0; p < options.partitions; p++) {
      for (const e of tick.get(p) ?? []) {
        const sessions = sessionsOf(e.key, live.get(e.key) ?? [], gapMs);
        const overlaps = sessions.some((s) => s.start < e.ts + gapMs && e.ts < s.end);
        if (!overlaps && e.ts + gapMs + lateness <= watermark) late.push(e);
        else live.set(e.key, [...(live.get(e.key) ?? []), e]);
      }
    }
    for (const [p, events] of tick) for (const e of events) partitionMax[p] = Math.max(partitionMax[p]!, e.ts);
    const next = Math.min(...partitionMax) - options.maxOutOfOrderMs;
    if (next > watermark) {
      watermark = next;
      purge(watermark);
    }
  }
  purge(Number.POSITIVE_INFINITY);
  return { table, late };
}
