/**
 * `npm run bench -- ingest`: HTTP ingest throughput (events/s acknowledged) next to its ceiling.
 *
 * The server runs in this process on an EmbeddedLog in a temp dir, with a JSON Schema, a key field and
 * an event-time field on the topic. The load generator (bench/ingest-load.ts) runs in a second process
 * and POSTs NDJSON batches of 1,000 events (~170 bytes each) over keep-alive loopback connections.
 * The ceiling is the same generator against a raw `node:http` server in this process that reads each
 * body and answers 200 without parsing: what the transport allows on this machine.
 *
 * Options: --seconds N (measured, default 10), --warmup-seconds N (default 1), --connections N
 * (default 4), --events N (per request, default 1,000), --partitions N (default 4),
 * --fsync always|interval|never (default always, the EmbeddedLog default), --dir PATH (default the OS temp dir),
 * --skip-ceiling.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FsyncPolicy } from '../src/log/embedded/embedded-log.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { createServer } from '../src/server/server.js';
import type { LoadResult } from './ingest-load.js';
import { note, report } from './report.js';

const TOPIC = 'events';

/** The topic's JSON Schema: every field typed, formats checked, nothing else allowed. */
export const BENCH_EVENT_SCHEMA = {
  type: 'object',
  required: ['id', 'ts', 'user', 'type', 'amount'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 64 },
    ts: { type: 'string', format: 'date-time' },
    user: { type: 'string', minLength: 1, maxLength: 64 },
    type: { enum: ['click', 'view', 'purchase', 'signup'] },
    amount: { type: 'number', minimum: 0 },
    page: { type: 'string' },
    country: { type: 'string', minLength: 2, maxLength: 2 },
    session: { type: 'string' },
  },
} as const;

export async function run(args: Record<string, string | true>): Promise<void> {
  const seconds = Number(args.seconds ?? 10);
  const warmupSeconds = Number(args['warmup-seconds'] ?? 1);
  const connections = Number(args.connections ?? 4);
  const events = Number(args.events ?? 1000);
  const partitions = Number(args.partitions ?? 4);
  const fsync = String(args.fsync ?? 'always') as FsyncPolicy;
  const loadArgs = ['--seconds', String(seconds), '--warmup-seconds', String(warmupSeconds), '--connections', String(connections), '--events', String(events)];

  let ceiling: (LoadResult & { serverCpuMs: number }) | undefined;
  if (args['skip-ceiling'] !== true) {
    const raw = await startRawServer();
    try {
      ceiling = await runLoad(`${raw.url}/v1/topics/${TOPIC}/events`, loadArgs, warmupSeconds);
    } finally {
      await raw.close();
    }
    note(`ingest ceiling (raw node:http): ${Math.round(ceilingRate(ceiling))} events/s, p50 ${ceiling.p50Ms.toFixed(1)} ms`);
  }

  const root = fs.mkdtempSync(path.join(typeof args.dir === 'string' ? args.dir : os.tmpdir(), 'freshet-bench-ingest-'));
  const log = await EmbeddedLog.open({ dataDir: path.join(root, 'data'), fsync });
  try {
    const server = createServer({
      log,
      topics: { [TOPIC]: { partitions, jsonSchema: BENCH_EVENT_SCHEMA, keyField: 'user', eventTimeField: 'ts' } },
      autoCreateTopics: false,
    });
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    let result: LoadResult & { serverCpuMs: number };
    try {
      result = await runLoad(`${url}/v1/topics/${TOPIC}/events`, loadArgs, warmupSeconds);
    } finally {
      await server.close();
    }
    if (result.errors > 0) note(`ingest: ${result.errors} failed requests, first: ${result.firstError}`);
    const stored = await storedCount(log, partitions);
    const dlq = (await log.listTopics()).includes(`${TOPIC}.dlq`);
    if (dlq) note('ingest: some events went to the DLQ: the generated events should all be valid');
    report({
      bench: 'ingest.http',
      metric: 'events_per_s',
      value: result.events / (result.elapsedMs / 1000),
      unit: 'events/s',
      ...(ceiling ? { ceiling: ceilingRate(ceiling) } : {}),
      mb_per_s: Math.round((result.bodyBytes / (result.elapsedMs / 1000) / 1e6) * 10) / 10,
      p50_request_ms: round1(result.p50Ms),
      p99_request_ms: round1(result.p99Ms),
      // CPU per acknowledged event: robust to a busy machine, unlike the wall-clock rate.
      server_cpu_us_per_event: round1((result.serverCpuMs * 1000) / Math.max(1, result.events)),
      loader_cpu_us_per_event: round1((result.cpuMs * 1000) / Math.max(1, result.events)),
      server_cpu_share: Math.round((result.serverCpuMs / result.elapsedMs) * 100) / 100,
      events_per_request: events,
      event_bytes: result.eventBytes,
      connections,
      partitions,
      fsync,
      seconds,
      requests: result.requests,
      errors: result.errors,
      stored_events: stored,
    });
  } finally {
    await log.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function ceilingRate(r: LoadResult): number {
  return r.events / (r.elapsedMs / 1000);
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * Runs the load generator in a child process and waits for its result. Also measures this process's
 * CPU time over the same window (from the warm-up's end), so the server's CPU per event is known
 * even when the machine is shared and wall-clock rates are noisy.
 */
function runLoad(url: string, loadArgs: string[], warmupSeconds: number): Promise<LoadResult & { serverCpuMs: number }> {
  return new Promise((resolve, reject) => {
    let cpuAtStart: NodeJS.CpuUsage | undefined;
    const cpuTimer = setTimeout(() => (cpuAtStart = process.cpuUsage()), warmupSeconds * 1000);
    const child = fork(new URL('./ingest-load.ts', import.meta.url), ['--url', url, ...loadArgs], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: LoadResult | undefined;
    let serverCpuMs = 0;
    child.on('message', (m) => {
      result = m as LoadResult;
      if (cpuAtStart) {
        const cpu = process.cpuUsage(cpuAtStart);
        serverCpuMs = (cpu.user + cpu.system) / 1000;
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(cpuTimer);
      if (result) resolve({ ...result, serverCpuMs });
      else reject(new Error(`load generator exited with ${code} before reporting`));
    });
  });
}

/** The transport ceiling: reads the whole body and answers 200, parsing nothing. */
async function startRawServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"received":${bytes}}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function storedCount(log: EmbeddedLog, partitions: number): Promise<number> {
  let total = 0;
  for (let p = 0; p < partitions; p++) total += (await log.latestOffset(TOPIC, p)) - (await log.earliestOffset(TOPIC, p));
  return total;
}
