import { ErrorCodes, FreshetError } from '../../core/errors.js';
import type { AccumulatorColumns, KeyValue, PlanAggregator } from '../../plan/plan.js';
import { unpack } from 'msgpackr';
import { SnapshotWriter, readDoubleRuns } from '../snapshot-writer.js';

/**
 * One aligned window's accumulators by key, in the order keys first touched the window (which is the
 * order results are emitted and snapshots list keys). Keys are only ever added; the whole bucket goes
 * when its window is purged.
 */
export interface WindowBucket {
  readonly size: number;
  /** Folds one record into the key's accumulator, made on first use. */
  add(key: KeyValue, value: unknown, timestampMs: number): void;
  /** The key's accumulator in the aggregator's own form (read it, do not change it), or undefined. */
  accOf(key: KeyValue): unknown;
  keys(): IterableIterator<KeyValue>;
  /** Calls `fn` with every key and its accumulator (as accOf), in key order. */
  forEach(fn: (acc: unknown, key: KeyValue) => void): void;
  /**
   * The accumulators as a snapshot holds them, in key order: one value per key (plain data, or `encode`d
   * bytes unless `plain`) for objects; for columns, `[runs, spilled]` (see ColumnBucket).
   */
  snapshotAccs(plain: boolean): unknown;
  /** Writes what `snapshotAccs` returns, without making it. */
  writeAccs(w: SnapshotWriter, plain: boolean): void;
  /** Sets a key's accumulator (restoring one value per key): keys must come in their original order, each once. */
  restore(key: KeyValue, acc: unknown): void;
}

/** A bucket for the aggregator: column-wise when it has columns (the numeric built-ins), else a map of objects. */
export function newWindowBucket(aggregator: PlanAggregator): WindowBucket {
  return aggregator.columns !== undefined ? new ColumnBucket(aggregator.columns) : new ObjectBucket(aggregator);
}

/** Accumulators as the aggregator makes them, one object (or number) per key. */
class ObjectBucket implements WindowBucket {
  private readonly accs = new Map<KeyValue, unknown>();

  constructor(private readonly aggregator: PlanAggregator) {}

  get size(): number {
    return this.accs.size;
  }

  add(key: KeyValue, value: unknown, timestampMs: number): void {
    const acc = this.accs.get(key);
    const next = this.aggregator.add(acc === undefined ? this.aggregator.create() : acc, value, timestampMs);
    if (next !== acc) this.accs.set(key, next);
  }

  accOf(key: KeyValue): unknown {
    return this.accs.get(key);
  }

  keys(): IterableIterator<KeyValue> {
    return this.accs.keys();
  }

  forEach(fn: (acc: unknown, key: KeyValue) => void): void {
    this.accs.forEach(fn);
  }

  snapshotAccs(plain: boolean): unknown[] {
    const out: unknown[] = [];
    for (const acc of this.accs.values()) out.push(plain ? acc : this.aggregator.encode(acc));
    return out;
  }

  writeAccs(w: SnapshotWriter, plain: boolean): void {
    w.arrayHeader(this.accs.size);
    if (plain) for (const acc of this.accs.values()) w.value(acc);
    else for (const acc of this.accs.values()) w.value(this.aggregator.encode(acc));
  }

  restore(key: KeyValue, acc: unknown): void {
    this.accs.set(key, acc);
  }
}

/**
 * Accumulators column-wise (see AccumulatorColumns): key → slot, and slot i's doubles at `i * width` of
 * one Float64Array that doubles when full. A million keys are then a map of numbers and one typed
 * array, which the garbage collector does not walk, instead of a million small arrays it does.
 *
 * Snapshot form, `[runs, spilled]`: the slots' doubles in slot order, one tight loop over the store
 * instead of an encoding per accumulator (and the same to restore):
 *   runs    := bin: each slot's doubles without its trailing zeros, small integers (counts, the number
 *              of partials of a sum) in one byte (see readDoubleRuns): ~14 bytes for count + sum
 *   spilled := [offset, accumulator, ...]: the accumulators that outgrew their runs, as plain data
 * Restoring it needs the same layout (`AccumulatorColumns.id`, in the snapshot's mode string).
 */
export class ColumnBucket implements WindowBucket {
  private readonly slots = new Map<KeyValue, number>();
  private store: Float64Array;
  /** Accumulators that outgrew their run (see AccumulatorColumns), by offset. */
  private readonly spill = new Map<number, unknown>();
  private readonly width: number;

  constructor(
    private readonly columns: AccumulatorColumns,
    capacity = 16,
  ) {
    this.width = columns.width;
    this.store = new Float64Array(Math.max(1, capacity) * this.width);
  }

  /** A bucket from its snapshot form (see the class comment) and its keys in slot order. */
  static fromSnapshot(columns: AccumulatorColumns, operator: string, keys: readonly KeyValue[], stored: unknown): ColumnBucket {
    const [bytes, spilled] = (Array.isArray(stored) ? stored : []) as [unknown, unknown];
    const corrupt = (why: string): FreshetError => new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `operator '${operator}': window columns in its saved state are corrupt: ${why}`);
    if (!(bytes instanceof Uint8Array) || !Array.isArray(spilled)) throw corrupt('expected [runs, spilled]');
    const bucket = new ColumnBucket(columns, keys.length);
    const error = readDoubleRuns(bytes, bucket.width, keys.length, bucket.store);
    if (error !== null) throw corrupt(error);
    for (let slot = 0; slot < keys.length; slot++) bucket.slots.set(keys[slot]!, slot);
    if (bucket.slots.size !== keys.length) throw corrupt('a key twice');
    for (let i = 0; i + 1 < spilled.length; i += 2) bucket.spill.set(spilled[i] as number, spilled[i + 1]);
    return bucket;
  }

  get size(): number {
    return this.slots.size;
  }

  add(key: KeyValue, value: unknown): void {
    let slot = this.slots.get(key);
    if (slot === undefined) slot = this.newSlot(key);
    this.columns.add(this.store, slot * this.width, value, this.spill);
  }

  accOf(key: KeyValue): unknown {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : this.columns.toAcc(this.store, slot * this.width, this.spill);
  }

  keys(): IterableIterator<KeyValue> {
    return this.slots.keys();
  }

  forEach(fn: (acc: unknown, key: KeyValue) => void): void {
    for (const [key, slot] of this.slots) fn(this.columns.toAcc(this.store, slot * this.width, this.spill), key);
  }

  snapshotAccs(): unknown {
    const w = new SnapshotWriter(64);
    this.writeAccs(w);
    return unpack(w.finish());
  }

  writeAccs(w: SnapshotWriter): void {
    w.arrayHeader(2);
    w.doubleRuns(this.store, this.width, this.slots.size);
    w.value(this.spilled());
  }

  restore(key: KeyValue, acc: unknown): void {
    this.columns.fromAcc(acc, this.store, this.newSlot(key) * this.width, this.spill);
  }

  private spilled(): unknown[] {
    const out: unknown[] = [];
    for (const [at, acc] of this.spill) out.push(at, acc);
    return out;
  }

  /** Slots are numbered in key order: slot i is the i-th key the window saw. */
  private newSlot(key: KeyValue): number {
    const slot = this.slots.size;
    if ((slot + 1) * this.width > this.store.length) {
      const grown = new Float64Array(this.store.length * 2);
      grown.set(this.store);
      this.store = grown;
    }
    this.slots.set(key, slot);
    return slot;
  }
}
