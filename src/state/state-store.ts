/**
 * The state backend interface: what operators keep between records (keyed values, keyed maps, window
 * accumulators, event-time timers), namespaced per operator name, and how it is snapshotted for
 * checkpoints and restored on recovery. See docs/state.md.
 *
 * Access is synchronous (the hot path never awaits); only `snapshot`, `restore`, `flush` and `close`
 * are async, and they are called at batch boundaries. Values read from state are the backend's: treat
 * them as immutable, and `put` again after changing one (the LMDB backend keeps only what was put).
 *
 * Time is explicit: TTL compares against the operator's `setCurrentTimeMs` (event or processing time,
 * the caller's choice); no backend reads the wall clock.
 */
import { pack, unpack } from 'msgpackr';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { KeyValue } from '../plan/plan.js';

/**
 * A state key: the record key an operator is keyed by (string or number, as `keyBy` produces).
 *
 * @example
 * ```ts
 * const key: StateKey = typeof order.customerId === 'number' ? order.customerId : String(order.customerId);
 * ```
 */
export type StateKey = KeyValue;

/**
 * Turns values into bytes and back, for snapshots (and for the LMDB backend, storage).
 *
 * @example
 * ```ts
 * const counter: StateSerializer<number> = {
 *   encode: (n) => new Uint8Array(new Float64Array([n]).buffer),
 *   decode: (b) => new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true),
 * };
 * ```
 */
export interface StateSerializer<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  /**
   * Optional fast path for snapshots (no allocation per value): writes the encoding of `value` into
   * `target` at `offset` and returns its length, which must be at most `maxEncodedBytes` and the same
   * bytes `encode` returns. Both members must be given for it to be used.
   */
  encodeInto?(value: T, target: DataView, offset: number): number;
  readonly maxEncodedBytes?: number;
}

/**
 * The default serializer: MessagePack (msgpackr), for plain JSON-like values.
 *
 * @example
 * ```ts
 * const seen = ops.value<{ n: number }>('seen', { serializer: msgpackSerializer() });
 * ```
 */
export function msgpackSerializer<T>(): StateSerializer<T> {
  return { encode: (value) => pack(value), decode: (bytes) => unpack(bytes) as T };
}

/**
 * Raw bytes, stored as given (e.g. aggregator accumulators already encoded).
 *
 * @example
 * ```ts
 * const raw = ops.window<Uint8Array>('acc', { serializer: bytesSerializer });
 * ```
 */
export const bytesSerializer: StateSerializer<Uint8Array> = {
  encode: (value) => value,
  decode: (bytes) => Uint8Array.from(bytes),
};

/**
 * Upgrades stored value bytes of format version `v` (the record key) to version `v + 1`. A restore
 * applies the steps in order from the stored version to the declared one.
 *
 * @example
 * ```ts
 * const migrations: StateMigrations = { 1: (old) => pack({ count: unpack(old) as number, sum: 0 }) };
 * ```
 */
export type StateMigrations = Readonly<Record<number, (old: Uint8Array) => Uint8Array>>;

/**
 * Time-to-live of a value or map state: an entry expires `ttlMs` after it was written (and, with
 * `updateOn: 'readAndWrite'`, after it was last read), measured in the operator's current time.
 *
 * @example
 * ```ts
 * const sessions = ops.map<number>('sessions', { ttl: { ttlMs: 30 * 60_000, updateOn: 'readAndWrite' } });
 * ```
 */
export interface StateTtl {
  readonly ttlMs: number;
  /** What restarts the clock: writes only (default, as Flink's OnCreateAndWrite) or reads too. */
  readonly updateOn?: 'write' | 'readAndWrite';
}

/**
 * How a state is declared: serializer, format version (stored with every snapshot) and the
 * migrations that upgrade older versions, and an optional TTL.
 *
 * @example
 * ```ts
 * const totals = ops.value<number>('totals', { version: 2, migrations: { 1: (b) => upgrade(b) }, ttl: { ttlMs: 3_600_000 } });
 * ```
 */
export interface StateDescriptor<T> {
  /** Default `msgpackSerializer()`. */
  readonly serializer?: StateSerializer<T>;
  /** The format version of the bytes `serializer` writes (integer >= 1, default 1). */
  readonly version?: number;
  readonly migrations?: StateMigrations;
  /** Value and map states only. */
  readonly ttl?: StateTtl;
}

/**
 * One value per key.
 *
 * @example
 * ```ts
 * const last = ops.value<number>('last');
 * last.put('user-1', 42);
 * last.get('user-1'); // 42
 * ```
 */
export interface ValueState<T> {
  get(key: StateKey): T | undefined;
  has(key: StateKey): boolean;
  put(key: StateKey, value: T): void;
  delete(key: StateKey): void;
  /** Every live entry (batch boundaries only: the LMDB backend reads from disk). Order unspecified. */
  entries(): [StateKey, T][];
}

/**
 * A map per key (key → map key → value).
 *
 * @example
 * ```ts
 * const carts = ops.map<number>('carts');
 * carts.put('user-1', 'sku-9', 2);
 * carts.entries('user-1'); // [['sku-9', 2]]
 * ```
 */
export interface MapState<V> {
  get(key: StateKey, mapKey: StateKey): V | undefined;
  put(key: StateKey, mapKey: StateKey, value: V): void;
  delete(key: StateKey, mapKey: StateKey): void;
  /** The live entries of one key's map. Order unspecified. */
  entries(key: StateKey): [StateKey, V][];
  /** Removes one key's whole map. */
  clear(key: StateKey): void;
  /** Keys that have a non-empty map (batch boundaries only). Order unspecified. */
  keys(): StateKey[];
}

/**
 * A window, [startMs, endMs).
 *
 * @example
 * ```ts
 * for (const { startMs, endMs } of acc.windows()) if (endMs <= watermarkMs) fire(startMs, endMs);
 * ```
 */
export interface WindowRef {
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * Window state: (key, window) → accumulator.
 *
 * @example
 * ```ts
 * const acc = ops.window<Acc>('acc', { serializer: { encode: agg.encode, decode: agg.decode } });
 * acc.put('user-1', 0, 60_000, agg.add(acc.get('user-1', 0, 60_000) ?? agg.create(), order));
 * for (const w of acc.windows()) if (w.endMs <= watermarkMs) { emit(acc.entries(w.startMs, w.endMs)); acc.deleteWindow(w.startMs, w.endMs); }
 * ```
 */
export interface WindowState<T> {
  get(key: StateKey, startMs: number, endMs: number): T | undefined;
  put(key: StateKey, startMs: number, endMs: number, value: T): void;
  delete(key: StateKey, startMs: number, endMs: number): void;
  /** Windows holding at least one key, ordered by end then start. */
  windows(): WindowRef[];
  /** The entries of one window. Order unspecified. */
  entries(startMs: number, endMs: number): [StateKey, T][];
  /** Removes a window and every key in it. */
  deleteWindow(startMs: number, endMs: number): void;
}

/**
 * A timer that is due.
 *
 * @example
 * ```ts
 * for (const { timeMs, key } of timers.popDue(watermarkMs)) onTimer(key, timeMs);
 * ```
 */
export interface DueTimer {
  readonly timeMs: number;
  readonly key: StateKey;
}

/**
 * Event-time timers: (time, key) pairs, one per pair (registering twice is one timer).
 *
 * @example
 * ```ts
 * const timers = ops.timers('cleanup');
 * timers.register(windowEndMs, key);
 * for (const t of timers.popDue(watermarkMs)) onTimer(t.key, t.timeMs);
 * ```
 */
export interface TimerState {
  register(timeMs: number, key: StateKey): void;
  delete(timeMs: number, key: StateKey): void;
  has(timeMs: number, key: StateKey): boolean;
  /** The earliest registered time, or undefined. */
  nextTimeMs(): number | undefined;
  /**
   * Removes and returns every timer with `timeMs <= upToMs`, ascending by time. Timers of equal time
   * come in a backend-defined deterministic order that a snapshot and restore preserve (memory:
   * registration order; LMDB: key order).
   */
  popDue(upToMs: number): DueTimer[];
  /** Number of registered timers. */
  readonly size: number;
}

/**
 * The state of one operator: a namespace (the operator's stable name) holding named states.
 * Declare every state (same name, kind and descriptor as before) before `restore` runs.
 *
 * @example
 * ```ts
 * const ops = backend.operator('revenue-per-minute');
 * const acc = ops.window<Acc>('acc', { serializer: accSerializer, version: 1 });
 * ops.setCurrentTimeMs(watermarkMs);
 * ```
 */
export interface OperatorState {
  readonly name: string;
  /** The time TTL is measured in. Must be set before a TTL state is written. */
  setCurrentTimeMs(timeMs: number): void;
  readonly currentTimeMs: number;
  value<T>(name: string, descriptor?: StateDescriptor<T>): ValueState<T>;
  map<V>(name: string, descriptor?: StateDescriptor<V>): MapState<V>;
  window<T>(name: string, descriptor?: StateDescriptor<T>): WindowState<T>;
  timers(name: string): TimerState;
  /** Drops expired TTL entries now (they are already invisible). Returns how many went. */
  purgeExpired(): number;
  /** Removes everything this operator holds. */
  clear(): void;
}

/**
 * One operator's part of a backend snapshot.
 *
 * @example
 * ```ts
 * for (const part of (await backend.snapshot(7)).operators) console.log(part.operator, part.type, part.bytes.length);
 * ```
 */
export interface OperatorSnapshot {
  readonly operator: string;
  /** `full`: the whole state; `delta`: changes since the checkpoint `baseCheckpointId`. */
  readonly type: 'full' | 'delta';
  readonly checkpointId: number;
  /** For a delta, the checkpoint whose state it applies to; null for a full snapshot. */
  readonly baseCheckpointId: number | null;
  /** The encoded snapshot (grammar in snapshot-format.ts), self-checking (CRC32C). */
  readonly bytes: Uint8Array;
}

/**
 * What `StateBackend.snapshot` returns: one part per operator namespace.
 *
 * @example
 * ```ts
 * const snap: BackendSnapshot = await backend.snapshot(store.nextCheckpointId());
 * ```
 */
export interface BackendSnapshot {
  readonly checkpointId: number;
  readonly operators: readonly OperatorSnapshot[];
}

/**
 * Options of `StateBackend.snapshot`.
 *
 * @example
 * ```ts
 * await backend.snapshot(id, { full: true }); // e.g. for a savepoint
 * ```
 */
export interface SnapshotOptions {
  /** Write full snapshots for every operator (savepoints do). */
  readonly full?: boolean;
}

/**
 * Options of `StateBackend.restore`.
 *
 * @example
 * ```ts
 * await backend.restore(task.chains, { checkpointId: loaded.checkpointId, allowNonRestoredState: false });
 * ```
 */
export interface RestoreOptions {
  /**
   * The checkpoint the chains come from: later deltas build on it. Omit when restoring a savepoint
   * (its files are not in the checkpoint chain), so the next snapshot is full.
   */
  readonly checkpointId?: number;
  /** Skip states in the snapshot that no operator declares, instead of failing. */
  readonly allowNonRestoredState?: boolean;
}

/**
 * A state backend: every operator's state of one task, snapshot and restore.
 *
 * Checkpoint protocol (Flink's): `snapshot(id)` captures the state synchronously, at the call (state
 * may change as soon as it returns, before the promise settles); the caller stores the parts and then
 * calls `checkpointComplete(id)`, or `checkpointAborted(id)` if storing failed. A delta holds every
 * change since the operator's last *completed* checkpoint, so an aborted checkpoint loses nothing.
 *
 * @example
 * ```ts
 * const backend = new MemoryStateBackend();
 * const ops = backend.operator('counts');
 * const counts = ops.value<number>('n');
 * counts.put('a', (counts.get('a') ?? 0) + 1);
 * const snap = await backend.snapshot(1);
 * await store.write({ checkpointId: 1, tasks: [{ taskId: '0', operators: snap.operators, ... }] });
 * backend.checkpointComplete(1);
 * ```
 */
export interface StateBackend {
  readonly kind: 'memory' | 'lmdb';
  /** The namespace of one operator (created on first use). */
  operator(name: string): OperatorState;
  /** Names of the operators that have a namespace. */
  operatorNames(): string[];
  snapshot(checkpointId: number, options?: SnapshotOptions): Promise<BackendSnapshot>;
  checkpointComplete(checkpointId: number): void;
  checkpointAborted(checkpointId: number): void;
  /**
   * Replaces the state of the operators named in `chains` by the state their snapshot chain (one full
   * snapshot, then deltas in order) describes. Operators not named keep nothing from before.
   */
  restore(chains: ReadonlyMap<string, readonly Uint8Array[]>, options?: RestoreOptions): Promise<void>;
  /** Batch boundary: lets a backend write buffered changes out (no-op for memory). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Kinds of state, as stored in snapshots. */
export const StateKinds = { value: 1, map: 2, window: 3, timers: 4 } as const;
export type StateKind = keyof typeof StateKinds;

/** Throws FRESHET_INVALID_ARGUMENT unless `key` is a finite number or a string. */
export function checkStateKey(key: StateKey, what = 'state key'): void {
  if (typeof key === 'string') return;
  if (typeof key !== 'number' || !Number.isFinite(key)) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${what} must be a string or a finite number, got ${String(key)}`);
  }
}

/** Validates a descriptor and fills in its defaults. */
export function resolveDescriptor<T>(kind: StateKind, operator: string, name: string, d: StateDescriptor<T> | undefined): ResolvedDescriptor<T> {
  const version = d?.version ?? 1;
  if (!Number.isInteger(version) || version < 1 || version > 0xffffffff) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `state '${name}' of operator '${operator}': version must be an integer >= 1, got ${String(version)}`);
  }
  if (d?.ttl !== undefined) {
    if (kind !== 'value' && kind !== 'map') throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `state '${name}' of operator '${operator}': TTL applies to value and map states only`);
    if (!(d.ttl.ttlMs > 0) || !Number.isFinite(d.ttl.ttlMs)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `state '${name}' of operator '${operator}': ttlMs must be a positive number`);
  }
  return {
    kind,
    serializer: d?.serializer ?? msgpackSerializer<T>(),
    version,
    migrations: d?.migrations ?? {},
    ttlMs: d?.ttl?.ttlMs ?? null,
    ttlOnRead: d?.ttl?.updateOn === 'readAndWrite',
  };
}

/** A descriptor with its defaults applied. */
export interface ResolvedDescriptor<T> {
  readonly kind: StateKind;
  readonly serializer: StateSerializer<T>;
  readonly version: number;
  readonly migrations: StateMigrations;
  /** null: no TTL. */
  readonly ttlMs: number | null;
  readonly ttlOnRead: boolean;
}

/**
 * Upgrades value bytes written at `fromVersion` to `descriptor.version` (throws
 * FRESHET_STATE_MIGRATION_MISSING when a step is missing, or for a newer stored version).
 */
export function migrationPath(operator: string, state: string, fromVersion: number, d: ResolvedDescriptor<unknown>): ((old: Uint8Array) => Uint8Array) | null {
  if (fromVersion === d.version) return null;
  const steps: ((old: Uint8Array) => Uint8Array)[] = [];
  for (let v = fromVersion; v < d.version; v++) {
    const step = d.migrations[v];
    if (step === undefined) break;
    steps.push(step);
  }
  if (fromVersion > d.version || steps.length !== d.version - fromVersion) {
    throw new FreshetError(
      ErrorCodes.STATE_MIGRATION_MISSING,
      `state '${state}' of operator '${operator}' was stored in format version ${fromVersion}; the operator declares version ${d.version} and ${fromVersion > d.version ? 'a state cannot be downgraded' : `has no migration from version ${fromVersion + steps.length}`}`,
      { operator, state, fromVersion, toVersion: d.version },
    );
  }
  return (old) => {
    let bytes = old;
    for (const step of steps) bytes = step(bytes);
    return bytes;
  };
}

/** Throws the error for a state declared twice with a different kind or version. */
export function checkRedeclaration(operator: string, name: string, existing: ResolvedDescriptor<unknown>, kind: StateKind, descriptor: StateDescriptor<unknown> | undefined): void {
  const version = descriptor?.version ?? 1;
  if (existing.kind !== kind || existing.version !== version || existing.ttlMs !== (descriptor?.ttl?.ttlMs ?? null)) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `state '${name}' of operator '${operator}' is already declared as ${existing.kind} v${existing.version}`, { operator, state: name });
  }
}

/** Throws FRESHET_STATE_CLOSED. */
export function stateClosed(): never {
  throw new FreshetError(ErrorCodes.STATE_CLOSED, 'the state backend is closed');
}
