/**
 * Top-k heavy hitters with Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient Computation of
 * Frequent and Top-k Elements in Data Streams", 2005) and its mergeable form (Agarwal et al.,
 * "Mergeable Summaries", 2012; Cafaro et al. 2016).
 *
 * The summary keeps at most `capacity` counters (value, count, error). Invariants, for every value x
 * with true frequency f(x) among N inputs:
 *   - monitored x:   count(x) - error(x) <= f(x) <= count(x), and error(x) <= floor;
 *   - unmonitored x: f(x) <= floor, where floor = smallest count when all counters are in use, else 0;
 *   - floor <= N / capacity.
 * So every value with f(x) > N / capacity is monitored, and every reported count overestimates by at
 * most N / capacity. Merge adds counts (a value missing from a full summary is charged that summary's
 * floor, as count and error), then keeps the `capacity` best: the invariants survive any merge tree.
 *
 * Ties are broken by value (numbers before strings, then ascending), never by arrival, so the counter to
 * evict, the merged summary and the result order are functions of the counters alone: merge is
 * commutative and a decoded summary behaves exactly like the one encoded.
 */
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { type Aggregator } from './aggregator.js';
import { ByteReader, ByteWriter } from './codec.js';
import { AggregatorLimits } from './limits.js';
import { compareNumbers } from './value-order.js';

/** A value top-k can count. */
export type TopKValue = string | number;

/** One heavy hitter: `count` overestimates the true frequency by at most `error` (so count - error <= true <= count). */
export interface TopKEntry<V extends TopKValue = TopKValue> {
  value: V;
  count: number;
  error: number;
}

/** Value order for ties: numbers (NaN last) before strings, strings by code unit. */
function compareKeys(a: TopKValue, b: TopKValue): number {
  if (typeof a === 'number') return typeof b === 'number' ? compareNumbers(a, b) : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Best first: larger count, then smaller value. */
function compareEntries(x: TopKEntry, y: TopKEntry): number {
  return y.count - x.count || compareKeys(x.value, y.value);
}

/** Accumulator of `topK()`: a Space-Saving summary with a min-heap of counters (worst at the root). */
export class SpaceSaving<V extends TopKValue = TopKValue> {
  /** value -> slot */
  private readonly index = new Map<V, number>();
  // Plain arrays rather than typed arrays: they live on the JS heap, so a summary per window and key
  // costs no ArrayBuffer allocations (which are slow to make and pressure the GC).
  private values: V[] = [];
  private counts: number[] = [];
  private errors: number[] = [];
  /** heap[i] = slot; pos[slot] = i. */
  private heap: number[] = [];
  private pos: number[] = [];
  private size = 0;
  /** Inputs counted (N). */
  total = 0;

  constructor(readonly capacity: number) {}

  /** Counters in use. */
  get length(): number {
    return this.size;
  }

  /** The most any unmonitored value can have occurred; also the largest possible error. <= total / capacity. */
  floor(): number {
    return this.size < this.capacity ? 0 : this.counts[this.heap[0]!]!;
  }

  add(v: V): void {
    this.total++;
    const slot = this.index.get(v);
    if (slot !== undefined) {
      this.counts[slot]!++;
      this.siftDown(this.pos[slot]!);
      return;
    }
    if (this.size < this.capacity) {
      const s = this.size++;
      this.values.push(v);
      this.counts.push(1);
      this.errors.push(0);
      this.heap.push(s);
      this.pos.push(s);
      this.index.set(v, s);
      this.siftUp(s);
      return;
    }
    // Replace the worst counter: the newcomer may have occurred up to its count times unseen.
    const s = this.heap[0]!;
    this.index.delete(this.values[s]!);
    this.values[s] = v;
    this.errors[s] = this.counts[s]!;
    this.counts[s]!++;
    this.index.set(v, s);
    this.siftDown(0);
  }

  /** All counters, best first. */
  entries(): TopKEntry<V>[] {
    const out: TopKEntry<V>[] = new Array(this.size);
    for (let s = 0; s < this.size; s++) out[s] = { value: this.values[s]!, count: this.counts[s]!, error: this.errors[s]! };
    return out.sort(compareEntries);
  }

  merge(other: SpaceSaving<V>): void {
    if (other.capacity !== this.capacity) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `cannot merge top-k summaries of capacity ${this.capacity} and ${other.capacity}`);
    const fa = this.floor();
    const fb = other.floor();
    const union: TopKEntry<V>[] = [];
    for (let s = 0; s < this.size; s++) {
      const v = this.values[s]!;
      const o = other.index.get(v);
      union.push({
        value: v,
        count: this.counts[s]! + (o === undefined ? fb : other.counts[o]!),
        error: this.errors[s]! + (o === undefined ? fb : other.errors[o]!),
      });
    }
    for (let s = 0; s < other.size; s++) {
      const v = other.values[s]!;
      if (this.index.has(v)) continue;
      union.push({ value: v, count: other.counts[s]! + fa, error: other.errors[s]! + fa });
    }
    const total = this.total + other.total;
    this.load(union.sort(compareEntries), total);
  }

  /** Replaces the content with `sorted` (best first), keeping the best `capacity`. */
  load(sorted: readonly TopKEntry<V>[], total: number): void {
    const n = Math.min(sorted.length, this.capacity);
    this.index.clear();
    this.values = [];
    this.counts = [];
    this.errors = [];
    this.heap = [];
    this.pos = [];
    // Slots worst-first: an array ascending in the heap order is a valid heap.
    for (let i = 0; i < n; i++) {
      const e = sorted[n - 1 - i]!;
      this.values.push(e.value);
      this.counts.push(e.count);
      this.errors.push(e.error);
      this.heap.push(i);
      this.pos.push(i);
      this.index.set(e.value, i);
    }
    this.size = n;
    this.total = total;
  }

  /** Slot a ranks strictly below slot b (smaller count, or same count and larger value). */
  private worse(a: number, b: number): boolean {
    const ca = this.counts[a]!;
    const cb = this.counts[b]!;
    if (ca !== cb) return ca < cb;
    return compareKeys(this.values[a]!, this.values[b]!) > 0;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const slot = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ps = heap[parent]!;
      if (!this.worse(slot, ps)) break;
      heap[i] = ps;
      this.pos[ps] = i;
      i = parent;
    }
    heap[i] = slot;
    this.pos[slot] = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = this.size;
    const slot = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.worse(heap[child + 1]!, heap[child]!)) child++;
      const cs = heap[child]!;
      if (!this.worse(cs, slot)) break;
      heap[i] = cs;
      this.pos[cs] = i;
      i = child;
    }
    heap[i] = slot;
    this.pos[slot] = i;
  }

  /**
   * ```
   * topk  := 01 0A capacity:varuint total:varuint size:varuint entry{size}     entries best first
   * entry := 00 value:f64 count:varuint error:varuint                          a number
   *        | 01 value:str count:varuint error:varuint                          a string
   * ```
   */
  encode(): Uint8Array {
    const w = new ByteWriter(16 + this.size * 16).header('topk').varuint(this.capacity).varuint(this.total).varuint(this.size);
    for (const e of this.entries()) {
      if (typeof e.value === 'number') w.u8(0).f64(e.value);
      else w.u8(1).str(e.value);
      w.varuint(e.count).varuint(e.error);
    }
    return w.finish();
  }

  static decode<V extends TopKValue>(bytes: Uint8Array, expectedCapacity: number): SpaceSaving<V> {
    const r = new ByteReader(bytes, 'topk').header('topk');
    const capacity = r.varuint();
    if (capacity !== expectedCapacity) throw r.fail(`state has capacity ${capacity}, this aggregator ${expectedCapacity}`);
    const total = r.varuint();
    const size = r.varuint();
    if (size > capacity) throw r.fail(`${size} counters for capacity ${capacity}`);
    const entries: TopKEntry<V>[] = [];
    const seen = new Set<V>();
    let kept = 0;
    for (let i = 0; i < size; i++) {
      const tag = r.u8();
      let value: TopKValue;
      if (tag === 0) {
        value = r.f64();
        if (Object.is(value, -0)) throw r.fail('-0 is stored as 0');
      } else if (tag === 1) value = r.str();
      else throw r.fail(`unknown value tag ${tag}`);
      const count = r.varuint();
      const error = r.varuint();
      if (count < 1 || error >= count) throw r.fail(`counter ${String(value)}: count ${count}, error ${error}`);
      if (seen.has(value as V)) throw r.fail(`value ${String(value)} counted twice`);
      seen.add(value as V);
      kept += count - error;
      entries.push({ value: value as V, count, error });
    }
    if (kept > total) throw r.fail(`guaranteed counts (${kept}) exceed the total (${total})`);
    r.end();
    const s = new SpaceSaving<V>(capacity);
    s.load(entries.sort(compareEntries), total);
    return s;
  }
}

/** Options of {@link topK}. */
export interface TopKOptions {
  /**
   * Counters kept (default max(8·k, 64), at most 2^20). Every count overestimates by at most
   * N / capacity for N inputs, and every value occurring more than N / capacity times is found.
   */
  capacity?: number;
}

/** The aggregator `topK()` returns: an Aggregator plus the error bound. */
export interface TopKAggregator<In, V extends TopKValue> extends Aggregator<In, SpaceSaving<V>, TopKEntry<V>[]> {
  readonly params: { readonly k: number; readonly capacity: number };
  /** The largest overestimate any count in `acc` can have (<= inputs / capacity). */
  maxError(acc: SpaceSaving<V>): number;
}

/**
 * The k most frequent values with Space-Saving. The result is sorted by count, largest first (ties by
 * value), as `[{ value, count, error }]`: `count` is an upper bound of the true frequency and
 * `count - error` a lower bound; `error` <= N / capacity for N inputs. Values occurring more than
 * N / capacity times are always in the summary. Exact (error 0) while there are at most `capacity`
 * distinct values. null/undefined are skipped; values must be strings or numbers (-0 counts as 0).
 *
 * Accumulator: {@link SpaceSaving}. State: see `SpaceSaving.encode`.
 *
 * @example
 * ```ts
 * const topProducts = topK((o: Order) => o.productId, 10);                      // capacity 80
 * const topPages = topK((v: PageView) => v.path, 20, { capacity: 1000 });      // error <= N/1000
 * // => [{ value: '/home', count: 5120, error: 3 }, ...]
 * ```
 */
export function topK<V extends TopKValue = TopKValue>(k: number, options?: TopKOptions): TopKAggregator<NoInfer<V> | null | undefined, NoInfer<V>>;
export function topK<In, V extends TopKValue>(extract: (input: In) => V | null | undefined, k: number, options?: TopKOptions): TopKAggregator<In, V>;
export function topK<In, V extends TopKValue>(
  extractOrK: ((input: In) => V | null | undefined) | number,
  kOrOptions?: number | TopKOptions,
  maybeOptions?: TopKOptions,
): TopKAggregator<In, V> {
  const extract = typeof extractOrK === 'function' ? extractOrK : undefined;
  const k = typeof extractOrK === 'number' ? extractOrK : kOrOptions;
  const options = (typeof extractOrK === 'number' ? kOrOptions : maybeOptions) ?? {};
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > AggregatorLimits.maxTopK) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `topK: k must be an integer in 1..${AggregatorLimits.maxTopK}, got ${String(k)}`);
  }
  if (typeof options !== 'object') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'topK: options must be an object');
  const capacity = options.capacity ?? Math.min(Math.max(8 * k, 64), AggregatorLimits.maxTopKCapacity);
  if (!Number.isInteger(capacity) || capacity < k || capacity > AggregatorLimits.maxTopKCapacity) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `topK: capacity must be an integer in k..${AggregatorLimits.maxTopKCapacity} (k = ${k}), got ${capacity}`);
  }
  const offer = (acc: SpaceSaving<V>, v: V | null | undefined): SpaceSaving<V> => {
    if (v == null) return acc;
    const t = typeof v;
    if (t === 'number') acc.add(((v as number) + 0) as V);
    else if (t === 'string') acc.add(v);
    else throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `topK counts strings and numbers, got ${t}`);
    return acc;
  };
  return {
    kind: 'topk',
    params: Object.freeze({ k, capacity }),
    create: () => new SpaceSaving<V>(capacity),
    add: extract === undefined ? (acc, input) => offer(acc, input as V | null | undefined) : (acc, input) => offer(acc, extract(input)),
    merge(a, b) {
      a.merge(b);
      return a;
    },
    result: (acc) => acc.entries().slice(0, k),
    maxError: (acc) => acc.floor(),
    encode: (acc) => acc.encode(),
    decode: (bytes) => SpaceSaving.decode<V>(bytes, capacity),
  };
}
