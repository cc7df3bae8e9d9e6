/**
 * The e-commerce demo pipeline (`freshet demo` runs it; so can `freshet run examples/ecommerce/pipeline.ts`
 * next to a producer of the `shop.*` topics). From page views, carts, orders and payments it computes:
 *
 *  - `revenue-by-region` (time series): orders, revenue, average order and buying customers per region
 *    (and `all`) per 10 s, from orders enriched with the product and customer tables;
 *  - `top-products` (key-value): the best-selling products of the current minute, per region and `all`;
 *  - `traffic` (time series): page views and unique visitors (HyperLogLog) per device and `all`;
 *  - `payment-latency` (time series): payments, declines and provider latency p50/p95/p99 per method;
 *  - `funnel` (time series): events per stage (view, cart, order, payment) per 10 s;
 *  - `last-order` (key-value): each customer's latest order, enriched;
 *  - `orders` (table, DuckDB): every enriched order, for SQL.
 *
 * Malformed events fail their source's schema and go to `<topic>.dlq` with the reason; so do orders sent
 * twice (`no-duplicate-orders`) and orders priced 0 (`amount-positive`); stale page views and an order
 * volume out of the ordinary are counted (`warn` checks). Events later than the windows allow go to
 * `shop.orders.late` (nothing is dropped unseen). Windows are short (10 s)
 * so a dashboard moves within seconds; they emit `updates` while open.
 */
import { z } from 'zod';
import { approxDistinct, avg, checks, count, pipeline, quantiles, sum, topK, tumbling } from '../../src/index.js';
import { PAYMENT_METHODS, REGIONS, ShopTopics } from './generator.js';

/** The demo's window: short, so charts move within seconds. */
export const WINDOW_MS = 10_000;
/** How far out of order on-time events may be (the generator jitters by up to 1.5 s). */
export const MAX_OUT_OF_ORDER_MS = 2_000;
/** Late events within this still update their window; later ones go to the late-data output. */
export const ALLOWED_LATENESS_MS = 5_000;
/** The window of the live top-products ranking. */
export const TOP_PRODUCTS_WINDOW_MS = 60_000;
/** Points older than this are dropped from the time-series views. */
export const SERIES_RETENTION_MS = 60 * 60_000;
/** Orders are de-duplicated by id over this much event time. */
export const DEDUP_HORIZON_MS = 10 * 60_000;
/** Page views older than this (against the wall clock) are counted as stale (a `warn` check). */
export const STALE_AFTER_MS = 60_000;
/** The largest order amount the range check accepts (EUR). */
export const MAX_ORDER_AMOUNT = 50_000;
/** HyperLogLog precision of the unique-visitor counts: 2 KiB a window, ±2.3%. */
const VISITOR_HLL_PRECISION = 11;

const timestamp = z.number().int().positive();

export const PageViewSchema = z.object({
  visitorId: z.string().min(1),
  customerId: z.string().nullable(),
  page: z.string(),
  productId: z.string().nullable(),
  device: z.enum(['mobile', 'desktop', 'tablet']),
  ts: timestamp,
});

export const CartSchema = z.object({
  customerId: z.string().min(1),
  productId: z.string().min(1),
  quantity: z.number().int().positive(),
  ts: timestamp,
});

export const OrderSchema = z.object({
  orderId: z.string().min(1),
  customerId: z.string().min(1),
  productId: z.string().min(1),
  quantity: z.number().int().positive(),
  amount: z.number().nonnegative(),
  ts: timestamp,
});

export const PaymentSchema = z.object({
  paymentId: z.string().min(1),
  orderId: z.string().min(1),
  customerId: z.string().min(1),
  method: z.enum(PAYMENT_METHODS),
  status: z.enum(['ok', 'declined']),
  amount: z.number().nonnegative(),
  latencyMs: z.number().nonnegative(),
  ts: timestamp,
});

export const ProductSchema = z.object({ productId: z.string(), name: z.string(), category: z.string(), price: z.number().nonnegative() });
export const CustomerSchema = z.object({ customerId: z.string(), name: z.string(), region: z.enum(REGIONS), tier: z.enum(['gold', 'silver', 'standard']) });

export type PageViewEvent = z.infer<typeof PageViewSchema>;
export type OrderEvent = z.infer<typeof OrderSchema>;
export type PaymentEvent = z.infer<typeof PaymentSchema>;

/** An order with its product and customer. */
export interface EnrichedOrder extends OrderEvent {
  readonly productName: string;
  readonly category: string;
  readonly region: string;
  readonly tier: string;
}

/** The names of the views this pipeline writes, for readers (the dashboard, tests). */
export const ShopViews = {
  revenueByRegion: 'revenue-by-region',
  topProducts: 'top-products',
  traffic: 'traffic',
  paymentLatency: 'payment-latency',
  funnel: 'funnel',
  lastOrder: 'last-order',
  orders: 'orders',
} as const;

/** Everything, and each part again: a value counted under its own key and under `all`. */
function withAll<T>(keyOf: (value: T) => string): (value: T) => { scope: string; value: T }[] {
  return (value) => [
    { scope: keyOf(value), value },
    { scope: 'all', value },
  ];
}

export default pipeline('ecommerce', (p) => {
  const source = { maxOutOfOrderMs: MAX_OUT_OF_ORDER_MS, idleTimeoutMs: 5_000, eventTime: 'ts' } as const;
  const windowed = { allowedLatenessMs: ALLOWED_LATENESS_MS, emit: 'updates' } as const;

  // Sources keep their default names (`source-<topic>`, `table-<topic>`).
  const products = p.table(ShopTopics.products, { schema: ProductSchema, key: (r) => r.productId });
  const customers = p.table(ShopTopics.customers, { schema: CustomerSchema, key: (r) => r.customerId });

  // Data quality: the schema at each source (malformed events go to `<topic>.dlq`), then checks.
  const pageviews = p
    .source(ShopTopics.pageviews, { ...source, schema: PageViewSchema })
    .expect(checks.freshness({ maxBehindWallClockMs: STALE_AFTER_MS }), { name: 'pageviews-fresh', action: 'warn' });
  const carts = p.source(ShopTopics.carts, { ...source, schema: CartSchema });
  const orders = p
    .source(ShopTopics.orders, { ...source, schema: OrderSchema })
    .expect(checks.unique('orderId', { horizonMs: DEDUP_HORIZON_MS }), { name: 'no-duplicate-orders' })
    .expect(checks.range('amount', { min: 0, minInclusive: false, max: MAX_ORDER_AMOUNT }), { name: 'amount-positive' })
    .expect(checks.volume({ windowMs: WINDOW_MS, min: 1, anomaly: true }), { name: 'orders-volume', action: 'warn' });
  const payments = p.source(ShopTopics.payments, { ...source, schema: PaymentSchema });

  // Enrichment: the product and the customer as they were at the order's event time.
  const enriched = orders
    .join(products, { key: (o) => o.productId }, (o, prod) => ({ ...o, productName: prod.name, category: prod.category }), { name: 'with-product' })
    .leftJoin(
      customers,
      { key: (o) => o.customerId },
      (o, c): EnrichedOrder => ({ ...o, region: c?.region ?? 'unknown', tier: c?.tier ?? 'standard' }),
      { name: 'with-customer' },
    );

  // Every order counts for its region and for `all` (the whole shop).
  type Scoped = { scope: string; value: EnrichedOrder };
  const byScope = enriched.flatMap(withAll((o: EnrichedOrder) => o.region), { name: 'region-and-all' }).keyBy((x) => x.scope, { name: 'by-scope' });

  const revenue = byScope.window(tumbling({ sizeMs: WINDOW_MS }), windowed).aggregate(
    {
      orders: count(),
      revenue: sum((x: Scoped) => x.value.amount),
      avgOrder: avg((x: Scoped) => x.value.amount),
      customers: approxDistinct((x: Scoped) => x.value.customerId, { precision: VISITOR_HLL_PRECISION }),
    },
    { name: 'revenue-window' },
  );
  revenue.toView(ShopViews.revenueByRegion, { kind: 'timeseries', retentionMs: SERIES_RETENTION_MS });
  // Orders too late for their window: kept (once each, not once per scope), in a topic of their own.
  revenue
    .lateRecords({ name: 'late-orders' })
    .filter((x) => x.scope !== 'all', { name: 'late-once' })
    .map((x) => x.value, { name: 'late-order' })
    .toTopic('shop.orders.late', { name: 'late-orders-topic' });

  byScope
    .window(tumbling({ sizeMs: TOP_PRODUCTS_WINDOW_MS }), windowed)
    .aggregate(
      {
        top: topK((x: Scoped) => x.value.productName, 5),
        orders: count(),
        revenue: sum((x: Scoped) => x.value.amount),
      },
      { name: 'top-products-window' },
    )
    .toView(ShopViews.topProducts, { kind: 'kv' });

  enriched.toView(ShopViews.lastOrder, { kind: 'kv', key: (o) => o.customerId });
  enriched.toView(ShopViews.orders, { kind: 'table', key: (o) => o.orderId });

  pageviews
    .flatMap(withAll((v: PageViewEvent) => v.device), { name: 'device-and-all' })
    .keyBy((x) => x.scope, { name: 'by-device' })
    .window(tumbling({ sizeMs: WINDOW_MS }), windowed)
    .aggregate(
      {
        views: count(),
        visitors: approxDistinct((x: { value: PageViewEvent }) => x.value.visitorId, { precision: VISITOR_HLL_PRECISION }),
        productViews: count((x: { value: PageViewEvent }) => x.value.productId),
      },
      { name: 'traffic-window' },
    )
    .toView(ShopViews.traffic, { kind: 'timeseries', retentionMs: SERIES_RETENTION_MS });

  payments
    .flatMap(withAll((x: PaymentEvent) => x.method), { name: 'method-and-all' })
    .keyBy((x) => x.scope, { name: 'by-method' })
    .window(tumbling({ sizeMs: WINDOW_MS }), windowed)
    .aggregate(
      {
        payments: count(),
        declined: count((x: { value: PaymentEvent }) => (x.value.status === 'declined' ? true : null)),
        amount: sum((x: { value: PaymentEvent }) => x.value.amount),
        latencyMs: quantiles((x: { value: PaymentEvent }) => x.value.latencyMs, { quantiles: [0.5, 0.95, 0.99] }),
      },
      { name: 'payment-window' },
    )
    .toView(ShopViews.paymentLatency, { kind: 'timeseries', retentionMs: SERIES_RETENTION_MS });

  // The funnel: one stream of stage names, merged from all four sources.
  const stage = (name: string) => (_: unknown) => ({ stage: name });
  pageviews
    .map(stage('view'), { name: 'stage-view' })
    .merge(
      [carts.map(stage('cart'), { name: 'stage-cart' }), orders.map(stage('order'), { name: 'stage-order' }), payments.map(stage('payment'), { name: 'stage-payment' })],
      { name: 'all-stages' },
    )
    .keyBy((s) => s.stage, { name: 'by-stage' })
    .window(tumbling({ sizeMs: WINDOW_MS }), windowed)
    .aggregate({ events: count() }, { name: 'funnel-window' })
    .toView(ShopViews.funnel, { kind: 'timeseries', retentionMs: SERIES_RETENTION_MS });
});
