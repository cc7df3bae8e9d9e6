import { assert } from '../core/assert.js';
import type { Clock } from '../core/clock.js';
import type { Plan, PlanNode } from '../plan/plan.js';
import { CheckpointStore, type LoadedCheckpoint, type OperatorDescriptor, checkRestoreCompatibility, checkpointDir } from '../state/checkpoint-store.js';
import type { CheckpointStorage, RunnerCheckpoint, SnapshotPiece, TaskState } from './checkpointing.js';
import { windowStateNamespace } from './operators/backend-window-operator.js';

/** Options of `FileCheckpointStorage.open`. */
export interface FileCheckpointOptions {
  readonly dataDir: string;
  /** Complete checkpoints kept (default: the store's). */
  readonly retain?: number;
  /** Start from this savepoint, not from any checkpoint (once: later restarts of the runner use newer checkpoints). */
  readonly fromSavepoint?: string;
  /** Drop saved state of operators that are not in the plan any more instead of refusing to start. */
  readonly allowNonRestoredState?: boolean;
  readonly onWarning?: (message: string) => void;
  readonly clock?: Clock;
  /**
   * Where the run keeps tumbling and hopping window accumulators: in the operators (default) or in a
   * state backend (`RunnerOptions.stateBackend`). Saved state of one kind does not restore into the other.
   */
  readonly windowState?: WindowStateLocation;
}

/** Where tumbling and hopping window accumulators live: see FileCheckpointOptions.windowState. */
export type WindowStateLocation = 'operator' | 'backend';

/**
 * Checkpoints of a single-process pipeline in the data directory (`<dataDir>/checkpoints/<pipeline>/`),
 * on src/state's CheckpointStore: atomic, checksummed, the last K kept, damaged ones skipped with a
 * warning. Also answers `freshet savepoint create` requests at each checkpoint, and checks on restore
 * that the saved operators fit the plan (kind and state shape, by name).
 *
 * @example
 * ```ts
 * const storage = await FileCheckpointStorage.open(plan, { dataDir: './.freshet' });
 * const runner = await PipelineRunner.start(plan, { log, checkpoints: { storage, intervalMs: 1000 } });
 * ```
 */
export class FileCheckpointStorage implements CheckpointStorage {
  readonly supportsDeltas = true;
  /** Checkpoints are in files once saved: nothing here keeps their bytes. */
  readonly releasesBytes = true;
  private fromSavepoint: string | undefined;

  private constructor(
    readonly store: CheckpointStore,
    private readonly operators: readonly OperatorDescriptor[],
    private readonly options: FileCheckpointOptions,
  ) {
    this.fromSavepoint = options.fromSavepoint;
  }

  static async open(plan: Plan, options: FileCheckpointOptions): Promise<FileCheckpointStorage> {
    const store = await CheckpointStore.open({
      dir: checkpointDir(options.dataDir, plan.pipeline),
      ...(options.retain !== undefined ? { retain: options.retain } : {}),
      ...(options.onWarning ? { onWarning: (m: string) => options.onWarning!(m) } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    return new FileCheckpointStorage(store, describeOperators(plan, options.windowState), options);
  }

  nextId(): number {
    return this.store.nextCheckpointId();
  }

  async latest(): Promise<RunnerCheckpoint | null> {
    let loaded: LoadedCheckpoint | null;
    if (this.fromSavepoint !== undefined) {
      // The savepoint, whatever checkpoints came after it (as Flink's `-s`): they are the old run's, and
      // a rollback must not resume from them. Once: later restarts in this process use newer checkpoints
      // (this run's: their ids continue above every id the store has seen).
      loaded = await this.store.loadSavepoint(this.fromSavepoint);
      this.fromSavepoint = undefined;
    } else {
      loaded = await this.store.loadLatest();
    }
    if (loaded === null) return null;
    const { restore, dropped } = checkRestoreCompatibility(loaded.operators, this.operators, { allowNonRestoredState: this.options.allowNonRestoredState ?? false });
    for (const name of dropped) this.options.onWarning?.(`dropping the saved state of operator '${name}' (not in this pipeline; allowNonRestoredState)`);
    const keep = new Set(restore);
    const tasks: TaskState[] = [];
    let outputs: RunnerCheckpoint['outputs'] = [];
    for (const task of loaded.tasks.values()) {
      const operators = new Map<string, SnapshotPiece[]>();
      for (const [name, chain] of task.chains) if (keep.has(name)) operators.set(name, chain.map((bytes, i) => ({ type: i === 0 ? 'full' : 'delta', bytes })));
      tasks.push({ taskId: task.taskId, inputs: task.inputOffsets, operators });
      // Output positions are the run's; every task carries the same list.
      if (task.outputPositions.length > 0) outputs = task.outputPositions;
    }
    return { id: loaded.checkpointId, takenAtMs: loaded.createdAtMs, outputs, tasks };
  }

  async save(checkpoint: RunnerCheckpoint): Promise<void> {
    await this.store.write({
      checkpointId: checkpoint.id,
      operators: this.operators,
      tasks: checkpoint.tasks.map((task, i) => ({
        taskId: task.taskId,
        inputOffsets: task.inputs,
        // The run's output positions, stored once (with the first task).
        outputPositions: i === 0 ? checkpoint.outputs : [],
        watermarks: {},
        operators: [...task.operators].map(([operator, chain]) => {
          assert(chain.length === 1, `a checkpoint being saved holds one piece per operator ('${operator}' has ${chain.length})`);
          const piece = chain[0]!;
          return { operator, type: piece.type, baseCheckpointId: piece.baseCheckpointId ?? null, bytes: piece.bytes };
        }),
      })),
    });
    // Savepoints asked for by `freshet savepoint create` while we ran: this checkpoint becomes them.
    for (const name of this.store.pendingSavepointRequests()) {
      try {
        await this.store.createSavepoint(name, { fromCheckpointId: checkpoint.id });
        await this.store.completeSavepointRequest(name, { ok: true, checkpointId: checkpoint.id });
      } catch (error) {
        await this.store.completeSavepointRequest(name, { ok: false, error: (error as Error).message, code: (error as { code?: string }).code ?? 'FRESHET_INTERNAL' });
      }
    }
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/**
 * The plan's stateful operators with a fingerprint of their state's shape: what decides whether saved
 * state can be restored into them after a code change (same name, same kind, same fingerprint).
 */
export function describeOperators(plan: Plan, windowState: WindowStateLocation = 'operator'): OperatorDescriptor[] {
  const out: OperatorDescriptor[] = [];
  for (const node of plan.nodes) {
    let fingerprint = stateFingerprint(node);
    if (windowState === 'backend' && node.kind === 'windowAggregate' && (node.window.type === 'tumbling' || node.window.type === 'hopping')) {
      // The accumulators are the backend's namespace; the operator keeps watermark and timers.
      fingerprint = `${fingerprint} in a state backend`;
      out.push({ name: windowStateNamespace(node.name), kind: 'windowState', fingerprint: fingerprint });
    }
    if (fingerprint !== null) out.push({ name: node.name, kind: node.kind, fingerprint });
    // A `--workers` run repartitions at every keyBy: the two ends carry watermarks (see stages.ts names).
    if (node.kind === 'keyBy') {
      out.push({ name: `${node.name}.repartition-sink`, kind: 'repartitionSink', fingerprint: 'repartitionSink' });
      out.push({ name: `${node.name}.repartition-source`, kind: 'repartitionSource', fingerprint: 'repartitionSource' });
    }
  }
  return out;
}

function stateFingerprint(node: PlanNode): string | null {
  switch (node.kind) {
    case 'source':
      return `source:${node.role}`;
    case 'windowAggregate': {
      const a = node.aggregator as { kind: string; params?: unknown };
      return JSON.stringify({ window: node.window.type, aggregator: a.kind, params: a.params ?? null });
    }
    case 'expect':
      return `expect:${node.check.kind}`;
    case 'intervalJoin':
    case 'tableJoin':
    case 'merge':
    case 'topicSink':
    case 'viewSink':
      return node.kind;
    default:
      return null;
  }
}
