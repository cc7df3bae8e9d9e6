/**
 * A brute-force reference for keyed event-time windows (tumbling and hopping): obviously correct, slow.
 * It keeps every accepted event per window and recomputes each result from scratch, following the
 * semantics written above src/runtime/operators/window-operator.ts, tick by tick.
 */
export interface RefEvent {
  readonly key: string;
  readonly ts: number;
  readonly v: number;
}

export interface RefWindowSpec {
  readonly sizeMs: number;
  readonly advanceMs: number;
}

export interface RefOptions {
  readonly window: RefWindowSpec;
  readonly allowedLatenessMs: number;
  readonly maxOutOfOrderMs: number;
  readonly emit: 'final' | 'updates';
  readonly partitions: number;
}

/** One step of input: per partition, the events appended before the engine's next read round. */
export type Tick = ReadonlyMap<number, readonly RefEvent[]>;

export interface Stats {
  count: number;
  sum: number;
  min: number;
  max: number;
}

export interface RefOutput {
  /** Emitted results per key, in emission order: `start,end,count,sum,min,max,final`. */
  readonly byKey: Map<string, string[]>;
  readonly late: RefEvent[];
}

export function statsOf(events: readonly RefEvent[]): Stats {
  return {
    count: events.length,
    sum: events.reduce((s, e) => s + e.v, 0),
    min: Math.min(...events.map((e) => e.v)),
    max: Math.max(...events.map((e) => e.v)),
  };
}

export function formatResult(start: number, end: number, s: Stats, final: boolean): string {
  return `${start},${end},${s.count},${s.sum},${s.min},${s.max},${final}`;
}

export function referenceWindows(ticks: readonly Tick[], options: RefOptions): RefOutput {
  const { sizeMs, advanceMs } = options.window;
  const lateness = options.allowedLatenessMs;
  let watermark = Number.NEGATIVE_INFINITY;
  const partitionMax = new Array<number>(options.partitions).fill(Number.NEGATIVE_INFINITY);
  // Live windows: start -> key -> events (insertion order of keys is first appearance).
  const windows = new Map<number, Map<string, RefEvent[]>>();
  const fired = new Set<number>();
  const byKey = new Map<string, string[]>();
  const late: RefEvent[] = [];
  const out = (key: string, line: string) => byKey.set(key, [...(byKey.get(key) ?? []), line]);

  const fireUpTo = (w: number) => {
    const due = [...windows.keys()].filter((s) => !fired.has(s) && s + sizeMs <= w).sort((a, b) => a - b);
    for (const start of due) {
      fired.add(start);
      for (const [key, events] of windows.get(start)!) out(key, formatResult(start, start + sizeMs, statsOf(events), true));
    }
    for (const start of [...windows.keys()]) {
      if (start + sizeMs + lateness <= w) {
        windows.delete(start);
        fired.delete(start);
      }
    }
  };

  for (const tick of ticks) {
    for (let p = 0; p < options.partitions; p++) {
      const events = tick.get(p);
      if (!events || events.length === 0) continue;
      const changed: [number, string][] = [];
      for (const e of events) {
        let accepted = false;
        // Every window containing e.ts, latest start first (the engine's loop order).
        const lastStart = e.ts - (((e.ts % advanceMs) + advanceMs) % advanceMs);
        for (let start = lastStart; start > e.ts - sizeMs; start -= advanceMs) {
          const end = start + sizeMs;
          if (end + lateness <= watermark) continue;
          accepted = true;
          if (!windows.has(start)) {
            windows.set(start, new Map());
            if (end <= watermark) fired.add(start);
          }
          const bucket = windows.get(start)!;
          bucket.set(e.key, [...(bucket.get(e.key) ?? []), e]);
          if (end <= watermark || options.emit === 'updates') {
            if (!changed.some(([s, k]) => s === start && k === e.key)) changed.push([start, e.key]);
          }
        }
        if (!accepted) late.push(e);
      }
      for (const [start, key] of changed) {
        out(key, formatResult(start, start + sizeMs, statsOf(windows.get(start)!.get(key)!), start + sizeMs <= watermark));
      }
    }
    for (const [p, events] of tick) for (const e of events) partitionMax[p] = Math.max(partitionMax[p]!, e.ts);
    const next = Math.min(...partitionMax) - options.maxOutOfOrderMs;
    if (next > watermark) {
      watermark = next;
      fireUpTo(watermark);
    }
  }
  watermark = Number.POSITIVE_INFINITY;
  fireUpTo(watermark);
  return { byKey, late };
}
