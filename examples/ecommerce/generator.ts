/**
 * The e-commerce demo's event generator: page views, add-to-cart, orders and payments of a small shop,
 * plus its product and customer tables, with a few percent of malformed and late events, as a real
 * event stream has. Deterministic per seed: the events are a function of (seed, startMs, ratePerS)
 * alone, however the caller slices time into `generate(untilMs)` calls.
 *
 * Event time is the generator's clock (`ts`, epoch ms); the demo feeds it the wall clock so the
 * dashboard's charts line up with "now".
 */

/** The topics the demo writes (all prefixed `shop.` so they never collide with a user's own). */
export const ShopTopics = {
  pageviews: 'shop.pageviews',
  carts: 'shop.carts',
  orders: 'shop.orders',
  payments: 'shop.payments',
  /** Table topics (latest value per key), read with `p.table`. */
  products: 'shop.products',
  customers: 'shop.customers',
} as const;

/** The demo's stream topics, in the order the generator emits their kinds. */
export const STREAM_TOPICS = [ShopTopics.pageviews, ShopTopics.carts, ShopTopics.orders, ShopTopics.payments] as const;

/** Sales regions: every customer lives in one. */
export const REGIONS = ['eu-west', 'eu-north', 'us-east', 'us-west', 'apac'] as const;
export type Region = (typeof REGIONS)[number];

/** Payment methods: each has its own latency profile (a bank transfer is slower than a wallet). */
export const PAYMENT_METHODS = ['card', 'paypal', 'wallet', 'bank'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

export interface Product {
  readonly productId: string;
  readonly name: string;
  readonly category: string;
  /** Unit price in EUR (cents precision). */
  readonly price: number;
}

export interface Customer {
  readonly customerId: string;
  readonly name: string;
  readonly region: Region;
  readonly tier: 'gold' | 'silver' | 'standard';
}

export interface PageView {
  readonly visitorId: string;
  /** Null for anonymous visitors. */
  readonly customerId: string | null;
  readonly page: string;
  readonly productId: string | null;
  readonly device: 'mobile' | 'desktop' | 'tablet';
  readonly ts: number;
}

export interface CartAdd {
  readonly customerId: string;
  readonly productId: string;
  readonly quantity: number;
  readonly ts: number;
}

export interface Order {
  readonly orderId: string;
  readonly customerId: string;
  readonly productId: string;
  readonly quantity: number;
  /** quantity × unit price, in EUR. */
  readonly amount: number;
  readonly ts: number;
}

export interface Payment {
  readonly paymentId: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly method: PaymentMethod;
  readonly status: 'ok' | 'declined';
  readonly amount: number;
  /** How long the payment provider took to answer. */
  readonly latencyMs: number;
  readonly ts: number;
}

/** One generated record: where it goes, its key, its bytes (JSON, or deliberately broken). */
export interface GeneratedRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: Buffer;
  /** The event time written in the value (for malformed records: the time it was generated). */
  readonly eventTimeMs: number;
  /** Set on the records the generator broke or delayed on purpose. */
  readonly fault?: Fault;
}

/**
 * What the generator did to a record on purpose: malformed (`bad-json`, `wrong-type`, `missing-field`:
 * they fail the source's schema), `late` (event time 15-90 s in the past), `duplicate` (an order sent
 * twice, as an at-least-once producer does after a timeout) or `zero-amount` (an order priced 0 by a
 * pricing bug: valid JSON and schema, caught by a range check).
 */
export type Fault = 'bad-json' | 'wrong-type' | 'missing-field' | 'late' | 'duplicate' | 'zero-amount';

/** Options of `new ShopGenerator()`. */
export interface ShopGeneratorOptions {
  /** Same seed, same start and rate: same events. Default 42. */
  readonly seed?: number;
  /** The generator's clock starts here (epoch ms). */
  readonly startMs: number;
  /** Stream events per second (page views, carts, orders and payments together). Default 200. */
  readonly ratePerS?: number;
  /** Share of stream events sent malformed (bad JSON, wrong types, missing fields). Default 0.02. */
  readonly malformedShare?: number;
  /** Share of stream events sent late: their event time lies LATE_MIN_MS..LATE_MAX_MS in the past. Default 0.01. */
  readonly lateShare?: number;
  /** Share of orders sent twice (the copy right after the original). Default 0.01. */
  readonly duplicateShare?: number;
  /** Share of orders with amount 0. Default 0.005. */
  readonly zeroAmountShare?: number;
  /** Products in the catalogue. Default 40. */
  readonly products?: number;
  /** Registered customers. Default 500. */
  readonly customers?: number;
}

/** Bounds of the generator (why: a demo must never exhaust memory, whatever --rate it is given). */
export const GeneratorLimits = {
  /** Highest --rate the demo accepts (events/s). */
  maxRatePerS: 100_000,
  /** Most events one `generate()` call returns; the clock skips ahead past the rest (a stalled process). */
  maxEventsPerCall: 50_000,
  /** Payments waiting for their provider's answer, at most (older ones are answered at once). */
  maxPendingPayments: 10_000,
  maxProducts: 10_000,
  maxCustomers: 1_000_000,
} as const;

/** Late events are this far behind the generator's clock (beyond the demo's watermark and lateness). */
export const LATE_MIN_MS = 15_000;
export const LATE_MAX_MS = 90_000;
/** On-time events are shuffled by up to this much (within the pipeline's maxOutOfOrderMs). */
export const JITTER_MAX_MS = 1_500;

const CATEGORIES: Record<string, readonly string[]> = {
  audio: ['Headphones', 'Earbuds', 'Speaker', 'Soundbar', 'Turntable'],
  computing: ['Laptop', 'Monitor', 'Keyboard', 'Mouse', 'Webcam', 'Dock'],
  home: ['Kettle', 'Espresso Machine', 'Toaster', 'Lamp', 'Air Purifier'],
  outdoor: ['Tent', 'Backpack', 'Headlamp', 'Water Bottle', 'Trail Shoes'],
  books: ['Cookbook', 'Novel', 'Atlas', 'Field Guide'],
};
const ADJECTIVES = ['Nova', 'Pulse', 'Terra', 'Aero', 'Lumen', 'Orbit', 'Vivid', 'Summit', 'Echo', 'Drift'];
const PRICE_RANGE: Record<string, readonly [number, number]> = {
  audio: [19, 349],
  computing: [15, 1499],
  home: [12, 599],
  outdoor: [8, 449],
  books: [9, 49],
};
const FIRST_NAMES = ['Ann', 'Bob', 'Chen', 'Dana', 'Emil', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jun', 'Kofi', 'Lena', 'Mia', 'Noah', 'Omar', 'Priya'];
const LAST_NAMES = ['Berg', 'Costa', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Huang', 'Ito', 'Jensen', 'Kim', 'Lopez', 'Novak', 'Okafor', 'Silva'];
/** Customers per region (weights): most sales come from the EU and US East. */
const REGION_WEIGHTS = [0.3, 0.12, 0.28, 0.18, 0.12];
const DEVICES = ['mobile', 'desktop', 'tablet'] as const;
const DEVICE_WEIGHTS = [0.58, 0.36, 0.06];
const METHOD_WEIGHTS = [0.55, 0.2, 0.18, 0.07];
/** Median provider latency per method (ms); the spread is log-normal. */
const METHOD_MEDIAN_MS: Record<PaymentMethod, number> = { card: 320, paypal: 850, wallet: 220, bank: 1_900 };
/** Kinds of stream events, by weight, excluding payments (each order schedules its payment). */
const KIND_WEIGHTS = { pageview: 0.8, cart: 0.12, order: 0.08 } as const;
const VISITORS = 5_000;

/**
 * A small, fast, seedable PRNG (sfc32 seeded via splitmix32): reproducible across platforms, unlike
 * Math.random.
 *
 * @example
 * ```ts
 * const r = new Random(7);
 * r.next(); // a float in [0, 1), the same for every run with seed 7
 * ```
 */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An index drawn with the given weights (they need not sum to 1). */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** A Zipf-like index in [0, n): index i has weight 1 / (i + 1)^s (a few best sellers, a long tail). */
  zipf(cumulative: Float64Array): number {
    const x = this.next() * cumulative[cumulative.length - 1]!;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** A standard normal deviate (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function zipfTable(n: number, s: number): Float64Array {
  const c = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / (i + 1) ** s;
    c[i] = total;
  }
  return c;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function cents(x: number): number {
  return Math.round(x * 100) / 100;
}

interface PendingPayment {
  readonly dueMs: number;
  readonly payment: Payment;
}

/**
 * Generates the shop's events. Call `tables()` once for the product and customer rows, then
 * `generate(untilMs)` repeatedly with a clock that moves forward.
 *
 * @example
 * ```ts
 * const gen = new ShopGenerator({ seed: 7, startMs: Date.now(), ratePerS: 500 });
 * await log.produce('shop.products', gen.tables().filter((r) => r.topic === 'shop.products').map(toRecord));
 * const batch = gen.generate(Date.now()); // every event due by now, in generation order
 * ```
 */
export class ShopGenerator {
  readonly products: readonly Product[];
  readonly customers: readonly Customer[];
  readonly ratePerS: number;
  private readonly random: Random;
  private readonly productPopularity: Float64Array;
  private readonly customerActivity: Float64Array;
  private readonly visitorActivity: Float64Array;
  private readonly malformedShare: number;
  private readonly lateShare: number;
  private readonly duplicateShare: number;
  private readonly zeroAmountShare: number;
  /** The generator's clock: the time of the next event. */
  private nextEventMs: number;
  private readonly intervalMs: number;
  private orders = 0;
  private carts = 0;
  private readonly pending: PendingPayment[] = [];
  private emitted = 0;

  constructor(options: ShopGeneratorOptions) {
    const ratePerS = options.ratePerS ?? 200;
    if (!(Number.isFinite(ratePerS) && ratePerS > 0 && ratePerS <= GeneratorLimits.maxRatePerS)) {
      throw new RangeError(`ratePerS must be in (0, ${GeneratorLimits.maxRatePerS}], got ${ratePerS}`);
    }
    const nProducts = options.products ?? 40;
    const nCustomers = options.customers ?? 500;
    if (!Number.isInteger(nProducts) || nProducts < 1 || nProducts > GeneratorLimits.maxProducts) throw new RangeError(`products must be in 1..${GeneratorLimits.maxProducts}`);
    if (!Number.isInteger(nCustomers) || nCustomers < 1 || nCustomers > GeneratorLimits.maxCustomers) throw new RangeError(`customers must be in 1..${GeneratorLimits.maxCustomers}`);
    const shares = { malformedShare: options.malformedShare, lateShare: options.lateShare, duplicateShare: options.duplicateShare, zeroAmountShare: options.zeroAmountShare };
    for (const [name, v] of Object.entries(shares)) {
      if (v !== undefined && !(v >= 0 && v <= 0.5)) throw new RangeError(`${name} must be in [0, 0.5], got ${v}`);
    }
    this.ratePerS = ratePerS;
    this.malformedShare = options.malformedShare ?? 0.02;
    this.lateShare = options.lateShare ?? 0.01;
    this.duplicateShare = options.duplicateShare ?? 0.01;
    this.zeroAmountShare = options.zeroAmountShare ?? 0.005;
    this.random = new Random(options.seed ?? 42);
    this.nextEventMs = options.startMs;
    // Each order brings its payment later: primary events come a little slower so that all together make the rate.
    this.intervalMs = (1000 * (1 + KIND_WEIGHTS.order)) / ratePerS;
    this.products = this.makeProducts(nProducts);
    this.customers = this.makeCustomers(nCustomers);
    this.productPopularity = zipfTable(nProducts, 1.1);
    this.customerActivity = zipfTable(nCustomers, 0.6);
    this.visitorActivity = zipfTable(VISITORS, 0.8);
  }

  /** Events generated so far (malformed and late ones included). */
  get generated(): number {
    return this.emitted;
  }

  /** The product and customer table rows, keyed by their ids (JSON). */
  tables(): GeneratedRecord[] {
    const out: GeneratedRecord[] = [];
    const t = this.nextEventMs;
    for (const p of this.products) out.push({ topic: ShopTopics.products, key: p.productId, value: json(p), eventTimeMs: t });
    for (const c of this.customers) out.push({ topic: ShopTopics.customers, key: c.customerId, value: json(c), eventTimeMs: t });
    return out;
  }

  /**
   * Every event due before `untilMs`, in generation order (their event times may be out of order: that
   * is the point). At most `GeneratorLimits.maxEventsPerCall`; past that the clock skips to `untilMs`
   * (a process that stalled does not flood the log when it wakes).
   */
  generate(untilMs: number): GeneratedRecord[] {
    const out: GeneratedRecord[] = [];
    while (this.nextEventMs < untilMs) {
      if (out.length >= GeneratorLimits.maxEventsPerCall) {
        this.nextEventMs = untilMs;
        break;
      }
      const now = this.nextEventMs;
      // Payments whose provider answered by now come first: they follow their order in event time.
      this.drainPayments(now, out);
      const record = this.event(now);
      out.push(record);
      // An at-least-once producer resending an order it never got the acknowledgement of.
      if (record.topic === ShopTopics.orders && record.fault === undefined && this.random.next() < this.duplicateShare) out.push({ ...record, fault: 'duplicate' });
      // Poisson arrivals around the configured rate.
      this.nextEventMs = now + -Math.log(1 - this.random.next()) * this.intervalMs;
    }
    this.emitted += out.length;
    return out;
  }

  private drainPayments(now: number, out: GeneratedRecord[]): void {
    // `pending` is kept sorted by due time (insertion below), so the due ones are a prefix.
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.dueMs <= now) n++;
    if (n === 0) return;
    for (const { payment } of this.pending.splice(0, n)) out.push(this.finish(ShopTopics.payments, payment.orderId, payment, payment.ts));
  }

  private event(now: number): GeneratedRecord {
    const r = this.random;
    const kind = r.weighted([KIND_WEIGHTS.pageview, KIND_WEIGHTS.cart, KIND_WEIGHTS.order]);
    const ts = this.eventTime(now);
    if (kind === 0) {
      const visitor = r.zipf(this.visitorActivity);
      // A third of visitors are signed-in customers.
      const customer = visitor % 3 === 0 ? this.customers[visitor % this.customers.length]! : null;
      const browsing = r.next() < 0.75;
      const product = browsing ? this.products[r.zipf(this.productPopularity)]! : null;
      const view: PageView = {
        visitorId: `v-${pad(visitor, 5)}`,
        customerId: customer?.customerId ?? null,
        page: product ? `/products/${product.productId}` : r.next() < 0.5 ? '/' : '/search',
        productId: product?.productId ?? null,
        device: DEVICES[r.weighted(DEVICE_WEIGHTS)]!,
        ts,
      };
      return this.finish(ShopTopics.pageviews, view.visitorId, view, ts);
    }
    const customer = this.customers[r.zipf(this.customerActivity)]!;
    const product = this.products[r.zipf(this.productPopularity)]!;
    const quantity = 1 + (r.next() < 0.2 ? r.int(3) + 1 : 0);
    if (kind === 1) {
      this.carts++;
      const cart: CartAdd = { customerId: customer.customerId, productId: product.productId, quantity, ts };
      return this.finish(ShopTopics.carts, customer.customerId, cart, ts);
    }
    this.orders++;
    const zero = r.next() < this.zeroAmountShare;
    const order: Order = {
      orderId: `o-${pad(this.orders, 7)}`,
      customerId: customer.customerId,
      productId: product.productId,
      quantity,
      amount: zero ? 0 : cents(quantity * product.price),
      ts,
    };
    this.schedulePayment(order, now);
    // A zero-priced order is otherwise well-formed and on time: the range check is what catches it.
    if (zero) return { topic: ShopTopics.orders, key: customer.customerId, value: json(order), eventTimeMs: ts, fault: 'zero-amount' };
    return this.finish(ShopTopics.orders, customer.customerId, order, ts);
  }

  private schedulePayment(order: Order, now: number): void {
    const r = this.random;
    const method = PAYMENT_METHODS[r.weighted(METHOD_WEIGHTS)]!;
    // Log-normal latency (σ = 0.5), with a rare slow provider answer for the p99 to show.
    let latencyMs = Math.round(METHOD_MEDIAN_MS[method] * Math.exp(0.5 * r.normal()));
    if (r.next() < 0.01) latencyMs += 2_000 + r.int(6_000);
    const payment: Payment = {
      paymentId: `pay-${order.orderId.slice(2)}`,
      orderId: order.orderId,
      customerId: order.customerId,
      method,
      status: r.next() < 0.04 ? 'declined' : 'ok',
      amount: order.amount,
      latencyMs,
      ts: Math.round(now) + latencyMs,
    };
    // Bounded: when the queue is full the oldest payment is answered at once.
    if (this.pending.length >= GeneratorLimits.maxPendingPayments) this.pending.shift();
    const dueMs = payment.ts;
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.dueMs > dueMs) i--;
    this.pending.splice(i, 0, { dueMs, payment });
  }

  /** The event time of an event generated at `now`: jittered, and now and then late on purpose. */
  private eventTime(now: number): number {
    const r = this.random;
    const jitter = r.next() * JITTER_MAX_MS;
    return Math.round(now - jitter);
  }

  /** Serialises an event, breaking or delaying a few on purpose. */
  private finish(topic: string, key: string, event: object & { ts: number }, ts: number): GeneratedRecord {
    const r = this.random;
    const x = r.next();
    if (x < this.malformedShare) {
      const which = r.int(3);
      if (which === 0) {
        const text = JSON.stringify(event);
        return { topic, key, value: Buffer.from(text.slice(0, Math.max(1, r.int(text.length - 1)))), eventTimeMs: ts, fault: 'bad-json' };
      }
      if (which === 1) {
        // A producer that sends numbers as strings (and a timestamp as text no one can parse).
        const broken: Record<string, unknown> = { ...event };
        for (const field of ['amount', 'quantity', 'latencyMs', 'ts'] as const) if (field in broken) broken[field] = String(broken[field]) + (field === 'ts' ? '?' : '');
        if ('device' in broken) broken.device = 42;
        return { topic, key, value: json(broken), eventTimeMs: ts, fault: 'wrong-type' };
      }
      const broken: Record<string, unknown> = { ...event };
      delete broken[Object.keys(broken)[r.int(Object.keys(broken).length - 1)]!];
      return { topic, key, value: json(broken), eventTimeMs: ts, fault: 'missing-field' };
    }
    if (x < this.malformedShare + this.lateShare) {
      const late = ts - LATE_MIN_MS - r.int(LATE_MAX_MS - LATE_MIN_MS);
      return { topic, key, value: json({ ...event, ts: late }), eventTimeMs: late, fault: 'late' };
    }
    return { topic, key, value: json(event), eventTimeMs: ts };
  }

  private makeProducts(n: number): Product[] {
    const r = this.random;
    const categories = Object.keys(CATEGORIES);
    const out: Product[] = [];
    for (let i = 0; i < n; i++) {
      const category = categories[i % categories.length]!;
      const nouns = CATEGORIES[category]!;
      const [lo, hi] = PRICE_RANGE[category]!;
      // Prices end in .99 or .49, spread log-uniformly over the category's range.
      const base = Math.floor(lo * (hi / lo) ** r.next());
      out.push({
        productId: `p-${pad(i + 1, 3)}`,
        name: `${ADJECTIVES[r.int(ADJECTIVES.length)]} ${nouns[r.int(nouns.length)]}`,
        category,
        price: cents(base + (r.next() < 0.5 ? 0.99 : 0.49)),
      });
    }
    return out;
  }

  private makeCustomers(n: number): Customer[] {
    const r = this.random;
    const out: Customer[] = [];
    for (let i = 0; i < n; i++) {
      const t = r.next();
      out.push({
        customerId: `c-${pad(i + 1, 4)}`,
        name: `${FIRST_NAMES[r.int(FIRST_NAMES.length)]} ${LAST_NAMES[r.int(LAST_NAMES.length)]}`,
        region: REGIONS[r.weighted(REGION_WEIGHTS)]!,
        tier: t < 0.08 ? 'gold' : t < 0.3 ? 'silver' : 'standard',
      });
    }
    return out;
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
