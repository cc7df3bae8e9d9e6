/**
 * The only reader of wall-clock time in Freshet. Everything that needs "now" takes a Clock, so tests
 * (and `freshet/testing`) can substitute a manual one.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

/** The real clock (`Date.now()`): the default everywhere. */
export const systemClock: Clock = { nowMs: () => Date.now() };

/**
 * A clock that only moves when told to: for deterministic tests.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(1_700_000_000_000);
 * clock.advance(5_000);
 * ```
 */
export class ManualClock implements Clock {
  constructor(private currentMs = 0) {}
  nowMs(): number {
    return this.currentMs;
  }
  advance(ms: number): void {
    this.currentMs += ms;
  }
  set(ms: number): void {
    this.currentMs = ms;
  }
}
