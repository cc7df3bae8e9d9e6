import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { ObserveLimits } from '../observe/limits.js';
import type { Observability } from '../observe/observability.js';

/** Route label of requests no route matched (a fixed value, so unknown URLs cannot blow up cardinality). */
export const UNMATCHED_ROUTE = 'unmatched';

/** Options of `observeRoutes`. */
export interface ObserveRoutesOptions {
  /** Path of the Prometheus endpoint (default `/metrics`). */
  readonly metricsPath?: string;
  /** Count HTTP requests by method, route and status (default true). */
  readonly httpMetrics?: boolean;
}

/**
 * The observability routes as a fastify plugin: `GET /metrics` (Prometheus text format),
 * `GET /v1/alerts` (rules, their state, receivers, recent notifications) and
 * `GET /v1/alerts/events?after=<id>` (the notification feed), plus an `onResponse` hook counting every
 * request in `freshet_http_requests_total` / `freshet_http_request_duration_seconds` by method, route
 * pattern and status. The hook applies to the whole server (the plugin is not encapsulated), so
 * register it before other routes. `createServer({ observe })` does this.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(observeRoutes(observe));
 * app.get('/hello', async () => 'hi');     // counted as route="/hello"
 * ```
 */
export function observeRoutes(observe: Observability, options: ObserveRoutesOptions = {}): FastifyPluginAsync {
  const metricsPath = options.metricsPath ?? '/metrics';
  const { metrics, alerts } = observe;
  const plugin: FastifyPluginAsync = async (app: FastifyInstance) => {
    if (options.httpMetrics ?? true) {
      app.addHook('onResponse', async (request, reply) => {
        metrics.httpRequest(request.method, request.routeOptions.url ?? UNMATCHED_ROUTE, reply.statusCode, reply.elapsedTime);
      });
    }

    app.get(metricsPath, async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    });

    app.get('/v1/alerts', async () => ({
      ...alerts.status(),
      rules: alerts.list(),
      receivers: alerts.webhooks.map((w) => ({ name: w.name, pending: w.pending, lastError: w.lastError })),
      recent: alerts.feed.recent(50),
    }));

    app.get<{ Querystring: { after?: string; limit?: string } }>('/v1/alerts/events', async (request) => {
      const after = Number(request.query.after ?? 0);
      const limit = Math.min(Number(request.query.limit ?? ObserveLimits.maxFeedEvents), ObserveLimits.maxFeedEvents);
      return { events: alerts.feed.recent(Number.isFinite(limit) && limit > 0 ? limit : ObserveLimits.maxFeedEvents, Number.isFinite(after) ? after : 0) };
    });
  };
  // Not encapsulated (what fastify-plugin does): the hook must see every route of the server.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
