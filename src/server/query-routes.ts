/**
 * The query API (the read side of CQRS) on the same fastify server as ingest: views, key lookups,
 * series, read-only SQL and live updates over Server-Sent Events. See docs/api.md and docs/openapi.json.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { SqlResult } from '../serving/duckdb/sql-executor.js';
import { KvView } from '../serving/kv-view.js';
import { ServingLimits } from '../serving/limits.js';
import type { ViewCatalog } from '../serving/maintainer.js';
import { TimeSeriesView } from '../serving/timeseries-view.js';
import { type View, type ViewChange, wrongKind } from '../serving/view.js';
import { toHttpError } from './http-errors.js';

/** Options of `queryRoutes`. */
export interface QueryRoutesOptions {
  /** The views (a `ViewMaintainer`). */
  readonly catalog: ViewCatalog;
  /** SSE heartbeat interval (default `ServingLimits.defaultSseHeartbeatMs`). */
  readonly sseHeartbeatMs?: number;
  /** Open SSE streams at most (default `ServingLimits.maxSseStreams`). */
  readonly maxSseStreams?: number;
  /** `Retry-After` seconds with 503 FRESHET_SERVING_BUSY (default 1). */
  readonly retryAfterSeconds?: number;
}

/** Result formats of `POST /v1/sql`. */
export type SqlFormat = 'json' | 'ndjson' | 'csv';

const FORMAT_TYPES: Readonly<Record<SqlFormat, string>> = {
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

interface SqlBody {
  sql?: unknown;
  maxRows?: unknown;
  timeoutMs?: unknown;
}

/**
 * Registers the query routes on a fastify instance (as a plugin: its error handler and body parsers
 * stay inside it). `createServer({ log, views })` does this for you.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(queryRoutes({ catalog: maintainer }));
 * await app.inject({ method: 'GET', url: '/v1/views/spend/keys/ann' });
 * ```
 */
export function queryRoutes(options: QueryRoutesOptions) {
  const catalog = options.catalog;
  const heartbeatMs = options.sseHeartbeatMs ?? ServingLimits.defaultSseHeartbeatMs;
  const maxStreams = options.maxSseStreams ?? ServingLimits.maxSseStreams;
  const retryAfter = options.retryAfterSeconds ?? 1;
  const streams = new Set<ServerResponse>();

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler((error, request, reply) => {
      const status = toHttpError(error).status; // serving codes are in http-errors.ts STATUS_BY_CODE
      const body = toHttpError(error).body;
      if (status >= 500 && !(error instanceof FreshetError && error.code === ErrorCodes.SERVING_BUSY)) request.log.error({ err: error }, 'query failed');
      if (status === 503) void reply.header('retry-after', String(retryAfter));
      void reply.status(status).type('application/json; charset=utf-8').send(body);
    });
    // Raw SQL bodies (the JSON and NDJSON parsers of the server hand over Buffers).
    app.addContentTypeParser(['text/plain', 'application/sql'], { parseAs: 'string', bodyLimit: ServingLimits.maxSqlChars * 4 }, (_r, body, done) => {
      done(null, body);
    });
    // End live streams first, or closing the server would wait for them forever.
    app.addHook('preClose', async () => {
      for (const s of streams) s.end();
      streams.clear();
    });

    app.get('/v1/views', async () => ({ views: catalog.listViews() }));

    app.get<{ Params: { view: string } }>('/v1/views/:view', async (request) => {
      const info = catalog.viewInfo(request.params.view);
      if (info === undefined) throw viewNotFound(request.params.view);
      return info;
    });

    app.get<{ Params: { view: string; key: string } }>('/v1/views/:view/keys/:key', async (request, reply) => {
      const view = lookup(catalog, request.params.view);
      const key = request.params.key;
      let entry: unknown;
      if (view instanceof KvView) entry = view.get(key);
      else if (view instanceof TimeSeriesView) {
        const p = view.latest(key);
        entry = p === undefined ? undefined : { key, value: p.value, eventTimeMs: p.eventTimeMs, windowStartMs: p.windowStartMs, windowEndMs: p.windowEndMs, ...(p.final !== undefined && { final: p.final }) };
      } else throw wrongKind(view, 'a key lookup', 'kv or timeseries');
      if (entry === undefined) {
        throw new FreshetError(ErrorCodes.KEY_NOT_FOUND, `view '${view.name}' has no key '${key}'`, { view: view.name, key });
      }
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(entry));
    });

    app.post<{ Params: { view: string } }>('/v1/views/:view/keys', async (request) => {
      const view = lookup(catalog, request.params.view);
      if (!(view instanceof KvView)) throw wrongKind(view, 'a multi-get', 'kv');
      const body = jsonBody(request) as { keys?: unknown } | null;
      const keys = body?.keys;
      if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'send {"keys": ["k1", "k2", ...]}');
      }
      return { entries: view.getMany(keys as string[]) };
    });

    app.get<{ Params: { view: string }; Querystring: { prefix?: string; after?: string; limit?: string } }>('/v1/views/:view/keys', async (request) => {
      const view = lookup(catalog, request.params.view);
      if (!(view instanceof KvView)) throw wrongKind(view, 'a key listing', 'kv');
      const q = request.query;
      return view.list({
        ...(q.prefix !== undefined && { prefix: q.prefix }),
        ...(q.after !== undefined && { after: q.after }),
        ...(q.limit !== undefined && { limit: intParam('limit', q.limit) }),
      });
    });

    app.get<{ Params: { view: string }; Querystring: { field?: string; n?: string; order?: string } }>('/v1/views/:view/top', async (request) => {
      const view = lookup(catalog, request.params.view);
      if (!(view instanceof KvView)) throw wrongKind(view, 'a top-N', 'kv');
      const q = request.query;
      if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, "order must be 'asc' or 'desc'");
      return { entries: view.top({ field: q.field ?? '', n: q.n === undefined ? ServingLimits.defaultListEntries : intParam('n', q.n), order: q.order ?? 'desc' }) };
    });

    app.get<{ Params: { view: string }; Querystring: { key?: string; from?: string; to?: string; step?: string } }>('/v1/views/:view/series', async (request) => {
      const view = lookup(catalog, request.params.view);
      if (!(view instanceof TimeSeriesView)) throw wrongKind(view, 'a series query', 'timeseries');
      const q = request.query;
      if (q.key === undefined) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'give ?key=');
      const from = q.from === undefined ? -Number.MAX_VALUE : timeParam('from', q.from);
      const to = q.to === undefined ? Number.MAX_VALUE : timeParam('to', q.to);
      if (q.step !== undefined) {
        const step = durationParam('step', q.step);
        const r = view.rangeStep(q.key, from, to, step);
        return { key: q.key, stepMs: step, points: r.points, truncated: r.truncated };
      }
      const r = view.range(q.key, from, to);
      return {
        key: q.key,
        points: r.points.map((p) => ({ windowStartMs: p.windowStartMs, windowEndMs: p.windowEndMs, value: p.value, eventTimeMs: p.eventTimeMs, ...(p.final !== undefined && { final: p.final }) })),
        truncated: r.truncated,
      };
    });

    app.post<{ Querystring: { format?: string; maxRows?: string; timeoutMs?: string } }>('/v1/sql', async (request, reply) => {
      const sqlExec = catalog.sql;
      if (sqlExec === null) throw new FreshetError(ErrorCodes.NOT_FOUND, 'this server has no SQL database');
      let sql: unknown;
      let maxRows: unknown = request.query.maxRows === undefined ? undefined : intParam('maxRows', request.query.maxRows);
      let timeoutMs: unknown = request.query.timeoutMs === undefined ? undefined : intParam('timeoutMs', request.query.timeoutMs);
      if (typeof request.body === 'string') sql = request.body;
      else {
        const body = jsonBody(request) as SqlBody | null;
        sql = body?.sql;
        maxRows = body?.maxRows ?? maxRows;
        timeoutMs = body?.timeoutMs ?? timeoutMs;
      }
      if (typeof sql !== 'string') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'send {"sql": "SELECT ..."} (application/json) or the query as text/plain');
      if ((maxRows !== undefined && typeof maxRows !== 'number') || (timeoutMs !== undefined && typeof timeoutMs !== 'number')) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'maxRows and timeoutMs must be numbers');
      }
      const format = sqlFormat(request);
      const result = await sqlExec.query(sql, { ...(maxRows !== undefined && { maxRows }), ...(timeoutMs !== undefined && { timeoutMs }) });
      void reply.header('freshet-truncated', String(result.truncated)).header('freshet-row-count', String(result.rows.length)).type(FORMAT_TYPES[format]);
      return reply.send(renderSql(result, format));
    });

    app.get<{ Params: { view: string }; Querystring: { key?: string; lastEventId?: string } }>('/v1/views/:view/stream', async (request, reply) => {
      const view = lookup(catalog, request.params.view);
      const key = request.query.key;
      const lastId = headerValue(request.headers['last-event-id']) ?? request.query.lastEventId;
      let backlog: ViewChange[] = [];
      if (lastId !== undefined && lastId !== '') {
        const m = /^([0-9a-z]+)-(\d+)$/.exec(lastId);
        const seq = m !== null && m[1] === view.changes.epoch ? Number(m[2]) : null;
        const since = seq === null ? null : view.changes.since(seq);
        if (since === null) {
          throw new FreshetError(
            ErrorCodes.STREAM_RESUME_GONE,
            `cannot resume view '${view.name}' from event ${lastId}: it is older than the last ${view.changes.capacity} updates or from another server run; reload the view, then subscribe without Last-Event-ID`,
            { view: view.name, lastEventId: lastId },
          );
        }
        backlog = since;
      }
      if (streams.size >= maxStreams) throw new FreshetError(ErrorCodes.SERVING_BUSY, `${streams.size} live streams are open (the bound); retry later`);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      streams.add(res);
      const epoch = view.changes.epoch;
      const send = (changes: readonly ViewChange[]): void => {
        let text = '';
        for (const c of changes) if (key === undefined || c.update.key === key) text += sseEvent(epoch, c);
        if (text === '') return;
        res.write(text);
        // A client that does not read: let it go (it resumes with Last-Event-ID) rather than buffer without bound.
        if (res.writableLength > ServingLimits.maxSseBufferedBytes) res.end();
      };
      res.write(`retry: 1000\n: view ${view.name}\n\n`);
      // Backlog and subscription in the same tick: nothing published in between is lost.
      send(backlog);
      const unsubscribe = view.changes.subscribe(send);
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
      heartbeat.unref();
      const cleanup = (): void => {
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(res);
      };
      res.on('close', cleanup);
      request.raw.on('close', () => {
        if (!res.writableEnded) res.end();
      });
    });
  };
}

function sseEvent(epoch: string, c: ViewChange): string {
  const u = c.update;
  const data = JSON.stringify({
    key: u.key,
    value: u.value,
    eventTimeMs: u.eventTimeMs,
    ...(u.windowStartMs !== undefined && { windowStartMs: u.windowStartMs }),
    ...(u.windowEndMs !== undefined && { windowEndMs: u.windowEndMs }),
    ...(u.final !== undefined && { final: u.final }),
    ...(u.deleted === true && { deleted: true }),
    partition: c.partition,
    offset: c.offset,
  });
  return `id: ${epoch}-${c.seq}\nevent: update\ndata: ${data}\n\n`;
}

/** Renders a SQL result: JSON `{columns, rows, truncated}`, NDJSON (one object per row) or CSV with a header. */
export function renderSql(result: SqlResult, format: SqlFormat): string {
  if (format === 'json') {
    return JSON.stringify({ columns: result.columns, rows: result.rows, rowCount: result.rows.length, truncated: result.truncated, elapsedMs: Math.round(result.elapsedMs * 100) / 100 });
  }
  const names = result.columns.map((c) => c.name);
  const parts: string[] = [];
  if (format === 'ndjson') {
    for (const row of result.rows) {
      const o: Record<string, unknown> = {};
      for (let c = 0; c < names.length; c++) o[names[c]!] = row[c];
      parts.push(JSON.stringify(o));
    }
    return parts.length === 0 ? '' : `${parts.join('\n')}\n`;
  }
  parts.push(names.map(csvCell).join(','));
  for (const row of result.rows) parts.push(row.map(csvCell).join(','));
  return `${parts.join('\r\n')}\r\n`;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function sqlFormat(request: FastifyRequest<{ Querystring: { format?: string } }>): SqlFormat {
  const f = request.query.format;
  if (f !== undefined) {
    if (f === 'json' || f === 'ndjson' || f === 'csv') return f;
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `format must be json, ndjson or csv, got '${f}'`);
  }
  const accept = request.headers.accept ?? '';
  if (/application\/(x-)?ndjson/i.test(accept)) return 'ndjson';
  if (/text\/csv/i.test(accept)) return 'csv';
  return 'json';
}

function lookup(catalog: ViewCatalog, name: string): View {
  const view = catalog.view(name);
  if (view === undefined) throw viewNotFound(name);
  return view;
}

function viewNotFound(name: string): FreshetError {
  return new FreshetError(ErrorCodes.VIEW_NOT_FOUND, `no view '${name}' (GET /v1/views lists them)`, { view: name });
}


/** The request body parsed as JSON (the server's parser hands JSON bodies over as Buffers). */
function jsonBody(request: FastifyRequest): unknown {
  const body = request.body;
  if (body === undefined || body === null) return null;
  if (!Buffer.isBuffer(body)) return body;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new FreshetError(ErrorCodes.MALFORMED_JSON, 'the request body is not valid JSON');
  }
}

function intParam(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive integer, got '${text}'`);
  return n;
}

/** Epoch ms, or an ISO-8601 time. */
function timeParam(name: string, text: string): number {
  const n = /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(n)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${name} must be epoch ms or an ISO-8601 time, got '${text}'`);
  return n;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration: ms as a number, or with a unit (`500ms`, `10s`, `5m`, `1h`, `1d`). */
function durationParam(name: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text);
  const ms = m === null ? NaN : Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
  if (!(ms > 0)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive duration (ms, or e.g. 10s, 5m, 1h), got '${text}'`);
  return ms;
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
