/**
 * `npm run bench -- engine`: the stream engine's throughput per core, from the embedded log (decode
 * included) and from an in-memory array, each next to its ceiling measured in the same run:
 * - from the log: reading + JSON-decoding the same records with no engine (raw decode);
 * - from memory: a raw keyed `Map` update loop over the same objects (stateless: a plain loop).
 * Options: --events N (default 2,000,000), --keys N (default 10,000), --event-rate N (events per second of
 * event time, default 100,000), --only <name>.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { count, sum } from '../src/dsl/aggregators/index.js';
import { type PipelineDefinition, pipeline } from '../src/dsl/pipeline.js';
import { hopping, tumbling } from '../src/dsl/windows.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import type { EventLog } from '../src/log/log.js';
import type { TopicFormat } from '../src/plan/plan.js';
import { pack, unpack } from 'msgpackr';
import type { Batch } from '../src/runtime/batch.js';
import { compile } from '../src/runtime/compile.js';
import { PipelineRunner } from '../src/runtime/pipeline-runner.js';
import { note, report } from './report.js';

interface Click {
  user: string;
  page: string;
  amount: number;
  type: 'view' | 'click' | 'buy';
  ts: number;
}

const TYPES = ['view', 'click', 'buy'] as const;

/**
 * `n` clicks over `keys` users, `eventRatePerS` of them per second of event time (default 100,000: a busy
 * stream, so a 1 s window sees ~10 events per key), up to 50 ms out of order.
 */
function makeEvents(n: number, keys: number, eventRatePerS: number): Click[] {
  const out: Click[] = new Array(n);
  let x = 12345;
  const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const ts = 1_700_000_000_000 + Math.floor((i * 1000) / eventRatePerS) - Math.floor(rand() * 50);
    out[i] = { user: `u${Math.floor(rand() * keys)}`, page: `/p/${i % 97}`, amount: Math.floor(rand() * 10_000) / 100, type: TYPES[i % 3]!, ts };
  }
  return out;
}

/** A sink that counts and keeps nothing, so the benchmark measures the pipeline, not result storage. */
let delivered = 0;
const countOnly = (): boolean => {
  delivered++;
  return false;
};

/** Each run gets its own pipeline name, so no run resumes from another's committed offsets. */
let runId = 0;

const QUERIES: Record<string, { keyed: boolean; define: (format: TopicFormat) => PipelineDefinition }> = {
  'engine.stateless': {
    keyed: false,
    define: (format) =>
      pipeline(`bench-stateless-${++runId}`, (p) => {
        p.source<Click>(format === 'json' ? 'clicks' : 'clicks-msgpack', { eventTime: 'ts', maxOutOfOrderMs: 100, format })
          .filter((c) => c.type !== 'view')
          .map((c) => ({ user: c.user, cents: Math.round(c.amount * 100) }))
          .filter(countOnly)
          .collect('out');
      }),
  },
  'engine.tumbling': {
    keyed: true,
    define: (format) =>
      pipeline(`bench-tumbling-${++runId}`, (p) => {
        p.source<Click>(format === 'json' ? 'clicks' : 'clicks-msgpack', { eventTime: 'ts', maxOutOfOrderMs: 100, format })
          .keyBy((c) => c.user)
          .window(tumbling({ sizeMs: 1000 }))
          .aggregate({ n: count(), total: sum((c: Click) => c.amount) })
          .filter(countOnly)
          .collect('out');
      }),
  },
  'engine.hopping': {
    keyed: true,
    define: (format) =>
      pipeline(`bench-hopping-${++runId}`, (p) => {
        p.source<Click>(format === 'json' ? 'clicks' : 'clicks-msgpack', { eventTime: 'ts', maxOutOfOrderMs: 100, format })
          .keyBy((c) => c.user)
          .window(hopping({ sizeMs: 10_000, advanceMs: 2_000 }))
          .aggregate(count())
          .filter(countOnly)
          .collect('out');
      }),
  },
  'engine.join': {
    keyed: true,
    define: (format) =>
      pipeline(`bench-join-${++runId}`, (p) => {
        const users = p.table<{ user: string; segment: string }>('users', { key: (u) => u.user });
        p.source<Click>(format === 'json' ? 'clicks' : 'clicks-msgpack', { eventTime: 'ts', maxOutOfOrderMs: 100, format })
          .join(users, { key: (c) => c.user }, (c, u) => ({ user: c.user, amount: c.amount, segment: u.segment }))
          .filter(countOnly)
          .collect('out');
      }),
  },
};

export async function run(args: Record<string, string | true>): Promise<void> {
  const eventCount = Number(args.events ?? 2_000_000);
  const keys = Number(args.keys ?? 10_000);
  const only = typeof args.only === 'string' ? args.only : null;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'freshet-bench-engine-'));
  try {
    const eventRatePerS = Number(args['event-rate'] ?? 100_000);
    const events = makeEvents(eventCount, keys, eventRatePerS);
    const log = await EmbeddedLog.open({ dataDir: root, fsync: 'never', retentionCheckIntervalMs: 0 });
    await log.createTopic('clicks', { partitions: 1, segmentBytes: 512 * 1024 * 1024 });
    await log.createTopic('clicks-msgpack', { partitions: 1, segmentBytes: 512 * 1024 * 1024 });
    await log.createTopic('users', { partitions: 1 });
    for (let i = 0; i < events.length; i += 4096) {
      const slice = events.slice(i, i + 4096);
      await log.append('clicks', 0, slice.map((e) => ({ value: Buffer.from(JSON.stringify(e)), timestampMs: e.ts })));
      await log.append('clicks-msgpack', 0, slice.map((e) => ({ value: pack(e), timestampMs: e.ts })));
    }
    const users = Array.from({ length: keys }, (_, i) => ({ value: Buffer.from(JSON.stringify({ user: `u${i}`, segment: `s${i % 7}` })), timestampMs: 0 }));
    for (let i = 0; i < users.length; i += 4096) await log.append('users', 0, users.slice(i, i + 4096));
    note(`engine bench: ${eventCount} events, ${keys} keys`);

    for (const format of ['json', 'msgpack'] as const) {
      // The ceiling: the same records read and decoded with no engine; best of 3 (the first runs cold).
      let decodedCeiling = 0;
      for (let rep = 0; rep < 3; rep++) decodedCeiling = Math.max(decodedCeiling, await measureRawDecodeCeiling(log, format, eventCount));
      for (const [bench, query] of Object.entries(QUERIES)) {
        if (only && only !== bench) continue;
        // From the log: the runner reads, decodes and processes everything, then closes all windows.
        let best = 0;
        for (let rep = 0; rep < 2; rep++) {
          delivered = 0;
          const runner = await PipelineRunner.start(query.define(format).plan(), { log, commitIntervalMs: Number.POSITIVE_INFINITY });
          const start = performance.now();
          await runner.finish();
          best = Math.max(best, eventCount / ((performance.now() - start) / 1000));
        }
        report({ bench, metric: 'events_per_s_per_core', value: best, unit: 'events/s', ceiling: decodedCeiling, source: 'log', format, events: eventCount, keys, event_rate_per_s: eventRatePerS, outputs: delivered, ceiling_kind: 'raw log read + decode' });
      }
    }
    for (const [bench, query] of Object.entries(QUERIES)) {
      if (only && only !== bench) continue;
      // From memory: the same objects pushed straight into the compiled operators.
      let memory = 0;
      let ceiling = 0;
      for (let rep = 0; rep < 2; rep++) {
        memory = Math.max(memory, runFromMemory(query.define('json'), events, keys));
        ceiling = Math.max(ceiling, query.keyed ? rawMapCeiling(events) : rawLoopCeiling(events));
      }
      report({ bench, metric: 'events_per_s_per_core', value: memory, unit: 'events/s', ceiling, source: 'memory', events: eventCount, keys, event_rate_per_s: eventRatePerS, ceiling_kind: query.keyed ? 'raw keyed Map update' : 'raw filter+map loop' });
    }
    if (!only || only === 'engine.state') benchStateBytes();
    await log.close();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Reads every record and decodes it (JSON or msgpack): the work any engine must do before its own. */
async function measureRawDecodeCeiling(log: EventLog, format: TopicFormat, eventCount: number): Promise<number> {
  const topic = format === 'json' ? 'clicks' : 'clicks-msgpack';
  const decoder = new TextDecoder();
  const start = performance.now();
  let offset = 0;
  let checksum = 0;
  while (offset < eventCount) {
    const { batches, nextOffset } = await log.read(topic, 0, offset, { maxRecords: 4096 });
    for (const b of batches) {
      for (let i = 0; i < b.count; i++) {
        const bytes = b.valueAt(i)!;
        checksum += ((format === 'json' ? JSON.parse(decoder.decode(bytes)) : unpack(bytes)) as Click).amount;
      }
    }
    offset = nextOffset;
  }
  if (!(checksum > 0)) throw new Error('decode ceiling read nothing');
  return eventCount / ((performance.now() - start) / 1000);
}

function runFromMemory(definition: PipelineDefinition, events: Click[], keys: number): number {
  const graph = compile(definition.plan(), { partitionsOf: () => 1, nowMs: 0 });
  const source = graph.sources.find((s) => s.node.topic === 'clicks')!;
  const table = graph.sources.find((s) => s.node.topic === 'users');
  if (table) {
    const rows = Array.from({ length: keys }, (_, i) => ({ user: `u${i}`, segment: `s${i % 7}` }));
    table.pushPartition(0, { values: rows, timestamps: rows.map(() => 0), keys: rows.map((r) => r.user) }, 0);
  }
  // Batches are cut before the clock starts: the ceiling loops do not pay for slicing either.
  const batches: Batch[] = [];
  for (let i = 0; i < events.length; i += 4096) {
    const values = events.slice(i, i + 4096);
    batches.push({ values, timestamps: values.map((e) => e.ts), keys: null });
  }
  delivered = 0;
  const start = performance.now();
  for (const batch of batches) {
    source.pushPartition(0, batch, 0);
    source.updateWatermark(0);
  }
  source.finish();
  return events.length / ((performance.now() - start) / 1000);
}

/** The same per-record work a keyed count+sum needs, with nothing else: one Map update per event. */
function rawMapCeiling(events: Click[]): number {
  const start = performance.now();
  const state = new Map<string, { n: number; total: number }>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    let acc = state.get(e.user);
    if (acc === undefined) state.set(e.user, (acc = { n: 0, total: 0 }));
    acc.n++;
    acc.total += e.amount;
  }
  if (state.size === 0) throw new Error('empty');
  return events.length / ((performance.now() - start) / 1000);
}

function rawLoopCeiling(events: Click[]): number {
  const start = performance.now();
  const out: { user: string; cents: number }[] = [];
  for (let i = 0; i < events.length; i++) {
    const c = events[i]!;
    if (c.type !== 'view') out.push({ user: c.user, cents: Math.round(c.amount * 100) });
  }
  if (out.length === 0) throw new Error('empty');
  return events.length / ((performance.now() - start) / 1000);
}

/** Bytes per key of window state (heap and ArrayBuffers): 1,000,000 keys in one open tumbling window with count + sum. */
function benchStateBytes(): void {
  const keyCount = 1_000_000;
  const definition = pipeline('bench-state', (p) => {
    p.source<{ k: string; v: number; ts: number }>('s', { eventTime: 'ts' })
      .keyBy((e) => e.k)
      .window(tumbling({ sizeMs: 3_600_000 }))
      .aggregate({ n: count(), total: sum((e: { v: number }) => e.v) })
      .collect('out');
  });
  const graph = compile(definition.plan(), { partitionsOf: () => 1, nowMs: 0 });
  const source = graph.sources[0]!;
  const keys = Array.from({ length: keyCount }, (_, i) => `key-${i}`);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  // Heap and ArrayBuffers: window columns (count, sum) live in typed arrays outside the heap.
  const used = (): { heap: number; buffers: number } => {
    const m = process.memoryUsage();
    return { heap: m.heapUsed, buffers: m.arrayBuffers };
  };
  const before = used();
  for (let i = 0; i < keyCount; i += 10_000) {
    const values = keys.slice(i, i + 10_000).map((k, j) => ({ k, v: j, ts: 1000 }));
    source.pushPartition(0, { values, timestamps: values.map(() => 1000), keys: null }, 0);
  }
  gc?.();
  const after = used();
  const heap = (after.heap - before.heap) / keyCount;
  const buffers = (after.buffers - before.buffers) / keyCount;
  // The key strings themselves exist before the state (inputs); what is measured is the state built for them.
  report({
    bench: 'engine.state',
    metric: 'bytes_per_key',
    value: Number((heap + buffers).toFixed(2)),
    unit: 'bytes',
    heap_bytes_per_key: Number(heap.toFixed(2)),
    array_buffer_bytes_per_key: Number(buffers.toFixed(2)),
    keys: keyCount,
    gc: gc !== undefined,
    state: 'tumbling window, count + sum',
  });
  if (graph.collected.size < 0) throw new Error('unreachable');
}
