import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isRfc3339DateTime, parseEventTime, parseIsoTimestampMs } from '../../src/server/event-time.js';

describe('parseEventTime', () => {
  it('reads epoch ms, ISO dates and date-times with offsets', () => {
    expect(parseEventTime(1_714_521_600_000, 0)).toBe(1_714_521_600_000);
    expect(parseEventTime(12.9, 0)).toBe(12);
    expect(parseEventTime('2024-05-01', 0)).toBe(Date.UTC(2024, 4, 1));
    expect(parseEventTime('2024-05-01T12:30Z', 0)).toBe(Date.UTC(2024, 4, 1, 12, 30));
    expect(parseEventTime('2024-05-01T12:30:15.5+02:00', 0)).toBe(Date.UTC(2024, 4, 1, 10, 30, 15, 500));
    expect(parseEventTime('2024-05-01T12:30:15.123456789-01:30', 0)).toBe(Date.UTC(2024, 4, 1, 14, 0, 15, 123));
    expect(parseEventTime('2024-02-29T00:00:00Z', 0)).toBe(Date.UTC(2024, 1, 29));
  });

  it('falls back when absent and refuses anything else', () => {
    expect(parseEventTime(undefined, 7)).toBe(7);
    expect(parseEventTime(null, 7)).toBe(7);
    for (const bad of [
      'yesterday', '2024-05-01T12:30:00', '2023-02-29', '2024-04-31', '2024-13-01', '2024-05-01T24:00:00Z', '2024-05-01T12:60:00Z',
      '2024-05-01T12:30:00.Z', '2024-5-01', '1969-12-31T23:59:59Z', '', '1714521600000', '2024-05-01T12:30:00+0200',
      -1, Number.NaN, Number.POSITIVE_INFINITY, 9e15, true, {}, [],
    ]) {
      expect(parseEventTime(bad, 7), String(bad)).toBeNaN();
    }
  });

  it('agrees with Date.parse on every instant toISOString can print (1970..2200)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }), fc.constantFrom('Z', '+05:30', '-11:00', '+00:00'), (ms, zone) => {
        const iso = new Date(ms).toISOString().replace('Z', zone);
        expect(parseIsoTimestampMs(iso, true, false)).toBe(Date.parse(iso));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isRfc3339DateTime (the ajv date-time format)', () => {
  it('follows RFC 3339', () => {
    for (const ok of ['2024-05-01T12:30:00Z', '2024-05-01t12:30:00z', '2024-05-01 12:30:00.1+01:00', '2016-12-31T23:59:60Z', '1900-01-01T00:00:00Z']) {
      expect(isRfc3339DateTime(ok), ok).toBe(true);
    }
    for (const bad of ['2024-05-01', '2024-05-01T12:30Z', '2024-05-01T12:30:00', '2016-12-31T22:59:60Z', '2024-02-30T00:00:00Z', '2024-05-01T12:30:00ZZ']) {
      expect(isRfc3339DateTime(bad), bad).toBe(false);
    }
  });
});
