/**
 * DDSketch (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with Relative-Error
 * Guarantees", VLDB 2019) with the logarithmic mapping and "collapsing lowest" dense stores, as in
 * DataDog's reference implementations. Written here rather than taken from @datadog/sketches-js 2.1.1
 * because that package's merge drops negative values and its encoder needs an undeclared dependency;
 * see docs/adr/0006-sketches.md.
 *
 * A positive value v goes to bin key ceil(log_γ v) with γ = (1 + α) / (1 - α); bin k stands for
 * (γ^(k-1), γ^k] and reports γ^(k-1)·(1 + α), within relative error α of every value in it. Negative
 * values go to a second store keyed by |v|; |v| <= MIN_INDEXABLE counts as zero.
 */
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { type ByteReader, type ByteWriter } from './codec.js';

/**
 * Values with |v| at or below this count as 0 (absolute error at most 1e-300): it keeps γ^k far from
 * double underflow for every accepted accuracy.
 */
export const MIN_INDEXABLE = 1e-300;

const EMPTY = new Float64Array(0);
/** Smallest bin array a store allocates. */
const MIN_BINS = 32;

/**
 * Bin counts for a contiguous key range of at most `binLimit` keys. When a new key would widen the
 * range past the limit, the lowest bins are folded into the lowest bin that remains ("collapsing
 * lowest"): only the smallest values lose accuracy, and upper quantiles (p99) keep their guarantee.
 *
 * The folding makes a key k end in bin max(k, maxKey - binLimit + 1) whatever the order of adds and
 * merges, so the store's content is a function of the multiset of keys alone: merges are exact.
 */
export class BinStore {
  counts: Float64Array = EMPTY;
  /** Key of counts[0]. */
  offset = 0;
  /** Lowest and highest keys in use (both bins non-zero) when total > 0. */
  minKey = 0;
  maxKey = 0;
  total = 0;

  constructor(readonly binLimit: number) {}

  add(key: number, n: number): void {
    if (this.total === 0) {
      this.ensureRange(key, key);
      this.minKey = key;
      this.maxKey = key;
    } else if (key > this.maxKey) {
      const lowest = key - this.binLimit + 1;
      if (lowest > this.maxKey) {
        // Every current bin falls below the new range: all of them fold into its lowest bin.
        const t = this.total;
        this.total = 0;
        this.counts.fill(0);
        this.add(lowest, t);
      } else if (lowest > this.minKey) {
        const c = this.counts;
        const off = this.offset;
        let folded = 0;
        for (let k = this.minKey; k < lowest; k++) {
          folded += c[k - off]!;
          c[k - off] = 0;
        }
        c[lowest - off]! += folded;
        this.minKey = lowest;
      }
      this.ensureRange(this.minKey, key);
      this.maxKey = key;
    } else if (key < this.minKey) {
      const lowest = this.maxKey - this.binLimit + 1;
      if (key < lowest) key = lowest;
      if (key < this.minKey) {
        this.ensureRange(key, this.maxKey);
        this.minKey = key;
      }
    }
    this.counts[key - this.offset]! += n;
    this.total += n;
  }

  /** Adds every bin of `other` (highest first, so at most one fold happens). */
  merge(other: BinStore): void {
    if (other.total === 0) return;
    const c = other === this ? other.counts.slice() : other.counts;
    const off = other.offset;
    for (let k = other.maxKey; k >= other.minKey; k--) {
      const n = c[k - off]!;
      if (n !== 0) this.add(k, n);
    }
  }

  /** The key of the bin holding the value of 0-based rank `rank` (0 <= rank < total) in key order. */
  keyAtRank(rank: number): number {
    const c = this.counts;
    const off = this.offset;
    let cumulative = 0;
    for (let k = this.minKey; k <= this.maxKey; k++) {
      cumulative += c[k - off]!;
      if (cumulative > rank) return k;
    }
    return this.maxKey;
  }

  /** store := bins:varuint (minKey:varint count:varuint{bins})?   (bins = 0 when empty) */
  write(w: ByteWriter): void {
    if (this.total === 0) {
      w.varuint(0);
      return;
    }
    w.varuint(this.maxKey - this.minKey + 1).varint(this.minKey);
    for (let k = this.minKey; k <= this.maxKey; k++) w.varuint(this.counts[k - this.offset]!);
  }

  static read(r: ByteReader, binLimit: number): BinStore {
    const store = new BinStore(binLimit);
    const bins = r.varuint();
    if (bins === 0) return store;
    if (bins > binLimit) throw r.fail(`${bins} bins (limit ${binLimit})`);
    const minKey = r.varint();
    if (Math.abs(minKey) > 1e9) throw r.fail(`bin key ${minKey} out of range`);
    store.ensureRange(minKey, minKey + bins - 1);
    store.minKey = minKey;
    store.maxKey = minKey + bins - 1;
    for (let i = 0; i < bins; i++) {
      const n = r.varuint();
      if ((i === 0 || i === bins - 1) && n === 0) throw r.fail('first and last bins must be non-zero');
      store.counts[minKey + i - store.offset] = n;
      store.total += n;
    }
    if (!Number.isSafeInteger(store.total)) throw r.fail('bin counts overflow');
    return store;
  }

  /** Makes counts cover [lo, hi], keeping the bins [minKey, maxKey] (which must lie inside it). */
  private ensureRange(lo: number, hi: number): void {
    const len = this.counts.length;
    if (len > 0 && lo >= this.offset && hi < this.offset + len) return;
    const need = hi - lo + 1;
    const hasData = this.total > 0;
    if (need <= len) {
      // Re-centre in place (no allocation).
      const newOffset = lo - ((len - need) >> 1);
      if (hasData) {
        this.counts.copyWithin(this.minKey - newOffset, this.minKey - this.offset, this.maxKey - this.offset + 1);
        this.counts.fill(0, 0, this.minKey - newOffset);
        this.counts.fill(0, this.maxKey - newOffset + 1);
      } else this.counts.fill(0);
      this.offset = newOffset;
      return;
    }
    let newLen = MIN_BINS;
    while (newLen < need) newLen *= 2;
    newLen = Math.min(newLen, Math.max(need, this.binLimit));
    const next = new Float64Array(newLen);
    const newOffset = lo - ((newLen - need) >> 1);
    if (hasData) next.set(this.counts.subarray(this.minKey - this.offset, this.maxKey - this.offset + 1), this.minKey - newOffset);
    this.counts = next;
    this.offset = newOffset;
  }
}

/** A DDSketch: relative-error quantiles over doubles, exactly mergeable. */
export class DDSketch {
  readonly gamma: number;
  private readonly lnGamma: number;
  private readonly multiplier: number;
  positive: BinStore;
  negative: BinStore;
  zeroCount = 0;
  min = Infinity;
  max = -Infinity;

  constructor(
    readonly relativeAccuracy: number,
    readonly binLimit: number,
  ) {
    this.gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.lnGamma = Math.log(this.gamma);
    this.multiplier = 1 / this.lnGamma;
    this.positive = new BinStore(binLimit);
    this.negative = new BinStore(binLimit);
  }

  /** Number of values added. */
  get count(): number {
    return this.positive.total + this.negative.total + this.zeroCount;
  }

  /** Adds one finite value (non-finite values are ignored by the callers). */
  add(v: number): void {
    v += 0; // -0 -> 0
    if (v > MIN_INDEXABLE) this.positive.add(Math.ceil(Math.log(v) * this.multiplier), 1);
    else if (v < -MIN_INDEXABLE) this.negative.add(Math.ceil(Math.log(-v) * this.multiplier), 1);
    else this.zeroCount++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  merge(other: DDSketch): void {
    if (other.relativeAccuracy !== this.relativeAccuracy || other.binLimit !== this.binLimit) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'cannot merge DDSketches with different relativeAccuracy or bin limits');
    }
    this.positive.merge(other.positive);
    this.negative.merge(other.negative);
    this.zeroCount += other.zeroCount;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
  }

  /** The representative value of bin `key`: γ^(key-1)·(1+α). */
  private value(key: number): number {
    return Math.exp((key - 1) * this.lnGamma) * (1 + this.relativeAccuracy);
  }

  /**
   * An estimate of the value of 0-based rank ⌊q·(count−1)⌋ in sorted order, within relative error α
   * (unless collapsing folded that rank's bin: only values below maxValue / γ^(binLimit-1)), clamped
   * to [min, max]; ranks 0 and count−1 (q = 0, q = 1) give the exact min and max. Null when empty.
   */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `quantile must be in [0, 1], got ${q}`);
    const n = this.count;
    if (n === 0) return null;
    const rank = Math.floor(q * (n - 1));
    if (rank === 0) return this.min;
    if (rank === n - 1) return this.max;
    const neg = this.negative.total;
    let v: number;
    if (rank < neg) v = -this.value(this.negative.keyAtRank(neg - 1 - rank));
    else if (rank < neg + this.zeroCount) v = 0;
    else v = this.value(this.positive.keyAtRank(rank - neg - this.zeroCount));
    return Math.min(Math.max(v, this.min), this.max);
  }

  /** body := zeroCount:varuint min:f64 max:f64 store(positive) store(negative) */
  write(w: ByteWriter): void {
    w.varuint(this.zeroCount).f64(this.min).f64(this.max);
    this.positive.write(w);
    this.negative.write(w);
  }

  static read(r: ByteReader, relativeAccuracy: number, binLimit: number): DDSketch {
    const s = new DDSketch(relativeAccuracy, binLimit);
    s.zeroCount = r.varuint();
    s.min = r.f64();
    s.max = r.f64();
    s.positive = BinStore.read(r, binLimit);
    s.negative = BinStore.read(r, binLimit);
    if (!Number.isSafeInteger(s.count)) throw r.fail('counts overflow');
    if (s.count === 0) {
      if (s.min !== Infinity || s.max !== -Infinity) throw r.fail('empty sketch with a min or max');
    } else if (!Number.isFinite(s.min) || !Number.isFinite(s.max) || s.min > s.max || Object.is(s.min, -0) || Object.is(s.max, -0)) {
      throw r.fail('bad min/max');
    }
    return s;
  }
}
