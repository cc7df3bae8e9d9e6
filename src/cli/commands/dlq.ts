/**
 * `freshet dlq list|show|replay`: dead-letter topics (`<topic>.dlq`) with their counts and reasons, their
 * records with why, where and by which check they were rejected, and replay to the original topic (so
 * the records run through the pipeline's checks again). list and show open the log read-only (they work
 * next to a running server or pipeline); replay writes, so it takes the data directory's lock.
 */
import { isUtf8 } from 'node:buffer';
import { Command, Option } from 'commander';
import { unpack } from 'msgpackr';
import type { EventLog } from '../../log/log.js';
import type { StoredDeadLetter } from '../../quality/dead-letter.js';
import { listDeadLetterTopics, readDeadLetters, resolveDeadLetterTopic } from '../../quality/dlq-tools.js';
import { QualityLimits } from '../../quality/limits.js';
import { loadFixModule, replayDeadLetters, type ReplayResult } from '../../quality/replay.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { formatCount, formatTable, plural, printErr, type ValueFormat, valueJson, writeOut } from '../output.js';

interface ListOptions extends CommonOptions {
  json?: boolean;
  scan: number;
}

interface ShowOptions extends CommonOptions {
  limit: number;
  reason?: string;
  check?: string;
  valueFormat: ValueFormat;
}

interface ReplayOptions extends CommonOptions {
  onlyReason?: string;
  fix?: string;
  to?: string;
  dryRun?: boolean;
  json?: boolean;
}

async function withLog<T>(options: CommonOptions, readOnly: boolean, fn: (log: EventLog) => Promise<T>): Promise<T> {
  const log = await openLog({ dataDir: resolveDataDir(options), readOnly });
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

/**
 * The `dlq` command and its subcommands.
 *
 * @example
 * ```sh
 * freshet dlq list
 * freshet dlq show orders --reason duplicate --limit 5
 * freshet dlq replay orders --only-reason 'amount is outside' --fix ./fix-amount.mjs
 * ```
 */
export function dlqCommand(): Command {
  const dlq = new Command('dlq').description('inspect and replay dead-letter topics (<topic>.dlq)');

  withCommonOptions(
    dlq
      .command('list')
      .description('dead-letter topics with their record counts, records not yet replayed, and top reasons')
      .option('--json', 'one JSON object per topic (NDJSON) instead of a table')
      .option('--scan <n>', 'count reasons over at most this many of the newest records per topic', parsePositiveInt, QualityLimits.listScanRecords),
  ).action(async (options: ListOptions) => {
    await withLog(options, true, async (log) => {
      const summaries = await listDeadLetterTopics(log, { scanRecords: options.scan });
      if (options.json) {
        await writeOut(summaries.map((s) => `${JSON.stringify(s)}\n`).join(''));
        return;
      }
      if (summaries.length === 0) {
        await writeOut('no dead-letter topics\n');
        return;
      }
      const rows = summaries.map((s) => [
        s.topic,
        formatCount(s.records),
        formatCount(s.pending),
        s.topReasons.map((r) => `${r.reason} (${formatCount(r.count)})`).join('; ') || '-',
      ]);
      await writeOut(formatTable(['TOPIC', 'RECORDS', 'PENDING', 'TOP REASONS'], rows));
    });
  });

  withCommonOptions(
    dlq
      .command('show')
      .description('print dead letters as NDJSON: reason, code, check, stage, original topic/partition/offset, and the payload')
      .argument('<topic>', 'the dead-letter topic, or the topic whose dead letters to show (orders or orders.dlq)')
      .option('-n, --limit <n>', 'print at most this many records', parsePositiveInt, QualityLimits.showDefaultLimit)
      .option('--reason <text>', 'only records whose reason contains this text (case-insensitive)')
      .option('--check <name>', 'only records rejected by this check')
      .addOption(
        new Option('--value-format <format>', 'how payloads print: auto (JSON when it parses, else string) | string | base64').choices(['auto', 'string', 'base64']).default('auto'),
      ),
  ).action(async (topic: string, options: ShowOptions) => {
    await withLog(options, true, async (log) => {
      const dlqTopic = await resolveDeadLetterTopic(log, topic);
      const letters = await readDeadLetters(log, dlqTopic, {
        limit: options.limit,
        ...(options.reason !== undefined && { reason: options.reason }),
        ...(options.check !== undefined && { check: options.check }),
      });
      await writeOut(letters.map((l) => letterLine(l, options.valueFormat)).join(''));
    });
  });

  withCommonOptions(
    dlq
      .command('replay')
      .description('re-submit dead letters to the topic they came from (records already replayed are skipped)')
      .argument('<topic>', 'the dead-letter topic, or the topic whose dead letters to replay (orders or orders.dlq)')
      .option('--only-reason <text>', 'only records whose reason contains this text (case-insensitive); the others stay pending')
      .option('--fix <module>', 'a JS/TS module exporting a function value => value | null (null drops the record)')
      .option('--to <topic>', 'send to this topic instead of each record’s original topic')
      .option('--dry-run', 'report what would be replayed; write nothing')
      .option('--json', 'print the result as JSON'),
  ).action(async (topic: string, options: ReplayOptions) => {
    const fix = options.fix !== undefined ? await loadFixModule(options.fix) : undefined;
    await withLog(options, options.dryRun === true, async (log) => {
      const dlqTopic = await resolveDeadLetterTopic(log, topic);
      const result = await replayDeadLetters(log, dlqTopic, {
        ...(options.onlyReason !== undefined && { onlyReason: options.onlyReason }),
        ...(fix !== undefined && { fix }),
        ...(options.to !== undefined && { to: options.to }),
        dryRun: options.dryRun === true,
      });
      if (options.json) await writeOut(`${JSON.stringify(result)}\n`);
      else printErr(summary(result));
    });
  });

  return dlq;
}

function summary(r: ReplayResult): string {
  const verb = r.dryRun ? 'would replay' : 'replayed';
  const targets = Object.entries(r.byTopic).map(([t, n]) => `${formatCount(n)} to '${t}'`);
  const parts = [`${verb} ${plural(r.replayed, 'record')} from '${r.dlqTopic}'${targets.length > 0 ? ` (${targets.join(', ')})` : ''}`];
  if (r.dropped > 0) parts.push(`${formatCount(r.dropped)} dropped by the fix`);
  if (r.skipped > 0) parts.push(`${formatCount(r.skipped)} not matching --only-reason`);
  if (r.noTarget > 0) parts.push(`${formatCount(r.noTarget)} with no original topic (use --to)`);
  parts.push(`${formatCount(r.pending)} pending`);
  return parts.join('; ');
}

/** Text when UTF-8, else `{ "base64": ... }` (as `tail` prints keys). */
function keyJson(key: Uint8Array | null): string {
  if (key === null) return 'null';
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return JSON.stringify(isUtf8(buf) ? buf.toString('utf8') : { base64: buf.toString('base64') });
}

/** One NDJSON line of `dlq show`. */
function letterLine(l: StoredDeadLetter, format: ValueFormat): string {
  let value: string;
  if (l.payload === 'msgpack' && l.value !== null && format === 'auto') {
    try {
      value = JSON.stringify(unpack(l.value)) ?? 'null';
    } catch {
      value = valueJson(l.value, 'base64');
    }
  } else {
    value = valueJson(l.value, format);
  }
  const fields = {
    partition: l.dlqPartition,
    offset: l.dlqOffset,
    timestamp: l.timestampMs,
    reason: l.reason,
    code: l.code ?? null,
    check: l.check ?? null,
    stage: l.stage ?? null,
    topic: l.topic ?? null,
    sourcePartition: l.partition ?? null,
    sourceOffset: l.offset ?? null,
    payload: l.payload ?? 'original',
  };
  const head = JSON.stringify(fields);
  return `${head.slice(0, -1)},"key":${keyJson(l.key)},"value":${value}}\n`;
}
