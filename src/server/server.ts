import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { BodyFormat } from './body.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { errorHandler, toHttpError, UNSUPPORTED_MEDIA_TYPE_MESSAGE } from './http-errors.js';
import { Ingestor } from './ingest.js';
import { observeRoutes } from './observe-routes.js';
import { pipelinesRoutes } from './pipelines-routes.js';
import { resolveServerOptions, type ServerOptions } from './options.js';
import { queryRoutes } from './query-routes.js';

/** Media types ingest reads (parameters such as `charset=utf-8` are allowed). */
export const INGEST_MEDIA_TYPES = {
  'application/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
} as const satisfies Record<string, BodyFormat>;

/** A running (or ready-to-run) Freshet HTTP server. */
export interface FreshetServer {
  /** The fastify instance: `app.inject()` in tests, or to register more routes before `listen`. */
  readonly app: FastifyInstance;
  /** Creates configured topics, then listens. Resolves with the base URL, e.g. `http://127.0.0.1:8080`. */
  listen(options: { port: number; host?: string }): Promise<string>;
  /** Stops accepting requests and waits for in-flight ones. Does not close the log (the caller owns it). */
  close(): Promise<void>;
}

/**
 * Creates the HTTP ingest server: `POST /v1/topics/:topic/events` (JSON object, JSON array or
 * NDJSON), `GET /healthz`, `GET /readyz`. See docs/ingest.md for formats, answers and limits.
 * Throws FRESHET_INVALID_CONFIG for invalid options.
 *
 * @example
 * ```ts
 * const log = await EmbeddedLog.open({ dataDir: './.freshet' });
 * const server = createServer({
 *   log,
 *   topics: { orders: { partitions: 4, jsonSchema: { type: 'object', required: ['id'] }, keyField: 'customerId', eventTimeField: 'ts' } },
 *   auth: { bearerToken: process.env.FRESHET_TOKEN! },
 * });
 * const url = await server.listen({ port: 8080, host: '127.0.0.1' });
 * // curl -H 'content-type: application/x-ndjson' --data-binary @orders.ndjson $url/v1/topics/orders/events
 * ```
 */
export function createServer(options: ServerOptions): FreshetServer {
  const resolved = resolveServerOptions(options);
  const ingestor = new Ingestor(resolved);
  const app = Fastify({
    logger: resolved.logger,
    bodyLimit: resolved.limits.maxBodyBytes,
  });

  // Ingest needs the original bytes (NDJSON values are stored as sent), so every body arrives as a Buffer.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(Object.keys(INGEST_MEDIA_TYPES), { parseAs: 'buffer', bodyLimit: resolved.limits.maxBodyBytes }, (_request, body, done) => {
    done(null, body);
  });
  app.setErrorHandler(errorHandler(resolved.retryAfterSeconds));
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send({ error: { code: ErrorCodes.NOT_FOUND, message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });
  // First, so its onResponse hook (HTTP request metrics) sees every route registered after it.
  if (options.observe !== undefined) void app.register(observeRoutes(options.observe));
  app.addHook('onReady', async () => {
    await ingestor.ensureConfiguredTopics();
  });

  let closing = false;

  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready = the log answers, and the last append did not fail for a reason that means it cannot write.
  app.get('/readyz', async (_request, reply) => {
    let failure: unknown = closing ? new FreshetError(ErrorCodes.LOG_CLOSED, 'the server is shutting down') : ingestor.lastWriteFailure;
    if (failure === null) {
      try {
        await resolved.log.listTopics();
      } catch (error) {
        failure = error;
      }
    }
    if (failure === null) return { status: 'ready' };
    const { body } = toHttpError(failure);
    return reply.status(503).send(body);
  });

  void app.register(async (ingest) => {
    if (resolved.bearerToken !== null) ingest.addHook('onRequest', bearerAuth(resolved.bearerToken));
    ingest.post<{ Params: { topic: string } }>('/v1/topics/:topic/events', async (request, reply) => {
      const format = formatOf(request);
      const outcome = await ingestor.ingest(request.params.topic, request.body as Buffer, format);
      // JSON.stringify measured as fast as hand-written serialisers for the per-event offsets list.
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(outcome));
    });
  });

  const views = options.views;
  if (views !== undefined) {
    void app.register(async (query) => {
      if (resolved.bearerToken !== null) query.addHook('onRequest', bearerAuth(resolved.bearerToken));
      await query.register(queryRoutes({ catalog: views, retryAfterSeconds: resolved.retryAfterSeconds }));
    });
  }

  const pipelines = options.pipelines;
  if (pipelines !== undefined) {
    void app.register(async (scope) => {
      if (resolved.bearerToken !== null) scope.addHook('onRequest', bearerAuth(resolved.bearerToken));
      await scope.register(pipelinesRoutes({ log: resolved.log, clock: resolved.clock, pipelines }));
    });
  }

  if (options.dashboard === true) void app.register(dashboardRoutes());

  return {
    app,
    async listen({ port, host = '127.0.0.1' }) {
      return app.listen({ port, host });
    },
    async close() {
      closing = true;
      await app.close();
    },
  };
}

function formatOf(request: FastifyRequest): BodyFormat {
  const header = request.headers['content-type'];
  const body = request.body;
  if (header === undefined || !Buffer.isBuffer(body)) {
    throw new FreshetError(ErrorCodes.UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_MEDIA_TYPE_MESSAGE);
  }
  const semicolon = header.indexOf(';');
  const mediaType = (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
  return INGEST_MEDIA_TYPES[mediaType as keyof typeof INGEST_MEDIA_TYPES] ?? 'json';
}

/** `onRequest` hook: 401 FRESHET_UNAUTHORIZED unless `Authorization: Bearer <token>` matches. */
function bearerAuth(token: string) {
  // Comparing fixed-length digests in constant time leaks neither the token nor its length.
  const expected = createHash('sha256').update(token).digest();
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    const presented = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : null;
    if (presented === null || !timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) {
      throw new FreshetError(ErrorCodes.UNAUTHORIZED, presented === null ? 'missing bearer token' : 'invalid bearer token');
    }
  };
}
