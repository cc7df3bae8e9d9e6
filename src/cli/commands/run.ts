/**
 * `freshet run <pipeline-file>`: runs a pipeline module (its default export is a `pipeline(...)`) in this
 * process against the embedded log in --data-dir, until SIGINT/SIGTERM. With --bounded it processes what
 * the sources hold now, closes every window, and exits (a batch run of the same code). With --workers N
 * (N >= 2) the pipeline is split at its keyBys into stages joined by repartition topics, and its tasks run
 * on N worker threads (docs/adr/0007-workers.md); the results are the same as with one.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { PipelineDefinition } from '../../dsl/pipeline.js';
import { ParallelRunner } from '../../runtime/parallel/parallel-runner.js';
import { FileCheckpointStorage } from '../../runtime/checkpoint-files.js';
import { PipelineRunner } from '../../runtime/pipeline-runner.js';
import { LmdbStateBackend } from '../../state/lmdb/lmdb-backend.js';
import { openLog } from '../open-log.js';
import { type CommonOptions, type FsyncPolicy, parseFsync, parsePositiveInt, resolveDataDir, withCommonOptions } from '../options.js';
import { printErr } from '../output.js';
import { shutdownSignal } from '../signals.js';

interface RunOptions extends CommonOptions {
  from: 'earliest' | 'latest';
  bounded?: boolean;
  fsync?: FsyncPolicy;
  workers: number;
  checkpointInterval?: number;
  fromSavepoint?: string;
  allowNonRestoredState?: boolean;
  state: 'memory' | 'lmdb';
  stateCacheMb?: number;
}

/** Loads a pipeline module; TypeScript files are compiled on the fly (tsx). */
export async function loadPipeline(file: string): Promise<PipelineDefinition> {
  const url = pathToFileURL(path.resolve(file)).href;
  const mod = (/\.[mc]?ts$/.test(file) ? await (await import('tsx/esm/api')).tsImport(url, import.meta.url) : await import(url)) as {
    default?: unknown;
  };
  const definition = (mod.default as { default?: unknown } | undefined)?.default ?? mod.default;
  if (!definition || typeof (definition as PipelineDefinition).plan !== 'function') {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${file} has no default export made with pipeline(name, p => ...)`);
  }
  return definition as PipelineDefinition;
}

export function runCommand(): Command {
  return withCommonOptions(
    new Command('run')
      .description('run a pipeline module (default export of pipeline(...)) on the log in --data-dir')
      .argument('<file>', 'the pipeline module (.ts or .js)')
      .addOption(new Option('--from <position>', 'where sources without committed offsets start').choices(['earliest', 'latest']).default('earliest'))
      .option('--bounded', 'process what the sources hold now, close every window, and exit')
      .option('--fsync <policy>', 'always | interval | never (default always)', parseFsync)
      .option('--workers <n>', 'worker threads that split the partitions (repartition topics between stages)', parsePositiveInt, 1)
      .option('--checkpoint-interval <ms>', 'exactly-once: checkpoint state, offsets and outputs every <ms> (docs/exactly-once.md)', parsePositiveInt)
      .option('--from-savepoint <name>', 'start from a savepoint (freshet savepoint create) instead of the newest checkpoint')
      .option('--allow-non-restored-state', 'drop saved state of operators that are no longer in the pipeline')
      .addOption(new Option('--state <backend>', 'where tumbling/hopping window state lives: memory (the heap) or lmdb (on disk, for state larger than memory; docs/state.md)').choices(['memory', 'lmdb']).default('memory'))
      .option('--state-cache-mb <n>', 'with --state lmdb: memory budget of its cache in MiB (default 64)', parsePositiveInt),
  ).action(async (file: string, options: RunOptions) => {
    const definition = await loadPipeline(file);
    const dataDir = resolveDataDir(options);
    const checkpointed = options.checkpointInterval !== undefined || options.fromSavepoint !== undefined;
    const log = await openLog({ dataDir, ...(options.fsync !== undefined && { fsync: options.fsync }) });
    if (options.state === 'lmdb' && options.workers > 1) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, '--state lmdb runs in one process: it does not combine with --workers yet');
    }
    const signal = shutdownSignal();
    let storage: FileCheckpointStorage | undefined;
    let stateBackend: LmdbStateBackend | undefined;
    try {
      const plan = definition.plan();
      if (options.state === 'lmdb') {
        // Scratch: emptied on open and rebuilt from the checkpoint on restore (ADR 0012).
        stateBackend = LmdbStateBackend.open({
          path: path.join(dataDir, 'state', plan.pipeline),
          ...(options.stateCacheMb !== undefined ? { cacheBytes: options.stateCacheMb * 1024 * 1024 } : {}),
        });
      }
      if (checkpointed) {
        storage = await FileCheckpointStorage.open(plan, {
          dataDir,
          windowState: stateBackend !== undefined ? 'backend' : 'operator',
          ...(options.fromSavepoint !== undefined ? { fromSavepoint: options.fromSavepoint } : {}),
          ...(options.allowNonRestoredState ? { allowNonRestoredState: true } : {}),
          onWarning: (m) => printErr(`freshet: warning: ${m}`),
        });
      }
      const runner =
        options.workers > 1
          ? await ParallelRunner.start(
              { module: file },
              {
                log,
                startFrom: options.from,
                workers: options.workers,
                ...(storage !== undefined ? { checkpoints: { storage, intervalMs: options.checkpointInterval ?? 1000 } } : {}),
              },
            )
          : await PipelineRunner.start(plan, {
              log,
              startFrom: options.from,
              ...(storage !== undefined ? { checkpoints: { storage, intervalMs: options.checkpointInterval ?? 1000, allowNonRestoredState: options.allowNonRestoredState ?? false } } : {}),
              ...(stateBackend !== undefined ? { stateBackend } : {}),
            });
      try {
        if (options.bounded) {
          await runner.finish();
          printErr(`freshet: pipeline '${definition.name}' finished`);
          return;
        }
        printErr(`freshet: running pipeline '${definition.name}'${options.workers > 1 ? ` on ${options.workers} workers` : ''} (Ctrl-C to stop)`);
        const running = runner.run();
        const received = await Promise.race([signal.promise, running.then(() => null)]);
        if (received) printErr(`freshet: ${received}: stopping pipeline '${definition.name}'`);
        runner.stop();
        await running;
      } finally {
        if (runner instanceof ParallelRunner) await runner.close();
      }
    } finally {
      signal.dispose();
      await storage?.close();
      await stateBackend?.close();
      await log.close();
    }
  });
}
