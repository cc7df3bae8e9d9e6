import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { Limits } from '../../src/core/limits.js';
import { eventFromLine, ingestStamp, isRejection, trimLine } from '../../src/cli/events.js';
import { readLines } from '../../src/cli/lines.js';
import { parseStartPosition } from '../../src/cli/options.js';
import { formatTable, recordLine, valueJson } from '../../src/cli/output.js';
import type { ConsumedRecord } from '../../src/log/log.js';

async function collect(chunks: (string | Buffer)[], maxLineBytes = 100): Promise<{ lineNo: number; text: string; tooLongBytes?: number }[]> {
  const out: { lineNo: number; text: string; tooLongBytes?: number }[] = [];
  for await (const group of readLines(Readable.from(chunks.map((c) => Buffer.from(c))), maxLineBytes)) {
    for (const l of group) out.push({ lineNo: l.lineNo, text: l.bytes.toString('utf8'), ...(l.tooLongBytes !== undefined && { tooLongBytes: l.tooLongBytes }) });
  }
  return out;
}

describe('readLines', () => {
  it('splits across chunk boundaries, strips CR and a BOM, keeps a last line without newline', async () => {
    expect(await collect(['\uFEFF{"a"', ':1}\r', '\n\n{"b":2}\n{"c', '":3}'])).toEqual([
      { lineNo: 1, text: '{"a":1}' },
      { lineNo: 2, text: '' },
      { lineNo: 3, text: '{"b":2}' },
      { lineNo: 4, text: '{"c":3}' },
    ]);
  });

  it('drops the bytes of an over-long line while reading but reports it with its length', async () => {
    const long = 'x'.repeat(250);
    expect(await collect(['ok\n', long.slice(0, 120), long.slice(120), '\nafter\n'], 100)).toEqual([
      { lineNo: 1, text: 'ok' },
      { lineNo: 2, text: '', tooLongBytes: 250 },
      { lineNo: 3, text: 'after' },
    ]);
    expect(await collect([`${'y'.repeat(101)}\n`], 100)).toEqual([{ lineNo: 1, text: '', tooLongBytes: 101 }]);
  });
});

describe('eventFromLine', () => {
  const stamp = ingestStamp(1_700_000_000_000);
  const line = (s: string): Buffer => trimLine(Buffer.from(s));

  it('keeps the line bytes as the value and takes key and time from fields', () => {
    const r = eventFromLine(line('  {"u":"ana","t":"2024-05-01T00:00:00Z"} '), { keyField: 'u', timeField: 't' }, stamp);
    expect(isRejection(r)).toBe(false);
    if (isRejection(r)) return;
    expect(Buffer.from(r.value!).toString()).toBe('{"u":"ana","t":"2024-05-01T00:00:00Z"}');
    expect(Buffer.from(r.key!).toString()).toBe('ana');
    expect(r.timestampMs).toBe(1714521600000);
    expect(r.headers).toEqual(stamp.headers);
    const numeric = eventFromLine(line('{"u":42,"t":1714521600123}'), { keyField: 'u', timeField: 't' }, stamp);
    expect(numeric).toMatchObject({ key: Buffer.from('42'), timestampMs: 1714521600123 });
    // Missing fields: null key (round-robin) and append time.
    expect(eventFromLine(line('{}'), { keyField: 'u', timeField: 't' }, stamp)).toMatchObject({ key: null });
    expect(eventFromLine(line('{}'), { timeField: 't' }, stamp)).not.toHaveProperty('timestampMs');
  });

  it('refuses malformed lines with a code and a reason', () => {
    const codeOf = (s: string | Buffer, opts = {}): unknown => {
      const r = eventFromLine(typeof s === 'string' ? line(s) : s, opts, stamp);
      return isRejection(r) ? r.code : 'ok';
    };
    expect(codeOf('{"a":')).toBe(ErrorCodes.MALFORMED_JSON);
    expect(codeOf(Buffer.from([0x22, 0xff, 0x22]))).toBe(ErrorCodes.MALFORMED_JSON);
    expect(codeOf('[1,2]', { keyField: 'k' })).toBe(ErrorCodes.MALFORMED_JSON);
    expect(codeOf('[1,2]')).toBe('ok');
    expect(codeOf('{"t":"2024-05-01T00:00:00"}', { timeField: 't' })).toBe(ErrorCodes.INVALID_EVENT_TIME);
    expect(codeOf('{"k":{"x":1}}', { keyField: 'k' })).toBe(ErrorCodes.SCHEMA_VIOLATION);
    expect(codeOf(`"${'x'.repeat(Limits.maxRecordBytes)}"`)).toBe(ErrorCodes.RECORD_TOO_LARGE);
  });
});

describe('parseStartPosition', () => {
  it('reads earliest, latest, offsets, ISO times and @epoch ms', () => {
    expect(parseStartPosition('earliest')).toEqual({ kind: 'earliest' });
    expect(parseStartPosition('latest')).toEqual({ kind: 'latest' });
    expect(parseStartPosition('42')).toEqual({ kind: 'offset', offset: 42 });
    expect(parseStartPosition('2024-05-01')).toEqual({ kind: 'time', timestampMs: 1714521600000 });
    expect(parseStartPosition('2024-05-01T02:00:00+02:00')).toEqual({ kind: 'time', timestampMs: 1714521600000 });
    expect(parseStartPosition('@1714521600000')).toEqual({ kind: 'time', timestampMs: 1714521600000 });
    expect(() => parseStartPosition('2024-05-01T00:00:00')).toThrow(/ISO-8601/);
    expect(() => parseStartPosition('-1')).toThrow();
  });
});

describe('tail output', () => {
  const record = (value: Uint8Array | null, extra: Partial<ConsumedRecord> = {}): ConsumedRecord => ({
    topic: 't',
    partition: 1,
    offset: 7,
    timestampMs: 1714521600000,
    key: Buffer.from('k'),
    value,
    headers: [],
    ...extra,
  });

  it('prints JSON values as JSON (digits kept), other text as strings, other bytes as base64', () => {
    expect(valueJson(Buffer.from('{"big":12345678901234567890}'), 'auto')).toBe('{"big":12345678901234567890}');
    expect(valueJson(Buffer.from('{\n  "a": 1\n}'), 'auto')).toBe('{"a":1}');
    expect(valueJson(Buffer.from('hello'), 'auto')).toBe('"hello"');
    expect(valueJson(Buffer.from('{"a":1}'), 'string')).toBe('"{\\"a\\":1}"');
    expect(valueJson(Buffer.from([0xff, 0x00]), 'auto')).toBe('{"base64":"/wA="}');
    expect(valueJson(Buffer.from('hi'), 'base64')).toBe('"aGk="');
    expect(valueJson(null, 'auto')).toBe('null');
  });

  it('prints one NDJSON line per record, with repeated headers as arrays', () => {
    const line = recordLine(
      record(Buffer.from('{"a":1}'), {
        key: Buffer.from([0xfe]),
        headers: [
          { key: 'h', value: Buffer.from('1') },
          { key: 'h', value: Buffer.from('2') },
          { key: '__proto__', value: Buffer.from('x') },
        ],
      }),
      'auto',
    );
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({
      partition: 1,
      offset: 7,
      timestamp: 1714521600000,
      key: { base64: '/g==' },
      value: { a: 1 },
      headers: JSON.parse('{"h":["1","2"],"__proto__":"x"}'),
    });
    expect(JSON.parse(recordLine(record(null, { key: null }), 'auto'))).toMatchObject({ key: null, value: null, headers: {} });
  });

  it('aligns tables, numbers to the right', () => {
    expect(formatTable(['NAME', 'N'], [['a', '1'], ['bbb', '100']])).toBe('NAME    N\na       1\nbbb   100\n');
  });
});
