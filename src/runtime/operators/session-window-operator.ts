import type { EmitMode, KeyValue, PlanAggregator } from '../../plan/plan.js';
import type { Batch } from '../batch.js';
import { MinHeap } from '../min-heap.js';
import { WindowOperatorBase } from './window-operator.js';

/*
 * Session windows, on top of the semantics in window-operator.ts:
 * - An event at ts proposes the window [ts, ts + gapMs). Windows of one key that overlap it (strictly:
 *   start < ts + gapMs and ts < end) merge with it into one session [min start, max end). Events exactly
 *   gapMs apart are two sessions.
 * - An event that merges into a live session is accepted; otherwise it is late when
 *   ts + gapMs + allowedLatenessMs <= W.
 * - A session that already fired and is merged into another is retracted: a result with `value: null`
 *   and `retracted: true` is emitted for it, so readers keyed by (key, window start) can delete it.
 */

interface Session {
  startMs: number;
  endMs: number;
  readonly key: KeyValue;
  acc: unknown;
  fired: boolean;
  live: boolean;
  /** The start under which a result was last emitted, or null: needed to retract it when the start moves. */
  emittedStartMs: number | null;
  emittedEndMs: number;
}

export class SessionWindowOperator extends WindowOperatorBase {
  /** Live sessions per key (a key has few at a time). */
  private readonly sessions = new Map<KeyValue, Session[]>();
  /** Session end → sessions ending there (kept in sync on merges); ends are timers, deleted lazily. */
  private readonly byEnd = new Map<number, Set<Session>>();
  private readonly ends = new MinHeap();
  /** Results emitted earlier under a start that no longer exists. */
  private retractions: { key: KeyValue; startMs: number; endMs: number }[] = [];

  constructor(
    name: string,
    private readonly gapMs: number,
    aggregator: PlanAggregator,
    emitMode: EmitMode,
    allowedLatenessMs: number,
  ) {
    super(name, aggregator, emitMode, allowedLatenessMs);
  }

  push(batch: Batch): void {
    const { values, timestamps } = batch;
    const keys = batch.keys!;
    const { gapMs, aggregator, allowedLatenessMs } = this;
    const watermarkMs = this.watermarkMs;
    for (let i = 0; i < values.length; i++) {
      const ts = timestamps[i]!;
      const key = keys[i]!;
      const value = values[i];
      const end = ts + gapMs;
      let list = this.sessions.get(key);
      let target: Session | null = null;
      if (list !== undefined) {
        let overlapping: Session[] | null = null;
        for (const session of list) {
          if (session.startMs < end && ts < session.endMs) (overlapping ??= []).push(session);
        }
        if (overlapping !== null) {
          let startMs = ts;
          let endMs = end;
          for (const session of overlapping) {
            if (session.startMs < startMs) startMs = session.startMs;
            if (session.endMs > endMs) endMs = session.endMs;
          }
          target = overlapping[0]!;
          // A merged-away session whose result was emitted under the surviving start hands that result
          // over to the survivor (a later move of the start must retract it).
          let inherited: Session | null = null;
          for (let o = 1; o < overlapping.length; o++) {
            const other = overlapping[o]!;
            target.acc = aggregator.merge(target.acc, other.acc);
            if (other.emittedStartMs === startMs) inherited = other;
            this.retire(other, startMs);
          }
          if (overlapping.length > 1) {
            list = list.filter((s) => s.live);
            this.sessions.set(key, list);
          }
          this.reshape(target, startMs, endMs);
          if (inherited !== null && target.emittedStartMs === null) {
            target.emittedStartMs = inherited.emittedStartMs;
            target.emittedEndMs = inherited.emittedEndMs;
          }
        }
      }
      if (target === null) {
        if (end + allowedLatenessMs <= watermarkMs) {
          this.recordLate(value, ts, key);
          continue;
        }
        target = { startMs: ts, endMs: end, key, acc: aggregator.create(), fired: false, live: true, emittedStartMs: null, emittedEndMs: 0 };
        if (list === undefined) this.sessions.set(key, (list = []));
        list.push(target);
        this.addEnd(target);
      }
      target.acc = aggregator.add(target.acc, value, ts);
      if (target.endMs <= watermarkMs || this.emitMode === 'updates') this.changed.add(target);
    }
    this.endBatch();
  }

  /** Retractions first, then the changed sessions (final once their end is behind the watermark). */
  protected override endBatch(): void {
    this.emitRetractions();
    for (const slot of this.changed) {
      const session = slot as Session;
      session.emittedStartMs = session.startMs;
      session.emittedEndMs = session.endMs;
      if (session.endMs <= this.watermarkMs) session.fired = true;
    }
    super.endBatch();
  }

  protected advance(watermarkMs: number): void {
    const due: Session[] = [];
    while (this.ends.size > 0 && this.ends.peek() <= watermarkMs) {
      const end = this.ends.pop();
      const set = this.byEnd.get(end);
      if (!set) continue;
      // Once popped, the timer is spent: sessions that move later get a new entry (addEnd).
      this.byEnd.delete(end);
      for (const session of set) {
        if (session.live && !session.fired && session.endMs <= watermarkMs) {
          session.fired = true;
          session.emittedStartMs = session.startMs;
          session.emittedEndMs = session.endMs;
          due.push(session);
        }
      }
    }
    due.sort((a, b) => a.endMs - b.endMs);
    this.emitSlots(due, () => true);
    for (const [key, list] of this.sessions) {
      const kept = list.filter((s) => s.endMs + this.allowedLatenessMs > watermarkMs);
      if (kept.length === list.length) continue;
      for (const s of list) if (!kept.includes(s)) this.retire(s, Number.NaN, false);
      if (kept.length === 0) this.sessions.delete(key);
      else this.sessions.set(key, kept);
    }
  }

  /** Takes a session out (merged into another, or purged); retracts its emitted result if it is replaced. */
  private retire(session: Session, survivingStartMs: number, merged = true): void {
    session.live = false;
    this.removeFromEnd(session);
    this.changed.delete(session);
    if (merged && session.emittedStartMs !== null) {
      this.pendingRetraction(session.key, session.emittedStartMs, session.emittedEndMs, survivingStartMs);
    }
  }

  /** Moves a live session's bounds; a moved start retracts the result emitted under the old one. */
  private reshape(session: Session, startMs: number, endMs: number): void {
    if (session.emittedStartMs !== null && session.emittedStartMs !== startMs) {
      this.pendingRetraction(session.key, session.emittedStartMs, session.emittedEndMs, startMs);
      session.emittedStartMs = null;
    }
    session.startMs = startMs;
    if (endMs !== session.endMs) {
      this.removeFromEnd(session);
      session.endMs = endMs;
      this.addEnd(session);
      if (endMs > this.watermarkMs) {
        // Open again: in final mode it waits for the watermark like any open session.
        session.fired = false;
        if (this.emitMode === 'final') this.changed.delete(session);
      }
    }
  }

  private pendingRetraction(key: KeyValue, startMs: number, endMs: number, survivingStartMs: number): void {
    // The surviving session's result replaces a retracted one with the same start: no retraction needed.
    if (startMs === survivingStartMs) return;
    this.retractions.push({ key, startMs, endMs });
  }

  private emitRetractions(): void {
    if (this.retractions.length === 0) return;
    const retracted = this.retractions;
    this.retractions = [];
    this.emitRetracted(retracted);
  }

  private removeFromEnd(session: Session): void {
    const set = this.byEnd.get(session.endMs);
    if (set === undefined) return;
    set.delete(session);
    if (set.size === 0) this.byEnd.delete(session.endMs);
  }

  /**
   * Live sessions as `[key, startMs, endMs, acc, fired, emittedStartMs, emittedEndMs]` rows, then the end
   * timers as they are, by row index (their order decides the order of results with equal ends).
   */
  protected snapshotWindows(): unknown[] {
    const rows: unknown[] = [];
    const index = new Map<Session, number>();
    for (const [key, list] of this.sessions) {
      for (const s of list) {
        index.set(s, rows.length);
        rows.push([key, s.startMs, s.endMs, this.encodeAcc(s.acc), s.fired, s.emittedStartMs, s.emittedEndMs]);
      }
    }
    const byEnd: unknown[] = [];
    for (const [end, set] of this.byEnd) byEnd.push([end, [...set].map((s) => index.get(s)!)]);
    return [rows, byEnd, this.ends.toArray()];
  }

  protected restoreWindows(state: readonly unknown[]): void {
    this.sessions.clear();
    this.byEnd.clear();
    const sessions: Session[] = [];
    for (const row of state[0] as [KeyValue, number, number, Uint8Array, boolean, number | null, number][]) {
      const [key, startMs, endMs, acc, fired, emittedStartMs, emittedEndMs] = row;
      const session: Session = { startMs, endMs, key, acc: this.decodeAcc(acc), fired, live: true, emittedStartMs, emittedEndMs };
      sessions.push(session);
      let list = this.sessions.get(key);
      if (list === undefined) this.sessions.set(key, (list = []));
      list.push(session);
    }
    for (const [end, indices] of state[1] as [number, number[]][]) this.byEnd.set(end, new Set(indices.map((i) => sessions[i]!)));
    this.ends.reset(state[2] as number[]);
  }

  /** Number of timer entries: for state-size tests. */
  get timerCount(): number {
    return this.byEnd.size;
  }

  private addEnd(session: Session): void {
    let set = this.byEnd.get(session.endMs);
    if (!set) {
      this.byEnd.set(session.endMs, (set = new Set()));
      this.ends.push(session.endMs);
    }
    set.add(session);
  }
}
