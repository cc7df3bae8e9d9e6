/**
 * `freshet checkpoints list [--pipeline <name>] [--json]`: the checkpoints (and savepoints) kept under
 * <data-dir>/checkpoints/<pipeline>/, verified file by file (docs/state.md). Read-only: it works while
 * the pipeline runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { type CheckpointInfo, CheckpointStore, checkpointDir } from '../../state/checkpoint-store.js';
import { type CommonOptions, resolveDataDir, withCommonOptions } from '../options.js';
import { formatBytes, formatTable, writeOut } from '../output.js';

interface ListOptions extends CommonOptions {
  pipeline?: string;
  json?: boolean;
}

/** Pipelines that have a checkpoint directory, sorted. */
export function checkpointPipelines(dataDir: string): string[] {
  const root = path.join(dataDir, 'checkpoints');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/** Checkpoints then savepoints of one pipeline (read-only). */
export async function describeCheckpoints(dataDir: string, pipeline: string): Promise<CheckpointInfo[]> {
  const dir = checkpointDir(dataDir, pipeline);
  if (!fs.existsSync(dir)) return [];
  const store = await CheckpointStore.open({ dir, readOnly: true, onWarning: () => undefined });
  try {
    return [...(await store.list()), ...(await store.listSavepoints())];
  } finally {
    await store.close();
  }
}

function timeText(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z');
}

export function checkpointsCommand(): Command {
  const checkpoints = new Command('checkpoints').description('list the checkpoints and savepoints of pipelines');
  withCommonOptions(
    checkpoints
      .command('list')
      .description('list checkpoints and savepoints (id, time, size, complete/corrupt, savepoint name), verifying their checksums')
      .option('--pipeline <name>', 'only this pipeline (default: every pipeline with checkpoints)')
      .option('--json', 'print one JSON object per checkpoint (NDJSON)'),
  ).action(async (options: ListOptions) => {
    const dataDir = resolveDataDir(options);
    const pipelines = options.pipeline !== undefined ? [options.pipeline] : checkpointPipelines(dataDir);
    const rows: string[][] = [];
    for (const pipeline of pipelines) {
      for (const c of await describeCheckpoints(dataDir, pipeline)) {
        if (options.json) {
          await writeOut(`${JSON.stringify({ pipeline, ...c })}\n`);
          continue;
        }
        rows.push([pipeline, String(c.checkpointId), timeText(c.createdAtMs), formatBytes(c.sizeBytes), formatBytes(c.totalBytes), c.status, c.savepoint ?? '-']);
      }
    }
    if (options.json) return;
    if (rows.length === 0) {
      await writeOut(options.pipeline !== undefined ? `no checkpoints for pipeline '${options.pipeline}'\n` : 'no checkpoints\n');
      return;
    }
    await writeOut(formatTable(['PIPELINE', 'ID', 'TIME', 'SIZE', 'TOTAL', 'STATUS', 'SAVEPOINT'], rows));
  });
  return checkpoints;
}
