/**
 * A quality operator stopped at any point, snapshotted (through msgpack, as checkpoints store it) and
 * restored into a fresh operator gives exactly the outputs, dead letters and events of an uninterrupted one.
 */
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import type { QualityCheck, QualityEvent } from '../../src/plan/quality-check.js';
import { checks } from '../../src/quality/checks.js';
import type { OperatorSnapshot } from '../../src/runtime/operators/stateful.js';
import { QualityOperator } from '../../src/runtime/operators/quality-operator.js';

type Op = { kind: 'batch'; records: { id: number; t: number; a: number | null }[] } | { kind: 'watermark'; w: number };

interface Trace {
  passed: unknown[];
  dead: string[];
  events: string[];
}

function make(check: QualityCheck, trace: Trace): QualityOperator {
  const op = new QualityOperator('q', check, 'dlq', {
    pipeline: 'p',
    stage: 's',
    sourceTopic: 't',
    deadLetter: (topic, record) => trace.dead.push(`${topic}:${Buffer.from(record.value!).toString()}:${Buffer.from(record.headers![0]!.value).toString()}`),
    onEvent: (e: QualityEvent) => trace.events.push(`${e.rule}@${e.windowStartMs}:${e.count}`),
  });
  op.outputs.push({ operator: { name: 'sink', outputs: [], push: (b) => trace.passed.push(...b.values), watermark: () => {} }, input: 0 });
  return op;
}

function apply(op: QualityOperator, ops: readonly Op[]): void {
  for (const o of ops) {
    if (o.kind === 'batch') op.push({ values: o.records, timestamps: o.records.map((r) => r.t), keys: null });
    else op.watermark(o.w);
  }
}

const opsArb = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.array(fc.record({ id: fc.integer({ min: 0, max: 15 }), t: fc.integer({ min: 0, max: 5_000 }), a: fc.option(fc.integer(), { nil: null }) }), { maxLength: 15 }).map((records) => ({ kind: 'batch' as const, records })) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 5_000 }).map((w) => ({ kind: 'watermark' as const, w })) },
    ),
    { maxLength: 50 },
  )
  .map((ops) => {
    // Watermarks rise, as real ones do.
    let w = 0;
    return ops.map((o) => (o.kind === 'watermark' ? { kind: 'watermark' as const, w: (w = Math.max(w, o.w)) } : o)) as Op[];
  });

const stateful: [string, QualityCheck][] = [
  ['unique', checks.unique('id', { horizonMs: 700, maxKeys: 8 })],
  ['volume + anomaly', checks.volume({ windowMs: 250, min: 1, max: 6, anomaly: { windows: 4, k: 1, minWindows: 2, minStddev: 0.5 } })],
  ['completeness', checks.completeness({ windowMs: 400, fields: ['a'], maxNullShare: 0.3 })],
];

describe('quality operator snapshots', () => {
  for (const [name, check] of stateful) {
    it(`${name}: stop anywhere, restore, continue = uninterrupted`, () => {
      fc.assert(
        fc.property(opsArb, fc.nat(), (ops, cut) => {
          const at = ops.length === 0 ? 0 : cut % (ops.length + 1);
          const whole: Trace = { passed: [], dead: [], events: [] };
          apply(make(check, whole), ops);
          const split: Trace = { passed: [], dead: [], events: [] };
          const first = make(check, split);
          apply(first, ops.slice(0, at));
          const saved = unpack(pack(first.snapshotState())) as OperatorSnapshot;
          const second = make(check, split);
          second.restoreState(saved);
          apply(second, ops.slice(at));
          expect(split).toEqual(whole);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('a snapshot of another operator kind is refused with a coded error', () => {
    const op = make(checks.notNull('a'), { passed: [], dead: [], events: [] });
    expect(() => op.restoreState([1, 'windowAggregate'])).toThrow(expect.objectContaining({ code: ErrorCodes.STATE_INCOMPATIBLE }));
  });
});
