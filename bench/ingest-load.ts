/**
 * The ingest load generator, run as its own process by bench/ingest.ts (`node --import tsx
 * bench/ingest-load.ts --url ... --seconds N`), so generating load does not share the server's event
 * loop. It POSTs prepared NDJSON batches over keep-alive connections, each connection one request at
 * a time, and reports to its parent (IPC) the events acknowledged during the measured window.
 *
 * Options: --url (the events endpoint), --seconds (measured, default 10), --warmup-seconds (default 1),
 * --connections (default 4), --events (per request, default 1,000).
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from './report.js';

export interface LoadResult {
  events: number;
  requests: number;
  errors: number;
  elapsedMs: number;
  bodyBytes: number;
  eventBytes: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time (user + system) this process used during the measured window. */
  cpuMs: number;
  firstError?: string;
}

const EVENT_TYPES = ['click', 'view', 'purchase', 'signup'] as const;

/** One NDJSON body of `count` events of ~170 bytes each, with an ISO event time in `ts`. */
export function makeNdjsonBody(count: number, seed: number): Buffer {
  const lines: string[] = [];
  const baseMs = Date.UTC(2024, 4, 1) + seed * 60_000;
  for (let i = 0; i < count; i++) {
    const n = seed * count + i;
    lines.push(
      JSON.stringify({
        id: `e-${String(n).padStart(10, '0')}`,
        ts: new Date(baseMs + i * 7).toISOString(),
        user: `u-${(n * 7919) % 50_000}`,
        type: EVENT_TYPES[n % EVENT_TYPES.length],
        amount: Math.round(((n * 37) % 100_000) / 10) / 10,
        page: `/products/${(n * 13) % 10_000}`,
        country: ['DE', 'FR', 'US', 'JP', 'BR'][n % 5],
        session: `s-${((n * 2654435761) >>> 0).toString(16)}`,
      }),
    );
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const url = new URL(String(args.url));
  const seconds = Number(args.seconds ?? 10);
  const warmupSeconds = Number(args['warmup-seconds'] ?? 1);
  const connections = Number(args.connections ?? 4);
  const eventsPerRequest = Number(args.events ?? 1000);

  const bodies = Array.from({ length: 16 }, (_, seed) => makeNdjsonBody(eventsPerRequest, seed));
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const startMs = performance.now();
  const measureFromMs = startMs + warmupSeconds * 1000;
  const endMs = measureFromMs + seconds * 1000;
  const latenciesMs: number[] = [];
  const result: LoadResult = { events: 0, requests: 0, errors: 0, elapsedMs: 0, bodyBytes: 0, eventBytes: 0, p50Ms: 0, p99Ms: 0, cpuMs: 0 };
  result.eventBytes = Math.round(bodies[0]!.length / eventsPerRequest);

  const worker = async (w: number): Promise<void> => {
    let i = w;
    while (performance.now() < endMs) {
      const body = bodies[i++ % bodies.length]!;
      const sentMs = performance.now();
      const { status, head } = await post(agent, url, body);
      const doneMs = performance.now();
      if (doneMs < measureFromMs || sentMs >= endMs) continue; // outside the measured window
      if (status !== 200) {
        result.errors++;
        result.firstError ??= `${status} ${head}`;
        continue;
      }
      // Freshet answers {"accepted":N,...}; the raw ceiling server answers without parsing anything.
      const m = /^\{"accepted":(\d+)/.exec(head);
      result.events += m ? Number(m[1]) : eventsPerRequest;
      result.requests++;
      result.bodyBytes += body.length;
      latenciesMs.push(doneMs - sentMs);
    }
  };
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(() => (cpuAtStart = process.cpuUsage()), Math.max(0, measureFromMs - performance.now()));
  await Promise.all(Array.from({ length: connections }, (_, w) => worker(w)));
  clearTimeout(cpuTimer);
  if (cpuAtStart) {
    const cpu = process.cpuUsage(cpuAtStart);
    result.cpuMs = (cpu.user + cpu.system) / 1000;
  }
  result.elapsedMs = Math.min(performance.now(), endMs) - measureFromMs;
  latenciesMs.sort((a, b) => a - b);
  result.p50Ms = latenciesMs[Math.floor(latenciesMs.length * 0.5)] ?? 0;
  result.p99Ms = latenciesMs[Math.floor(latenciesMs.length * 0.99)] ?? 0;
  agent.destroy();
  process.send!(result);
}

/** One POST; resolves with the status and the first 64 bytes of the answer (enough for `accepted`). */
function post(agent: http.Agent, url: URL, body: Buffer): Promise<{ status: number; head: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      { agent, hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'content-length': body.length } },
      (res) => {
        let head = '';
        res.on('data', (chunk: Buffer) => {
          if (head.length < 64) head += chunk.toString('latin1', 0, 64);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, head }));
        res.on('error', (e) => resolve({ status: 0, head: e.message }));
      },
    );
    req.on('error', (e) => resolve({ status: 0, head: e.message }));
    req.end(body);
  });
}

// Runs only as the forked entry point (bench/ingest.ts imports makeNdjsonBody from here too).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
