/** `freshet topics create|list|describe|delete`. */
import { Command } from 'commander';
import type { EventLog, TopicConfig, TopicDescription } from '../../log/log.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { formatBytes, formatCount, formatTable, writeOut } from '../output.js';

interface CreateOptions extends CommonOptions {
  partitions: number;
  retentionMs?: number;
  retentionBytes?: number;
  segmentBytes?: number;
  ifNotExists?: boolean;
}

interface JsonOptions extends CommonOptions {
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

/** Records currently held by a topic (sum over partitions of latest - earliest). */
function totals(d: TopicDescription): { records: number; sizeBytes: number; segments: number } {
  let records = 0;
  let sizeBytes = 0;
  let segments = 0;
  for (const p of d.partitions) {
    records += p.latestOffset - p.earliestOffset;
    sizeBytes += p.sizeBytes;
    segments += p.segments;
  }
  return { records, sizeBytes, segments };
}

function configText(config: TopicConfig): string {
  const parts = [`partitions=${config.partitions}`];
  if (config.retentionMs !== undefined) parts.push(`retention.ms=${config.retentionMs}`);
  if (config.retentionBytes !== undefined) parts.push(`retention.bytes=${config.retentionBytes}`);
  if (config.segmentBytes !== undefined) parts.push(`segment.bytes=${config.segmentBytes}`);
  return parts.join(' ');
}

export function topicsCommand(): Command {
  const topics = new Command('topics').description('create, list, describe and delete topics');

  withCommonOptions(
    topics
      .command('create')
      .description('create a topic')
      .argument('<name>', 'topic name: 1-249 of [a-zA-Z0-9._-]')
      .option('-p, --partitions <n>', 'number of partitions', parsePositiveInt, 1)
      .option('--retention-ms <ms>', 'delete segments whose newest record is older than this', parsePositiveInt)
      .option('--retention-bytes <bytes>', 'delete the oldest segments while a partition is larger than this', parsePositiveInt)
      .option('--segment-bytes <bytes>', 'roll to a new segment file after this many bytes', parsePositiveInt)
      .option('--if-not-exists', 'succeed without changes when the topic already exists'),
  ).action(async (name: string, options: CreateOptions) => {
    const config: TopicConfig = {
      partitions: options.partitions,
      ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
      ...(options.retentionBytes !== undefined && { retentionBytes: options.retentionBytes }),
      ...(options.segmentBytes !== undefined && { segmentBytes: options.segmentBytes }),
    };
    await withLog(options, false, async (log) => {
      if (options.ifNotExists) {
        const existed = (await log.listTopics()).includes(name);
        const d = await log.ensureTopic(name, config);
        await writeOut(existed ? `topic '${name}' already exists (${configText(d.config)})\n` : `created topic '${name}' (${configText(d.config)})\n`);
      } else {
        await log.createTopic(name, config);
        await writeOut(`created topic '${name}' (${configText(config)})\n`);
      }
    });
  });

  withCommonOptions(
    topics.command('list').description('list topics with their partitions, records and size').option('--json', 'print one JSON object per topic (NDJSON)'),
  ).action(async (options: JsonOptions) => {
    await withLog(options, true, async (log) => {
      const descriptions: TopicDescription[] = [];
      for (const name of await log.listTopics()) descriptions.push(await log.describeTopic(name));
      if (options.json) {
        for (const d of descriptions) {
          const t = totals(d);
          await writeOut(`${JSON.stringify({ name: d.name, partitions: d.config.partitions, records: t.records, sizeBytes: t.sizeBytes, config: d.config })}\n`);
        }
        return;
      }
      if (descriptions.length === 0) {
        await writeOut('no topics\n');
        return;
      }
      const rows = descriptions.map((d) => {
        const t = totals(d);
        return [d.name, String(d.config.partitions), formatCount(t.records), formatBytes(t.sizeBytes)];
      });
      await writeOut(formatTable(['TOPIC', 'PARTITIONS', 'RECORDS', 'SIZE'], rows));
    });
  });

  withCommonOptions(
    topics
      .command('describe')
      .description('show a topic: config, and per partition its earliest/latest offsets, size and segments')
      .argument('<name>', 'topic name')
      .option('--json', 'print the description as JSON'),
  ).action(async (name: string, options: JsonOptions) => {
    await withLog(options, true, async (log) => {
      const d = await log.describeTopic(name);
      const t = totals(d);
      if (options.json) {
        await writeOut(`${JSON.stringify({ name: d.name, config: d.config, records: t.records, sizeBytes: t.sizeBytes, partitions: d.partitions })}\n`);
        return;
      }
      const rows = d.partitions.map((p) => [
        String(p.partition),
        String(p.earliestOffset),
        String(p.latestOffset),
        formatCount(p.latestOffset - p.earliestOffset),
        formatBytes(p.sizeBytes),
        String(p.segments),
      ]);
      await writeOut(
        `topic: ${d.name}\nconfig: ${configText(d.config)}\nrecords: ${formatCount(t.records)}  size: ${formatBytes(t.sizeBytes)}  segments: ${t.segments}\n\n` +
          formatTable(['PARTITION', 'EARLIEST', 'LATEST', 'RECORDS', 'SIZE', 'SEGMENTS'], rows),
      );
    });
  });

  withCommonOptions(topics.command('delete').description('delete a topic and all its records').argument('<name>', 'topic name')).action(
    async (name: string, options: CommonOptions) => {
      await withLog(options, false, async (log) => {
        await log.deleteTopic(name);
        await writeOut(`deleted topic '${name}'\n`);
      });
    },
  );

  return topics;
}
