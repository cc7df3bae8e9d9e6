/**
 * `freshet savepoint create|list|delete`: named checkpoints kept until deleted, to restart a pipeline
 * from (`freshet run --from-savepoint <name>`), also after a code change. `create` asks the running
 * pipeline for one through a request file, or, when none runs, copies its newest complete checkpoint
 * (docs/state.md describes the protocol).
 */
import fs from 'node:fs';
import { Command } from 'commander';
import { type ErrorCode, ErrorCodes, FreshetError } from '../../core/errors.js';
import { CheckpointStore, checkpointDir, checkpointWriterPid, requestSavepoint } from '../../state/checkpoint-store.js';
import { StateLimits } from '../../state/limits.js';
import { type CommonOptions, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { formatBytes, formatTable, writeOut } from '../output.js';
import { checkpointPipelines } from './checkpoints.js';

interface PipelineOptions extends CommonOptions {
  pipeline: string;
  json?: boolean;
  timeoutMs: number;
}

async function withStore<T>(dataDir: string, pipeline: string, readOnly: boolean, fn: (store: CheckpointStore) => Promise<T>): Promise<T> {
  const store = await CheckpointStore.open({ dir: checkpointDir(dataDir, pipeline), readOnly });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function savepointCommand(): Command {
  const savepoint = new Command('savepoint').description('create, list and delete savepoints (named checkpoints kept until deleted)');

  withCommonOptions(
    savepoint
      .command('create')
      .description('take a savepoint of a pipeline: from the running pipeline, else from its newest complete checkpoint')
      .argument('<name>', 'savepoint name: 1-200 of [a-zA-Z0-9._-]')
      .requiredOption('--pipeline <name>', 'the pipeline')
      .option('--timeout-ms <ms>', 'how long to wait for a running pipeline to take it', parsePositiveInt, StateLimits.savepointRequestTimeoutMs),
  ).action(async (name: string, options: PipelineOptions) => {
    const dataDir = resolveDataDir(options);
    const dir = checkpointDir(dataDir, options.pipeline);
    if (!fs.existsSync(dir)) throw new FreshetError(ErrorCodes.CHECKPOINT_NOT_FOUND, `pipeline '${options.pipeline}' has no checkpoints in ${dataDir}`);
    const pid = checkpointWriterPid(dir);
    if (pid !== null) {
      const answer = await requestSavepoint(dir, name, options.timeoutMs);
      if (answer === null) {
        throw new FreshetError(ErrorCodes.CHECKPOINT_LOCKED, `pipeline '${options.pipeline}' (process ${pid}) did not take savepoint '${name}' within ${options.timeoutMs} ms`);
      }
      if (!answer.ok) throw new FreshetError((answer.code as ErrorCode | undefined) ?? ErrorCodes.INTERNAL, answer.error);
      await writeOut(`created savepoint '${name}' of pipeline '${options.pipeline}' at checkpoint ${answer.checkpointId} (taken by the running pipeline, process ${pid})\n`);
      return;
    }
    const info = await withStore(dataDir, options.pipeline, false, (store) => store.createSavepoint(name));
    await writeOut(`created savepoint '${name}' of pipeline '${options.pipeline}' from checkpoint ${info.checkpointId} (no pipeline running: copied the newest complete checkpoint)\n`);
  });

  withCommonOptions(
    savepoint
      .command('list')
      .description('list savepoints')
      .option('--pipeline <name>', 'only this pipeline (default: every pipeline)')
      .option('--json', 'print one JSON object per savepoint (NDJSON)'),
  ).action(async (options: Partial<PipelineOptions> & CommonOptions) => {
    const dataDir = resolveDataDir(options);
    const rows: string[][] = [];
    for (const pipeline of options.pipeline !== undefined ? [options.pipeline] : checkpointPipelines(dataDir)) {
      if (!fs.existsSync(checkpointDir(dataDir, pipeline))) continue;
      for (const s of await withStore(dataDir, pipeline, true, (store) => store.listSavepoints())) {
        if (options.json) await writeOut(`${JSON.stringify({ pipeline, ...s })}\n`);
        else rows.push([pipeline, s.savepoint ?? '-', String(s.checkpointId), s.createdAtMs === null ? '-' : new Date(s.createdAtMs).toISOString(), formatBytes(s.sizeBytes), s.status]);
      }
    }
    if (options.json) return;
    await writeOut(rows.length === 0 ? 'no savepoints\n' : formatTable(['PIPELINE', 'SAVEPOINT', 'CHECKPOINT', 'TIME', 'SIZE', 'STATUS'], rows));
  });

  withCommonOptions(
    savepoint.command('delete').description('delete a savepoint').argument('<name>', 'savepoint name').requiredOption('--pipeline <name>', 'the pipeline'),
  ).action(async (name: string, options: PipelineOptions) => {
    const dataDir = resolveDataDir(options);
    if (!fs.existsSync(checkpointDir(dataDir, options.pipeline))) throw new FreshetError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no savepoint '${name}' (pipeline '${options.pipeline}' has no checkpoints)`);
    await withStore(dataDir, options.pipeline, true, (store) => store.deleteSavepoint(name));
    await writeOut(`deleted savepoint '${name}' of pipeline '${options.pipeline}'\n`);
  });

  return savepoint;
}
