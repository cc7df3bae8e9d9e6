import type { Metric, Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { ObserveLimits } from './limits.js';

/**
 * Metric families for prom-client's Registry, built for batch-at-a-time callers.
 *
 * prom-client's own Counter/Histogram hash the label object on every `inc`/`observe`, even through
 * `labels(...)` children. Freshet reports once per batch with arrays of latencies, so these families
 * hand out children that are plain objects holding numbers: the hot path is a field update (counter)
 * or a binary search over a Float64Array (histogram), with no label lookup at all. They implement the
 * `get()` contract the Registry reads, so the text format (and `getMetricsAsJSON`) is prom-client's.
 * See docs/adr for the decision.
 */

/** One sample as prom-client's `get()` reports it. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  /** Set for histogram series (`<name>_bucket`, `<name>_sum`, `<name>_count`). */
  readonly metricName?: string;
}

/** A family's snapshot as prom-client's `get()` reports it. */
export interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: MetricSample[];
  readonly aggregator: 'sum';
}

/** Label value every label of the overflow series carries. */
export const OVERFLOW_LABEL_VALUE = '_overflow';

const NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Called when a family first collapses a label combination into its overflow series. */
export type OverflowListener = (family: string) => void;

/**
 * The part common to every family: the label-values → child cache with its cardinality bound.
 *
 * @example
 * ```ts
 * const records = new CounterFamily({ name: 'x_total', help: 'x', labelNames: ['pipeline'] });
 * const child = records.child('clicks'); // cache this; child.inc(n) per batch
 * ```
 */
export abstract class Family<C> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Read by prom-client's cluster aggregation. */
  readonly aggregator = 'sum' as const;
  protected readonly children = new Map<string, { readonly labels: Record<string, string>; readonly child: C }>();
  private readonly maxSeries: number;
  private readonly onOverflow: OverflowListener | undefined;
  private overflow: C | null = null;
  private readonly collectHook: (() => void | Promise<void>) | undefined;

  constructor(options: FamilyOptions) {
    if (!NAME_PATTERN.test(options.name)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid metric name '${options.name}'`);
    for (const label of options.labelNames) {
      if (!LABEL_PATTERN.test(label) || label.startsWith('__') || label === 'le') {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid label name '${label}' for metric ${options.name}`);
      }
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.maxSeries = options.maxSeries ?? ObserveLimits.maxSeriesPerFamily;
    this.onOverflow = options.onOverflow;
    this.collectHook = options.collect;
  }

  /** Runs the `collect` option (scrape-time work) before the values are read. */
  protected async collect(): Promise<void> {
    if (this.collectHook !== undefined) await this.collectHook();
  }

  /**
   * The child for these label values (in `labelNames` order), created on first use. Keep the result:
   * it is the pre-bound handle the hot path updates.
   */
  child(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new FreshetError(
        ErrorCodes.INVALID_ARGUMENT,
        `metric ${this.name} takes ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`,
      );
    }
    const key = values.join('\u0000');
    const found = this.children.get(key);
    if (found !== undefined) return found.child;
    if (this.children.size >= this.maxSeries) return this.overflowChild();
    const labels: Record<string, string> = {};
    for (let i = 0; i < values.length; i++) labels[this.labelNames[i]!] = String(values[i]);
    const child = this.createChild();
    this.children.set(key, { labels, child });
    return child;
  }

  /** Removes the series with these label values (e.g. a stopped pipeline's partitions). */
  remove(...values: string[]): void {
    this.children.delete(values.join('\u0000'));
  }

  /** Number of series (label combinations) held, the overflow series excluded. */
  get seriesCount(): number {
    return this.children.size;
  }

  /**
   * Registry contract (`registry.resetMetrics()`): zeroes every child in place, so handles callers
   * cached keep reporting into the family.
   */
  reset(): void {
    for (const { child } of this.entries()) this.zero(child);
  }

  /** Drops every series (a collector that rebuilds the family on each scrape calls this first). */
  clear(): void {
    this.children.clear();
    this.overflow = null;
  }

  /** Registry contract: the family's current samples. */
  abstract get(): Promise<MetricSnapshot>;

  protected abstract createChild(): C;

  protected abstract zero(child: C): void;

  /** Every child with its labels, the overflow series last. */
  protected *entries(): Iterable<{ readonly labels: Record<string, string>; readonly child: C }> {
    yield* this.children.values();
    if (this.overflow !== null) {
      const labels: Record<string, string> = {};
      for (const name of this.labelNames) labels[name] = OVERFLOW_LABEL_VALUE;
      yield { labels, child: this.overflow };
    }
  }

  private overflowChild(): C {
    if (this.overflow === null) {
      this.overflow = this.createChild();
      this.onOverflow?.(this.name);
    }
    return this.overflow;
  }
}

/** Options common to every family. */
export interface FamilyOptions {
  /** Prometheus metric name: counters end in `_total`, units in the name (`_seconds`, `_bytes`). */
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Cardinality bound (default `ObserveLimits.maxSeriesPerFamily`). */
  readonly maxSeries?: number;
  readonly onOverflow?: OverflowListener;
  /** Runs at scrape time, before the family's values are read (e.g. to compute them from a source). */
  readonly collect?: () => void | Promise<void>;
}

/**
 * One counter series: a monotonically increasing count.
 *
 * @example
 * ```ts
 * const errors = family.child('orders', 'window', 'FRESHET_INTERNAL'); // keep it
 * errors.inc(3);
 * ```
 */
export class CounterChild {
  value = 0;
  /** Adds `n` (a non-negative finite number). */
  inc(n = 1): void {
    if (!(n >= 0 && n !== Infinity)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `a counter can only increase by a finite n >= 0, got ${n}`);
    this.value += n;
  }
}

/**
 * A counter family (`# TYPE counter`).
 *
 * @example
 * ```ts
 * const errors = new CounterFamily({ name: 'freshet_x_errors_total', help: 'Errors.', labelNames: ['code'] });
 * registry.registerMetric(errors as unknown as Metric);
 * errors.child('FRESHET_INTERNAL').inc(3);
 * ```
 */
export class CounterFamily extends Family<CounterChild> {
  readonly type = 'counter' as const;
  protected createChild(): CounterChild {
    return new CounterChild();
  }
  protected zero(child: CounterChild): void {
    child.value = 0;
  }
  async get(): Promise<MetricSnapshot> {
    await this.collect();
    const values: MetricSample[] = [];
    for (const { labels, child } of this.entries()) values.push({ labels, value: child.value });
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }
}

/**
 * One gauge series: a value that goes up and down.
 *
 * @example
 * ```ts
 * sizeFamily.child('orders').set(4096);
 * ```
 */
export class GaugeChild {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(n = 1): void {
    this.value += n;
  }
}

/**
 * A gauge family (`# TYPE gauge`), optionally filled at scrape time by `collect`.
 *
 * @example
 * ```ts
 * const size = new GaugeFamily({ name: 'freshet_x_bytes', help: 'Size.', labelNames: ['pipeline'] });
 * size.child('clicks').set(4096);
 * ```
 */
export class GaugeFamily extends Family<GaugeChild> {
  readonly type = 'gauge' as const;
  protected createChild(): GaugeChild {
    return new GaugeChild();
  }
  protected zero(child: GaugeChild): void {
    child.value = 0;
  }
  async get(): Promise<MetricSnapshot> {
    await this.collect();
    const values: MetricSample[] = [];
    for (const { labels, child } of this.entries()) values.push({ labels, value: child.value });
    return { name: this.name, help: this.help, type: 'gauge', values, aggregator: 'sum' };
  }
}

/**
 * One age series: a timestamp whose age the family reports at scrape time.
 *
 * @example
 * ```ts
 * freshnessFamily.child('orders', 'revenue').set(clock.nowMs());
 * ```
 */
export class AgeChild {
  /** ms since the epoch; NaN until set. */
  timestampMs = Number.NaN;
  set(timestampMs: number): void {
    this.timestampMs = timestampMs;
  }
}

/**
 * A gauge of ages in seconds (`now - timestamp`), computed when scraped from the clock, so a stalled
 * pipeline's watermark lag or a view's staleness keeps growing between updates. Unset children are
 * not reported.
 *
 * @example
 * ```ts
 * const freshness = new AgeGaugeFamily({ name: 'freshet_view_freshness_seconds', help: '...', labelNames: ['view'] }, clock);
 * freshness.child('revenue').set(clock.nowMs());
 * ```
 */
export class AgeGaugeFamily extends Family<AgeChild> {
  readonly type = 'gauge' as const;
  constructor(
    options: FamilyOptions,
    private readonly clock: Clock,
  ) {
    super(options);
  }
  protected createChild(): AgeChild {
    return new AgeChild();
  }
  protected zero(child: AgeChild): void {
    child.timestampMs = Number.NaN;
  }
  async get(): Promise<MetricSnapshot> {
    await this.collect();
    const nowMs = this.clock.nowMs();
    const values: MetricSample[] = [];
    for (const { labels, child } of this.entries()) {
      if (Number.isFinite(child.timestampMs)) values.push({ labels, value: (nowMs - child.timestampMs) / 1000 });
    }
    return { name: this.name, help: this.help, type: 'gauge', values, aggregator: 'sum' };
  }
}

/**
 * One histogram series. `counts[i]` holds observations in (bounds[i-1], bounds[i]]; the last slot holds
 * those above every bound (`+Inf`).
 *
 * @example
 * ```ts
 * const h = latencyFamily.child('orders', 'revenue');
 * h.observeMany(latenciesMs, 0.001);                 // a batch, ms → s
 * h.observeAgesMany(nowMs, ingestTimesMs, 0.001);    // ages, without building an array
 * ```
 */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** One observation (in the family's unit). Non-finite values are ignored (a histogram cannot hold them). */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.counts[bucketOf(this.bounds, value)]! += 1;
    this.sum += value;
    this.count += 1;
  }

  /**
   * `values[start..end)` multiplied by `scale` (e.g. 0.001 to turn ms into seconds): the batch form,
   * one binary search per value and no allocation.
   */
  observeMany(values: ArrayLike<number>, scale = 1, start = 0, end = values.length): void {
    const { bounds, counts } = this;
    let sum = 0;
    let n = 0;
    for (let i = start; i < end; i++) {
      const v = values[i]! * scale;
      if (!Number.isFinite(v)) continue;
      counts[bucketOf(bounds, v)]! += 1;
      sum += v;
      n++;
    }
    this.sum += sum;
    this.count += n;
  }

  /** Observes `(nowMs - timesMs[i]) * scale` for i in [start, end): ages without building an array. */
  observeAgesMany(nowMs: number, timesMs: ArrayLike<number>, scale = 1, start = 0, end = timesMs.length): void {
    const { bounds, counts } = this;
    let sum = 0;
    let n = 0;
    for (let i = start; i < end; i++) {
      const v = (nowMs - timesMs[i]!) * scale;
      if (!Number.isFinite(v)) continue;
      counts[bucketOf(bounds, v)]! += 1;
      sum += v;
      n++;
    }
    this.sum += sum;
    this.count += n;
  }
}

/** Index of the first bound >= value (bounds.length when above all): Prometheus' `le` semantics. */
function bucketOf(bounds: Float64Array, value: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bounds[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Options of a histogram family. */
export interface HistogramFamilyOptions extends FamilyOptions {
  /** Upper bounds of the buckets, strictly increasing and finite (`+Inf` is implicit). */
  readonly buckets: readonly number[];
}

/**
 * A histogram family (`# TYPE histogram`: `_bucket{le}`, `_sum`, `_count`).
 *
 * @example
 * ```ts
 * const latency = new HistogramFamily({ name: 'freshet_x_seconds', help: '...', labelNames: ['stage'], buckets: [0.01, 0.1, 1] });
 * latency.child('revenue-view').observeMany(latenciesMs, 0.001);
 * ```
 */
export class HistogramFamily extends Family<HistogramChild> {
  readonly type = 'histogram' as const;
  readonly bounds: Float64Array;
  constructor(options: HistogramFamilyOptions) {
    super(options);
    const b = options.buckets;
    for (let i = 0; i < b.length; i++) {
      if (!Number.isFinite(b[i]) || (i > 0 && b[i]! <= b[i - 1]!)) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `buckets of ${options.name} must be finite and strictly increasing`);
      }
    }
    this.bounds = Float64Array.from(b);
  }
  protected createChild(): HistogramChild {
    return new HistogramChild(this.bounds);
  }
  protected zero(child: HistogramChild): void {
    child.counts.fill(0);
    child.sum = 0;
    child.count = 0;
  }
  async get(): Promise<MetricSnapshot> {
    await this.collect();
    const values: MetricSample[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const { labels, child } of this.entries()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += child.counts[i]!;
        values.push({ labels: { ...labels, le: this.bounds[i]! }, value: cumulative, metricName: bucketName });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: child.count, metricName: bucketName });
      values.push({ labels, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: child.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
}

/** Any of the families above. */
export type AnyFamily = CounterFamily | GaugeFamily | AgeGaugeFamily | HistogramFamily;

/**
 * Registers a family with a prom-client Registry (the Registry only needs `name`, `get` and `reset`).
 * Returns the family. Throws (prom-client's Error) if another metric has the same name.
 *
 * @example
 * ```ts
 * const views = registerFamily(metrics.registry, new GaugeFamily({ name: 'freshet_views', help: 'Views.', labelNames: [] }));
 * views.child().set(3);
 * ```
 */
export function registerFamily<F extends AnyFamily>(registry: Registry, family: F): F {
  registry.registerMetric(family as unknown as Metric);
  return family;
}
