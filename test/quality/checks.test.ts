import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorCodes } from '../../src/core/errors.js';
import type { QualityCheck } from '../../src/plan/quality-check.js';
import { checks, DEFAULT_ANOMALY_RULE, describeCheck, summarizeCheck, validateAction, validateCheck } from '../../src/quality/checks.js';
import { QualityLimits } from '../../src/quality/limits.js';
import { QualityOperator } from '../../src/runtime/operators/quality-operator.js';

const invalid = (fn: () => unknown, message: RegExp): void => {
  expect(fn).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringMatching(message) }));
};

describe('check builders: resolved, serialisable specs', () => {
  it('fill every default', () => {
    expect(checks.range('a.b', { min: 1 })).toEqual({ kind: 'range', field: 'a.b', min: 1, max: null, minInclusive: true, maxInclusive: true });
    expect(checks.pattern('s', /x+/gimy)).toEqual({ kind: 'pattern', field: 's', source: 'x+', flags: 'im' });
    expect(checks.unique('id', { horizonMs: 1_000 })).toEqual({ kind: 'unique', id: 'id', horizonMs: 1_000, maxKeys: QualityLimits.defaultMaxDedupKeys });
    expect(checks.freshness({ maxBehindWallClockMs: 5 })).toEqual({ kind: 'freshness', maxBehindWatermarkMs: null, maxBehindWallClockMs: 5 });
    expect(checks.volume({ windowMs: 60_000, anomaly: true })).toEqual({ kind: 'volume', windowMs: 60_000, min: null, max: null, anomaly: DEFAULT_ANOMALY_RULE });
    expect(checks.volume({ windowMs: 10, anomaly: { windows: 4 } }).anomaly).toEqual({ windows: 4, k: 3, minWindows: 4, minStddev: 1 });
    expect(checks.schema({ type: 'object' })).toEqual({ kind: 'schema', jsonSchema: { type: 'object' } });
    expect('standardSchema' in checks.schema(z.string())).toBe(true);
  });

  it('the declarative specs survive a JSON round trip; describeCheck makes the others JSON-safe', () => {
    const specs: QualityCheck[] = [
      checks.notNull('a', 'b.c'),
      checks.range('x', { min: 0, max: 1, maxInclusive: false }),
      checks.oneOf('s', ['a', 1, true, null]),
      checks.pattern('e', /^[^@]+@[^@]+$/u),
      checks.unique('id', { horizonMs: 10 }),
      checks.freshness({ maxBehindWatermarkMs: 1 }),
      checks.completeness({ windowMs: 1_000, fields: ['a'], maxNullShare: 0.1 }),
      checks.volume({ windowMs: 1_000, min: 1, max: 5, anomaly: true }),
      checks.schema({ type: 'object', required: ['id'] }),
    ];
    for (const spec of specs) {
      expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
      expect(describeCheck(spec)).toEqual(spec);
    }
    expect(describeCheck(checks.schema(z.object({})))).toEqual({ kind: 'schema', standardSchema: 'zod' });
    expect(describeCheck(checks.unique((v: { id: string }) => v.id, { horizonMs: 5 }))).toEqual({ kind: 'unique', id: 'fn', horizonMs: 5, maxKeys: QualityLimits.defaultMaxDedupKeys });
    expect(describeCheck(checks.predicate(() => true, 'r'))).toEqual({ kind: 'predicate', fn: 'fn', reason: 'r' });
    expect(specs.map(summarizeCheck)).toContain('range(x in [0, 1))');
  });

  it('refuse what cannot work, with coded errors naming the problem', () => {
    invalid(() => checks.range('x', {}), /needs min and\/or max/);
    invalid(() => checks.range('x', { min: 2, max: 1 }), /min 2 is above max 1/);
    invalid(() => checks.range('', { min: 0 }), /non-empty string/);
    invalid(() => checks.notNull(), /at least one field/);
    invalid(() => checks.notNull('a..b'), /empty step/);
    invalid(() => checks.oneOf('s', []), /at least one value/);
    invalid(() => checks.oneOf('s', [{} as never]), /strings, numbers, booleans or null/);
    invalid(() => checks.pattern('s', '('), /checks.pattern\('s'\)/);
    invalid(() => checks.unique('id', { horizonMs: 0 }), /horizonMs must be a positive integer/);
    invalid(() => checks.unique('id', { horizonMs: 1, maxKeys: QualityLimits.maxDedupKeys + 1 }), /maxKeys/);
    invalid(() => checks.freshness({}), /needs maxBehindWatermarkMs and\/or maxBehindWallClockMs/);
    invalid(() => checks.completeness({ windowMs: 1, fields: ['a'], maxNullShare: 1.5 }), /maxNullShare must be in \[0, 1\]/);
    invalid(() => checks.volume({ windowMs: 1 }), /needs min, max and\/or anomaly/);
    invalid(() => checks.volume({ windowMs: 1, anomaly: { windows: 3, minWindows: 5 } }), /minWindows/);
    invalid(() => checks.schema([] as unknown as object), /Standard Schema .* or a JSON Schema object/);
    invalid(() => validateCheck({ kind: 'nope' } as unknown as QualityCheck), /unknown quality check kind 'nope'/);
    invalid(() => validateAction('drop'), /one of dlq, warn, fail/);
  });

  it('the operator validates hand-made specs and compiles JSON Schemas up front (an invalid schema fails at construction)', () => {
    const context = { pipeline: 'p', stage: 's', deadLetter: () => {}, sourceTopic: 't' };
    invalid(() => new QualityOperator('c', { kind: 'range', field: 'x', min: null, max: null, minInclusive: true, maxInclusive: true }, 'dlq', context), /needs min/);
    expect(() => new QualityOperator('c', checks.schema({ type: 'object', requird: ['x'] }), 'dlq', context)).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG, message: expect.stringMatching(/^quality check 'c' is not a valid JSON Schema/) }),
    );
  });
});

describe('qualityMetricsTo', () => {
  it('maps outcomes onto the pipeline metrics (passed / failed, dead letters by check)', async () => {
    const { qualityMetricsTo } = await import('../../src/quality/metrics-adapter.js');
    const calls: unknown[][] = [];
    const fn = qualityMetricsTo({ qualityChecks: (...a) => calls.push(['q', ...a]), deadLetters: (...a) => calls.push(['d', ...a]) });
    fn('c', 's', 'passed', 5);
    fn('c', 's', 'dead_lettered', 2);
    fn('c', 's', 'warned', 1);
    fn('c', 's', 'late', 9);
    expect(calls).toEqual([
      ['q', 's', 'c', 5, 0],
      ['q', 's', 'c', 0, 2],
      ['d', 's', 'c', 2],
      ['q', 's', 'c', 0, 1],
    ]);
  });
});

describe('checkSource: the topic re-encoded dead letters of a check belong to', () => {
  it('walks back through value-preserving nodes to a stream source; none after a map, join or merge', async () => {
    const { checkSource } = await import('../../src/quality/check-source.js');
    const nodes = [
      { kind: 'source', name: 'src', topic: 'orders', format: 'msgpack' as const, role: 'stream' },
      { kind: 'filter', name: 'f', input: 'src' },
      { kind: 'expect', name: 'e1', input: 'f' },
      { kind: 'keyBy', name: 'k', input: 'e1' },
      { kind: 'map', name: 'm', input: 'k' },
      { kind: 'source', name: 'tbl', topic: 'products', role: 'table' },
      { kind: 'merge', name: 'mg', inputs: ['src', 'f'] },
    ];
    expect(checkSource(nodes, 'src')).toEqual({ topic: 'orders', format: 'msgpack' });
    expect(checkSource(nodes, 'k')).toEqual({ topic: 'orders', format: 'msgpack' });
    expect(checkSource(nodes, 'm')).toBeNull();
    expect(checkSource(nodes, 'tbl')).toBeNull();
    expect(checkSource(nodes, 'mg')).toBeNull();
    expect(checkSource(nodes, 'missing')).toBeNull();
  });
});
