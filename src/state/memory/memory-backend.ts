import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { type ChainOptions, ChainState, checkChain, checkSnapshotId } from '../chain.js';
import { StateLimits } from '../limits.js';
import { SnapshotWriter, type StateSink, decodeSnapshot } from '../snapshot-format.js';
import {
  type BackendSnapshot,
  type DueTimer,
  type MapState,
  type OperatorSnapshot,
  type OperatorState,
  type ResolvedDescriptor,
  type RestoreOptions,
  type SnapshotOptions,
  type StateBackend,
  type StateDescriptor,
  type StateKey,
  type StateKind,
  type TimerState,
  type ValueState,
  type WindowRef,
  type WindowState,
  checkRedeclaration,
  checkStateKey,
  migrationPath,
  resolveDescriptor,
  stateClosed,
} from '../state-store.js';

/*
 * How the memory backend tracks changes for incremental snapshots (a dirty-entry list, no copying):
 * every value lives in an Entry object; the first change to an entry after a snapshot pushes it on the
 * state's current "generation" list (the `stamp` field makes that a single compare). A snapshot turns
 * the current generation into a pending one and encodes, synchronously, the entries of every
 * generation since the operator's last completed checkpoint, as they are at that moment. Completing a
 * checkpoint drops the generations it covered; an aborted one drops nothing, so the next delta still
 * carries its changes. Whole windows / maps removed, and whole-state clears, are recorded as such
 * (tombstones) rather than per entry.
 */

/** Largest buffer a full snapshot allocates up front (it grows past it as needed). */
const SNAPSHOT_PRESIZE_MAX_BYTES = 256 * 1024 * 1024;

/** One stored value. `bucket` is the window / map / time group it belongs to (null for value state). */
interface Entry<T> {
  readonly key: StateKey;
  /** The value; meaningless while `raw` is set. */
  value: T;
  /** Restored bytes not decoded yet (decoded on first read: a restore only builds the maps). */
  raw: Uint8Array | null;
  expiresAtMs: number;
  /** Id of the generation the entry was last pushed on. */
  stamp: number;
  live: boolean;
  readonly bucket: Bucket<T> | null;
  /** The state's clear count when the entry was made (older ones died in a clear). */
  readonly epoch: number;
}

/** A group of entries: one window (a = start, b = end), one key's map (a = key) or one timer time (a = time). */
interface Bucket<T> {
  readonly a: StateKey;
  readonly b: number;
  readonly entries: Map<StateKey, Entry<T>>;
  live: boolean;
  readonly epoch: number;
  /** Used while encoding a delta only: this bucket's changed entries. */
  scratchPuts?: Entry<T>[] | null;
  scratchDeletes?: Entry<T>[] | null;
}

/** Changes made between two snapshots. */
interface Generation<T> {
  readonly id: number;
  /** The checkpoint that captured it (Infinity for the current generation). */
  upTo: number;
  readonly entries: Entry<T>[];
  readonly tombstones: Bucket<T>[];
  cleared: boolean;
}

/**
 * Options of `MemoryStateBackend`.
 *
 * @example
 * ```ts
 * const backend = new MemoryStateBackend({ maxEntries: 10_000_000, maxDeltaChain: 10 });
 * ```
 */
export interface MemoryStateBackendOptions extends ChainOptions {
  /** Most entries held in total (default StateLimits.memoryMaxEntries); more is FRESHET_STATE_LIMIT_EXCEEDED. */
  readonly maxEntries?: number;
}

/**
 * The default state backend: everything on the heap, in Maps, with incremental snapshots from a
 * dirty-entry list (see the comment above). Fast and simple; bounded by `maxEntries` and the heap.
 *
 * @example
 * ```ts
 * const backend = new MemoryStateBackend();
 * const counts = backend.operator('count-per-user').value<number>('n');
 * counts.put('u1', (counts.get('u1') ?? 0) + 1);
 * const snap = await backend.snapshot(1);
 * ```
 */
export class MemoryStateBackend implements StateBackend {
  readonly kind = 'memory' as const;
  /** Entries held now, over every operator. */
  entryCount = 0;
  readonly maxEntries: number;
  private readonly maxDeltaChain: number;
  private readonly namespaces = new Map<string, MemoryOperatorState>();
  private readonly pending = new Map<number, Map<MemoryOperatorState, OperatorSnapshot>>();
  private lastSnapshotId = 0;
  private genSeq = 0;
  closed = false;

  constructor(options: MemoryStateBackendOptions = {}) {
    this.maxEntries = options.maxEntries ?? StateLimits.memoryMaxEntries;
    this.maxDeltaChain = options.maxDeltaChain ?? StateLimits.maxDeltaChain;
  }

  /** A fresh generation id. */
  nextGenId(): number {
    return ++this.genSeq;
  }

  operator(name: string): OperatorState {
    if (this.closed) stateClosed();
    let ns = this.namespaces.get(name);
    if (!ns) {
      if (typeof name !== 'string' || name.length === 0 || name.length > StateLimits.maxNameLength) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `operator name must be 1-${StateLimits.maxNameLength} characters`);
      }
      ns = new MemoryOperatorState(name, this);
      this.namespaces.set(name, ns);
    }
    return ns;
  }

  operatorNames(): string[] {
    return [...this.namespaces.keys()];
  }

  async snapshot(checkpointId: number, options: SnapshotOptions = {}): Promise<BackendSnapshot> {
    if (this.closed) stateClosed();
    checkSnapshotId(checkpointId, this.lastSnapshotId);
    this.lastSnapshotId = checkpointId;
    const parts = new Map<MemoryOperatorState, OperatorSnapshot>();
    for (const ns of this.namespaces.values()) {
      const full = ns.chain.wantsFull(options.full === true, this.maxDeltaChain);
      parts.set(ns, ns.encode(checkpointId, full));
    }
    this.pending.set(checkpointId, parts);
    return { checkpointId, operators: [...parts.values()] };
  }

  checkpointComplete(checkpointId: number): void {
    const parts = this.pending.get(checkpointId);
    if (!parts) return; // unknown or already superseded: nothing to do
    for (const [ns, part] of parts) {
      ns.chain.completed(checkpointId, part.type, part.bytes.length);
      ns.dropGenerations(checkpointId);
    }
    for (const id of this.pending.keys()) if (id <= checkpointId) this.pending.delete(id);
  }

  checkpointAborted(checkpointId: number): void {
    this.pending.delete(checkpointId);
  }

  async restore(chains: ReadonlyMap<string, readonly Uint8Array[]>, options: RestoreOptions = {}): Promise<void> {
    if (this.closed) stateClosed();
    for (const [name, chain] of chains) checkChain(name, chain);
    this.pending.clear();
    for (const ns of this.namespaces.values()) {
      ns.resetForRestore();
      ns.chain.reset();
    }
    for (const [name, chain] of chains) {
      let ns = this.namespaces.get(name);
      if (!ns) {
        if (!options.allowNonRestoredState) {
          throw new FreshetError(ErrorCodes.STATE_NOT_RESTORED, `the snapshot holds state of operator '${name}', which declares no state now`, { operator: name });
        }
        continue;
      }
      for (const link of chain) decodeSnapshot(link, (state, kind, version) => ns.sinkFor(state, kind, version, options.allowNonRestoredState === true));
      if (options.checkpointId !== undefined) {
        ns.chain.base = options.checkpointId;
        ns.chain.deltas = chain.length - 1;
        ns.chain.fullBytes = chain[0]!.length;
        for (let i = 1; i < chain.length; i++) ns.chain.deltaBytes += chain[i]!.length;
      }
    }
    if (options.checkpointId !== undefined) this.lastSnapshotId = Math.max(this.lastSnapshotId, options.checkpointId);
  }

  async flush(): Promise<void> {
    if (this.closed) stateClosed();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.namespaces.clear();
    this.pending.clear();
    this.entryCount = 0;
  }

  /** Counts a new entry, enforcing maxEntries. */
  addEntry(): void {
    if (this.entryCount >= this.maxEntries) {
      throw new FreshetError(ErrorCodes.STATE_LIMIT_EXCEEDED, `the memory state backend holds ${this.entryCount} entries, its bound (maxEntries); raise it or use the LMDB backend`, {
        maxEntries: this.maxEntries,
      });
    }
    this.entryCount++;
  }
}

/** The states of one operator in the memory backend. */
class MemoryOperatorState implements OperatorState {
  readonly chain = new ChainState();
  readonly states = new Map<string, MemState<unknown>>();
  currentTimeMs = Number.NaN;

  constructor(
    readonly name: string,
    readonly backend: MemoryStateBackend,
  ) {}

  setCurrentTimeMs(timeMs: number): void {
    if (typeof timeMs !== 'number' || Number.isNaN(timeMs)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `current time must be a number, got ${String(timeMs)}`);
    this.currentTimeMs = timeMs;
  }

  value<T>(name: string, descriptor?: StateDescriptor<T>): ValueState<T> {
    return this.declare(name, 'value', descriptor, (d) => new MemValueState<T>(this, name, d)) as MemValueState<T>;
  }

  map<V>(name: string, descriptor?: StateDescriptor<V>): MapState<V> {
    return this.declare(name, 'map', descriptor, (d) => new MemMapState<V>(this, name, d)) as MemMapState<V>;
  }

  window<T>(name: string, descriptor?: StateDescriptor<T>): WindowState<T> {
    return this.declare(name, 'window', descriptor, (d) => new MemWindowState<T>(this, name, d)) as MemWindowState<T>;
  }

  timers(name: string): TimerState {
    return this.declare(name, 'timers', undefined, (d) => new MemTimerState(this, name, d as ResolvedDescriptor<true>)) as MemTimerState;
  }

  purgeExpired(): number {
    let n = 0;
    for (const s of this.states.values()) n += s.purgeExpired();
    return n;
  }

  clear(): void {
    for (const s of this.states.values()) s.clear();
  }

  /** Encodes this operator's state as a full snapshot or a delta on `chain.base`, and starts a new generation. */
  encode(checkpointId: number, full: boolean): OperatorSnapshot {
    // Sized up front: regrowing a large buffer by doubling allocates (and makes the GC chase) several
    // times the snapshot's size. Deltas are sized from their changed entries and the bytes per entry so far.
    let sizeHint: number;
    if (full) sizeHint = Math.max(this.chain.fullBytes * 1.1, this.backend.entryCount * 40);
    else {
      let changed = 0;
      for (const st of this.states.values()) changed += st.changedCount();
      sizeHint = changed * 48 + 4096;
    }
    sizeHint = Math.min(SNAPSHOT_PRESIZE_MAX_BYTES, sizeHint);
    const w = new SnapshotWriter(full ? 'full' : 'delta', checkpointId, full ? null : this.chain.base, this.name, sizeHint);
    for (const s of this.states.values()) {
      if (full) s.encodeFull(w);
      else s.encodeDelta(w);
      s.rotate(checkpointId);
    }
    return { operator: this.name, type: full ? 'full' : 'delta', checkpointId, baseCheckpointId: full ? null : this.chain.base, bytes: w.finish() };
  }

  dropGenerations(checkpointId: number): void {
    for (const s of this.states.values()) s.dropGenerations(checkpointId);
  }

  resetForRestore(): void {
    for (const s of this.states.values()) s.reset();
  }

  sinkFor(state: string, kind: StateKind, version: number, allowNonRestored: boolean): { sink: StateSink; migrate: ((old: Uint8Array) => Uint8Array) | null } | null {
    const s = this.states.get(state);
    if (!s) {
      if (allowNonRestored) return null;
      throw new FreshetError(ErrorCodes.STATE_INCOMPATIBLE, `operator '${this.name}': the snapshot holds state '${state}' (${kind}), which the operator does not declare`, {
        operator: this.name,
        state,
      });
    }
    if (s.descriptor.kind !== kind) {
      throw new FreshetError(ErrorCodes.STATE_INCOMPATIBLE, `operator '${this.name}': state '${state}' was saved as ${kind} and is declared as ${s.descriptor.kind}`, {
        operator: this.name,
        state,
      });
    }
    return { sink: s.restoreSink(), migrate: migrationPath(this.name, state, version, s.descriptor) };
  }

  /** The time TTL states use; fails when none was set. */
  nowForTtl(state: string): number {
    if (Number.isNaN(this.currentTimeMs)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `state '${state}' of operator '${this.name}' has a TTL: call setCurrentTimeMs before writing it`);
    }
    return this.currentTimeMs;
  }

  private declare<S, T>(name: string, kind: StateKind, descriptor: StateDescriptor<T> | undefined, make: (d: ResolvedDescriptor<T>) => S): S {
    if (this.backend.closed) stateClosed();
    const existing = this.states.get(name);
    if (existing) {
      checkRedeclaration(this.name, name, existing.descriptor, kind, descriptor as StateDescriptor<unknown> | undefined);
      return existing as unknown as S;
    }
    const state = make(resolveDescriptor(kind, this.name, name, descriptor));
    this.states.set(name, state as unknown as MemState<unknown>);
    return state;
  }
}

const NO_SINK = (): never => {
  throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, 'operator snapshot: an entry of the wrong kind for its state');
};

/** What every memory state shares: generations, entry bookkeeping, and the snapshot sink defaults. */
abstract class MemState<T> implements StateSink {
  epoch = 0;
  protected gens: Generation<T>[];
  protected current: Generation<T>;
  protected readonly backend: MemoryStateBackend;

  constructor(
    protected readonly ns: MemoryOperatorState,
    readonly name: string,
    readonly descriptor: ResolvedDescriptor<T>,
  ) {
    this.backend = ns.backend;
    this.current = this.newGeneration();
    this.gens = [this.current];
  }

  abstract encodeFull(w: SnapshotWriter): void;
  abstract encodeDelta(w: SnapshotWriter): void;
  /** Empties the structures (no change tracking): restore and clear both start from this. */
  protected abstract dropAll(): void;
  abstract purgeExpired(): number;

  /** Records that `e` changed since the last snapshot. */
  protected touch(e: Entry<T>): void {
    const g = this.current;
    if (e.stamp !== g.id) {
      e.stamp = g.id;
      g.entries.push(e);
    }
  }

  protected tombstone(b: Bucket<T>): void {
    b.live = false;
    this.current.tombstones.push(b);
  }

  protected isLive(e: Entry<T>): boolean {
    return e.live && e.epoch === this.epoch && (e.bucket === null || (e.bucket.live && e.bucket.epoch === this.epoch));
  }

  protected newEntry(key: StateKey, value: T, bucket: Bucket<T> | null, expiresAtMs: number): Entry<T> {
    this.backend.addEntry();
    // -0 is 0 (as Map lookups already treat it), also once stored and snapshotted.
    return { key: key === 0 ? 0 : key, value, raw: null, expiresAtMs, stamp: 0, live: true, bucket, epoch: this.epoch };
  }

  protected expiresAt(): number {
    return this.descriptor.ttlMs === null ? Number.POSITIVE_INFINITY : this.ns.nowForTtl(this.name) + this.descriptor.ttlMs;
  }

  /** True when `e` is expired now (TTL states only). */
  protected expired(e: Entry<T>): boolean {
    return e.expiresAtMs <= this.ns.currentTimeMs;
  }

  clear(): void {
    this.dropAll();
    this.epoch++;
    this.current.cleared = true;
  }

  /** Generations since the last completed checkpoint, as one deduplicated change set. */
  protected changes(): { entries: Entry<T>[]; tombstones: Bucket<T>[]; cleared: boolean } {
    const nonEmpty = this.gens.filter((g) => g.entries.length > 0 || g.tombstones.length > 0 || g.cleared);
    if (nonEmpty.length === 1) return nonEmpty[0]!;
    const entries = new Set<Entry<T>>();
    const tombstones = new Set<Bucket<T>>();
    let cleared = false;
    for (const g of nonEmpty) {
      for (const e of g.entries) entries.add(e);
      for (const b of g.tombstones) tombstones.add(b);
      cleared ||= g.cleared;
    }
    return { entries: [...entries], tombstones: [...tombstones], cleared };
  }

  /** This state as a restore target: like itself, except that a cleared delta empties it without recording a clear. */
  restoreSink(): StateSink {
    const sink = Object.create(this) as StateSink;
    sink.clear = () => {
      this.dropAll();
      this.epoch++;
    };
    return sink;
  }

  /** Entries changed since the last completed checkpoint (counting repeats across generations). */
  changedCount(): number {
    let n = 0;
    for (const g of this.gens) n += g.entries.length;
    return n;
  }

  rotate(checkpointId: number): void {
    this.current.upTo = checkpointId;
    this.current = this.newGeneration();
    this.gens.push(this.current);
  }

  dropGenerations(checkpointId: number): void {
    this.gens = this.gens.filter((g) => g.upTo > checkpointId);
  }

  reset(): void {
    this.dropAll();
    this.epoch++;
    this.current = this.newGeneration();
    this.gens = [this.current];
  }

  private newGeneration(): Generation<T> {
    return { id: this.backend.nextGenId(), upTo: Number.POSITIVE_INFINITY, entries: [], tombstones: [], cleared: false };
  }

  /** An entry's value, decoding restored bytes on first use. */
  protected valueOf(e: Entry<T>): T {
    if (e.raw !== null) {
      e.value = this.descriptor.serializer.decode(e.raw);
      e.raw = null;
    }
    return e.value;
  }

  /** Writes an entry's value into a snapshot: restored bytes never decoded are copied as they are. */
  protected writeValue(w: SnapshotWriter, e: Entry<T>): void {
    if (e.raw !== null) w.bytes(e.raw);
    else w.value(this.descriptor.serializer, e.value);
  }

  /** A restored entry (its bytes decoded lazily). */
  protected restoredEntry(key: StateKey, raw: Uint8Array, bucket: Bucket<T> | null, expiresAtMs: number): Entry<T> {
    const e = this.newEntry(key, undefined as T, bucket, expiresAtMs);
    e.raw = raw;
    return e;
  }

  // Snapshot sink: each subclass overrides the methods of its kind.
  valueDelete: (key: StateKey) => void = NO_SINK;
  valuePut: (key: StateKey, expiresAtMs: number, bytes: Uint8Array) => void = NO_SINK;
  mapClear: (key: StateKey) => void = NO_SINK;
  mapDelete: (key: StateKey, mapKey: StateKey) => void = NO_SINK;
  mapPut: (key: StateKey, mapKey: StateKey, expiresAtMs: number, bytes: Uint8Array) => void = NO_SINK;
  windowClear: (startMs: number, endMs: number) => void = NO_SINK;
  windowDelete: (startMs: number, endMs: number, key: StateKey) => void = NO_SINK;
  windowPut: (startMs: number, endMs: number, key: StateKey, bytes: Uint8Array) => void = NO_SINK;
  windowPutRaw: ((startMs: number, endMs: number, key: StateKey, src: Buffer, lengthAt: number) => void) | undefined = undefined;
  timerDelete: (timeMs: number, key: StateKey) => void = NO_SINK;
  timerPut: (timeMs: number, key: StateKey) => void = NO_SINK;
}

class MemValueState<T> extends MemState<T> implements ValueState<T> {
  private readonly map = new Map<StateKey, Entry<T>>();

  get(key: StateKey): T | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (this.descriptor.ttlMs !== null) {
      if (this.expired(e)) {
        this.remove(e);
        return undefined;
      }
      if (this.descriptor.ttlOnRead) {
        e.expiresAtMs = this.expiresAt();
        this.touch(e);
      }
    }
    return this.valueOf(e);
  }

  has(key: StateKey): boolean {
    const e = this.map.get(key);
    return e !== undefined && !(this.descriptor.ttlMs !== null && this.expired(e));
  }

  put(key: StateKey, value: T): void {
    let e = this.map.get(key);
    if (e === undefined) {
      checkStateKey(key);
      e = this.newEntry(key, value, null, this.expiresAt());
      this.map.set(key, e);
    } else {
      e.value = value;
      e.raw = null;
      if (this.descriptor.ttlMs !== null) e.expiresAtMs = this.expiresAt();
    }
    this.touch(e);
  }

  delete(key: StateKey): void {
    const e = this.map.get(key);
    if (e !== undefined) this.remove(e);
  }

  entries(): [StateKey, T][] {
    const out: [StateKey, T][] = [];
    const ttl = this.descriptor.ttlMs !== null;
    for (const e of this.map.values()) if (!ttl || !this.expired(e)) out.push([e.key, this.valueOf(e)]);
    return out;
  }

  purgeExpired(): number {
    if (this.descriptor.ttlMs === null) return 0;
    let n = 0;
    for (const e of this.map.values()) {
      if (this.expired(e)) {
        this.remove(e);
        n++;
      }
    }
    return n;
  }

  private remove(e: Entry<T>): void {
    this.map.delete(e.key);
    e.live = false;
    this.backend.entryCount--;
    this.touch(e);
  }

  protected dropAll(): void {
    this.backend.entryCount -= this.map.size;
    this.map.clear();
  }

  encodeFull(w: SnapshotWriter): void {
    const ttl = this.descriptor.ttlMs !== null;
    w.beginState(this.name, 'value', this.descriptor.version, false, ttl);
    w.u32(0);
    w.u32(0);
    const at = w.reserve();
    let n = 0;
    for (const e of this.map.values()) {
      if (ttl && this.expired(e)) continue;
      w.key(e.key);
      if (ttl) w.f64(e.expiresAtMs);
      this.writeValue(w, e);
      n++;
    }
    w.patch(at, n);
  }

  encodeDelta(w: SnapshotWriter): void {
    const { entries, cleared } = this.changes();
    const ttl = this.descriptor.ttlMs !== null;
    w.beginState(this.name, 'value', this.descriptor.version, cleared, ttl);
    w.u32(0);
    let at = w.reserve();
    let n = 0;
    for (const e of entries) {
      if (!this.isLive(e) && e.epoch === this.epoch) {
        w.key(e.key);
        n++;
      }
    }
    w.patch(at, n);
    at = w.reserve();
    n = 0;
    for (const e of entries) {
      if (!this.isLive(e)) continue;
      w.key(e.key);
      if (ttl) w.f64(e.expiresAtMs);
      this.writeValue(w, e);
      n++;
    }
    w.patch(at, n);
  }

  override valueDelete = (key: StateKey): void => {
    const e = this.map.get(key);
    if (e) {
      this.map.delete(key);
      this.backend.entryCount--;
    }
  };

  override valuePut = (key: StateKey, expiresAtMs: number, bytes: Uint8Array): void => {
    const existing = this.map.get(key);
    if (existing) {
      existing.raw = bytes;
      existing.expiresAtMs = expiresAtMs;
      return;
    }
    this.map.set(key, this.restoredEntry(key, bytes, null, expiresAtMs));
  };
}

/** Shared by map and window state: entries grouped in buckets. */
abstract class MemBucketState<T> extends MemState<T> {
  protected newBucket(a: StateKey, b: number): Bucket<T> {
    return { a: a === 0 ? 0 : a, b: b === 0 ? 0 : b, entries: new Map(), live: true, epoch: this.epoch, scratchPuts: null, scratchDeletes: null };
  }

  protected removeEntry(bucket: Bucket<T>, e: Entry<T>, dropBucket: (b: Bucket<T>) => void): void {
    bucket.entries.delete(e.key);
    e.live = false;
    this.backend.entryCount--;
    this.touch(e);
    if (bucket.entries.size === 0) dropBucket(bucket);
  }

  /** Encodes delete and put sections grouped by bucket, from a change set. */
  protected encodeGroupedChanges(w: SnapshotWriter, entries: readonly Entry<T>[], writeBucket: (b: Bucket<T>) => void, withExpiry: boolean): void {
    // Grouped by bucket through scratch lists on the buckets themselves (no Map lookup per entry).
    const touched: Bucket<T>[] = [];
    let deleteGroups = 0;
    let putGroups = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const b = e.bucket!;
      // Entries of a removed bucket or a cleared state are covered by the tombstone / clear.
      if (!b.live || b.epoch !== this.epoch || e.epoch !== this.epoch) continue;
      if (b.scratchPuts === undefined || b.scratchPuts === null) {
        b.scratchPuts = [];
        b.scratchDeletes = [];
        touched.push(b);
      }
      if (e.live) {
        if (b.scratchPuts.length === 0) putGroups++;
        b.scratchPuts.push(e);
      } else {
        if (b.scratchDeletes!.length === 0) deleteGroups++;
        b.scratchDeletes!.push(e);
      }
    }
    w.u32(deleteGroups);
    for (const b of touched) {
      const list = b.scratchDeletes!;
      if (list.length === 0) continue;
      writeBucket(b);
      w.u32(list.length);
      for (let i = 0; i < list.length; i++) w.key(list[i]!.key);
    }
    w.u32(putGroups);
    for (const b of touched) {
      const list = b.scratchPuts!;
      b.scratchPuts = null;
      b.scratchDeletes = null;
      if (list.length === 0) continue;
      writeBucket(b);
      w.u32(list.length);
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        w.key(e.key);
        if (withExpiry) w.f64(e.expiresAtMs);
        this.writeValue(w, e);
      }
    }
  }
}

class MemMapState<V> extends MemBucketState<V> implements MapState<V> {
  private readonly maps = new Map<StateKey, Bucket<V>>();
  private readonly dropBucket = (b: Bucket<V>): void => {
    this.maps.delete(b.a);
  };

  get(key: StateKey, mapKey: StateKey): V | undefined {
    const b = this.maps.get(key);
    const e = b?.entries.get(mapKey);
    if (e === undefined) return undefined;
    if (this.descriptor.ttlMs !== null) {
      if (this.expired(e)) {
        this.removeEntry(b!, e, this.dropBucket);
        return undefined;
      }
      if (this.descriptor.ttlOnRead) {
        e.expiresAtMs = this.expiresAt();
        this.touch(e);
      }
    }
    return this.valueOf(e);
  }

  put(key: StateKey, mapKey: StateKey, value: V): void {
    let b = this.maps.get(key);
    if (b === undefined) {
      checkStateKey(key);
      b = this.newBucket(key, 0);
      this.maps.set(key, b);
    }
    let e = b.entries.get(mapKey);
    if (e === undefined) {
      checkStateKey(mapKey, 'map key');
      e = this.newEntry(mapKey, value, b, this.expiresAt());
      b.entries.set(mapKey, e);
    } else {
      e.value = value;
      e.raw = null;
      if (this.descriptor.ttlMs !== null) e.expiresAtMs = this.expiresAt();
    }
    this.touch(e);
  }

  delete(key: StateKey, mapKey: StateKey): void {
    const b = this.maps.get(key);
    const e = b?.entries.get(mapKey);
    if (e !== undefined) this.removeEntry(b!, e, this.dropBucket);
  }

  entries(key: StateKey): [StateKey, V][] {
    const b = this.maps.get(key);
    if (!b) return [];
    const ttl = this.descriptor.ttlMs !== null;
    const out: [StateKey, V][] = [];
    for (const e of b.entries.values()) if (!ttl || !this.expired(e)) out.push([e.key, this.valueOf(e)]);
    return out;
  }

  override clear(key?: StateKey): void {
    if (key === undefined) {
      super.clear();
      return;
    }
    const b = this.maps.get(key);
    if (!b) return;
    this.maps.delete(key);
    this.backend.entryCount -= b.entries.size;
    this.tombstone(b);
  }

  keys(): StateKey[] {
    const out: StateKey[] = [];
    const ttl = this.descriptor.ttlMs !== null;
    for (const b of this.maps.values()) {
      if (!ttl) out.push(b.a);
      else for (const e of b.entries.values()) if (!this.expired(e)) {
        out.push(b.a);
        break;
      }
    }
    return out;
  }

  purgeExpired(): number {
    if (this.descriptor.ttlMs === null) return 0;
    let n = 0;
    for (const b of [...this.maps.values()]) {
      for (const e of [...b.entries.values()]) {
        if (this.expired(e)) {
          this.removeEntry(b, e, this.dropBucket);
          n++;
        }
      }
    }
    return n;
  }

  protected dropAll(): void {
    for (const b of this.maps.values()) this.backend.entryCount -= b.entries.size;
    this.maps.clear();
  }

  encodeFull(w: SnapshotWriter): void {
    const ttl = this.descriptor.ttlMs !== null;
    w.beginState(this.name, 'map', this.descriptor.version, false, ttl);
    w.u32(0);
    w.u32(0);
    const at = w.reserve();
    let groups = 0;
    for (const b of this.maps.values()) {
      const live = ttl ? [...b.entries.values()].filter((e) => !this.expired(e)) : [...b.entries.values()];
      if (live.length === 0) continue;
      w.key(b.a);
      w.u32(live.length);
      for (const e of live) {
        w.key(e.key);
        if (ttl) w.f64(e.expiresAtMs);
        this.writeValue(w, e);
      }
      groups++;
    }
    w.patch(at, groups);
  }

  encodeDelta(w: SnapshotWriter): void {
    const { entries, tombstones, cleared } = this.changes();
    const ttl = this.descriptor.ttlMs !== null;
    w.beginState(this.name, 'map', this.descriptor.version, cleared, ttl);
    const live = tombstones.filter((b) => b.epoch === this.epoch);
    w.u32(live.length);
    for (const b of live) w.key(b.a);
    this.encodeGroupedChanges(w, entries, (b) => w.key(b.a), ttl);
  }

  override mapClear = (key: StateKey): void => {
    const b = this.maps.get(key);
    if (!b) return;
    this.maps.delete(key);
    this.backend.entryCount -= b.entries.size;
  };

  override mapDelete = (key: StateKey, mapKey: StateKey): void => {
    const b = this.maps.get(key);
    if (!b || !b.entries.delete(mapKey)) return;
    this.backend.entryCount--;
    if (b.entries.size === 0) this.maps.delete(key);
  };

  override mapPut = (key: StateKey, mapKey: StateKey, expiresAtMs: number, bytes: Uint8Array): void => {
    let b = this.maps.get(key);
    if (!b) this.maps.set(key, (b = this.newBucket(key, 0)));
    const existing = b.entries.get(mapKey);
    if (existing) {
      existing.raw = bytes;
      existing.expiresAtMs = expiresAtMs;
    } else b.entries.set(mapKey, this.restoredEntry(mapKey, bytes, b, expiresAtMs));
  };
}

/**
 * A window's bucket. Besides entries, a slot may hold a number: a restored value never touched since,
 * stored as the position of its length-prefixed bytes in `src` (the snapshot it came from). A restore of a
 * million keys then allocates nothing per key but the key; the slot becomes an Entry on first access.
 */
interface WindowBucket<T> {
  readonly a: StateKey;
  readonly b: number;
  readonly entries: Map<StateKey, Entry<T> | number>;
  live: boolean;
  readonly epoch: number;
  scratchPuts?: Entry<T>[] | null;
  scratchDeletes?: Entry<T>[] | null;
  src: Buffer | null;
}

class MemWindowState<T> extends MemBucketState<T> implements WindowState<T> {
  /** start → end → bucket. */
  private readonly byStart = new Map<number, Map<number, WindowBucket<T>>>();
  /** The bucket the last restored entry went to: entries come grouped by window. */
  private restoreBucket: WindowBucket<T> | null = null;
  private readonly dropBucket = (b: Bucket<T> | WindowBucket<T>): void => {
    const ends = this.byStart.get(b.a as number)!;
    ends.delete(b.b);
    if (ends.size === 0) this.byStart.delete(b.a as number);
    if (this.restoreBucket === b) this.restoreBucket = null;
  };

  private bucket(startMs: number, endMs: number): WindowBucket<T> | undefined {
    return this.byStart.get(startMs)?.get(endMs);
  }

  private newWindowBucket(startMs: number, endMs: number): WindowBucket<T> {
    return { ...(this.newBucket(startMs, endMs) as unknown as WindowBucket<T>), src: null };
  }

  /** The Entry for a slot, turning a restored position into one (already counted: no addEntry). */
  private entryOf(b: WindowBucket<T>, key: StateKey, slot: Entry<T> | number): Entry<T> {
    if (typeof slot !== 'number') return slot;
    const src = b.src!;
    const length = src.readUInt32LE(slot);
    const e: Entry<T> = { key, value: undefined as T, raw: src.subarray(slot + 4, slot + 4 + length), expiresAtMs: Number.POSITIVE_INFINITY, stamp: 0, live: true, bucket: b as unknown as Bucket<T>, epoch: this.epoch };
    b.entries.set(key, e);
    return e;
  }

  /** A slot's value without creating an Entry (scans). */
  private slotValue(b: WindowBucket<T>, slot: Entry<T> | number): T {
    if (typeof slot !== 'number') return this.valueOf(slot);
    const src = b.src!;
    return this.descriptor.serializer.decode(src.subarray(slot + 4, slot + 4 + src.readUInt32LE(slot)));
  }

  get(key: StateKey, startMs: number, endMs: number): T | undefined {
    const b = this.byStart.get(startMs)?.get(endMs);
    if (b === undefined) return undefined;
    const slot = b.entries.get(key);
    if (slot === undefined) return undefined;
    return this.valueOf(typeof slot === 'number' ? this.entryOf(b, key, slot) : slot);
  }

  put(key: StateKey, startMs: number, endMs: number, value: T): void {
    let ends = this.byStart.get(startMs);
    let b = ends?.get(endMs);
    if (b === undefined) {
      checkWindow(startMs, endMs);
      if (!ends) this.byStart.set(startMs, (ends = new Map()));
      b = this.newWindowBucket(startMs, endMs);
      ends.set(endMs, b);
    }
    const slot = b.entries.get(key);
    let e: Entry<T>;
    if (slot === undefined) {
      checkStateKey(key);
      e = this.newEntry(key, value, b as unknown as Bucket<T>, Number.POSITIVE_INFINITY);
      b.entries.set(key, e);
    } else {
      e = typeof slot === 'number' ? this.entryOf(b, key, slot) : slot;
      e.value = value;
      e.raw = null;
    }
    this.touch(e);
  }

  delete(key: StateKey, startMs: number, endMs: number): void {
    const b = this.bucket(startMs, endMs);
    const slot = b?.entries.get(key);
    if (slot !== undefined) this.removeEntry(b as unknown as Bucket<T>, this.entryOf(b!, key, slot), this.dropBucket);
  }

  windows(): WindowRef[] {
    const out: WindowRef[] = [];
    for (const [startMs, ends] of this.byStart) for (const endMs of ends.keys()) out.push({ startMs, endMs });
    return out.sort((x, y) => x.endMs - y.endMs || x.startMs - y.startMs);
  }

  entries(startMs: number, endMs: number): [StateKey, T][] {
    const b = this.bucket(startMs, endMs);
    if (!b) return [];
    const out: [StateKey, T][] = new Array(b.entries.size);
    let i = 0;
    for (const [key, slot] of b.entries) out[i++] = [key, this.slotValue(b, slot)];
    return out;
  }

  deleteWindow(startMs: number, endMs: number): void {
    const b = this.bucket(startMs, endMs);
    if (!b) return;
    this.dropBucket(b);
    this.backend.entryCount -= b.entries.size;
    this.tombstone(b as unknown as Bucket<T>);
  }

  purgeExpired(): number {
    return 0;
  }

  protected dropAll(): void {
    for (const ends of this.byStart.values()) for (const b of ends.values()) this.backend.entryCount -= b.entries.size;
    this.byStart.clear();
    this.restoreBucket = null;
  }

  encodeFull(w: SnapshotWriter): void {
    w.beginState(this.name, 'window', this.descriptor.version, false, false);
    w.u32(0);
    w.u32(0);
    const at = w.reserve();
    let groups = 0;
    for (const ends of this.byStart.values()) {
      for (const b of ends.values()) {
        w.f64(b.a as number);
        w.f64(b.b);
        w.u32(b.entries.size);
        // forEach: no [key, value] pair allocated per entry.
        const src = b.src;
        b.entries.forEach((slot, key) => {
          w.key(key);
          if (typeof slot === 'number') w.copyLengthPrefixed(src!, slot);
          else this.writeValue(w, slot);
        });
        groups++;
      }
    }
    w.patch(at, groups);
  }

  encodeDelta(w: SnapshotWriter): void {
    const { entries, tombstones, cleared } = this.changes();
    w.beginState(this.name, 'window', this.descriptor.version, cleared, false);
    const live = tombstones.filter((b) => b.epoch === this.epoch);
    w.u32(live.length);
    for (const b of live) {
      w.f64(b.a as number);
      w.f64(b.b);
    }
    this.encodeGroupedChanges(
      w,
      entries,
      (b) => {
        w.f64(b.a as number);
        w.f64(b.b);
      },
      false,
    );
  }

  override windowClear = (startMs: number, endMs: number): void => {
    const b = this.bucket(startMs, endMs);
    if (!b) return;
    this.dropBucket(b);
    this.backend.entryCount -= b.entries.size;
  };

  override windowDelete = (startMs: number, endMs: number, key: StateKey): void => {
    const b = this.bucket(startMs, endMs);
    if (!b || !b.entries.delete(key)) return;
    this.backend.entryCount--;
    if (b.entries.size === 0) this.dropBucket(b);
  };

  private restoreTarget(startMs: number, endMs: number): WindowBucket<T> {
    let b = this.restoreBucket;
    if (b === null || b.a !== startMs || b.b !== endMs) {
      let ends = this.byStart.get(startMs);
      if (!ends) this.byStart.set(startMs, (ends = new Map()));
      b = ends.get(endMs) ?? null;
      if (!b) ends.set(endMs, (b = this.newWindowBucket(startMs, endMs)));
      this.restoreBucket = b;
    }
    return b;
  }

  override windowPut = (startMs: number, endMs: number, key: StateKey, bytes: Uint8Array): void => {
    const b = this.restoreTarget(startMs, endMs);
    const slot = b.entries.get(key);
    if (slot === undefined) b.entries.set(key, this.restoredEntry(key, bytes, b as unknown as Bucket<T>, Number.POSITIVE_INFINITY));
    else (typeof slot === 'number' ? this.entryOf(b, key, slot) : slot).raw = bytes;
  };

  /** The allocation-free restore path: the value stays in the snapshot buffer, by position. */
  override windowPutRaw = (startMs: number, endMs: number, key: StateKey, src: Buffer, lengthAt: number): void => {
    const b = this.restoreTarget(startMs, endMs);
    if (b.src === null) b.src = src;
    if (b.src !== src) {
      this.windowPut(startMs, endMs, key, src.subarray(lengthAt + 4, lengthAt + 4 + src.readUInt32LE(lengthAt)));
      return;
    }
    if (!b.entries.has(key)) this.backend.addEntry();
    b.entries.set(key, lengthAt);
  };
}

/** Timers: time → key → entry, plus a min-heap of times (stale times are skipped when popped). */
class MemTimerState extends MemBucketState<true> implements TimerState {
  private readonly byTime = new Map<number, Bucket<true>>();
  private readonly heap = new TimeHeap();
  private count = 0;
  private readonly dropBucket = (b: Bucket<true>): void => {
    this.byTime.delete(b.a as number);
  };

  get size(): number {
    return this.count;
  }

  register(timeMs: number, key: StateKey): void {
    let b = this.byTime.get(timeMs);
    if (b === undefined) {
      if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `timer time must be a finite number, got ${String(timeMs)}`);
      b = this.newBucket(timeMs, 0);
      this.byTime.set(timeMs, b);
      this.heap.push(timeMs);
    }
    if (b.entries.has(key)) return;
    checkStateKey(key);
    const e = this.newEntry(key, true, b, Number.POSITIVE_INFINITY);
    b.entries.set(key, e);
    this.count++;
    this.touch(e);
  }

  delete(timeMs: number, key: StateKey): void {
    const b = this.byTime.get(timeMs);
    const e = b?.entries.get(key);
    if (e === undefined) return;
    this.count--;
    this.removeEntry(b!, e, this.dropBucket);
  }

  has(timeMs: number, key: StateKey): boolean {
    return this.byTime.get(timeMs)?.entries.has(key) ?? false;
  }

  nextTimeMs(): number | undefined {
    while (this.heap.size > 0 && !this.byTime.has(this.heap.peek())) this.heap.pop();
    return this.heap.size > 0 ? this.heap.peek() : undefined;
  }

  popDue(upToMs: number): DueTimer[] {
    const out: DueTimer[] = [];
    while (this.heap.size > 0 && this.heap.peek() <= upToMs) {
      const timeMs = this.heap.pop();
      const b = this.byTime.get(timeMs);
      if (!b) continue; // a stale heap entry: the time's timers were deleted
      this.byTime.delete(timeMs);
      for (const e of b.entries.values()) {
        out.push({ timeMs, key: e.key });
        e.live = false;
        this.touch(e);
      }
      this.count -= b.entries.size;
      this.backend.entryCount -= b.entries.size;
    }
    return out;
  }

  purgeExpired(): number {
    return 0;
  }

  protected dropAll(): void {
    this.backend.entryCount -= this.count;
    this.byTime.clear();
    this.heap.clear();
    this.count = 0;
  }

  encodeFull(w: SnapshotWriter): void {
    w.beginState(this.name, 'timers', this.descriptor.version, false, false);
    w.u32(0);
    w.u32(0);
    w.u32(this.byTime.size);
    for (const b of this.byTime.values()) {
      w.f64(b.a as number);
      w.u32(b.entries.size);
      for (const key of b.entries.keys()) w.key(key);
    }
  }

  encodeDelta(w: SnapshotWriter): void {
    const { entries, cleared } = this.changes();
    w.beginState(this.name, 'timers', this.descriptor.version, cleared, false);
    w.u32(0);
    const deletes = new Map<number, StateKey[]>();
    const puts = new Map<number, StateKey[]>();
    for (const e of entries) {
      if (e.epoch !== this.epoch) continue;
      const timeMs = e.bucket!.a as number;
      // Timers are popped per entry (no tombstones): a dead entry is a delete, unless a later
      // registration of the same (time, key) is live now (its own entry is then a put).
      const target = e.live ? puts : deletes;
      let list = target.get(timeMs);
      if (!list) target.set(timeMs, (list = []));
      list.push(e.key);
    }
    for (const section of [deletes, puts]) {
      w.u32(section.size);
      for (const [timeMs, keys] of section) {
        w.f64(timeMs);
        w.u32(keys.length);
        for (const k of keys) w.key(k);
      }
    }
  }

  override timerDelete = (timeMs: number, key: StateKey): void => {
    const b = this.byTime.get(timeMs);
    if (!b || !b.entries.delete(key)) return;
    this.count--;
    this.backend.entryCount--;
    if (b.entries.size === 0) this.byTime.delete(timeMs);
  };

  override timerPut = (timeMs: number, key: StateKey): void => {
    let b = this.byTime.get(timeMs);
    if (!b) {
      this.byTime.set(timeMs, (b = this.newBucket(timeMs, 0)));
      this.heap.push(timeMs);
    }
    if (b.entries.has(key)) return;
    b.entries.set(key, this.newEntry(key, true, b, Number.POSITIVE_INFINITY));
    this.count++;
  };
}

function checkWindow(startMs: number, endMs: number): void {
  if (typeof startMs !== 'number' || typeof endMs !== 'number' || !Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `a window needs finite bounds with startMs < endMs, got [${startMs}, ${endMs})`);
  }
}

/** A binary min-heap of numbers. */
class TimeHeap {
  private items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number {
    return this.items[0]!;
  }

  clear(): void {
    this.items = [];
  }

  push(v: number): void {
    const a = this.items;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
