import fs from 'node:fs';
import { type Database, type RootDatabase, open } from 'lmdb';
import { ErrorCodes, FreshetError } from '../../core/errors.js';
import { type ChainOptions, ChainState, checkChain, checkSnapshotId } from '../chain.js';
import { StateLimits } from '../limits.js';
import { SnapshotWriter, type StateSink, decodeSnapshot } from '../snapshot-format.js';
import {
  type BackendSnapshot,
  type DueTimer,
  type MapState,
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
 * The large-state backend: state lives in an LMDB database on disk (ADR 0008), with a bounded
 * in-memory cache in front, so an operator can hold far more keys than the heap.
 *
 * Durability comes from checkpoints, not from LMDB: the database is scratch, emptied on open and
 * rebuilt from a snapshot chain on restore. So it is opened with `noSync` (no fsync ever), and writes
 * go through synchronous transactions (`transactionSync` + `putSync`): lmdb-js's `put` is queued and
 * committed asynchronously (its promise settles after the commit; `get` does not see it before, unless
 * lmdb-js's own cache is on), which does not fit a synchronous state API.
 *
 * Layout (lmdb-js ordered-binary array keys, binary values):
 *   data:    [sid, key]                  value state        value := expiresAtMs:f64 (TTL only) bytes
 *            [sid, key, mapKey]          map state          same
 *            [sid, startMs, endMs, key]  window state       bytes
 *            [sid + 1, startMs, endMs]   window registry    (empty): the windows that may hold keys
 *            [sid, timeMs, key]          timers             (empty)
 *   changes-0, changes-1: [nsId, gen, sid, ...coords] (empty): entries written in generation `gen`
 *            (in the table of its parity), so a delta reads only what changed (the dirty set lives on
 *            disk, not on the heap). Completing checkpoint g while generation g + 1 is current empties
 *            table g % 2 at once (every generation in it is <= g) instead of deleting key by key.
 *
 * The cache maps a string form of each key to its decoded value (or its absence) and whether it still
 * has to be written. Reads fill it, writes go to it; it is written out in one transaction at `flush`
 * (a batch boundary), before any range read, before a snapshot, and when it outgrows `cacheBytes`
 * (then the oldest half of the clean entries is dropped).
 */

/**
 * Options of `LmdbStateBackend.open`.
 *
 * @example
 * ```ts
 * LmdbStateBackend.open({ path: '/var/freshet/state/task-0', cacheBytes: 256 << 20, mapBytes: 200 * 2 ** 30 });
 * ```
 */
export interface LmdbStateBackendOptions extends ChainOptions {
  /** Directory of the database files (scratch: emptied on open). */
  readonly path: string;
  /** Budget of the in-memory cache, estimated (default StateLimits.lmdbCacheBytes). */
  readonly cacheBytes?: number;
  /** Largest database (the memory map size; default StateLimits.lmdbMapBytes). */
  readonly mapBytes?: number;
}

interface CacheEntry {
  readonly lk: unknown[];
  readonly sid: number;
  /** The generation this key was last recorded as changed in (saves rewriting the change record). */
  changedGen: number;
  value: unknown;
  present: boolean;
  expiresAtMs: number;
  dirty: boolean;
  size: number;
}

/** Window tombstones, cleared maps and whole-state clears between two snapshots (few: kept on the heap). */
interface Generation {
  upTo: number;
  readonly windowTombstones: [number, number][];
  readonly mapTombstones: StateKey[];
  cleared: boolean;
}

const EMPTY = Buffer.alloc(0);
/** LMDB's key size limit is 1978 bytes; keys are refused well before it. */
const MAX_KEY_STRING_BYTES = 1500;

/**
 * A state backend on LMDB for state larger than memory (see the comment above and docs/state.md).
 *
 * @example
 * ```ts
 * const backend = LmdbStateBackend.open({ path: './.freshet/state/revenue/task-0', cacheBytes: 64 << 20 });
 * const acc = backend.operator('per-user').window<Acc>('acc', { serializer: accSerializer });
 * acc.put('u1', 0, 60_000, acc0);
 * await backend.flush(); // at batch boundaries
 * ```
 */
export class LmdbStateBackend implements StateBackend {
  readonly kind = 'lmdb' as const;
  readonly cacheBudgetBytes: number;
  private readonly maxDeltaChain: number;
  private readonly root: RootDatabase;
  // Keys are arrays of numbers and strings (lmdb's `Key` type does not admit unknown[]).
  // biome-ignore lint/suspicious/noExplicitAny: see above
  readonly data: Database<Buffer, any>;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  readonly changeTables: [Database<Buffer, any>, Database<Buffer, any>];
  private readonly namespaces = new Map<string, LmdbOperatorState>();
  readonly statesBySid = new Map<number, LmdbState>();
  private readonly pending = new Map<number, Map<LmdbOperatorState, { type: 'full' | 'delta'; bytes: number; gen: number }>>();
  /** Cache: string key → entry, oldest first; dirty entries also listed in `dirtyList`. */
  private readonly cache = new Map<string, CacheEntry>();
  private dirtyList: CacheEntry[] = [];
  cachedBytes = 0;
  /** Current change generation (advances at every snapshot). */
  gen = 1;
  private nextSid = 1;
  private nextNsId = 1;
  private lastSnapshotId = 0;
  closed = false;

  private constructor(options: LmdbStateBackendOptions) {
    this.cacheBudgetBytes = options.cacheBytes ?? StateLimits.lmdbCacheBytes;
    this.maxDeltaChain = options.maxDeltaChain ?? StateLimits.maxDeltaChain;
    fs.mkdirSync(options.path, { recursive: true });
    this.root = open({ path: options.path, noSync: true, useWritemap: true, maxDbs: 4, compression: false, mapSize: options.mapBytes ?? StateLimits.lmdbMapBytes });
    this.data = this.root.openDB({ name: 'data', encoding: 'binary' }) as unknown as Database<Buffer>;
    this.changeTables = [0, 1].map((i) => this.root.openDB({ name: `changes-${i}`, encoding: 'binary' }) as unknown as Database<Buffer>) as [Database<Buffer>, Database<Buffer>];
    this.data.clearSync();
    for (const t of this.changeTables) t.clearSync();
  }

  /** Opens (and empties) the database at `options.path`. */
  static open(options: LmdbStateBackendOptions): LmdbStateBackend {
    if (!(options.cacheBytes === undefined || options.cacheBytes >= 1024)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'cacheBytes must be at least 1024');
    return new LmdbStateBackend(options);
  }

  /** Entries in the cache, and its estimated size (for tests and metrics). */
  cacheStats(): { entries: number; bytes: number; dirty: number } {
    return { entries: this.cache.size, bytes: this.cachedBytes, dirty: this.dirtyList.length };
  }

  allocSids(n: number): number {
    const sid = this.nextSid;
    this.nextSid += n;
    return sid;
  }

  allocNsId(): number {
    return this.nextNsId++;
  }

  operator(name: string): OperatorState {
    if (this.closed) stateClosed();
    let ns = this.namespaces.get(name);
    if (!ns) {
      if (typeof name !== 'string' || name.length === 0 || name.length > StateLimits.maxNameLength) {
        throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `operator name must be 1-${StateLimits.maxNameLength} characters`);
      }
      ns = new LmdbOperatorState(name, this);
      this.namespaces.set(name, ns);
    }
    return ns;
  }

  operatorNames(): string[] {
    return [...this.namespaces.keys()];
  }

  // --- the cache -----------------------------------------------------------------------------------

  /** The cache entry for a key, loading it from the database on a miss. */
  lookup(sid: number, ck: string, lk: unknown[], state: LmdbState): CacheEntry {
    let e = this.cache.get(ck);
    if (e !== undefined) return e;
    const stored = this.data.get(lk);
    e = { lk, sid, changedGen: 0, value: undefined, present: stored !== undefined, expiresAtMs: Number.POSITIVE_INFINITY, dirty: false, size: StateLimits.lmdbCacheEntryOverheadBytes + ck.length * 2 };
    if (stored !== undefined) {
      // The window registry (sid + 1) stores no value.
      const { value, expiresAtMs } = sid === state.sid ? state.decodeStored(stored) : { value: true, expiresAtMs: Number.POSITIVE_INFINITY };
      e.value = value;
      e.expiresAtMs = expiresAtMs;
      e.size += stored.length;
    }
    this.insert(ck, e);
    if (this.cachedBytes > this.cacheBudgetBytes) this.evict();
    return e;
  }

  /** Sets a key's value (present) or absence, to be written at the next flush. */
  write(sid: number, ck: string, lk: unknown[], present: boolean, value: unknown, expiresAtMs: number): void {
    let e = this.cache.get(ck);
    if (e === undefined) {
      e = { lk, sid, changedGen: 0, value, present, expiresAtMs, dirty: false, size: StateLimits.lmdbCacheEntryOverheadBytes + ck.length * 2 };
      this.insert(ck, e);
    }
    e.value = value;
    e.present = present;
    e.expiresAtMs = expiresAtMs;
    if (!e.dirty) {
      e.dirty = true;
      this.dirtyList.push(e);
    }
    if (this.cachedBytes > this.cacheBudgetBytes) this.evict();
  }

  private insert(ck: string, e: CacheEntry): void {
    this.cache.set(ck, e);
    this.cachedBytes += e.size;
  }

  /** Writes dirty entries out, then drops the oldest clean entries down to half the budget. */
  private evict(): void {
    this.flushSync();
    const target = this.cacheBudgetBytes / 2;
    for (const [ck, e] of this.cache) {
      if (this.cachedBytes <= target) break;
      this.cache.delete(ck);
      this.cachedBytes -= e.size;
    }
  }

  /** Drops the whole cache (after a flush, so nothing is lost): range removals bypass it. */
  dropCache(): void {
    this.flushSync();
    this.cache.clear();
    this.cachedBytes = 0;
  }

  /** Writes every dirty cache entry in one transaction, recording each as changed in this generation. */
  flushSync(): void {
    if (this.dirtyList.length === 0) return;
    const dirty = this.dirtyList;
    this.dirtyList = [];
    this.data.transactionSync(() => {
      for (const e of dirty) {
        e.dirty = false;
        const state = this.statesBySid.get(e.sid)!;
        const registry = e.sid !== state.sid;
        if (e.present) this.data.putSync(e.lk, registry ? EMPTY : state.encodeStored(e.value, e.expiresAtMs));
        else this.data.removeSync(e.lk);
        if (!registry && e.changedGen !== this.gen) {
          e.changedGen = this.gen;
          this.changeTables[this.gen % 2]!.putSync([state.ns.nsId, this.gen, ...e.lk], EMPTY);
        }
      }
    });
  }

  /** Inside a transaction: records a change made directly in the database (range removals). */
  recordChange(state: LmdbState, lk: unknown[]): void {
    this.changeTables[this.gen % 2]!.putSync([state.ns.nsId, this.gen, ...lk], EMPTY);
  }

  // --- snapshots -----------------------------------------------------------------------------------

  async snapshot(checkpointId: number, options: SnapshotOptions = {}): Promise<BackendSnapshot> {
    if (this.closed) stateClosed();
    checkSnapshotId(checkpointId, this.lastSnapshotId);
    this.lastSnapshotId = checkpointId;
    this.flushSync();
    const parts = new Map<LmdbOperatorState, { type: 'full' | 'delta'; bytes: number; gen: number }>();
    const operators = [];
    for (const ns of this.namespaces.values()) {
      const full = ns.chain.wantsFull(options.full === true, this.maxDeltaChain);
      const bytes = full ? ns.encodeFull(checkpointId) : ns.encodeDelta(checkpointId);
      operators.push({ operator: ns.name, type: full ? ('full' as const) : ('delta' as const), checkpointId, baseCheckpointId: full ? null : ns.chain.base, bytes });
      parts.set(ns, { type: full ? 'full' : 'delta', bytes: bytes.length, gen: this.gen });
      ns.rotate(checkpointId);
    }
    // Changes from here on belong to the next generation.
    this.gen++;
    this.pending.set(checkpointId, parts);
    return { checkpointId, operators };
  }

  checkpointComplete(checkpointId: number): void {
    const parts = this.pending.get(checkpointId);
    if (!parts) return;
    this.flushSync();
    // The changes this checkpoint covered are in its snapshot: forget them. Every namespace that
    // existed took part in it, so when no snapshot came after it, the table of its generation's parity
    // holds nothing newer and is emptied whole.
    const gen = [...parts.values()][0]?.gen;
    const wholesale = gen !== undefined && this.gen === gen + 1;
    if (wholesale) this.changeTables[gen % 2]!.clearSync();
    this.data.transactionSync(() => {
      for (const [ns, part] of parts) {
        ns.chain.completed(checkpointId, part.type, part.bytes);
        ns.baseGen = part.gen;
        ns.dropGenerations(checkpointId);
        if (wholesale) continue;
        for (const table of this.changeTables) {
          const stale = Array.from(table.getKeys({ start: [ns.nsId], end: [ns.nsId, part.gen + 1] }));
          for (const k of stale) table.removeSync(k);
        }
      }
    });
    for (const id of this.pending.keys()) if (id <= checkpointId) this.pending.delete(id);
  }

  checkpointAborted(checkpointId: number): void {
    this.pending.delete(checkpointId);
  }

  async restore(chains: ReadonlyMap<string, readonly Uint8Array[]>, options: RestoreOptions = {}): Promise<void> {
    if (this.closed) stateClosed();
    for (const [name, chain] of chains) checkChain(name, chain);
    this.pending.clear();
    this.dirtyList = [];
    this.cache.clear();
    this.cachedBytes = 0;
    this.data.clearSync();
    for (const t of this.changeTables) t.clearSync();
    for (const ns of this.namespaces.values()) ns.resetForRestore();
    for (const [name, chain] of chains) {
      const ns = this.namespaces.get(name);
      if (!ns) {
        if (!options.allowNonRestoredState) {
          throw new FreshetError(ErrorCodes.STATE_NOT_RESTORED, `the snapshot holds state of operator '${name}', which declares no state now`, { operator: name });
        }
        continue;
      }
      this.data.transactionSync(() => {
        for (const link of chain) decodeSnapshot(link, (state, kind, version) => ns.sinkFor(state, kind, version, options.allowNonRestoredState === true));
      });
      if (options.checkpointId !== undefined) {
        ns.chain.base = options.checkpointId;
        ns.chain.deltas = chain.length - 1;
        ns.chain.fullBytes = chain[0]!.length;
        for (let i = 1; i < chain.length; i++) ns.chain.deltaBytes += chain[i]!.length;
        ns.baseGen = this.gen;
      }
    }
    this.gen++;
    if (options.checkpointId !== undefined) this.lastSnapshotId = Math.max(this.lastSnapshotId, options.checkpointId);
  }

  async flush(): Promise<void> {
    if (this.closed) stateClosed();
    this.flushSync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    this.dirtyList = [];
    await this.root.close();
  }
}

/** The states of one operator in the LMDB backend. */
class LmdbOperatorState implements OperatorState {
  readonly chain = new ChainState();
  readonly nsId: number;
  /** Changes of generations after this one are not in the operator's last completed checkpoint. */
  baseGen = 0;
  readonly states = new Map<string, LmdbState>();
  currentTimeMs = Number.NaN;

  constructor(
    readonly name: string,
    readonly backend: LmdbStateBackend,
  ) {
    this.nsId = backend.allocNsId();
  }

  setCurrentTimeMs(timeMs: number): void {
    if (typeof timeMs !== 'number' || Number.isNaN(timeMs)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `current time must be a number, got ${String(timeMs)}`);
    this.currentTimeMs = timeMs;
  }

  value<T>(name: string, descriptor?: StateDescriptor<T>): ValueState<T> {
    return this.declare(name, 'value', descriptor) as unknown as ValueState<T>;
  }

  map<V>(name: string, descriptor?: StateDescriptor<V>): MapState<V> {
    return this.declare(name, 'map', descriptor) as unknown as MapState<V>;
  }

  window<T>(name: string, descriptor?: StateDescriptor<T>): WindowState<T> {
    return this.declare(name, 'window', descriptor) as unknown as WindowState<T>;
  }

  timers(name: string): TimerState {
    return this.declare(name, 'timers', undefined) as unknown as TimerState;
  }

  purgeExpired(): number {
    let n = 0;
    for (const s of this.states.values()) n += s.purgeExpired();
    return n;
  }

  clear(): void {
    for (const s of this.states.values()) s.clearAll();
  }

  nowForTtl(state: string): number {
    if (Number.isNaN(this.currentTimeMs)) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `state '${state}' of operator '${this.name}' has a TTL: call setCurrentTimeMs before writing it`);
    }
    return this.currentTimeMs;
  }

  encodeFull(checkpointId: number): Uint8Array {
    const w = new SnapshotWriter('full', checkpointId, null, this.name);
    for (const s of this.states.values()) s.encodeFull(w);
    return w.finish();
  }

  encodeDelta(checkpointId: number): Uint8Array {
    const w = new SnapshotWriter('delta', checkpointId, this.chain.base, this.name);
    // Changed keys since the base generation, grouped by state; one key may be listed by several generations.
    const changed = new Map<number, unknown[][]>();
    const seen = new Set<string>();
    const multiGen = this.backend.gen - this.baseGen > 1;
    const changedKeys = this.backend.changeTables.flatMap((t) => Array.from(t.getKeys({ start: [this.nsId, this.baseGen + 1], end: [this.nsId + 1] })));
    for (const k of changedKeys) {
      const lk = k.slice(2);
      if (multiGen) {
        let id = '';
        for (const part of lk) id += ckPart(part as StateKey) + '|';
        if (seen.has(id)) continue;
        seen.add(id);
      }
      let list = changed.get(lk[0] as number);
      if (!list) changed.set(lk[0] as number, (list = []));
      list.push(lk);
    }
    for (const s of this.states.values()) s.encodeDelta(w, changed.get(s.sid) ?? []);
    return w.finish();
  }

  rotate(checkpointId: number): void {
    for (const s of this.states.values()) s.rotate(checkpointId);
  }

  dropGenerations(checkpointId: number): void {
    for (const s of this.states.values()) s.dropGenerations(checkpointId);
  }

  resetForRestore(): void {
    this.chain.reset();
    this.baseGen = 0;
    for (const s of this.states.values()) s.resetForRestore();
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
    return { sink: s.sink, migrate: migrationPath(this.name, state, version, s.descriptor) };
  }

  private declare(name: string, kind: StateKind, descriptor: StateDescriptor<unknown> | undefined): LmdbState {
    if (this.backend.closed) stateClosed();
    const existing = this.states.get(name);
    if (existing) {
      checkRedeclaration(this.name, name, existing.descriptor, kind, descriptor);
      return existing;
    }
    const d = resolveDescriptor(kind, this.name, name, descriptor);
    const state = new LmdbState(this, name, d, this.backend.allocSids(2));
    this.states.set(name, state);
    this.backend.statesBySid.set(state.sid, state);
    this.backend.statesBySid.set(state.sid + 1, state);
    return state;
  }
}

/** -0 and 0 are one key (as in a Map); LMDB's key encoding would tell them apart. */
function nk(k: StateKey): StateKey {
  return k === 0 ? 0 : k;
}

/** The cache's string form of a key component (length-prefixed strings, so no separator is ambiguous). */
function ckPart(k: StateKey): string {
  return typeof k === 'number' ? `n${k}` : `s${k.length}:${k}`;
}

function checkLmdbKey(k: StateKey, what?: string): void {
  checkStateKey(k, what);
  if (typeof k === 'string' && k.length * 3 > MAX_KEY_STRING_BYTES && Buffer.byteLength(k) > MAX_KEY_STRING_BYTES) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${what ?? 'state key'} is longer than ${MAX_KEY_STRING_BYTES} bytes (the LMDB backend's bound)`);
  }
}

/**
 * One declared state in LMDB. It implements every state kind's interface; the operator hands it out
 * typed as the kind it was declared as.
 */
class LmdbState {
  private gens: Generation[] = [{ upTo: Number.POSITIVE_INFINITY, windowTombstones: [], mapTombstones: [], cleared: false }];
  private timerCount = 0;
  private readonly b: LmdbStateBackend;
  private readonly ttl: boolean;

  constructor(
    readonly ns: LmdbOperatorState,
    readonly name: string,
    readonly descriptor: ResolvedDescriptor<unknown>,
    readonly sid: number,
  ) {
    this.b = ns.backend;
    this.ttl = descriptor.ttlMs !== null;
  }

  private get current(): Generation {
    return this.gens[this.gens.length - 1]!;
  }

  // --- stored form ---------------------------------------------------------------------------------

  encodeStored(value: unknown, expiresAtMs: number): Buffer {
    if (this.descriptor.kind === 'timers') return EMPTY;
    const payload = this.descriptor.serializer.encode(value);
    if (!this.ttl) return Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    const out = Buffer.allocUnsafe(8 + payload.length);
    out.writeDoubleLE(expiresAtMs, 0);
    out.set(payload, 8);
    return out;
  }

  decodeStored(stored: Buffer): { value: unknown; expiresAtMs: number } {
    if (this.descriptor.kind === 'timers') return { value: true, expiresAtMs: Number.POSITIVE_INFINITY };
    if (!this.ttl) return { value: this.descriptor.serializer.decode(stored), expiresAtMs: Number.POSITIVE_INFINITY };
    return { value: this.descriptor.serializer.decode(stored.subarray(8)), expiresAtMs: stored.readDoubleLE(0) };
  }

  private expiresAt(): number {
    return this.ttl ? this.ns.nowForTtl(this.name) + this.descriptor.ttlMs! : Number.POSITIVE_INFINITY;
  }

  private expired(expiresAtMs: number): boolean {
    return expiresAtMs <= this.ns.currentTimeMs;
  }

  /** A TTL read: hides expired entries (and deletes them), and restarts the clock if reads do. */
  private readLive(ck: string, lk: unknown[]): unknown {
    const e = this.b.lookup(this.sid, ck, lk, this);
    if (!e.present) return undefined;
    if (this.ttl) {
      if (this.expired(e.expiresAtMs)) {
        this.b.write(this.sid, ck, lk, false, undefined, Number.POSITIVE_INFINITY);
        return undefined;
      }
      if (this.descriptor.ttlOnRead) this.b.write(this.sid, ck, lk, true, e.value, this.expiresAt());
    }
    return e.value;
  }

  // --- value state ---------------------------------------------------------------------------------

  get(key: StateKey, b?: StateKey, c?: number): unknown {
    if (this.descriptor.kind === 'value') return this.readLive(`${this.sid}|${ckPart(key)}`, [this.sid, nk(key)]);
    if (this.descriptor.kind === 'map') return this.readLive(`${this.sid}|${ckPart(key)}|${ckPart(b!)}`, [this.sid, nk(key), nk(b!)]);
    // window: get(key, startMs, endMs)
    return this.readLive(`${this.sid}|n${b as number}|n${c!}|${ckPart(key)}`, [this.sid, nk(b!), nk(c!), nk(key)]);
  }

  has(key: StateKey, b?: StateKey): boolean {
    if (this.descriptor.kind === 'timers') {
      // has(timeMs, key)
      return this.b.lookup(this.sid, `${this.sid}|n${key as number}|${ckPart(b!)}`, [this.sid, nk(key), nk(b!)], this).present;
    }
    const e = this.b.lookup(this.sid, `${this.sid}|${ckPart(key)}`, [this.sid, nk(key)], this);
    return e.present && !(this.ttl && this.expired(e.expiresAtMs));
  }

  put(key: StateKey, b: unknown, c?: unknown, d?: unknown): void {
    const kind = this.descriptor.kind;
    if (kind === 'value') {
      checkLmdbKey(key);
      this.b.write(this.sid, `${this.sid}|${ckPart(key)}`, [this.sid, nk(key)], true, b, this.expiresAt());
    } else if (kind === 'map') {
      checkLmdbKey(key);
      checkLmdbKey(b as StateKey, 'map key');
      this.b.write(this.sid, `${this.sid}|${ckPart(key)}|${ckPart(b as StateKey)}`, [this.sid, nk(key), nk(b as StateKey)], true, c, this.expiresAt());
    } else {
      // window: put(key, startMs, endMs, value)
      const startMs = b as number;
      const endMs = c as number;
      checkLmdbKey(key);
      checkWindow(startMs, endMs);
      this.b.write(this.sid, `${this.sid}|n${startMs}|n${endMs}|${ckPart(key)}`, [this.sid, nk(startMs), nk(endMs), nk(key)], true, d, Number.POSITIVE_INFINITY);
      const rck = `${this.sid + 1}|n${startMs}|n${endMs}`;
      const reg = this.b.lookup(this.sid + 1, rck, [this.sid + 1, nk(startMs), nk(endMs)], this);
      if (!reg.present) this.b.write(this.sid + 1, rck, [this.sid + 1, nk(startMs), nk(endMs)], true, true, Number.POSITIVE_INFINITY);
    }
  }

  delete(key: StateKey, b?: StateKey, c?: number): void {
    const kind = this.descriptor.kind;
    if (kind === 'value') this.b.write(this.sid, `${this.sid}|${ckPart(key)}`, [this.sid, nk(key)], false, undefined, Number.POSITIVE_INFINITY);
    else if (kind === 'map') this.b.write(this.sid, `${this.sid}|${ckPart(key)}|${ckPart(b!)}`, [this.sid, nk(key), nk(b!)], false, undefined, Number.POSITIVE_INFINITY);
    else if (kind === 'window') this.b.write(this.sid, `${this.sid}|n${b as number}|n${c!}|${ckPart(key)}`, [this.sid, nk(b!), nk(c!), nk(key)], false, undefined, Number.POSITIVE_INFINITY);
    else {
      // timers: delete(timeMs, key)
      const ck = `${this.sid}|n${key as number}|${ckPart(b!)}`;
      const lk = [this.sid, nk(key), nk(b!)];
      if (!this.b.lookup(this.sid, ck, lk, this).present) return;
      this.timerCount--;
      this.b.write(this.sid, ck, lk, false, undefined, Number.POSITIVE_INFINITY);
    }
  }

  /** Value state: every live entry; map state: one key's entries (`entries(key)`); window: `entries(start, end)`. */
  entries(a?: StateKey, b?: number): [StateKey, unknown][] {
    this.b.flushSync();
    const kind = this.descriptor.kind;
    const out: [StateKey, unknown][] = [];
    const prefix = kind === 'value' ? [this.sid] : kind === 'map' ? [this.sid, nk(a!)] : [this.sid, nk(a!), nk(b!)];
    for (const { key, value } of this.b.data.getRange({ start: prefix })) {
      const k = key as unknown[];
      if (!samePrefix(k, prefix)) break;
      const { value: v, expiresAtMs } = this.decodeStored(value as Buffer);
      if (this.ttl && this.expired(expiresAtMs)) continue;
      out.push([k[prefix.length] as StateKey, v]);
    }
    return out;
  }

  // --- map state -----------------------------------------------------------------------------------

  /** Map state `clear(key)`; with no key (the operator's clear), the whole state. */
  clear(key?: StateKey): void {
    if (key === undefined || this.descriptor.kind !== 'map') {
      this.clearAll();
      return;
    }
    this.b.dropCache();
    this.removeRange([this.sid, nk(key)], false);
    this.current.mapTombstones.push(nk(key));
  }

  keys(): StateKey[] {
    this.b.flushSync();
    const out: StateKey[] = [];
    let last: unknown = undefined;
    for (const { key, value } of this.b.data.getRange({ start: [this.sid], end: [this.sid + 1] })) {
      const k = (key as unknown[])[1];
      if (k === last) continue;
      if (this.ttl && this.expired(this.decodeStored(value as Buffer).expiresAtMs)) continue;
      last = k;
      out.push(k as StateKey);
    }
    return out;
  }

  // --- window state --------------------------------------------------------------------------------

  windows(): WindowRef[] {
    this.b.flushSync();
    const out: WindowRef[] = [];
    for (const key of this.b.data.getKeys({ start: [this.sid + 1], end: [this.sid + 2] })) {
      const [, startMs, endMs] = key as [number, number, number];
      const any = (this.b.data.getKeys({ start: [this.sid, startMs, endMs], limit: 1 }).asArray as unknown as unknown[][])[0];
      if (any && any[0] === this.sid && any[1] === startMs && any[2] === endMs) out.push({ startMs, endMs });
    }
    return out.sort((x, y) => x.endMs - y.endMs || x.startMs - y.startMs);
  }

  deleteWindow(startMs: number, endMs: number): void {
    this.b.dropCache();
    this.b.data.transactionSync(() => {
      // The tombstone below stands for these keys in the next delta.
      this.removeRange([this.sid, nk(startMs), nk(endMs)], false);
      this.b.data.removeSync([this.sid + 1, nk(startMs), nk(endMs)]);
    });
    this.current.windowTombstones.push([startMs, endMs]);
  }

  // --- timers --------------------------------------------------------------------------------------

  register(timeMs: number, key: StateKey): void {
    if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `timer time must be a finite number, got ${String(timeMs)}`);
    checkLmdbKey(key);
    const ck = `${this.sid}|n${timeMs}|${ckPart(key)}`;
    const lk = [this.sid, nk(timeMs), nk(key)];
    if (this.b.lookup(this.sid, ck, lk, this).present) return;
    this.timerCount++;
    this.b.write(this.sid, ck, lk, true, true, Number.POSITIVE_INFINITY);
  }

  get size(): number {
    return this.timerCount;
  }

  nextTimeMs(): number | undefined {
    this.b.flushSync();
    const first = (this.b.data.getKeys({ start: [this.sid], end: [this.sid + 1], limit: 1 }).asArray as unknown as unknown[][])[0];
    return first === undefined ? undefined : (first[1] as number);
  }

  popDue(upToMs: number): DueTimer[] {
    this.b.flushSync();
    const due: DueTimer[] = [];
    const keys: unknown[][] = [];
    for (const key of this.b.data.getKeys({ start: [this.sid], end: [this.sid + 1] })) {
      const k = key as unknown[];
      if ((k[1] as number) > upToMs) break;
      keys.push(k);
      due.push({ timeMs: k[1] as number, key: k[2] as StateKey });
    }
    if (keys.length === 0) return due;
    this.b.dropCache();
    this.b.data.transactionSync(() => {
      for (const k of keys) {
        this.b.data.removeSync(k);
        this.b.recordChange(this, k);
      }
    });
    this.timerCount -= keys.length;
    return due;
  }

  // --- whole state ---------------------------------------------------------------------------------

  purgeExpired(): number {
    if (!this.ttl) return 0;
    this.b.dropCache();
    const expired: unknown[][] = [];
    for (const { key, value } of this.b.data.getRange({ start: [this.sid], end: [this.sid + 1] })) {
      if (this.expired(this.decodeStored(value as Buffer).expiresAtMs)) expired.push(key as unknown[]);
    }
    this.b.data.transactionSync(() => {
      for (const k of expired) {
        this.b.data.removeSync(k);
        this.b.recordChange(this, k);
      }
    });
    return expired.length;
  }

  clearAll(): void {
    this.b.dropCache();
    this.b.data.transactionSync(() => {
      this.removeRange([this.sid], false);
      this.removeRange([this.sid + 1], false);
    });
    this.timerCount = 0;
    this.current.cleared = true;
  }

  /** Removes every key under `prefix` (inside or outside a transaction); `record`: list them as changed. */
  private removeRange(prefix: unknown[], record: boolean): void {
    const keys: unknown[][] = [];
    for (const key of this.b.data.getKeys({ start: prefix as never })) {
      if (!samePrefix(key as unknown[], prefix)) break;
      keys.push(key as unknown[]);
    }
    const remove = (): void => {
      for (const k of keys) {
        this.b.data.removeSync(k);
        if (record) this.b.recordChange(this, k);
      }
    };
    // transactionSync nests into an enclosing transaction.
    this.b.data.transactionSync(remove);
  }

  rotate(checkpointId: number): void {
    this.current.upTo = checkpointId;
    this.gens.push({ upTo: Number.POSITIVE_INFINITY, windowTombstones: [], mapTombstones: [], cleared: false });
  }

  dropGenerations(checkpointId: number): void {
    this.gens = this.gens.filter((g) => g.upTo > checkpointId);
  }

  resetForRestore(): void {
    this.gens = [{ upTo: Number.POSITIVE_INFINITY, windowTombstones: [], mapTombstones: [], cleared: false }];
    this.timerCount = 0;
  }

  // --- snapshot encoding ---------------------------------------------------------------------------

  encodeFull(w: SnapshotWriter): void {
    const { kind, version } = this.descriptor;
    w.beginState(this.name, kind, version, false, this.ttl);
    w.u32(0);
    w.u32(0);
    const at = w.reserve();
    let groups = 0;
    // Keys come in order, so the entries of a group (one map, window or time) are contiguous.
    const groupWidth = kind === 'value' ? 0 : kind === 'window' ? 2 : 1;
    let group: unknown[] | null = null;
    let groupCountAt = 0;
    let inGroup = 0;
    for (const { key, value } of this.b.data.getRange({ start: [this.sid], end: [this.sid + 1] })) {
      const k = key as unknown[];
      let expiresAtMs = Number.POSITIVE_INFINITY;
      if (this.ttl) {
        expiresAtMs = (value as Buffer).readDoubleLE(0);
        if (this.expired(expiresAtMs)) continue;
      }
      if (groupWidth > 0 && (group === null || k[1] !== group[1] || (groupWidth === 2 && k[2] !== group[2]))) {
        if (group !== null) w.patch(groupCountAt, inGroup);
        group = k;
        if (kind === 'map') w.key(k[1] as StateKey);
        else w.f64(k[1] as number);
        if (groupWidth === 2) w.f64(k[2] as number);
        groupCountAt = w.reserve();
        inGroup = 0;
        groups++;
      }
      w.key(k[1 + groupWidth] as StateKey);
      if (kind !== 'timers') {
        if (this.ttl) w.f64(expiresAtMs);
        const v = value as Buffer;
        w.bytes(this.ttl ? v.subarray(8) : v);
      }
      inGroup++;
      if (groupWidth === 0) groups++;
    }
    if (group !== null) w.patch(groupCountAt, inGroup);
    w.patch(at, groups);
  }

  encodeDelta(w: SnapshotWriter, changed: unknown[][]): void {
    const { kind, version } = this.descriptor;
    const cleared = this.gens.some((g) => g.cleared);
    w.beginState(this.name, kind, version, cleared, this.ttl);
    // Tombstones (maps / windows removed whole).
    if (kind === 'map') {
      const list = this.gens.flatMap((g) => g.mapTombstones);
      w.u32(list.length);
      for (const k of list) w.key(k);
    } else if (kind === 'window') {
      const list = this.gens.flatMap((g) => g.windowTombstones);
      w.u32(list.length);
      for (const [s, e] of list) {
        w.f64(s);
        w.f64(e);
      }
    } else w.u32(0);
    // Each changed key is a put (present now) or a delete (absent now).
    const groupWidth = kind === 'value' ? 0 : kind === 'window' ? 2 : 1;
    const deletes = new Map<string, { group: unknown[]; keys: StateKey[] }>();
    const puts = new Map<string, { group: unknown[]; entries: [StateKey, Buffer][] }>();
    const flatDeletes: StateKey[] = [];
    const flatPuts: [StateKey, Buffer][] = [];
    for (const lk of changed) {
      if (lk[0] !== this.sid) continue; // the window registry
      const stored = this.b.data.get(lk);
      const key = lk[1 + groupWidth] as StateKey;
      if (groupWidth === 0) {
        if (stored === undefined) flatDeletes.push(key);
        else flatPuts.push([key, stored]);
        continue;
      }
      const group = lk.slice(1, 1 + groupWidth);
      const gk = groupWidth === 2 ? `${group[0] as number}|${group[1] as number}` : ckPart(group[0] as StateKey);
      if (stored === undefined) {
        let g = deletes.get(gk);
        if (!g) deletes.set(gk, (g = { group, keys: [] }));
        g.keys.push(key);
      } else {
        let g = puts.get(gk);
        if (!g) puts.set(gk, (g = { group, entries: [] }));
        g.entries.push([key, stored]);
      }
    }
    const writeGroup = (group: unknown[]): void => {
      if (kind === 'map') w.key(group[0] as StateKey);
      else w.f64(group[0] as number);
      if (groupWidth === 2) w.f64(group[1] as number);
    };
    const writeEntry = (key: StateKey, stored: Buffer): void => {
      w.key(key);
      if (kind === 'timers') return;
      if (this.ttl) {
        w.f64(stored.readDoubleLE(0));
        w.bytes(stored.subarray(8));
      } else w.bytes(stored);
    };
    if (groupWidth === 0) {
      w.u32(flatDeletes.length);
      for (const k of flatDeletes) w.key(k);
      w.u32(flatPuts.length);
      for (const [k, v] of flatPuts) writeEntry(k, v);
      return;
    }
    w.u32(deletes.size);
    for (const { group, keys } of deletes.values()) {
      writeGroup(group);
      w.u32(keys.length);
      for (const k of keys) w.key(k);
    }
    w.u32(puts.size);
    for (const { group, entries } of puts.values()) {
      writeGroup(group);
      w.u32(entries.length);
      for (const [k, v] of entries) writeEntry(k, v);
    }
  }

  // --- snapshot sink (restore writes straight into the database, inside the restore transaction) ----

  private putStored(lk: unknown[], bytes: Uint8Array, expiresAtMs: number): void {
    if (!this.ttl) {
      this.b.data.putSync(lk, Buffer.from(bytes));
      return;
    }
    const out = Buffer.allocUnsafe(8 + bytes.length);
    out.writeDoubleLE(expiresAtMs, 0);
    out.set(bytes, 8);
    this.b.data.putSync(lk, out);
  }

  private migrateCheck(bytes: Uint8Array): Uint8Array {
    // A migrated value must still decode: fail at restore, not at first access.
    this.descriptor.serializer.decode(bytes);
    return bytes;
  }

  private clearSink(): void {
    this.removeRange([this.sid], false);
    this.removeRange([this.sid + 1], false);
    this.timerCount = 0;
  }

  /** Where a restore writes this state's snapshot entries (straight into the database). */
  readonly sink: StateSink = {
    clear: () => this.clearSink(),
    valueDelete: (k) => this.valueDelete(k),
    valuePut: (k, x, b) => this.valuePut(k, x, b),
    mapClear: (k) => this.mapClear(k),
    mapDelete: (k, m) => this.mapDelete(k, m),
    mapPut: (k, m, x, b) => this.mapPut(k, m, x, b),
    windowClear: (s, e) => this.windowClear(s, e),
    windowDelete: (s, e, k) => this.windowDelete(s, e, k),
    windowPut: (s, e, k, b) => this.windowPut(s, e, k, b),
    timerDelete: (t, k) => this.timerDelete(t, k),
    timerPut: (t, k) => this.timerPut(t, k),
  };

  private valueDelete = (key: StateKey): void => {
    this.b.data.removeSync([this.sid, nk(key)]);
  };
  private valuePut = (key: StateKey, expiresAtMs: number, bytes: Uint8Array): void => {
    this.putStored([this.sid, nk(key)], this.migrateCheck(bytes), expiresAtMs);
  };
  private mapClear = (key: StateKey): void => {
    this.removeRange([this.sid, nk(key)], false);
  };
  private mapDelete = (key: StateKey, mapKey: StateKey): void => {
    this.b.data.removeSync([this.sid, nk(key), nk(mapKey)]);
  };
  private mapPut = (key: StateKey, mapKey: StateKey, expiresAtMs: number, bytes: Uint8Array): void => {
    this.putStored([this.sid, nk(key), nk(mapKey)], this.migrateCheck(bytes), expiresAtMs);
  };
  private windowClear = (startMs: number, endMs: number): void => {
    this.removeRange([this.sid, nk(startMs), nk(endMs)], false);
    this.b.data.removeSync([this.sid + 1, nk(startMs), nk(endMs)]);
  };
  private windowDelete = (startMs: number, endMs: number, key: StateKey): void => {
    this.b.data.removeSync([this.sid, nk(startMs), nk(endMs), nk(key)]);
  };
  private windowPut = (startMs: number, endMs: number, key: StateKey, bytes: Uint8Array): void => {
    this.b.data.putSync([this.sid, nk(startMs), nk(endMs), nk(key)], Buffer.from(this.migrateCheck(bytes)));
    this.b.data.putSync([this.sid + 1, nk(startMs), nk(endMs)], EMPTY);
  };
  private timerDelete = (timeMs: number, key: StateKey): void => {
    if (this.b.data.removeSync([this.sid, nk(timeMs), nk(key)])) this.timerCount--;
  };
  private timerPut = (timeMs: number, key: StateKey): void => {
    const lk = [this.sid, nk(timeMs), nk(key)];
    if (this.b.data.get(lk) !== undefined) return;
    this.b.data.putSync(lk, EMPTY);
    this.timerCount++;
  };
}

function samePrefix(key: readonly unknown[], prefix: readonly unknown[]): boolean {
  if (key.length <= prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

function checkWindow(startMs: number, endMs: number): void {
  if (typeof startMs !== 'number' || typeof endMs !== 'number' || !Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `a window needs finite bounds with startMs < endMs, got [${startMs}, ${endMs})`);
  }
}
