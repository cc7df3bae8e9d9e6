/**
 * `freshet tail <topic>`: prints records as NDJSON, one per line. Several partitions are merged by
 * timestamp (each partition keeps its own order). Opens the log read-only, so it works next to a
 * running `freshet serve` or `freshet produce` and, with `--follow`, sees what they append.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { EventLog } from '../../log/log.js';
import { earliestHead, PartitionCursor } from '../cursor.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, parseNonNegativeInt, parsePositiveInt, parseStartPosition, resolveDataDir, type StartPosition, withCommonOptions } from '../options.js';
import { CliExit, printErr, recordLine, type ValueFormat, writeOut } from '../output.js';
import { onShutdown } from '../signals.js';

interface TailOptions extends CommonOptions {
  from?: StartPosition;
  partition?: number;
  follow?: boolean;
  max?: number;
  valueFormat: ValueFormat;
  pollIntervalMs: number;
}

/** Output is handed to stdout in chunks of about this many characters. */
const OUTPUT_CHUNK_CHARS = 64 * 1024;

export function tailCommand(): Command {
  return withCommonOptions(
    new Command('tail')
      .description('print records of a topic as NDJSON, one per line')
      .argument('<topic>', 'topic to read')
      .option(
        '--from <position>',
        "where to start: earliest | latest | <offset> | <ISO-8601 time> | @<epoch ms> (default: earliest, or latest with --follow)",
        parseStartPosition,
      )
      .option('-p, --partition <n>', 'read only this partition (default: all, merged by timestamp)', parseNonNegativeInt)
      .option('-f, --follow', 'keep printing new records until SIGINT/SIGTERM')
      .option('-n, --max <n>', 'stop after printing this many records', parsePositiveInt)
      .addOption(
        new Option('--value-format <format>', 'how values print: auto (JSON when it parses, else string) | string | base64')
          .choices(['auto', 'string', 'base64'])
          .default('auto'),
      )
      .option('--poll-interval-ms <ms>', 'with --follow: wait this long when no new record arrived', parsePositiveInt, 200),
  ).action(async (topic: string, options: TailOptions) => {
    const log = await openLog({ dataDir: resolveDataDir(options), readOnly: true });
    try {
      await tail(log, topic, options);
    } finally {
      await log.close();
    }
  });
}

async function tail(log: EventLog, topic: string, options: TailOptions): Promise<void> {
  const description = await log.describeTopic(topic);
  const partitionCount = description.config.partitions;
  if (options.partition !== undefined && options.partition >= partitionCount) {
    throw new FreshetError(ErrorCodes.UNKNOWN_PARTITION, `topic '${topic}' has no partition ${options.partition} (it has ${partitionCount})`, {
      topic,
      partition: options.partition,
    });
  }
  const follow = options.follow === true;
  const from: StartPosition = options.from ?? (follow ? { kind: 'latest' } : { kind: 'earliest' });
  const partitions = options.partition !== undefined ? [options.partition] : Array.from({ length: partitionCount }, (_, p) => p);

  const cursors: PartitionCursor[] = [];
  let beyondEnd = 0;
  for (const p of partitions) {
    const start = await startOffset(log, topic, p, from);
    const latest = await log.latestOffset(topic, p);
    if (start > latest) beyondEnd++;
    cursors.push(new PartitionCursor(log, topic, p, start, follow ? Infinity : latest, (m) => printErr(`freshet: warning: ${m}`)));
  }
  if (from.kind === 'offset' && beyondEnd === cursors.length && from.offset >= 1e12) {
    printErr(`freshet: hint: offset ${from.offset} is beyond the end of every partition; to start at a time, write --from @${from.offset}`);
  }

  const abort = new AbortController();
  let stoppedBy: string | undefined;
  const disposeSignals = onShutdown((signal) => {
    stoppedBy = signal;
    abort.abort();
  });
  const max = options.max ?? Infinity;
  let printed = 0;
  let out = '';
  const emit = async (force: boolean): Promise<void> => {
    if (out.length > 0 && (force || out.length >= OUTPUT_CHUNK_CHARS)) {
      const text = out;
      out = '';
      await writeOut(text);
    }
  };

  try {
    if (!follow) {
      // Exact merge: a cursor that runs dry is refilled before the next pick.
      for (const c of cursors) await c.fetch();
      while (printed < max && !stoppedBy) {
        const c = earliestHead(cursors);
        if (!c) break;
        out += recordLine(c.next(), options.valueFormat);
        printed++;
        if (c.empty) await c.fetch();
        if (out.length >= OUTPUT_CHUNK_CHARS) await emit(false);
      }
    } else {
      // Rounds: fetch what is there now, print it merged, wait when nothing came.
      while (printed < max && !stoppedBy) {
        let fetched = 0;
        for (const c of cursors) if (c.empty) fetched += await c.fetch();
        let c = earliestHead(cursors);
        while (c && printed < max) {
          out += recordLine(c.next(), options.valueFormat);
          printed++;
          if (out.length >= OUTPUT_CHUNK_CHARS) await emit(false);
          c = earliestHead(cursors);
        }
        await emit(true);
        if (fetched === 0 && printed < max) {
          try {
            await sleep(options.pollIntervalMs, undefined, { signal: abort.signal });
          } catch {
            // aborted by a signal: the loop condition ends it
          }
        }
      }
    }
    await emit(true);
  } finally {
    disposeSignals();
  }
  if (stoppedBy && !follow) throw new CliExit(stoppedBy === 'SIGINT' ? 130 : 143);
}

/** The first offset to print in one partition. */
async function startOffset(log: EventLog, topic: string, partition: number, from: StartPosition): Promise<number> {
  switch (from.kind) {
    case 'earliest':
      return log.earliestOffset(topic, partition);
    case 'latest':
      return log.latestOffset(topic, partition);
    case 'time':
      return (await log.offsetForTimestamp(topic, partition, from.timestampMs)) ?? (await log.latestOffset(topic, partition));
    case 'offset': {
      const earliest = await log.earliestOffset(topic, partition);
      if (from.offset >= earliest) return from.offset;
      printErr(`freshet: warning: partition ${partition}: offset ${from.offset} is below the earliest retained offset ${earliest}; starting there`);
      return earliest;
    }
  }
}
