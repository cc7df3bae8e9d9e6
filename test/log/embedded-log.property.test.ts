/**
 * Model-based tests: random command sequences run against EmbeddedLog and against MemoryLog (the
 * reference); every observable result must agree. Small segments make the embedded log roll often, and
 * `reopen` commands close and reopen it (recovery, index files) in the middle of a sequence.
 *
 * Reproduce a failure with the seed fast-check prints: FRESHET_FC_SEED=<seed> npx vitest run <this file>.
 * More runs: FRESHET_FC_RUNS=500.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { EventLog, ProducerRecord, ReadOptions, TopicPartitionOffset } from '../../src/log/log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { checkedRecords, type PlainRecord, readAll, sortOffsets, withTimeout } from '../helpers/log-helpers.js';
import { TempDirs } from '../helpers/temp-dir.js';

const SEED = Number(process.env.FRESHET_FC_SEED ?? 0x5eed_f00d);
const RUNS = Number(process.env.FRESHET_FC_RUNS ?? 30);
const BASE_TIME_MS = 1_700_000_000_000;

const TOPICS = ['t0', 't1', 't2'] as const;
const GROUPS = ['g1', 'g2'] as const;

type Cmd =
  | { kind: 'create'; topic: string; partitions: number; segmentBytes: number }
  | { kind: 'delete'; topic: string }
  | { kind: 'append'; topic: string; partition: number; records: ProducerRecord[] }
  | { kind: 'appendConcurrently'; topic: string; appends: { partition: number; records: ProducerRecord[]; yieldFirst: boolean }[] }
  | { kind: 'produce'; topic: string; records: ProducerRecord[] }
  | { kind: 'read'; topic: string; partition: number; position: number; options: ReadOptions }
  | { kind: 'offsetForTimestamp'; topic: string; partition: number; timestampMs: number; nearRecord?: { pick: number; delta: number } }
  | { kind: 'commit'; group: string; offsets: TopicPartitionOffset[] }
  | { kind: 'committed'; group: string; topic: string | undefined }
  | { kind: 'describe'; topic: string }
  | { kind: 'advanceClock'; ms: number }
  | { kind: 'reopen' };

// ---- generators ---------------------------------------------------------------------------------

/** Mostly t0 (which every program creates first), so most commands hit an existing topic. */
const topicArb = fc.oneof({ weight: 6, arbitrary: fc.constant('t0') }, { weight: 2, arbitrary: fc.constant('t1') }, { weight: 1, arbitrary: fc.constant('t2') });
/** Mostly valid partitions of a 1-3 partition topic, sometimes not. */
const partitionArb = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.constantFrom(3, -1) });
/** Mostly tiny segments (frequent rolls); sometimes a few index intervals (Limits.indexIntervalBytes) long. */
const segmentBytesArb = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1024, max: 4096 }) }, { weight: 1, arbitrary: fc.integer({ min: 8192, max: 20_000 }) });
const timestampArb = fc.integer({ min: BASE_TIME_MS - 5_000, max: BASE_TIME_MS + 60_000 });

const recordArb: fc.Arbitrary<ProducerRecord> = fc.record(
  {
    key: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null, freq: 3 }),
    value: fc.option(fc.uint8Array({ maxLength: 400 }), { nil: null, freq: 8 }),
    timestampMs: fc.option(timestampArb, { nil: undefined, freq: 3 }),
    headers: fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'ü', ''), value: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 3 }),
  },
  { requiredKeys: ['value'] },
);
const recordsArb = fc.array(recordArb, { minLength: 1, maxLength: 12, size: 'max' });

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      topic: topicArb,
      partitions: fc.integer({ min: 1, max: 3 }),
      segmentBytes: segmentBytesArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), topic: topicArb }) },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('append' as const), topic: topicArb, partition: partitionArb, records: recordsArb }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('appendConcurrently' as const),
      topic: topicArb,
      appends: fc.array(fc.record({ partition: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.integer({ min: 0, max: 2 })), records: recordsArb, yieldFirst: fc.boolean() }), { minLength: 2, maxLength: 6 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('produce' as const), topic: topicArb, records: recordsArb }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      topic: topicArb,
      partition: partitionArb,
      position: fc.nat(10_000),
      options: fc.record(
        { maxRecords: fc.integer({ min: 1, max: 40 }), maxBytes: fc.integer({ min: 1, max: 6_000 }) },
        { requiredKeys: [] },
      ),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('offsetForTimestamp' as const),
      topic: topicArb,
      partition: partitionArb,
      timestampMs: fc.integer({ min: BASE_TIME_MS - 6_000, max: BASE_TIME_MS + 70_000 }),
      // Targets at and next to stored timestamps are where off-by-one errors in a time index show.
      nearRecord: fc.option(fc.record({ pick: fc.nat(), delta: fc.integer({ min: -1, max: 1 }) }), { nil: undefined, freq: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      group: fc.constantFrom(...GROUPS),
      offsets: fc.array(fc.record({ topic: topicArb, partition: partitionArb, offset: fc.nat(200) }), { maxLength: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('committed' as const), group: fc.constantFrom(...GROUPS), topic: fc.option(topicArb, { nil: undefined }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('describe' as const), topic: topicArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advanceClock' as const), ms: fc.integer({ min: 1, max: 10_000 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

/** Sequences start by creating a topic or two, so most commands hit something. */
const programArb = fc
  .tuple(
    fc.array(
      fc.record({ kind: fc.constant('create' as const), topic: fc.constantFrom(...TOPICS), partitions: fc.integer({ min: 1, max: 3 }), segmentBytes: segmentBytesArb }),
      { minLength: 1, maxLength: 2 },
    ),
    // size 'max': use the whole length range (the default bias keeps arrays around ten elements).
    fc.array(cmdArb, { minLength: 1, maxLength: 40, size: 'max' }),
  )
  .map(([creates, rest]): Cmd[] => [{ ...creates[0]!, topic: 't0' }, ...creates.slice(1), ...rest]);

// ---- running a program ----------------------------------------------------------------------------

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

async function outcome<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    // A bug surfaces as an uncoded error; keep the message so the mismatch says what happened.
    return { ok: false, code: typeof code === 'string' && code.startsWith('FRESHET_') ? code : `UNCODED ${String((e as Error)?.stack ?? e)}` };
  }
}

function codeOf(o: Outcome<unknown>): string | null {
  return o.ok ? null : o.code;
}

class Harness {
  readonly clock = new ManualClock(BASE_TIME_MS);
  readonly model = new MemoryLog(this.clock);
  embedded!: EmbeddedLog;
  private readonly trace: string[] = [];

  constructor(
    readonly dataDir: string,
    readonly fsync: 'always' | 'never',
  ) {}

  async open(): Promise<void> {
    this.embedded = await EmbeddedLog.open({ dataDir: this.dataDir, fsync: this.fsync, clock: this.clock, retentionCheckIntervalMs: 0, onWarning: () => undefined });
  }

  private check(condition: boolean, message: string, details?: unknown): void {
    if (!condition) {
      throw new Error(`${message}\n${details === undefined ? '' : `${JSON.stringify(details, null, 1).slice(0, 4000)}\n`}after: ${this.trace.slice(-12).join(' | ')}`);
    }
  }

  private same(a: unknown, b: unknown, message: string): void {
    this.check(JSON.stringify(a) === JSON.stringify(b), message, { embedded: a, model: b });
  }

  async run(cmd: Cmd): Promise<void> {
    this.trace.push(describeCmd(cmd));
    const { embedded, model } = this;
    switch (cmd.kind) {
      case 'create': {
        const config = { partitions: cmd.partitions, segmentBytes: cmd.segmentBytes };
        const [e, m] = [await outcome(() => embedded.createTopic(cmd.topic, config)), await outcome(() => model.createTopic(cmd.topic, config))];
        this.same(codeOf(e), codeOf(m), 'createTopic outcome differs');
        return;
      }
      case 'delete': {
        const [e, m] = [await outcome(() => embedded.deleteTopic(cmd.topic)), await outcome(() => model.deleteTopic(cmd.topic))];
        this.same(codeOf(e), codeOf(m), 'deleteTopic outcome differs');
        return;
      }
      case 'append': {
        const [e, m] = [await outcome(() => embedded.append(cmd.topic, cmd.partition, cmd.records)), await outcome(() => model.append(cmd.topic, cmd.partition, cmd.records))];
        this.same(e, m, 'append result differs');
        return;
      }
      case 'appendConcurrently': {
        // Issued without awaiting the earlier ones (offsets are assigned in call order in both logs);
        // `yieldFirst` lets a macrotask run first, so background work (an fsync) is in flight meanwhile.
        const issue = async (log: EventLog) => {
          const pending: Promise<Outcome<unknown>>[] = [];
          for (const a of cmd.appends) {
            if (a.yieldFirst) await new Promise((resolve) => setImmediate(resolve));
            pending.push(outcome(() => log.append(cmd.topic, a.partition, a.records)));
          }
          return Promise.all(pending);
        };
        const e = await withTimeout(issue(embedded), 2_000, 'embedded concurrent appends');
        const m = await issue(model);
        this.same(e, m, 'concurrent append results differ');
        return;
      }
      case 'produce': {
        const e = await outcome(() => embedded.produce(cmd.topic, cmd.records));
        if (!e.ok) {
          // The model must refuse it too (unknown topic); nothing was appended.
          const m = await outcome(() => model.describeTopic(cmd.topic));
          this.same(e.code, codeOf(m), 'produce failed where the model has the topic');
          return;
        }
        const partitions = (await model.describeTopic(cmd.topic)).config.partitions;
        this.check(e.value.length === cmd.records.length, 'produce returned one ack per record');
        // Keyed records must go where Kafka puts them; keyless ones anywhere valid (round-robin state
        // is not durable). Mirror the choice into the model record by record: offsets must then agree.
        for (const [i, ack] of e.value.entries()) {
          const r = cmd.records[i]!;
          if (r.key) this.same(ack.partition, partitionForKey(r.key, partitions), `produce: keyed record ${i} in the wrong partition`);
          this.check(Number.isInteger(ack.partition) && ack.partition >= 0 && ack.partition < partitions, `produce: partition ${ack.partition} out of range`);
          const m = await model.append(cmd.topic, ack.partition, [r]);
          this.same({ topic: ack.topic, partition: ack.partition, offset: ack.offset }, { topic: m.topic, partition: m.partition, offset: m.baseOffset }, `produce ack ${i} differs`);
        }
        return;
      }
      case 'read': {
        const hw = await outcome(() => model.latestOffset(cmd.topic, cmd.partition));
        const offset = hw.ok ? (cmd.position % (hw.value + 3)) - 1 : 0; // -1 .. hw + 1
        const e = await outcome(() => embedded.read(cmd.topic, cmd.partition, offset, cmd.options));
        // The model ignores maxBytes; it gives the full slice the embedded result must be a prefix of.
        const m = await outcome(() => model.read(cmd.topic, cmd.partition, offset, { maxRecords: cmd.options.maxRecords }));
        this.same(codeOf(e), codeOf(m), `read(${offset}) outcome differs`);
        if (!e.ok || !m.ok) return;
        const got = checkedRecords(e.value, cmd.topic, cmd.partition, offset);
        const want = checkedRecords(m.value, cmd.topic, cmd.partition, offset);
        this.same(e.value.highWatermark, m.value.highWatermark, 'read highWatermark differs');
        if (want.length > 0) this.check(got.length >= 1, 'read returned nothing though records are available', { offset, options: cmd.options });
        this.check(got.length <= (cmd.options.maxRecords ?? Number.POSITIVE_INFINITY), 'read returned more than maxRecords', { got: got.length, options: cmd.options });
        this.same(got, want.slice(0, got.length), `read(${offset}) records differ`);
        return;
      }
      case 'offsetForTimestamp': {
        let target = cmd.timestampMs;
        if (cmd.nearRecord) {
          const all = await outcome(() => readAll(model, cmd.topic, cmd.partition));
          if (all.ok && all.value.length > 0) target = all.value[cmd.nearRecord.pick % all.value.length]!.timestampMs + cmd.nearRecord.delta;
        }
        const e = await outcome(() => embedded.offsetForTimestamp(cmd.topic, cmd.partition, target));
        const m = await outcome(() => model.offsetForTimestamp(cmd.topic, cmd.partition, target));
        this.same(e, m, `offsetForTimestamp(${target}) differs`);
        return;
      }
      case 'commit': {
        const e = await outcome(() => embedded.commitOffsets(cmd.group, cmd.offsets));
        const m = await outcome(() => model.commitOffsets(cmd.group, cmd.offsets));
        this.same(codeOf(e), codeOf(m), 'commitOffsets outcome differs');
        await this.compareCommitted(cmd.group, undefined);
        return;
      }
      case 'committed':
        await this.compareCommitted(cmd.group, cmd.topic);
        return;
      case 'describe': {
        const e = await outcome(() => embedded.describeTopic(cmd.topic));
        const m = await outcome(() => model.describeTopic(cmd.topic));
        this.same(codeOf(e), codeOf(m), 'describeTopic outcome differs');
        if (e.ok && m.ok) {
          this.same(e.value.config, m.value.config, 'topic config differs');
          this.same(
            e.value.partitions.map((p) => [p.partition, p.earliestOffset, p.latestOffset]),
            m.value.partitions.map((p) => [p.partition, p.earliestOffset, p.latestOffset]),
            'partition offsets differ',
          );
        }
        return;
      }
      case 'advanceClock':
        this.clock.advance(cmd.ms);
        return;
      case 'reopen':
        await this.embedded.close();
        await this.open();
        await this.compareEverything();
        return;
    }
  }

  private async compareCommitted(group: string, topic: string | undefined): Promise<void> {
    const e = sortOffsets(await this.embedded.committedOffsets(group, topic));
    const m = sortOffsets(await this.model.committedOffsets(group, topic));
    this.same(e, m, `committedOffsets(${group}, ${topic}) differ`);
  }

  /** Topics, configs, every record of every partition, and group offsets. */
  async compareEverything(): Promise<void> {
    const topics = await this.model.listTopics();
    this.same([...(await this.embedded.listTopics())].sort(), [...topics].sort(), 'topic lists differ');
    for (const topic of topics) {
      const m = await this.model.describeTopic(topic);
      const e = await this.embedded.describeTopic(topic);
      this.same(e.config, m.config, `config of ${topic} differs`);
      for (let p = 0; p < m.config.partitions; p++) {
        const want: PlainRecord[] = await readAll(this.model, topic, p);
        const got: PlainRecord[] = await readAll(this.embedded, topic, p);
        this.check(got.length === want.length, `${topic}/${p} holds ${got.length} records, model ${want.length}`);
        this.same(got, want, `${topic}/${p} records differ`);
        this.same(await this.embedded.earliestOffset(topic, p), await this.model.earliestOffset(topic, p), `${topic}/${p} earliest differs`);
      }
    }
    for (const g of GROUPS) await this.compareCommitted(g, undefined);
  }
}

function describeCmd(cmd: Cmd): string {
  switch (cmd.kind) {
    case 'append':
      return `append ${cmd.topic}/${cmd.partition} x${cmd.records.length}`;
    case 'appendConcurrently':
      return `appendConcurrently ${cmd.topic} [${cmd.appends.map((a) => `${a.partition}x${a.records.length}`).join(',')}]`;
    case 'produce':
      return `produce ${cmd.topic} x${cmd.records.length}`;
    case 'read':
      return `read ${cmd.topic}/${cmd.partition} @${cmd.position} ${JSON.stringify(cmd.options)}`;
    default:
      return JSON.stringify(cmd);
  }
}

// ---- the properties -------------------------------------------------------------------------------

describe('EmbeddedLog behaves like MemoryLog (model-based)', () => {
  const dirs = new TempDirs();
  const open: Harness[] = [];

  afterEach(async () => {
    for (const h of open.splice(0)) await h.embedded?.close().catch(() => undefined);
    dirs.cleanup();
  });

  async function runProgram(cmds: Cmd[], fsync: 'always' | 'never'): Promise<void> {
    const h = new Harness(dirs.make('freshet-prop-'), fsync);
    open.push(h);
    await h.open();
    try {
      for (const cmd of cmds) await h.run(cmd);
      await h.compareEverything();
      // And once more after a final reopen: everything acknowledged is durable.
      await h.run({ kind: 'reopen' });
    } finally {
      await h.embedded.close();
    }
  }

  it('random command sequences (small segments, reopens) give identical observable results', async () => {
    await fc.assert(
      fc.asyncProperty(programArb, fc.constantFrom<'always' | 'never'>('never', 'never', 'always'), async (cmds, fsync) => {
        await runProgram(cmds, fsync);
      }),
      // A failure that hangs (appends never acknowledged) costs 2 s per shrink step: bound the total.
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true },
    );
  }, 90_000);

  it('long single-partition histories across many segments: reads and offsetForTimestamp agree everywhere', async () => {
    const appendsArb = fc.array(fc.record({ records: recordsArb, advance: fc.nat(2_000), reopen: fc.boolean() }), { minLength: 20, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(appendsArb, fc.oneof(fc.integer({ min: 1024, max: 2048 }), fc.integer({ min: 8192, max: 12_000 })), async (appends, segmentBytes) => {
        const h = new Harness(dirs.make('freshet-prop-long-'), 'never');
        open.push(h);
        await h.open();
        try {
          await h.run({ kind: 'create', topic: 't0', partitions: 1, segmentBytes });
          for (const [i, a] of appends.entries()) {
            await h.run({ kind: 'append', topic: 't0', partition: 0, records: a.records });
            await h.run({ kind: 'advanceClock', ms: a.advance + 1 });
            if (a.reopen && i % 7 === 0) await h.run({ kind: 'reopen' });
          }
          const hw = await h.model.latestOffset('t0', 0);
          const segments = (await h.embedded.describeTopic('t0')).partitions[0]!.segments;
          expect(segments, 'the history should span several segments').toBeGreaterThan(1);
          for (let offset = 0; offset <= hw; offset += Math.max(1, Math.floor(hw / 25))) {
            await h.run({ kind: 'read', topic: 't0', partition: 0, position: offset + 1, options: { maxRecords: 7 } });
            await h.run({ kind: 'read', topic: 't0', partition: 0, position: offset + 1, options: { maxBytes: 700 } });
          }
          const stamps = (await readAll(h.model, 't0', 0)).map((r) => r.timestampMs);
          const probes = new Set<number>([BASE_TIME_MS - 10_000, Math.max(...stamps) + 1]);
          for (const t of stamps.filter((_, i) => i % 5 === 0)) for (const d of [-1, 0, 1]) probes.add(t + d);
          for (const t of probes) await h.run({ kind: 'offsetForTimestamp', topic: 't0', partition: 0, timestampMs: t });
          await h.compareEverything();
        } finally {
          await h.embedded.close();
        }
      }),
      { seed: SEED + 1, numRuns: Math.max(4, Math.floor(RUNS / 8)), interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true },
    );
  }, 90_000);
});
