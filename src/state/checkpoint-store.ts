/**
 * The checkpoint store: durable, atomic checkpoints of every task of one pipeline (input offsets,
 * output positions, watermarks, operator state), incremental chains of operator state, the newest K
 * kept, corruption detected by checksums (falling back to the previous checkpoint, with a warning),
 * named savepoints, and the compatibility check a restore into a changed plan needs. See docs/state.md.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { pack, unpack } from 'msgpackr';
import { assert } from '../core/assert.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { TopicPartitionOffset } from '../log/log.js';
import { StateLimits } from './limits.js';

/*
 * On disk, under the store's directory (by convention <dataDir>/checkpoints/<pipeline>/):
 *
 *   LOCK                                   pid of the process writing checkpoints (one writer)
 *   chk-<20-digit id>/task-<taskId>.part   one task's part of checkpoint <id>
 *   chk-<20-digit id>/MANIFEST             written last: names the complete checkpoint
 *   savepoints/<name>/...                  a savepoint: the same layout, self-contained
 *   requests/savepoint-<name>.request      `freshet savepoint create` asking a running pipeline
 *   requests/savepoint-<name>.done         the pipeline's answer (JSON: { ok, checkpointId | error })
 *
 *   part     := magic:u32 ("FCP1") headerLength:u32 header:msgpack(PartHeader) blob*
 *   manifest := JSON(ManifestBody) "\n" "crc32c " 8 hex digits of CRC32C(JSON bytes) "\n"
 *
 * A checkpoint's operator state is a chain per (task, operator): a full snapshot, then deltas. The
 * manifest lists each chain link as a byte range of a part file, possibly of an earlier checkpoint
 * (incremental checkpoints share files), and the size and CRC32C of every file it references, so a
 * truncated or bit-flipped file is detected before anything is restored from it.
 *
 * Writing checkpoint N: each part file is written to a temp name, fsynced and renamed; the directory is
 * fsynced; then the manifest likewise (temp, fsync, rename, fsync dir). A crash before the manifest's
 * rename leaves an incomplete directory that is ignored and later removed. Old checkpoints beyond the
 * newest K complete ones lose their manifest first, then every file no kept manifest references.
 */
const PART_MAGIC = 0x31504346; // "FCP1" little-endian
const MANIFEST_FILE = 'MANIFEST';
const MANIFEST_FORMAT = 1;
const CHECKPOINT_DIR = /^chk-(\d{20})$/;
const NAME = /^[a-zA-Z0-9._-]{1,200}$/;

/**
 * An operator of a plan, for compatibility checks.
 *
 * @example
 * ```ts
 * const d: OperatorDescriptor = { name: 'per-user', kind: 'windowAggregate', fingerprint: 'count,sum' };
 * ```
 */
export interface OperatorDescriptor {
  /** The operator's stable name (its state's namespace). */
  readonly name: string;
  /** The operator kind (e.g. `windowAggregate`). */
  readonly kind: string;
  /** Identifies the shape of its state (e.g. aggregator kinds and params): equal fingerprints can restore. */
  readonly fingerprint: string;
}

/**
 * One operator's state in a task's part: opaque bytes, full or a delta on an earlier checkpoint. A
 * backend's `OperatorSnapshot` is one.
 *
 * @example
 * ```ts
 * const part: OperatorStatePart = { operator: 'dedupe', type: 'full', baseCheckpointId: null, bytes: myBytes };
 * ```
 */
export interface OperatorStatePart {
  readonly operator: string;
  readonly type: 'full' | 'delta';
  /** For a delta: the checkpoint whose chain it extends. */
  readonly baseCheckpointId: number | null;
  /** When given (a backend's OperatorSnapshot), it must equal the checkpoint's id. */
  readonly checkpointId?: number;
  readonly bytes: Uint8Array;
}

/**
 * What one task contributes to a checkpoint.
 *
 * @example
 * ```ts
 * const task: TaskCheckpoint = { taskId: '0', inputOffsets, outputPositions, watermarks: { orders: wm }, operators: snap.operators };
 * ```
 */
export interface TaskCheckpoint {
  /** Stable across checkpoints (chains are kept per task and operator). */
  readonly taskId: string;
  /** The next offset to read, per input partition. */
  readonly inputOffsets: readonly TopicPartitionOffset[];
  /** Output log end offsets at the checkpoint (recovery truncates to them). */
  readonly outputPositions: readonly TopicPartitionOffset[];
  /** Watermarks by source or operator name. */
  readonly watermarks: Readonly<Record<string, number>>;
  readonly operators: readonly OperatorStatePart[];
  /** Anything else small the runtime wants back (MessagePack-able). */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/**
 * A whole checkpoint, as `write` takes it.
 *
 * @example
 * ```ts
 * await store.write({ checkpointId: id, tasks: [task], operators: planOperators });
 * ```
 */
export interface CheckpointData {
  readonly checkpointId: number;
  readonly tasks: readonly TaskCheckpoint[];
  /** The plan's operators (for compatibility checks on restore). */
  readonly operators?: readonly OperatorDescriptor[];
}

/**
 * A task of a loaded checkpoint, with each operator's snapshot chain read and verified.
 *
 * @example
 * ```ts
 * const task = loaded.tasks.get('0')!;
 * await backend.restore(task.chains, { checkpointId: loaded.checkpointId });
 * ```
 */
export interface LoadedTask {
  readonly taskId: string;
  readonly inputOffsets: readonly TopicPartitionOffset[];
  readonly outputPositions: readonly TopicPartitionOffset[];
  readonly watermarks: Readonly<Record<string, number>>;
  readonly meta: Readonly<Record<string, unknown>>;
  /** Operator → chain (full snapshot, then deltas): what `StateBackend.restore` takes. */
  readonly chains: ReadonlyMap<string, readonly Uint8Array[]>;
}

/**
 * A checkpoint (or savepoint) read back.
 *
 * @example
 * ```ts
 * const loaded = await store.loadLatest();
 * if (loaded) for (const o of loaded.tasks.get('0')!.outputPositions) await log.truncate(o.topic, o.partition, o.offset);
 * ```
 */
export interface LoadedCheckpoint {
  readonly checkpointId: number;
  readonly createdAtMs: number;
  /** The savepoint's name, when loaded from one. */
  readonly savepoint: string | null;
  readonly operators: readonly OperatorDescriptor[];
  readonly tasks: ReadonlyMap<string, LoadedTask>;
}

/**
 * One row of `list` / `listSavepoints`.
 *
 * @example
 * ```ts
 * for (const c of await store.list()) console.log(c.checkpointId, c.status, c.problem ?? '');
 * ```
 */
export interface CheckpointInfo {
  readonly checkpointId: number;
  readonly createdAtMs: number | null;
  /** Bytes of this checkpoint's own files. */
  readonly sizeBytes: number;
  /** Bytes of its manifest and of every file it references (what a restore reads). */
  readonly totalBytes: number;
  /** `complete`: manifest and every referenced file verify; `corrupt`: something does not; `incomplete`: no manifest (a write in progress or interrupted). */
  readonly status: 'complete' | 'corrupt' | 'incomplete';
  readonly problem: string | null;
  readonly savepoint: string | null;
}

/**
 * Options of `CheckpointStore.open`.
 *
 * @example
 * ```ts
 * const store = await CheckpointStore.open({ dir: checkpointDir(dataDir, 'revenue'), retain: 5, onWarning: (m) => logger.warn(m) });
 * ```
 */
export interface CheckpointStoreOptions {
  /** The store's directory (created if missing), e.g. `checkpointDir(dataDir, pipeline)`. */
  readonly dir: string;
  /** Complete checkpoints kept (default StateLimits.retainedCheckpoints). */
  readonly retain?: number;
  /** Open for reading only: no lock, no writes, no clean-up (for `freshet checkpoints list`). */
  readonly readOnly?: boolean;
  /** Receives recoverable problems (a corrupt checkpoint skipped, leftovers removed). Default: stderr. */
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
  readonly clock?: Clock;
}

interface ChainLink {
  readonly file: string;
  readonly offset: number;
  readonly length: number;
  readonly checkpointId: number;
}

interface ManifestBody {
  readonly format: number;
  readonly checkpointId: number;
  readonly createdAtMs: number;
  readonly savepoint: string | null;
  readonly operators: OperatorDescriptor[];
  /** Every file referenced, relative to the store (or savepoint) directory. */
  readonly files: Record<string, { size: number; crc32c: number }>;
  readonly tasks: { taskId: string; part: string; chains: Record<string, ChainLink[]> }[];
}

interface PartHeader {
  checkpointId: number;
  taskId: string;
  inputOffsets: TopicPartitionOffset[];
  outputPositions: TopicPartitionOffset[];
  watermarks: Record<string, number>;
  meta: Record<string, unknown>;
  blobs: { operator: string; type: 'full' | 'delta'; offset: number; length: number }[];
}

/**
 * `<dataDir>/checkpoints/<pipeline>`: where a pipeline's checkpoints live.
 *
 * @example
 * ```ts
 * checkpointDir('./.freshet', 'revenue'); // '.freshet/checkpoints/revenue'
 * ```
 */
export function checkpointDir(dataDir: string, pipeline: string): string {
  checkName(pipeline, 'pipeline name');
  return path.join(dataDir, 'checkpoints', pipeline);
}

function checkName(name: string, what: string): void {
  if (typeof name !== 'string' || !NAME.test(name) || name === '.' || name === '..') {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `invalid ${what} '${name}': use 1-200 of [a-zA-Z0-9._-]`);
  }
}

function chkDirName(id: number): string {
  return `chk-${String(id).padStart(20, '0')}`;
}

/**
 * The checkpoint store of one pipeline. One writing process at a time (LOCK); readers open read-only.
 *
 * @example
 * ```ts
 * const store = await CheckpointStore.open({ dir: checkpointDir(dataDir, 'revenue'), retain: 3 });
 * const loaded = await store.loadLatest(); // null on the first start
 * if (loaded) await backend.restore(loaded.tasks.get('0')!.chains, { checkpointId: loaded.checkpointId });
 * // every second, at a batch boundary:
 * const id = store.nextCheckpointId();
 * const snap = await backend.snapshot(id);
 * await store.write({ checkpointId: id, tasks: [{ taskId: '0', inputOffsets, outputPositions, watermarks, operators: snap.operators }] });
 * backend.checkpointComplete(id);
 * ```
 */
export class CheckpointStore {
  readonly dir: string;
  readonly retain: number;
  readonly readOnly: boolean;
  private readonly onWarning: (message: string, details: Record<string, unknown>) => void;
  private readonly clock: Clock;
  /** Valid manifests by checkpoint id (complete checkpoints, not yet verified file by file). */
  private readonly manifests = new Map<number, ManifestBody>();
  /** Checkpoint directories whose manifest is there but does not parse or verify. */
  private readonly badManifests = new Map<number, string>();
  private highestId = 0;
  private writing: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(options: CheckpointStoreOptions) {
    this.dir = options.dir;
    this.retain = options.retain ?? StateLimits.retainedCheckpoints;
    this.readOnly = options.readOnly ?? false;
    this.onWarning = options.onWarning ?? ((m) => process.stderr.write(`freshet: warning: ${m}\n`));
    this.clock = options.clock ?? systemClock;
  }

  /** Opens the store (creating its directory unless read-only), scanning and cleaning up what is there. */
  static async open(options: CheckpointStoreOptions): Promise<CheckpointStore> {
    const retain = options.retain ?? StateLimits.retainedCheckpoints;
    if (!Number.isInteger(retain) || retain < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `retain must be an integer >= 1, got ${String(retain)}`);
    const store = new CheckpointStore(options);
    if (!store.readOnly) {
      fs.mkdirSync(store.dir, { recursive: true });
      acquireLock(store.dir);
    }
    store.scan();
    if (!store.readOnly) {
      try {
        await store.collectGarbage();
      } catch (error) {
        releaseLock(store.dir);
        throw error;
      }
    }
    return store;
  }

  /** The id the next checkpoint should have: above every id this store has seen, even incomplete ones. */
  nextCheckpointId(): number {
    return this.highestId + 1;
  }

  /**
   * Writes a checkpoint atomically (see the protocol above) and prunes old ones. Writes run one at a
   * time, in call order. Ids must increase. Resolves once the checkpoint is durable and complete.
   */
  write(data: CheckpointData): Promise<CheckpointInfo> {
    this.checkWritable();
    const run = this.writing.then(
      () => this.writeNow(data),
      () => this.writeNow(data),
    );
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async writeNow(data: CheckpointData): Promise<CheckpointInfo> {
    const id = data.checkpointId;
    if (!Number.isSafeInteger(id) || id < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `checkpoint id must be a positive integer, got ${String(id)}`);
    assert(id > this.highestId, `checkpoint ids increase (got ${id}, the store has seen ${this.highestId})`);
    const taskIds = new Set<string>();
    for (const t of data.tasks) {
      checkName(t.taskId, 'task id');
      if (taskIds.has(t.taskId)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `task '${t.taskId}' appears twice in checkpoint ${id}`);
      taskIds.add(t.taskId);
    }
    this.highestId = id;
    const dirName = chkDirName(id);
    const dir = path.join(this.dir, dirName);
    await fsp.mkdir(dir);
    await fsyncDir(this.dir);
    const files: ManifestBody['files'] = {};
    const tasks: ManifestBody['tasks'] = [];
    const operatorNames = new Set<string>();
    for (const task of data.tasks) {
      const partName = `${dirName}/task-${task.taskId}.part`;
      const { buffers, header } = encodePart(id, task);
      const crc = buffers.reduce((c, b) => crc32c(b, c), 0);
      const size = buffers.reduce((n, b) => n + b.length, 0);
      await writeAtomic(path.join(this.dir, partName), buffers);
      files[partName] = { size, crc32c: crc };
      const chains: Record<string, ChainLink[]> = {};
      for (const blob of header.blobs) {
        const part = task.operators.find((o) => o.operator === blob.operator)!;
        if (part.checkpointId !== undefined) assert(part.checkpointId === id, `operator '${part.operator}' snapshot is of checkpoint ${part.checkpointId}, written as ${id}`);
        const link: ChainLink = { file: partName, offset: blob.offset, length: blob.length, checkpointId: id };
        operatorNames.add(blob.operator);
        if (blob.type === 'full') {
          chains[blob.operator] = [link];
          continue;
        }
        const base = part.baseCheckpointId === null ? undefined : this.manifests.get(part.baseCheckpointId);
        const baseChain = base?.tasks.find((t) => t.taskId === task.taskId)?.chains[blob.operator];
        if (!base || !baseChain) {
          throw new FreshetError(
            ErrorCodes.INVALID_ARGUMENT,
            `the delta of operator '${blob.operator}' (task ${task.taskId}) builds on checkpoint ${part.baseCheckpointId}, which this store does not hold: take a full snapshot`,
            { operator: blob.operator, taskId: task.taskId, baseCheckpointId: part.baseCheckpointId },
          );
        }
        chains[blob.operator] = [...baseChain, link];
        for (const l of baseChain) files[l.file] = base.files[l.file]!;
      }
      tasks.push({ taskId: task.taskId, part: partName, chains });
    }
    const described = new Map((data.operators ?? []).map((o) => [o.name, o]));
    for (const name of operatorNames) if (!described.has(name)) described.set(name, { name, kind: 'unknown', fingerprint: '' });
    const body: ManifestBody = {
      format: MANIFEST_FORMAT,
      checkpointId: id,
      createdAtMs: this.clock.nowMs(),
      savepoint: null,
      operators: [...described.values()].map((o) => ({ name: o.name, kind: o.kind, fingerprint: o.fingerprint })),
      files,
      tasks,
    };
    await fsyncDir(dir);
    await writeAtomic(path.join(dir, MANIFEST_FILE), [encodeManifest(body)]);
    this.manifests.set(id, body);
    await this.prune();
    return this.info(id, body, null);
  }

  /** Complete checkpoints and damaged ones, oldest first. `verify` also checks every referenced file's CRC. */
  async list(options: { verify?: boolean } = {}): Promise<CheckpointInfo[]> {
    this.checkOpen();
    if (this.readOnly) this.scan();
    const out: CheckpointInfo[] = [];
    const ids = new Set<number>([...this.manifests.keys(), ...this.badManifests.keys(), ...this.incompleteIds()]);
    for (const id of [...ids].sort((a, b) => a - b)) {
      const body = this.manifests.get(id);
      if (!body) {
        const bad = this.badManifests.get(id);
        out.push({
          checkpointId: id,
          createdAtMs: null,
          sizeBytes: dirSize(path.join(this.dir, chkDirName(id))),
          totalBytes: 0,
          status: bad === undefined ? 'incomplete' : 'corrupt',
          problem: bad ?? null,
          savepoint: null,
        });
        continue;
      }
      const problem = options.verify === false ? null : await verifyFiles(this.dir, body);
      out.push(this.info(id, body, problem));
    }
    return out;
  }

  /**
   * Loads the newest checkpoint that verifies completely. A damaged one (a manifest, part or shared
   * file truncated or altered) is reported through `onWarning` and the previous one is tried. Returns
   * null when there are no checkpoints; throws FRESHET_CHECKPOINT_CORRUPT when some exist and none loads.
   */
  async loadLatest(): Promise<LoadedCheckpoint | null> {
    this.checkOpen();
    if (this.readOnly) this.scan();
    for (const [id, problem] of this.badManifests) this.warnCorrupt(id, problem);
    const ids = [...this.manifests.keys()].sort((a, b) => b - a);
    for (const id of ids) {
      try {
        return await loadFrom(this.dir, this.manifests.get(id)!);
      } catch (error) {
        this.warnCorrupt(id, (error as Error).message);
      }
    }
    if (ids.length > 0 || this.badManifests.size > 0) {
      throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `no checkpoint in ${this.dir} verifies (${ids.length + this.badManifests.size} found, all damaged); refusing to start from nothing`, {
        dir: this.dir,
      });
    }
    return null;
  }

  /** Loads one checkpoint by id (FRESHET_CHECKPOINT_NOT_FOUND / FRESHET_CHECKPOINT_CORRUPT). */
  async load(checkpointId: number): Promise<LoadedCheckpoint> {
    this.checkOpen();
    if (this.readOnly) this.scan();
    const body = this.manifests.get(checkpointId);
    if (!body) {
      if (this.badManifests.has(checkpointId)) {
        throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `checkpoint ${checkpointId}: ${this.badManifests.get(checkpointId)}`, { checkpointId });
      }
      throw new FreshetError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no complete checkpoint ${checkpointId} in ${this.dir}`, { checkpointId });
    }
    try {
      return await loadFrom(this.dir, body);
    } catch (error) {
      throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `checkpoint ${checkpointId}: ${(error as Error).message}`, { checkpointId }, { cause: error });
    }
  }

  // --- savepoints ----------------------------------------------------------------------------------

  /**
   * Copies a checkpoint (default: the newest that verifies) into a self-contained savepoint, kept until
   * deleted. Fails with FRESHET_SAVEPOINT_EXISTS when the name is taken.
   */
  async createSavepoint(name: string, options: { fromCheckpointId?: number } = {}): Promise<CheckpointInfo> {
    this.checkOpen();
    checkName(name, 'savepoint name');
    const target = path.join(this.savepointsDir(), name);
    if (fs.existsSync(target)) throw new FreshetError(ErrorCodes.SAVEPOINT_EXISTS, `savepoint '${name}' already exists`, { savepoint: name });
    let source: ManifestBody;
    if (options.fromCheckpointId !== undefined) {
      await this.load(options.fromCheckpointId); // verifies every file first
      source = this.manifests.get(options.fromCheckpointId)!;
    } else {
      const latest = await this.loadLatest();
      if (!latest) throw new FreshetError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no checkpoint in ${this.dir} to make savepoint '${name}' from`);
      source = this.manifests.get(latest.checkpointId)!;
    }
    await fsp.mkdir(this.savepointsDir(), { recursive: true });
    const tmp = path.join(this.savepointsDir(), `.tmp-${name}-${process.pid}`);
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.mkdir(tmp);
    // Same file names as in the store (flattened): the manifest's links keep their offsets.
    const rename = (file: string): string => file.replace('/', '.');
    const files: ManifestBody['files'] = {};
    for (const [file, meta] of Object.entries(source.files)) {
      await fsp.copyFile(path.join(this.dir, file), path.join(tmp, rename(file)));
      const fd = await fsp.open(path.join(tmp, rename(file)), 'r');
      await fd.sync();
      await fd.close();
      files[rename(file)] = meta;
    }
    const body: ManifestBody = {
      ...source,
      createdAtMs: this.clock.nowMs(),
      savepoint: name,
      files,
      tasks: source.tasks.map((t) => ({
        taskId: t.taskId,
        part: rename(t.part),
        chains: Object.fromEntries(Object.entries(t.chains).map(([op, links]) => [op, links.map((l) => ({ ...l, file: rename(l.file) }))])),
      })),
    };
    await writeAtomic(path.join(tmp, MANIFEST_FILE), [encodeManifest(body)]);
    await fsyncDir(tmp);
    await fsp.rename(tmp, target);
    await fsyncDir(this.savepointsDir());
    const problem = await verifyFiles(target, body);
    return this.info(body.checkpointId, body, problem, target);
  }

  /** Every savepoint, by name. */
  async listSavepoints(): Promise<CheckpointInfo[]> {
    this.checkOpen();
    const dir = this.savepointsDir();
    if (!fs.existsSync(dir)) return [];
    const out: CheckpointInfo[] = [];
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.startsWith('.tmp-')) continue;
      const spDir = path.join(dir, name);
      const parsed = readManifest(path.join(spDir, MANIFEST_FILE));
      if (typeof parsed === 'string') {
        out.push({ checkpointId: 0, createdAtMs: null, sizeBytes: dirSize(spDir), totalBytes: dirSize(spDir), status: 'corrupt', problem: parsed, savepoint: name });
        continue;
      }
      out.push(this.info(parsed.checkpointId, parsed, await verifyFiles(spDir, parsed), spDir));
    }
    return out;
  }

  /** Loads a savepoint (FRESHET_CHECKPOINT_NOT_FOUND / FRESHET_CHECKPOINT_CORRUPT). */
  async loadSavepoint(name: string): Promise<LoadedCheckpoint> {
    this.checkOpen();
    checkName(name, 'savepoint name');
    const spDir = path.join(this.savepointsDir(), name);
    if (!fs.existsSync(spDir)) throw new FreshetError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no savepoint '${name}'`, { savepoint: name });
    const parsed = readManifest(path.join(spDir, MANIFEST_FILE));
    if (typeof parsed === 'string') throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `savepoint '${name}': ${parsed}`, { savepoint: name });
    try {
      return await loadFrom(spDir, parsed);
    } catch (error) {
      throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `savepoint '${name}': ${(error as Error).message}`, { savepoint: name }, { cause: error });
    }
  }

  async deleteSavepoint(name: string): Promise<void> {
    this.checkOpen();
    checkName(name, 'savepoint name');
    const spDir = path.join(this.savepointsDir(), name);
    if (!fs.existsSync(spDir)) throw new FreshetError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no savepoint '${name}'`, { savepoint: name });
    // Manifest first: a crash mid-delete leaves a directory that lists as corrupt, never as valid.
    await fsp.rm(path.join(spDir, MANIFEST_FILE), { force: true });
    await fsp.rm(spDir, { recursive: true, force: true });
    await fsyncDir(this.savepointsDir());
  }

  // --- savepoint requests (the CLI asking a running pipeline) ---------------------------------------

  /** Names of savepoints `freshet savepoint create` asked for and nobody answered yet (the runner polls this). */
  pendingSavepointRequests(): string[] {
    const dir = path.join(this.dir, 'requests');
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('savepoint-') && f.endsWith('.request'))
      .map((f) => f.slice('savepoint-'.length, -'.request'.length))
      .filter((n) => NAME.test(n))
      .sort();
  }

  /** Answers a request: writes its `.done` file and removes the request. */
  async completeSavepointRequest(name: string, result: { ok: true; checkpointId: number } | { ok: false; error: string; code?: string }): Promise<void> {
    checkName(name, 'savepoint name');
    const dir = path.join(this.dir, 'requests');
    await writeAtomic(path.join(dir, `savepoint-${name}.done`), [Buffer.from(JSON.stringify(result))]);
    await fsp.rm(path.join(dir, `savepoint-${name}.request`), { force: true });
  }

  /** Waits for writes in flight and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing;
    if (!this.readOnly) releaseLock(this.dir);
  }

  private savepointsDir(): string {
    return path.join(this.dir, 'savepoints');
  }

  private info(id: number, body: ManifestBody, problem: string | null, base = this.dir): CheckpointInfo {
    const own = body.savepoint !== null ? Object.keys(body.files) : Object.keys(body.files).filter((f) => f.startsWith(`${chkDirName(id)}/`));
    const size = (f: string): number => body.files[f]!.size;
    // A restore reads the manifest too: both figures count it.
    const manifestBytes = fileSize(path.join(base, body.savepoint !== null ? '' : chkDirName(id), MANIFEST_FILE));
    return {
      checkpointId: id,
      createdAtMs: body.createdAtMs,
      sizeBytes: own.reduce((n, f) => n + size(f), 0) + manifestBytes,
      totalBytes: Object.keys(body.files).reduce((n, f) => n + size(f), 0) + manifestBytes,
      status: problem === null ? 'complete' : 'corrupt',
      problem,
      savepoint: body.savepoint,
    };
  }

  private warnCorrupt(id: number, problem: string): void {
    this.onWarning(`checkpoint ${id} is damaged and was skipped: ${problem}`, { checkpointId: id, problem, dir: this.dir });
  }

  /** Reads every checkpoint directory's manifest (parse and checksum; files are verified on load). */
  private scan(): void {
    this.manifests.clear();
    this.badManifests.clear();
    if (!fs.existsSync(this.dir)) return;
    for (const name of fs.readdirSync(this.dir)) {
      const m = CHECKPOINT_DIR.exec(name);
      if (!m) continue;
      const id = Number(m[1]);
      this.highestId = Math.max(this.highestId, id);
      const file = path.join(this.dir, name, MANIFEST_FILE);
      if (!fs.existsSync(file)) continue;
      const parsed = readManifest(file);
      if (typeof parsed === 'string') this.badManifests.set(id, parsed);
      else if (parsed.checkpointId !== id) this.badManifests.set(id, `manifest names checkpoint ${parsed.checkpointId}`);
      else this.manifests.set(id, parsed);
    }
  }

  /** Directories without a manifest that hold no file a kept checkpoint references (a write in progress or interrupted). */
  private incompleteIds(): number[] {
    if (!fs.existsSync(this.dir)) return [];
    const shared = new Set<string>();
    for (const body of this.manifests.values()) for (const f of Object.keys(body.files)) shared.add(f.slice(0, f.indexOf('/')));
    const out: number[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const m = CHECKPOINT_DIR.exec(name);
      if (m && !shared.has(name) && !fs.existsSync(path.join(this.dir, name, MANIFEST_FILE))) out.push(Number(m[1]));
    }
    return out;
  }

  /** Keeps the newest `retain` complete checkpoints: older manifests go first, then unreferenced files. */
  private async prune(): Promise<void> {
    const ids = [...this.manifests.keys()].sort((a, b) => b - a);
    const doomed = ids.slice(this.retain);
    const oldestKept = ids[this.retain - 1] ?? 0;
    // Damaged checkpoints older than the oldest kept one go too.
    for (const id of this.badManifests.keys()) if (id < oldestKept) doomed.push(id);
    for (const id of doomed) {
      await fsp.rm(path.join(this.dir, chkDirName(id), MANIFEST_FILE), { force: true });
      this.manifests.delete(id);
      this.badManifests.delete(id);
    }
    if (doomed.length > 0) await fsyncDir(this.dir);
    await this.collectGarbage();
  }

  /**
   * Removes every checkpoint file no kept manifest references, and leftovers of interrupted writes.
   * Directories with a damaged manifest are kept (for inspection) until they age out.
   */
  private async collectGarbage(): Promise<void> {
    const referenced = new Set<string>();
    for (const body of this.manifests.values()) for (const f of Object.keys(body.files)) referenced.add(f);
    let removed = 0;
    for (const name of fs.readdirSync(this.dir)) {
      if (!CHECKPOINT_DIR.test(name)) continue;
      const id = Number(CHECKPOINT_DIR.exec(name)![1]);
      if (this.manifests.has(id) || this.badManifests.has(id)) {
        for (const f of fs.readdirSync(path.join(this.dir, name))) if (f.includes('.tmp-')) await fsp.rm(path.join(this.dir, name, f), { force: true });
        continue;
      }
      const dir = path.join(this.dir, name);
      for (const f of fs.readdirSync(dir)) {
        if (referenced.has(`${name}/${f}`)) continue;
        await fsp.rm(path.join(dir, f), { force: true });
        removed++;
      }
      if (fs.readdirSync(dir).length === 0) await fsp.rmdir(dir);
    }
    if (removed > 0) await fsyncDir(this.dir);
  }

  private checkOpen(): void {
    if (this.closed) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the checkpoint store is closed');
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the checkpoint store was opened read-only');
  }
}

/**
 * Which operators of a saved checkpoint map onto a new plan. Operators in both must have the same kind
 * and state fingerprint (else FRESHET_STATE_INCOMPATIBLE naming the operator); plan operators the
 * checkpoint lacks start empty; checkpoint operators the plan lacks are refused with
 * FRESHET_STATE_NOT_RESTORED unless `allowNonRestoredState` (then their state is dropped), as in Flink.
 *
 * @example
 * ```ts
 * const { restore, empty, dropped } = checkRestoreCompatibility(savepoint.operators, planOperators, { allowNonRestoredState: false });
 * ```
 */
export function checkRestoreCompatibility(
  saved: readonly OperatorDescriptor[],
  planned: readonly OperatorDescriptor[],
  options: { allowNonRestoredState?: boolean } = {},
): { restore: string[]; empty: string[]; dropped: string[] } {
  const plan = new Map(planned.map((o) => [o.name, o]));
  const savedNames = new Set(saved.map((o) => o.name));
  const restore: string[] = [];
  const dropped: string[] = [];
  for (const s of saved) {
    const p = plan.get(s.name);
    if (!p) {
      dropped.push(s.name);
      continue;
    }
    // An operator saved without a description (kind 'unknown') is matched by name only.
    if (s.kind !== 'unknown' && (s.kind !== p.kind || s.fingerprint !== p.fingerprint)) {
      const what = s.kind !== p.kind ? `its kind changed from ${s.kind} to ${p.kind}` : `its state changed shape (fingerprint ${s.fingerprint} → ${p.fingerprint})`;
      throw new FreshetError(ErrorCodes.STATE_INCOMPATIBLE, `cannot restore the state of operator '${s.name}': ${what}; rename the operator to start it empty, or restore an older savepoint`, {
        operator: s.name,
        savedKind: s.kind,
        plannedKind: p.kind,
      });
    }
    restore.push(s.name);
  }
  if (dropped.length > 0 && !options.allowNonRestoredState) {
    throw new FreshetError(
      ErrorCodes.STATE_NOT_RESTORED,
      `the savepoint holds state of operator${dropped.length > 1 ? 's' : ''} ${dropped.map((d) => `'${d}'`).join(', ')}, not in the plan any more; pass allowNonRestoredState (freshet run --allow-non-restored-state) to drop it`,
      { operators: dropped },
    );
  }
  const empty = planned.filter((p) => !savedNames.has(p.name)).map((p) => p.name);
  return { restore, empty, dropped };
}

/**
 * Asks the pipeline running on `dir` for a savepoint (the request-file protocol of docs/state.md) and
 * waits for its answer. Returns null if nobody answered within `timeoutMs` (the request is withdrawn).
 *
 * @example
 * ```ts
 * const answer = await requestSavepoint(checkpointDir(dataDir, 'revenue'), 'before-v2', 60_000);
 * ```
 */
export async function requestSavepoint(dir: string, name: string, timeoutMs: number): Promise<{ ok: true; checkpointId: number } | { ok: false; error: string; code?: string } | null> {
  checkName(name, 'savepoint name');
  const requests = path.join(dir, 'requests');
  fs.mkdirSync(requests, { recursive: true });
  const request = path.join(requests, `savepoint-${name}.request`);
  const done = path.join(requests, `savepoint-${name}.done`);
  await fsp.rm(done, { force: true });
  await writeAtomic(request, [Buffer.from(JSON.stringify({ name, pid: process.pid }))]);
  const deadline = systemClock.nowMs() + timeoutMs;
  while (systemClock.nowMs() < deadline) {
    if (fs.existsSync(done)) {
      const answer = JSON.parse(fs.readFileSync(done, 'utf8')) as { ok: true; checkpointId: number } | { ok: false; error: string; code?: string };
      await fsp.rm(done, { force: true });
      return answer;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await fsp.rm(request, { force: true });
  return null;
}

/**
 * The pid of the live process (other than this one) holding the store's lock, i.e. a running pipeline
 * writing checkpoints, or null.
 *
 * @example
 * ```ts
 * if (checkpointWriterPid(dir) !== null) await requestSavepoint(dir, 'sp', 60_000);
 * ```
 */
export function checkpointWriterPid(dir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, 'LOCK'), 'utf8'));
    return isAlive(pid) && pid !== process.pid ? pid : null;
  } catch {
    return null;
  }
}

// --- encoding and verification ---------------------------------------------------------------------

function encodePart(id: number, task: TaskCheckpoint): { buffers: Buffer[]; header: PartHeader } {
  const seen = new Set<string>();
  const header: PartHeader = {
    checkpointId: id,
    taskId: task.taskId,
    inputOffsets: task.inputOffsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
    outputPositions: task.outputPositions.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
    watermarks: { ...task.watermarks },
    meta: { ...(task.meta ?? {}) },
    blobs: [],
  };
  // The stored header gives blob offsets relative to its own end (they cannot depend on its length);
  // the manifest's chain links carry the absolute ones.
  let rel = 0;
  for (const o of task.operators) {
    if (seen.has(o.operator)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `operator '${o.operator}' appears twice in task ${task.taskId}`);
    seen.add(o.operator);
    if (o.type !== 'full' && o.type !== 'delta') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `operator '${o.operator}': type must be full or delta`);
    header.blobs.push({ operator: o.operator, type: o.type, offset: rel, length: o.bytes.length });
    rel += o.bytes.length;
  }
  const headerBytes = pack(header);
  const start = 8 + headerBytes.length;
  for (const b of header.blobs) b.offset += start;
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(PART_MAGIC, 0);
  prefix.writeUInt32LE(headerBytes.length, 4);
  return { buffers: [prefix, headerBytes, ...task.operators.map((o) => Buffer.from(o.bytes.buffer, o.bytes.byteOffset, o.bytes.length))], header };
}

function decodePartHeader(buf: Buffer, file: string): PartHeader {
  if (buf.length < 8 || buf.readUInt32LE(0) !== PART_MAGIC) throw new Error(`${file}: not a checkpoint part`);
  const n = buf.readUInt32LE(4);
  if (8 + n > buf.length) throw new Error(`${file}: header runs past the end`);
  return unpack(buf.subarray(8, 8 + n)) as PartHeader;
}

function encodeManifest(body: ManifestBody): Buffer {
  const json = JSON.stringify(body);
  const crc = crc32c(Buffer.from(json)).toString(16).padStart(8, '0');
  return Buffer.from(`${json}\ncrc32c ${crc}\n`);
}

/** The manifest, or a description of what is wrong with it. */
function readManifest(file: string): ManifestBody | string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return `manifest unreadable: ${(error as Error).message}`;
  }
  const m = /^(.*)\ncrc32c ([0-9a-f]{8})\n$/s.exec(text);
  if (!m) return 'manifest truncated or malformed';
  if (crc32c(Buffer.from(m[1]!)).toString(16).padStart(8, '0') !== m[2]) return 'manifest checksum mismatch';
  try {
    const body = JSON.parse(m[1]!) as ManifestBody;
    if (body.format !== MANIFEST_FORMAT) return `manifest format ${String(body.format)} is not supported`;
    return body;
  } catch {
    return 'manifest is not valid JSON';
  }
}

/** Checks size and CRC32C of every file a manifest references; returns the first problem or null. */
async function verifyFiles(base: string, body: ManifestBody): Promise<string | null> {
  for (const [file, meta] of Object.entries(body.files)) {
    const problem = await verifyFile(path.join(base, file), file, meta);
    if (problem !== null) return problem;
  }
  return null;
}

async function verifyFile(full: string, file: string, meta: { size: number; crc32c: number }): Promise<string | null> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(full);
  } catch (error) {
    return `${file} is missing (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  if (buf.length !== meta.size) return `${file} has ${buf.length} bytes, the manifest says ${meta.size}`;
  if (crc32c(buf) !== meta.crc32c) return `${file} fails its CRC32C checksum`;
  return null;
}

/** Reads and verifies every file of a manifest and assembles the checkpoint. Throws on any problem. */
async function loadFrom(base: string, body: ManifestBody): Promise<LoadedCheckpoint> {
  const contents = new Map<string, Buffer>();
  for (const [file, meta] of Object.entries(body.files)) {
    const full = path.join(base, file);
    const buf = await fsp.readFile(full).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`${file} is missing (${error.code ?? 'error'})`);
    });
    if (buf.length !== meta.size) throw new Error(`${file} has ${buf.length} bytes, the manifest says ${meta.size}`);
    if (crc32c(buf) !== meta.crc32c) throw new Error(`${file} fails its CRC32C checksum`);
    contents.set(file, buf);
  }
  const tasks = new Map<string, LoadedTask>();
  for (const t of body.tasks) {
    const part = contents.get(t.part);
    if (!part) throw new Error(`manifest does not list the size and checksum of ${t.part}`);
    const header = decodePartHeader(part, t.part);
    assert(header.checkpointId === body.checkpointId && header.taskId === t.taskId, `part ${t.part} is of checkpoint ${header.checkpointId} task ${header.taskId}`);
    const chains = new Map<string, Uint8Array[]>();
    for (const [op, links] of Object.entries(t.chains)) {
      chains.set(
        op,
        links.map((l) => {
          const file = contents.get(l.file);
          if (!file || l.offset + l.length > file.length) throw new Error(`chain link of operator '${op}' points outside ${l.file}`);
          return file.subarray(l.offset, l.offset + l.length);
        }),
      );
    }
    tasks.set(t.taskId, {
      taskId: t.taskId,
      inputOffsets: header.inputOffsets,
      outputPositions: header.outputPositions,
      watermarks: header.watermarks,
      meta: header.meta,
      chains,
    });
  }
  return { checkpointId: body.checkpointId, createdAtMs: body.createdAtMs, savepoint: body.savepoint, operators: body.operators, tasks };
}

// --- files -----------------------------------------------------------------------------------------

/** Writes `buffers` to `file` atomically: temp file, fsync, rename, fsync the directory. */
async function writeAtomic(file: string, buffers: readonly Uint8Array[]): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fsp.open(tmp, 'w');
  try {
    await handle.writev(buffers as Uint8Array[]);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function dirSize(dir: string): number {
  try {
    return fs.readdirSync(dir).reduce((n, f) => n + fileSize(path.join(dir, f)), 0);
  } catch {
    return 0;
  }
}

function acquireLock(dir: string): void {
  const file = path.join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (isAlive(owner)) {
        throw new FreshetError(ErrorCodes.CHECKPOINT_LOCKED, `checkpoints in ${dir} are being written by process ${owner}`, { dir, pid: owner });
      }
      fs.rmSync(file, { force: true });
    }
  }
}

function releaseLock(dir: string): void {
  const file = path.join(dir, 'LOCK');
  try {
    if (Number(fs.readFileSync(file, 'utf8')) === process.pid) fs.rmSync(file);
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
