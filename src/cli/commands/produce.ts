/**
 * `freshet produce <topic> [file]`: appends NDJSON events, one per line, from a file or stdin.
 *
 * Malformed lines (see docs/cli.md): by default nothing malformed is ever appended and no batch is
 * appended in part. A regular file is checked in full first and, if any line is bad, nothing is
 * appended. Stdin cannot be read twice: every line before the first bad one is appended, none after.
 * With `--dlq`, bad lines go to a dead-letter topic with the reason, and the rest is appended.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { Command } from 'commander';
import { ErrorCodes, FreshetError, isFreshetError } from '../../core/errors.js';
import { Limits } from '../../core/limits.js';
import type { EventLog, ProducerRecord, RecordHeader } from '../../log/log.js';
import { systemClock } from '../../core/clock.js';
import { FreshetHeaders } from '../../core/headers.js';
import { type EventOptions, eventFromLine, IngestHeaders, ingestStamp, type IngestStamp, isRejection, MAX_REASON_CHARS, type Rejection, trimLine } from '../events.js';
import { flushWhenIdle, readLines } from '../lines.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, type FsyncPolicy, parseFsync, parseNonNegativeInt, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { CliExit, formatBytes, formatCount, plural, printErr, UsageError } from '../output.js';
import { BatchProducer } from '../producer.js';
import { elapsedSeconds, ProgressReporter } from '../progress.js';
import { onShutdown } from '../signals.js';

interface ProduceOptions extends CommonOptions {
  keyField?: string;
  timeField?: string;
  partition?: number;
  dlq?: string | true;
  batchSize: number;
  fsync?: FsyncPolicy;
  progress?: boolean;
  quiet?: boolean;
}

/** Bytes of values per append, at most (the record count bound is `--batch-size`). */
const BATCH_BYTES = 1024 * 1024;
/** Appends in flight at once. */
const MAX_IN_FLIGHT = 8;
/** Malformed lines listed individually before the summary. */
const MAX_LISTED_ERRORS = 10;
/** When the input pauses this long, what is batched is appended without waiting for a full batch. */
const LINGER_MS = 50;
/** Read chunk size for files. */
const READ_CHUNK_BYTES = 256 * 1024;

export function produceCommand(): Command {
  return withCommonOptions(
    new Command('produce')
      .description('append NDJSON events (one JSON value per line) to a topic, from a file or stdin')
      .argument('<topic>', 'topic to append to (must exist)')
      .argument('[file]', "NDJSON file; omit it or use '-' for stdin")
      .option('-k, --key-field <field>', 'take the record key from this top-level field (string or number)')
      .option('-t, --time-field <field>', 'take the event time from this top-level field (ISO-8601 with offset, or epoch ms)')
      .option('-p, --partition <n>', 'append every event to this partition (default: by key, round-robin without)', parseNonNegativeInt)
      .option('--dlq [topic]', 'send malformed lines to a dead-letter topic (default <topic>.dlq) instead of stopping')
      .option('--batch-size <n>', 'events per append', parsePositiveInt, 1000)
      .option('--fsync <policy>', 'when an append counts as done: always | interval | never (default always)', parseFsync)
      .option('--progress', 'print progress every second even when stderr is not a terminal')
      .option('-q, --quiet', 'do not print the summary'),
  ).action(async (topic: string, file: string | undefined, options: ProduceOptions) => {
    await produce(topic, file === '-' ? undefined : file, options);
  });
}

async function produce(topic: string, file: string | undefined, options: ProduceOptions): Promise<void> {
  const dlqTopic = options.dlq === undefined ? undefined : options.dlq === true ? `${topic}.dlq` : options.dlq;
  if (dlqTopic === topic) throw new UsageError('--dlq must name a topic other than the one produced to');
  if (options.batchSize > Limits.maxBatchRecords) throw new UsageError(`--batch-size must be at most ${Limits.maxBatchRecords}`);
  const regularFile = file !== undefined && checkReadableFile(file);
  const source = file ?? '-';
  const eventOptions: EventOptions = {
    ...(options.keyField !== undefined && { keyField: options.keyField }),
    ...(options.timeField !== undefined && { timeField: options.timeField }),
  };

  const startedMs = performance.now();
  const log = await openLog({ dataDir: resolveDataDir(options), ...(options.fsync && { fsync: options.fsync }) }).catch((error: unknown) => {
    if (isFreshetError(error, ErrorCodes.LOG_LOCKED)) {
      // Most likely `freshet serve` owns the directory: say how to reach it instead.
      throw new FreshetError(
        error.code,
        `${error.message}; if that is 'freshet serve', send the events to it over HTTP instead (POST /v1/topics/${topic}/events, see docs/ingest.md)`,
        { ...error.details },
      );
    }
    throw error;
  });
  try {
    const description = await log.describeTopic(topic);
    if (options.partition !== undefined && options.partition >= description.config.partitions) {
      throw new FreshetError(ErrorCodes.UNKNOWN_PARTITION, `topic '${topic}' has no partition ${options.partition} (it has ${description.config.partitions})`, {
        topic,
        partition: options.partition,
      });
    }
    if (dlqTopic !== undefined) await log.ensureTopic(dlqTopic, { partitions: 1 });

    if (regularFile && dlqTopic === undefined) await checkWholeFile(file, eventOptions);

    const input: Readable = file === undefined ? process.stdin : fs.createReadStream(file, { highWaterMark: READ_CHUNK_BYTES });
    if (file === undefined && process.stdin.isTTY) printErr('reading NDJSON from stdin (end with Ctrl-D)');
    await appendAll(log, input, { topic, source, dlqTopic, eventOptions, options, startedMs });
  } finally {
    await log.close();
  }
}

/** True when `file` is a regular file (it can be read twice); throws a usage error when unreadable. */
function checkReadableFile(file: string): boolean {
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw new UsageError(`'${file}' is a directory, not an NDJSON file`);
    fs.accessSync(file, fs.constants.R_OK);
    return stat.isFile();
  } catch (error) {
    if (error instanceof FreshetError) throw error;
    throw new UsageError(`cannot read '${file}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { file });
  }
}

interface LineError {
  readonly lineNo: number;
  readonly rejection: Rejection;
}

function lineOutcome(bytes: Buffer, tooLongBytes: number | undefined, eventOptions: EventOptions, stamp: IngestStamp): Rejection | ProducerRecord | null {
  if (tooLongBytes !== undefined) {
    return { code: ErrorCodes.RECORD_TOO_LARGE, message: `line of ${tooLongBytes} bytes exceeds the ${Limits.maxRecordBytes}-byte record limit` };
  }
  const line = trimLine(bytes);
  if (line.length === 0) return null;
  return eventFromLine(line, eventOptions, stamp);
}

/** First pass over a regular file: throws (having appended nothing) when any line is malformed. */
async function checkWholeFile(file: string, eventOptions: EventOptions): Promise<void> {
  const errors: LineError[] = [];
  let count = 0;
  let lines = 0;
  const stamp = ingestStamp(systemClock.nowMs());
  for await (const group of readLines(fs.createReadStream(file, { highWaterMark: READ_CHUNK_BYTES }), Limits.maxRecordBytes)) {
    for (const line of group) {
      lines = line.lineNo;
      const outcome = lineOutcome(line.bytes, line.tooLongBytes, eventOptions, stamp);
      if (outcome !== null && isRejection(outcome)) {
        count++;
        if (errors.length < MAX_LISTED_ERRORS) errors.push({ lineNo: line.lineNo, rejection: outcome });
      }
    }
  }
  if (count === 0) return;
  for (const e of errors) printErr(`${file}:${e.lineNo}: ${e.rejection.code}: ${e.rejection.message}`);
  if (count > errors.length) printErr(`... and ${count - errors.length} more`);
  const first = errors[0]!;
  throw new FreshetError(
    first.rejection.code,
    `${count} of ${lines} lines of ${file} are malformed (first: line ${first.lineNo}); nothing was appended (use --dlq to append the valid lines and dead-letter the rest)`,
    { file, line: first.lineNo, malformedLines: count },
  );
}

interface AppendContext {
  readonly topic: string;
  /** `-` for stdin. */
  readonly source: string;
  readonly dlqTopic: string | undefined;
  readonly eventOptions: EventOptions;
  readonly options: ProduceOptions;
  /** `performance.now()` when the command started (the summary's time includes the check pass). */
  readonly startedMs: number;
}

async function appendAll(log: EventLog, input: Readable, ctx: AppendContext): Promise<void> {
  const { topic, source, dlqTopic, eventOptions, options } = ctx;
  const producer = new BatchProducer(log, {
    topic,
    ...(options.partition !== undefined && { partition: options.partition }),
    batchRecords: options.batchSize,
    batchBytes: BATCH_BYTES,
    maxInFlight: MAX_IN_FLIGHT,
  });
  const dlq = dlqTopic === undefined ? undefined : new BatchProducer(log, { topic: dlqTopic, batchRecords: options.batchSize, batchBytes: BATCH_BYTES, maxInFlight: 2 });
  const progress = options.progress || process.stderr.isTTY ? new ProgressReporter(() => ({ records: producer.stats.ackedRecords, bytes: producer.stats.ackedBytes })).start() : undefined;

  let interrupted: string | undefined;
  const disposeSignals = onShutdown((signal) => {
    interrupted = signal;
    input.destroy();
  });
  let lastLine = 0;
  let malformed = 0;
  let summaryPrinted = false;
  try {
    try {
      const onIdle = async (): Promise<void> => {
        await producer.sendPending();
        await dlq?.sendPending();
      };
      for await (const group of flushWhenIdle(readLines(input, Limits.maxRecordBytes), LINGER_MS, onIdle)) {
        // After a signal, even lines already read are left out: the last one may be cut short.
        if (interrupted) break;
        const nowMs = systemClock.nowMs();
        const stamp = ingestStamp(nowMs);
        for (const line of group) {
          lastLine = line.lineNo;
          const outcome = lineOutcome(line.bytes, line.tooLongBytes, eventOptions, stamp);
          if (outcome === null) continue;
          if (!isRejection(outcome)) {
            await producer.add(outcome, line.lineNo);
            continue;
          }
          malformed++;
          if (dlq) {
            await dlq.add(deadLetter(trimLine(line.bytes), outcome, { topic, source, lineNo: line.lineNo, nowMs }), line.lineNo);
            continue;
          }
          // Stop: append every line before this one, nothing after.
          await producer.flush();
          printSummary(ctx, producer.stats.ackedRecords, producer.stats.ackedBytes, progress);
          summaryPrinted = true;
          throw new FreshetError(
            outcome.code,
            `${source === '-' ? 'stdin' : source}:${line.lineNo}: ${outcome.message}; ${appendedBefore(line.lineNo)} (fix the line and resume from it, or use --dlq)`,
            { line: line.lineNo, appendedRecords: producer.stats.ackedRecords },
          );
        }
      }
    } catch (error) {
      if (!interrupted || error instanceof FreshetError) throw error;
      // Destroying the input on a signal ends the read with an error: that is the interruption itself.
    }
    await producer.flush();
    if (dlq) await dlq.flush();
  } catch (error) {
    await producer.drain();
    if (dlq) await dlq.drain();
    progress?.stop();
    if (!summaryPrinted) {
      const s = producer.stats;
      printErr(
        s.ackedRecords === 0
          ? 'nothing was acknowledged before the error; later lines may or may not be in the log'
          : `appended ${plural(s.ackedRecords, 'record')} (input lines 1-${s.ackedThroughLine}) before the error; later lines may or may not be in the log`,
      );
    }
    throw error;
  } finally {
    disposeSignals();
    progress?.stop();
  }

  printSummary(ctx, producer.stats.ackedRecords, producer.stats.ackedBytes, progress);
  if (malformed > 0 && dlqTopic !== undefined) printErr(`${plural(malformed, 'malformed line')} went to dead-letter topic '${dlqTopic}'`);
  if (interrupted) {
    printErr(`interrupted by ${interrupted}: input lines 1-${lastLine} were appended, the rest of the input was not read`);
    throw new CliExit(interrupted === 'SIGINT' ? 130 : 143);
  }
}

function appendedBefore(lineNo: number): string {
  if (lineNo === 1) return 'nothing was appended';
  if (lineNo === 2) return 'line 1 was appended, nothing after it';
  return `lines 1-${lineNo - 1} were appended, nothing after them`;
}

function printSummary(ctx: AppendContext, records: number, bytes: number, progress: ProgressReporter | undefined): void {
  progress?.stop();
  if (ctx.options.quiet) return;
  const seconds = elapsedSeconds(ctx.startedMs);
  const rate = records / Math.max(seconds, 1e-3);
  printErr(`produced ${plural(records, 'record')} (${formatBytes(bytes)}) to '${ctx.topic}' in ${seconds.toFixed(2)} s (${formatCount(rate)} records/s)`);
}

/** Headers of a dead letter beyond ingest's own: the input file (`-` for stdin) and 1-based line. */
export const ProduceDlqHeaders = { FILE: FreshetHeaders.DLQ_FILE, LINE: FreshetHeaders.DLQ_LINE } as const;

/**
 * A dead-letter record, shaped as ingest's (same `freshet.dlq.*` headers, stage `produce`): the
 * line's original bytes, why it was refused and where it came from. A line too large for the log
 * keeps only the headers (its bytes were never held in memory).
 */
function deadLetter(value: Buffer, rejection: Rejection, at: { topic: string; source: string; lineNo: number; nowMs: number }): ProducerRecord {
  const headers: RecordHeader[] = [
    { key: IngestHeaders.DLQ_REASON, value: Buffer.from(rejection.message.slice(0, MAX_REASON_CHARS)) },
    { key: IngestHeaders.DLQ_CODE, value: Buffer.from(rejection.code) },
    { key: IngestHeaders.DLQ_STAGE, value: Buffer.from('produce') },
    { key: IngestHeaders.DLQ_TOPIC, value: Buffer.from(at.topic) },
    { key: ProduceDlqHeaders.FILE, value: Buffer.from(at.source) },
    { key: ProduceDlqHeaders.LINE, value: Buffer.from(String(at.lineNo)) },
    { key: IngestHeaders.INGEST_MS, value: Buffer.from(String(at.nowMs)) },
  ];
  let headerBytes = 0;
  for (const h of headers) headerBytes += Buffer.byteLength(h.key) + h.value.length;
  return { key: null, value: value.length + headerBytes <= Limits.maxRecordBytes ? value : new Uint8Array(0), timestampMs: at.nowMs, headers };
}
