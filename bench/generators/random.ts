/**
 * A small deterministic random generator for the benchmark generators. Each event reseeds it from
 * (seed, event number), as the Nexmark generator seeds one `Random` per event id: any event can be
 * generated alone, in any order, by any thread, and always comes out the same.
 *
 * mulberry32 (32-bit state): fast, allocation-free, good enough for workload shapes (not for crypto).
 *
 * @example
 * ```ts
 * const rng = new EventRng();
 * rng.reseed(42, 1_000);
 * rng.int(10); // the same value every time for (42, 1000)
 * ```
 */
export class EventRng {
  private state = 0;

  /** Positions the generator at the stream of (seed, id); `id` may be any integer below 2^53. */
  reseed(seed: number, id: number): void {
    const low = id >>> 0;
    const high = Math.floor(id / 4_294_967_296) >>> 0;
    let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ low;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) ^ Math.imul(high, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    this.state = (h ^ (h >>> 16)) >>> 0;
  }

  /** A double in [0, 1) with 32 random bits. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A string of exactly `length` lowercase letters (the Nexmark generator's `nextExactString`). */
  exactString(length: number): string {
    let s = '';
    for (let i = 0; i < length; i++) s += LETTERS[this.int(26)];
    return s;
  }

  /**
   * A string of 3 to `maxLength - 1` characters, letters with a space now and then, trimmed (the Nexmark
   * generator's `nextString`).
   */
  string(maxLength: number): string {
    let len = MIN_STRING_LENGTH + this.int(maxLength - MIN_STRING_LENGTH);
    let s = '';
    while (len-- > 0) s += this.int(13) === 0 ? ' ' : LETTERS[this.int(26)];
    return s.trim();
  }
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const MIN_STRING_LENGTH = 3;
