import * as http from 'node:http';
import * as net from 'node:net';

/** A port that was free a moment ago (for processes that need a port number before they start). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One request a Receiver got. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly atMs: number;
}

/**
 * A real HTTP server that records every request and answers with the next status of `statuses`
 * (then 200 forever): a webhook receiver for tests.
 */
export class Receiver {
  readonly requests: Received[] = [];
  private readonly server: http.Server;
  private waiters: { count: number; resolve: () => void }[] = [];
  url = '';

  constructor(private readonly statuses: number[] = []) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), atMs: Date.now() });
        const status = this.statuses.shift() ?? 200;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
        this.waiters = this.waiters.filter((w) => {
          if (this.requests.length >= w.count) w.resolve();
          return this.requests.length < w.count;
        });
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as net.AddressInfo;
    this.url = `http://127.0.0.1:${port}/hook`;
    return this.url;
  }

  /** Resolves once `count` requests have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver got ${this.requests.length} of ${count} requests`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Request bodies parsed as JSON. */
  bodies<T = unknown>(): T[] {
    return this.requests.map((r) => JSON.parse(r.body) as T);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
