/**
 * The query side's read models (CQRS): a view is rebuilt from its results topic, one batch of
 * `ViewUpdate`s at a time, and answers reads shaped for one way of reading (key-value, time series,
 * columnar SQL). Every kind implements `View` and passes the shared contract suite
 * (test/serving/view.case.ts).
 *
 * Idempotence has two layers:
 *  - positions: a view records, per partition, the offset after the last update it applied and skips
 *    records below it, so duplicate delivery of the same records is a no-op;
 *  - upserts: an update replaces the row for its (key, window) (kv: key), so a replayed tail written
 *    again under new offsets (a pipeline recovering from a checkpoint) converges to the same view.
 */
import type { Clock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { ViewDefinition, ViewKind, ViewUpdate } from '../plan/view-update.js';
import { ServingLimits } from './limits.js';

/** Consecutive updates of one partition of a view's results topic, with their offsets. */
export interface ViewUpdateBatch {
  readonly partition: number;
  /** `offsets[i]` is the offset of `updates[i]`; increasing. */
  readonly offsets: readonly number[];
  readonly updates: readonly ViewUpdate[];
}

/** Where a view is in one input partition. */
export interface PartitionPosition {
  readonly partition: number;
  /** The next offset the view will apply: everything below it is reflected. */
  readonly nextOffset: number;
}

/** How fresh a view is. */
export interface ViewFreshness {
  readonly positions: readonly PartitionPosition[];
  /** Wall time (ms) of the last applied batch, or null before the first. */
  readonly lastUpdateMs: number | null;
  /** Largest event time among applied updates, or null. */
  readonly maxEventTimeMs: number | null;
  /** Updates applied since the view was created (skipped duplicates not counted). */
  readonly appliedUpdates: number;
}

/** One applied update as live subscribers see it. */
export interface ViewChange {
  /** Sequence number within this view instance (SSE event id: `${epoch}-${seq}`). */
  readonly seq: number;
  readonly partition: number;
  readonly offset: number;
  readonly update: ViewUpdate;
}

/** A column as `describe()` reports it. */
export interface ViewColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * A view: apply batches, report freshness, push changes. Reads are kind-specific (see `KvView`,
 * `TimeSeriesView`, `TableView`).
 *
 * @example
 * ```ts
 * const view = new KvView(definition);
 * await view.apply({ partition: 0, offsets: [0], updates: [{ key: 'ann', value: { spend: 12 }, eventTimeMs: 1 }] });
 * view.get('ann')?.value; // { spend: 12 }
 * view.freshness().positions; // [{ partition: 0, nextOffset: 1 }]
 * ```
 */
export interface View {
  readonly name: string;
  readonly kind: ViewKind;
  readonly definition: ViewDefinition;
  /** Applies a batch (skipping offsets already applied); resolves once readers can see it. */
  apply(batch: ViewUpdateBatch): Promise<void>;
  freshness(): ViewFreshness;
  /** The next offset this view applies in `partition` (0 before any). */
  position(partition: number): number;
  /**
   * Marks records below `nextOffset` of `partition` as consumed although nothing was applied (records
   * that were skipped, e.g. undecodable ones), so freshness does not report them as lag.
   */
  advance(partition: number, nextOffset: number): void;
  /** The live-update feed (SSE). */
  readonly changes: ChangeFeed;
  /** Rows or keys held (for listings). */
  size(): number;
  /** Columns, where the kind has a schema (table views); empty otherwise. */
  columns(): readonly ViewColumn[];
  /** Replaces the definition (e.g. a new retention) keeping the data; the kind must not change. */
  redefine(definition: ViewDefinition): void;
  close(): Promise<void>;
}

/** A listener of applied changes; called synchronously after each applied batch. Must not throw. */
export type ChangeListener = (changes: readonly ViewChange[]) => void;

/**
 * A bounded ring of a view's recent changes plus its live listeners: SSE streams subscribe here and
 * resume from `Last-Event-ID` as long as the id is still in the ring.
 *
 * @example
 * ```ts
 * const unsubscribe = view.changes.subscribe((changes) => console.log(changes.length));
 * view.changes.since(41); // changes with seq > 41, or null when 42 already left the ring
 * ```
 */
export class ChangeFeed {
  /** Distinguishes this view instance's sequence numbers from another run's (part of the SSE id). */
  readonly epoch: string;
  private readonly ring: (ViewChange | undefined)[];
  private nextSeq = 1;
  private readonly listeners = new Set<ChangeListener>();

  constructor(readonly capacity: number = ServingLimits.changeRingSize) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `ring capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array<ViewChange | undefined>(capacity);
    this.epoch = `${Date.now().toString(36)}${Math.floor(Math.random() * 0x10000).toString(36)}`;
  }

  /** The sequence number of the latest change (0 before any). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Records applied changes and tells the listeners. `updates[i]` came from `offsets[i]`. */
  publish(partition: number, offsets: readonly number[], updates: readonly ViewUpdate[], from: number, to: number): void {
    if (to <= from) return;
    const out: ViewChange[] = new Array(to - from);
    for (let i = from; i < to; i++) {
      const change: ViewChange = { seq: this.nextSeq, partition, offset: offsets[i]!, update: updates[i]! };
      this.ring[this.nextSeq % this.capacity] = change;
      this.nextSeq++;
      out[i - from] = change;
    }
    for (const listener of this.listeners) listener(out);
  }

  /** Changes with seq > `afterSeq`, oldest first; null when some of them already left the ring. */
  since(afterSeq: number): ViewChange[] | null {
    const last = this.lastSeq;
    if (afterSeq >= last) return [];
    const oldest = Math.max(1, last - this.capacity + 1);
    if (afterSeq + 1 < oldest) return null;
    const out: ViewChange[] = [];
    for (let s = afterSeq + 1; s <= last; s++) out.push(this.ring[s % this.capacity]!);
    return out;
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}

/**
 * The parts every view kind shares: positions (duplicate skipping), freshness, the change feed. A kind
 * implements `applyRange`, which applies `updates[from..to)` (all new) and makes them visible.
 */
export abstract class BaseView implements View {
  readonly changes = new ChangeFeed();
  private readonly positions = new Map<number, number>();
  private lastUpdateMs: number | null = null;
  private maxEventTimeMs: number | null = null;
  private appliedUpdates = 0;
  private applying = false;
  protected closed = false;

  protected constructor(
    private def: ViewDefinition,
    protected readonly clock: Clock,
  ) {}

  get name(): string {
    return this.def.name;
  }

  get kind(): ViewKind {
    return this.def.kind;
  }

  get definition(): ViewDefinition {
    return this.def;
  }

  redefine(definition: ViewDefinition): void {
    if (definition.kind !== this.def.kind || definition.name !== this.def.name) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `view '${this.def.name}' cannot change from ${this.def.kind} to ${definition.kind} in place`);
    }
    this.def = definition;
  }

  async apply(batch: ViewUpdateBatch): Promise<void> {
    if (this.closed) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `view '${this.name}' is closed`);
    const { partition, offsets, updates } = batch;
    if (offsets.length !== updates.length) throw new FreshetError(ErrorCodes.ASSERTION_FAILED, 'a view batch needs one offset per update');
    const next = this.positions.get(partition) ?? 0;
    // Offsets increase within a batch: skip the prefix already applied (duplicate delivery).
    let from = 0;
    while (from < offsets.length && offsets[from]! < next) from++;
    const to = offsets.length;
    if (from === to) return;
    // One batch at a time: positions and visibility move together (the maintainer awaits each apply).
    if (this.applying) throw new FreshetError(ErrorCodes.ASSERTION_FAILED, `view '${this.name}': apply called while another apply runs`);
    this.applying = true;
    try {
      await this.applyRange(updates, from, to);
    } finally {
      this.applying = false;
    }
    let maxEvent = this.maxEventTimeMs ?? -Infinity;
    for (let i = from; i < to; i++) if (updates[i]!.eventTimeMs > maxEvent) maxEvent = updates[i]!.eventTimeMs;
    if (maxEvent !== -Infinity) this.maxEventTimeMs = maxEvent;
    this.positions.set(partition, offsets[to - 1]! + 1);
    this.lastUpdateMs = this.clock.nowMs();
    this.appliedUpdates += to - from;
    this.changes.publish(partition, offsets, updates, from, to);
  }

  freshness(): ViewFreshness {
    const positions = [...this.positions.entries()].sort((a, b) => a[0] - b[0]).map(([partition, nextOffset]) => ({ partition, nextOffset }));
    return { positions, lastUpdateMs: this.lastUpdateMs, maxEventTimeMs: this.maxEventTimeMs, appliedUpdates: this.appliedUpdates };
  }

  /** The next offset this view applies in `partition` (0 when it has seen none). */
  position(partition: number): number {
    return this.positions.get(partition) ?? 0;
  }

  advance(partition: number, nextOffset: number): void {
    if (nextOffset > this.position(partition)) this.positions.set(partition, nextOffset);
  }

  columns(): readonly ViewColumn[] {
    return [];
  }

  abstract size(): number;

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Applies `updates[from..to)`, none of them seen before, and makes them visible to readers. */
  protected abstract applyRange(updates: readonly ViewUpdate[], from: number, to: number): Promise<void> | void;
}

/** The window a row is keyed by, or -Infinity for a windowless update (kv). */
export function windowRank(update: { readonly windowStartMs?: number | undefined }): number {
  return update.windowStartMs ?? -Infinity;
}

/** FRESHET_WRONG_VIEW_KIND for an operation a view's kind does not offer. */
export function wrongKind(view: { name: string; kind: ViewKind }, operation: string, expected: string): FreshetError {
  return new FreshetError(ErrorCodes.WRONG_VIEW_KIND, `view '${view.name}' is a ${view.kind} view; ${operation} needs a ${expected} view`, {
    view: view.name,
    kind: view.kind,
  });
}
