/**
 * Serves the web dashboard (web/: plain ES modules, no build step) at `/`, and uPlot, its only library,
 * from the installed package at `/vendor/uplot/`. The dashboard reads the JSON APIs of the same server:
 * `/v1/pipelines`, `/v1/dead-letters`, `/v1/alerts`, `/v1/views...` (see docs/getting-started.md).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, FreshetError } from '../core/errors.js';

/** Options of `dashboardRoutes`. */
export interface DashboardRoutesOptions {
  /** The dashboard's files (default: `web/` of the Freshet package, found from this module). */
  readonly webDir?: string;
}

/** The URL prefix uPlot's files are served under. */
export const UPLOT_PREFIX = '/vendor/uplot/';

/** `web/` of the package: two levels up from both src/server and dist/server. */
export function defaultWebDir(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

/** The `dist/` folder of the installed uplot package. */
export function uplotDistDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');
}

/**
 * The dashboard as a fastify plugin: every file of `webDir` at its path (`/` is `index.html`), uPlot
 * under `/vendor/uplot/`. Routes are made per file when the plugin registers (no wildcard route, so
 * unknown paths still reach the server's own 404 handler). Throws FRESHET_INVALID_CONFIG when the
 * directory has no index.html.
 *
 * @example
 * ```ts
 * const server = createServer({ log, views: maintainer, dashboard: true }); // does this for you
 * // or, on any fastify instance:
 * await app.register(dashboardRoutes());
 * // open http://127.0.0.1:8080/
 * ```
 */
export function dashboardRoutes(options: DashboardRoutesOptions = {}) {
  const webDir = path.resolve(options.webDir ?? defaultWebDir());
  return async function plugin(app: FastifyInstance): Promise<void> {
    if (!fs.existsSync(path.join(webDir, 'index.html'))) {
      throw new FreshetError(ErrorCodes.INVALID_CONFIG, `the dashboard directory ${webDir} has no index.html`);
    }
    // The page and its modules change with Freshet's version, not between requests: revalidate by ETag.
    await app.register(fastifyStatic, { root: webDir, prefix: '/', wildcard: false, index: ['index.html'], maxAge: 0, cacheControl: true });
    await app.register(fastifyStatic, { root: uplotDistDir(), prefix: UPLOT_PREFIX, wildcard: false, decorateReply: false, maxAge: 3_600_000 });
  };
}
