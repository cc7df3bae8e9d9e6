/**
 * `npm run bench -- workers`: what splitting a pipeline over worker threads costs and gives.
 * - `workers.remote-read`: reading a topic through a RemoteLog (a worker thread's view of the log, over a
 *   MessagePort) against reading the same EmbeddedLog directly (ceiling), every value touched.
 * - `workers.tumbling`: a keyed tumbling window (source → keyBy → window → count) as a bounded run with
 *   N worker threads (repartition topic included), against the single-process runner on the same data
 *   (ceiling). Ratio > 1 means the threads win; with 2 cores and one repartition, expect below 1.
 * Options: --events N (default 400,000), --keys N (default 10,000), --partitions N (default 4),
 * --workers a,b (default 1,2).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { count } from '../src/dsl/aggregators/index.js';
import { pipeline } from '../src/dsl/pipeline.js';
import { tumbling } from '../src/dsl/windows.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import type { EventLog } from '../src/log/log.js';
import { LogHost } from '../src/log/remote/log-host.js';
import { RemoteLog } from '../src/log/remote/remote-log.js';
import { ParallelRunner } from '../src/runtime/parallel/parallel-runner.js';
import { WorkerPool } from '../src/runtime/parallel/worker-pool.js';
import { PipelineRunner } from '../src/runtime/pipeline-runner.js';
import { note, report } from './report.js';

interface Click {
  user: string;
  amount: number;
  ts: number;
}

/**
 * The benchmarked pipeline; worker threads import this module and call it. Each attempt gets its own
 * name, so its consumer group has no committed offsets and its repartition topic starts empty.
 */
export function tumblingPipeline(name: string) {
  return pipeline(name, (p) => {
    p.source<Click>('clicks', { eventTime: 'ts', maxOutOfOrderMs: 100 })
      .keyBy((c) => c.user)
      .window(tumbling({ sizeMs: 1000 }))
      .aggregate(count())
      // Results are dropped before the sink (as in the engine bench): the figure is the pipeline's, not
      // the cost of shipping a result per event back to the main thread.
      .filter(() => false)
      .collect('out');
  });
}

async function readEverything(log: EventLog, topic: string, partitions: number): Promise<number> {
  let bytes = 0;
  for (let p = 0; p < partitions; p++) {
    let offset = 0;
    for (;;) {
      const r = await log.read(topic, p, offset, { maxRecords: 4096 });
      if (r.batches.length === 0) break;
      for (const b of r.batches) for (let i = 0; i < b.count; i++) bytes += b.valueAt(i)!.length;
      offset = r.nextOffset;
    }
  }
  return bytes;
}

async function best<T>(times: number, run: () => Promise<T>): Promise<number> {
  let bestMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await run();
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return bestMs;
}

export async function run(args: Record<string, string | true>): Promise<void> {
  const eventCount = Number(args.events ?? 400_000);
  const keys = Number(args.keys ?? 10_000);
  const partitions = Number(args.partitions ?? 4);
  const workerCounts = String(args.workers ?? '1,2').split(',').map(Number);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'freshet-bench-workers-'));
  const log = await EmbeddedLog.open({ dataDir: root, fsync: 'never', retentionCheckIntervalMs: 0 });
  try {
    await log.createTopic('clicks', { partitions, segmentBytes: 256 * 1024 * 1024 });
    let x = 12345;
    const rand = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let p = 0; p < partitions; p++) {
      const n = Math.floor(eventCount / partitions);
      for (let i = 0; i < n; i += 4096) {
        const batch = Array.from({ length: Math.min(4096, n - i) }, (_, j) => {
          const ts = 1_700_000_000_000 + (i + j) * partitions - Math.floor(rand() * 50);
          return { value: Buffer.from(JSON.stringify({ user: `u${Math.floor(rand() * keys)}`, amount: Math.floor(rand() * 10_000) / 100, ts })), timestampMs: ts };
        });
        await log.append('clicks', p, batch);
      }
    }
    const total = Math.floor(eventCount / partitions) * partitions;
    note(`workers bench: ${total} events, ${keys} keys, ${partitions} partitions`);

    // RemoteLog reads against direct reads of the same log.
    const directMs = await best(3, () => readEverything(log, 'clicks', partitions));
    const { port1, port2 } = new MessageChannel();
    const host = LogHost.serve(log, port1);
    const remote = new RemoteLog(port2);
    const remoteMs = await best(3, () => readEverything(remote, 'clicks', partitions));
    await remote.close();
    await host.close();
    report({ bench: 'workers.remote-read', metric: 'records_per_s', value: total / (remoteMs / 1000), unit: 'records/s', ceiling: total / (directMs / 1000) });

    // The pipeline: single process (the ceiling), then N workers (new repartition topic each time).
    let attempt = 0;
    const singleMs = await best(2, async () => {
      const runner = await PipelineRunner.start(tumblingPipeline(`bench-workers-${attempt++}`).plan(), { log, commitIntervalMs: Number.POSITIVE_INFINITY });
      await runner.finish();
    });
    for (const workers of workerCounts) {
      const pool = await WorkerPool.start(workers);
      try {
        const ms = await best(2, async () => {
          const name = `bench-workers-${attempt++}`;
          const runner = await ParallelRunner.start({ module: new URL(import.meta.url), exportName: 'tumblingPipeline', args: [name] }, { log, pool, commitIntervalMs: Number.POSITIVE_INFINITY });
          try {
            await runner.finish();
          } finally {
            await runner.close();
            await log.deleteTopic(`${name}.keyBy-1.repartition`);
          }
        });
        report({ bench: 'workers.tumbling', metric: 'events_per_s', value: total / (ms / 1000), unit: 'events/s', ceiling: total / (singleMs / 1000), workers });
      } finally {
        await pool.close();
      }
    }
  } finally {
    await log.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}
