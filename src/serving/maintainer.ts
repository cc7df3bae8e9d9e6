/**
 * The read model rebuilt from the log: the ViewMaintainer follows the view registry topic and every
 * announced view's results topic, decodes `ViewUpdate`s batch by batch and applies them to its views.
 * It consumes without a consumer group: each maintainer (each query process) reads everything from the
 * start and builds its own complete copy of every view, so any number of them can serve the same views.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Clock, systemClock } from '../core/clock.js';
import { ErrorCodes, FreshetError, isFreshetError } from '../core/errors.js';
import type { EventLog, ReadResult } from '../log/log.js';
import { decodeViewUpdate, VIEW_REGISTRY_TOPIC, type ViewDefinition, type ViewKind, type ViewUpdate } from '../plan/view-update.js';
import { ViewDatabase, type ViewDatabaseOptions } from './duckdb/database.js';
import { RawTopicTable } from './duckdb/raw-topic-table.js';
import { SqlExecutor, type SqlExecutorOptions } from './duckdb/sql-executor.js';
import { TableView } from './duckdb/table-view.js';
import { KvView } from './kv-view.js';
import { ServingLimits } from './limits.js';
import { TimeSeriesView } from './timeseries-view.js';
import type { View, ViewColumn, ViewFreshness } from './view.js';

/** Options of `ViewMaintainer.start`. */
export interface ViewMaintainerOptions {
  /** The log the pipelines write their view topics to. The maintainer never closes it. */
  readonly log: EventLog;
  /** Wall time for freshness and retention (default the system clock). */
  readonly clock?: Clock;
  /** Wait between polls when nothing was new (default `ServingLimits.defaultMaintainerPollMs`). */
  readonly pollIntervalMs?: number;
  /** Records per read (default `ServingLimits.maintainerReadMaxRecords`). */
  readonly maxRecordsPerRead?: number;
  /** The DuckDB database for table views and SQL: options to open one, or one to use (not closed here). */
  readonly database?: ViewDatabaseOptions | ViewDatabase;
  /** Reader connections for SQL. */
  readonly sql?: SqlExecutorOptions;
  /** Topics whose raw events are also kept in DuckDB (`raw."<topic>"`). */
  readonly rawTopics?: readonly string[];
  /** Called with unexpected errors (a view that failed to apply, an invalid record); default: ignored. */
  readonly onError?: (error: unknown, context: string) => void;
}

/** A partition of a view's results topic as `/v1/views` reports it. */
export interface PartitionFreshness {
  readonly partition: number;
  readonly nextOffset: number;
  /** The partition's high watermark at the last read. */
  readonly highWatermark: number;
  /** Records written but not yet applied (as of the last read). */
  readonly lag: number;
}

/** A view as `GET /v1/views` describes it. */
export interface ViewInfo {
  readonly name: string;
  readonly kind: ViewKind;
  readonly pipeline: string;
  readonly topic: string;
  readonly retentionMs?: number;
  readonly aggregator?: ViewDefinition['aggregator'];
  readonly columns: readonly ViewColumn[];
  /** Keys (kv), points (timeseries) or rows (table). */
  readonly size: number;
  readonly freshness: {
    readonly partitions: readonly PartitionFreshness[];
    readonly lag: number;
    readonly lastUpdateMs: number | null;
    readonly maxEventTimeMs: number | null;
    readonly appliedUpdates: number;
  };
  /** Records of the results topic that could not be decoded (skipped). */
  readonly invalidRecords: number;
  /** The last error applying an update (the view retries), if any. */
  readonly error?: { readonly code: string; readonly message: string };
}

/** What the query routes need: the views, their descriptions and SQL. `ViewMaintainer` is one. */
export interface ViewCatalog {
  listViews(): ViewInfo[];
  viewInfo(name: string): ViewInfo | undefined;
  view(name: string): View | undefined;
  /** Read-only SQL, or null when this catalog has no DuckDB database. */
  readonly sql: SqlExecutor | null;
}

interface Followed {
  view: View;
  partitions: number;
  highWatermarks: number[];
  invalidRecords: number;
  lastError: FreshetError | null;
}

interface RawFollowed {
  table: RawTopicTable;
  partitions: number;
}

/**
 * Follows the registry and view topics of a log and maintains the views (see the file comment).
 *
 * @example
 * ```ts
 * const maintainer = await ViewMaintainer.start({ log });
 * const server = createServer({ log, views: maintainer });   // GET /v1/views, /v1/sql, SSE...
 * await maintainer.catchUp();                                 // tests: wait until the log is applied
 * (maintainer.view('spend') as KvView).get('ann');
 * await maintainer.close();
 * ```
 */
export class ViewMaintainer implements ViewCatalog {
  private readonly followed = new Map<string, Followed>();
  private readonly raw = new Map<string, RawFollowed>();
  private registryPositions: number[] = [];
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly maxRecords: number;
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private progressWaiters: (() => void)[] = [];
  private wake: AbortController = new AbortController();
  private polls = 0;

  private constructor(
    private readonly options: ViewMaintainerOptions,
    private readonly db: ViewDatabase | null,
    private readonly ownsDb: boolean,
    readonly sql: SqlExecutor | null,
  ) {
    this.clock = options.clock ?? systemClock;
    this.pollIntervalMs = options.pollIntervalMs ?? ServingLimits.defaultMaintainerPollMs;
    this.maxRecords = options.maxRecordsPerRead ?? ServingLimits.maintainerReadMaxRecords;
  }

  /** Opens the DuckDB database (unless `database` is one already), then starts following the log. */
  static async start(options: ViewMaintainerOptions): Promise<ViewMaintainer> {
    const given = options.database instanceof ViewDatabase ? options.database : null;
    const db = given ?? (await ViewDatabase.open(options.database as ViewDatabaseOptions | undefined));
    const sql = await SqlExecutor.create(db, options.sql);
    const m = new ViewMaintainer(options, db, given === null, sql);
    for (const topic of options.rawTopics ?? []) m.raw.set(topic, { table: await RawTopicTable.create(topic, db), partitions: 0 });
    m.loopDone = m.loop();
    return m;
  }

  view(name: string): View | undefined {
    return this.followed.get(name)?.view;
  }

  listViews(): ViewInfo[] {
    return [...this.followed.keys()].sort().map((n) => this.viewInfo(n)!);
  }

  viewInfo(name: string): ViewInfo | undefined {
    const f = this.followed.get(name);
    if (f === undefined) return undefined;
    const d = f.view.definition;
    const fr: ViewFreshness = f.view.freshness();
    const partitions: PartitionFreshness[] = [];
    let lag = 0;
    for (let p = 0; p < f.partitions; p++) {
      const nextOffset = fr.positions.find((x) => x.partition === p)?.nextOffset ?? 0;
      const hwm = Math.max(f.highWatermarks[p] ?? 0, nextOffset);
      partitions.push({ partition: p, nextOffset, highWatermark: hwm, lag: hwm - nextOffset });
      lag += hwm - nextOffset;
    }
    return {
      name: d.name,
      kind: d.kind,
      pipeline: d.pipeline,
      topic: d.topic,
      ...(d.retentionMs !== undefined && { retentionMs: d.retentionMs }),
      ...(d.aggregator !== undefined && { aggregator: d.aggregator }),
      columns: f.view.columns(),
      size: f.view.size(),
      freshness: { partitions, lag, lastUpdateMs: fr.lastUpdateMs, maxEventTimeMs: fr.maxEventTimeMs, appliedUpdates: fr.appliedUpdates },
      invalidRecords: f.invalidRecords,
      ...(f.lastError !== null && { error: { code: f.lastError.code, message: f.lastError.message } }),
    };
  }

  /**
   * Resolves once everything in the log when called (registry, then every view's and raw topic's
   * partitions up to their current end) is applied. Rejects with FRESHET_INVALID_ARGUMENT after
   * `timeoutMs` (default 30 s), so a caller cannot hang on a view that keeps failing.
   */
  async catchUp(timeoutMs = 30_000): Promise<void> {
    const deadline = this.clock.nowMs() + timeoutMs;
    const registryTargets = await this.latestOffsets(VIEW_REGISTRY_TOPIC);
    await this.waitUntil(() => registryTargets.every((t, p) => (this.registryPositions[p] ?? 0) >= t), deadline);
    const targets: { check: () => boolean }[] = [];
    for (const [, f] of this.followed) {
      const latest = await this.latestOffsets(f.view.definition.topic);
      targets.push({ check: () => latest.every((t, p) => f.view.position(p) >= t) });
    }
    for (const [topic, r] of this.raw) {
      const latest = await this.latestOffsets(topic);
      targets.push({ check: () => latest.every((t, p) => r.table.position(p) >= t) });
    }
    await this.waitUntil(() => targets.every((t) => t.check()), deadline);
  }

  /** Stops following, closes the views and SQL connections (and the database if it opened it). */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wake.abort();
    await this.loopDone;
    for (const f of this.followed.values()) await f.view.close();
    this.sql?.close();
    if (this.ownsDb) await this.db?.close();
    for (const w of this.progressWaiters.splice(0)) w();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let progressed = false;
      try {
        progressed = await this.pollOnce();
      } catch (error) {
        this.report(error, 'poll');
      }
      this.polls++;
      for (const w of this.progressWaiters.splice(0)) w();
      if (!progressed && !this.stopping) {
        try {
          await sleep(this.pollIntervalMs, undefined, { signal: this.wake.signal });
        } catch {
          // woken by close()
        }
      }
    }
  }

  /** One pass over the registry and every followed topic; true when anything new was read. */
  private async pollOnce(): Promise<boolean> {
    let progressed = await this.pollRegistry();
    for (const f of this.followed.values()) {
      if (this.stopping) break;
      if (await this.pollView(f)) progressed = true;
    }
    for (const [topic, r] of this.raw) {
      if (this.stopping) break;
      if (await this.pollRaw(topic, r)) progressed = true;
    }
    return progressed;
  }

  private async pollRegistry(): Promise<boolean> {
    const partitions = await this.partitionCount(VIEW_REGISTRY_TOPIC);
    let progressed = false;
    for (let p = 0; p < partitions; p++) {
      const result = await this.options.log.read(VIEW_REGISTRY_TOPIC, p, this.registryPositions[p] ?? 0, { maxRecords: this.maxRecords });
      for (const b of result.batches) {
        for (let i = 0; i < b.count; i++) await this.announce(b.valueAt(i));
      }
      if (result.nextOffset !== (this.registryPositions[p] ?? 0)) progressed = true;
      this.registryPositions[p] = result.nextOffset;
    }
    return progressed;
  }

  /** Applies one registry record: a new view, a changed definition, or (a null value) a removal. */
  private async announce(bytes: Uint8Array | null): Promise<void> {
    if (bytes === null) return;
    let def: ViewDefinition;
    try {
      def = parseDefinition(bytes);
    } catch (error) {
      this.report(error, 'registry');
      return;
    }
    const current = this.followed.get(def.name);
    if (current !== undefined) {
      if (current.view.kind === def.kind) {
        current.view.redefine(def);
        return;
      }
      // Another kind: rebuild from the start of the results topic.
      this.followed.delete(def.name);
      if (current.view instanceof TableView && def.kind !== 'table') await current.view.drop();
      else await current.view.close();
    }
    const view = await this.createView(def);
    this.followed.set(def.name, { view, partitions: 0, highWatermarks: [], invalidRecords: 0, lastError: null });
  }

  private async createView(def: ViewDefinition): Promise<View> {
    switch (def.kind) {
      case 'kv':
        return new KvView(def, this.clock);
      case 'timeseries':
        return new TimeSeriesView(def, this.clock);
      case 'table':
        if (this.db === null) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `view '${def.name}' is a table view but there is no DuckDB database`);
        return TableView.create(def, this.db, this.clock);
    }
  }

  private async pollView(f: Followed): Promise<boolean> {
    const topic = f.view.definition.topic;
    if (f.partitions === 0) f.partitions = await this.partitionCount(topic);
    let progressed = false;
    for (let p = 0; p < f.partitions; p++) {
      const from = f.view.position(p);
      let result: ReadResult;
      try {
        result = await this.options.log.read(topic, p, from, { maxRecords: this.maxRecords });
      } catch (error) {
        this.report(error, `view ${f.view.name}`);
        continue;
      }
      f.highWatermarks[p] = result.highWatermark;
      if (result.batches.length === 0) continue;
      const offsets: number[] = [];
      const updates: ViewUpdate[] = [];
      for (const b of result.batches) {
        for (let i = 0; i < b.count; i++) {
          const value = b.valueAt(i);
          if (value === null) continue;
          let u: ViewUpdate;
          try {
            u = decodeViewUpdate(value);
          } catch (error) {
            f.invalidRecords++;
            this.report(error, `view ${f.view.name} partition ${p} offset ${b.offsetAt(i)}`);
            continue;
          }
          offsets.push(b.offsetAt(i));
          updates.push(u);
        }
      }
      try {
        if (updates.length > 0) await f.view.apply({ partition: p, offsets, updates });
        f.view.advance(p, result.nextOffset);
        f.lastError = null;
        progressed = true;
      } catch (error) {
        f.lastError = isFreshetError(error) ? error : new FreshetError(ErrorCodes.INTERNAL, (error as Error).message ?? String(error));
        this.report(error, `view ${f.view.name}`);
      }
    }
    return progressed;
  }

  private async pollRaw(topic: string, r: RawFollowed): Promise<boolean> {
    if (r.partitions === 0) r.partitions = await this.partitionCount(topic);
    let progressed = false;
    for (let p = 0; p < r.partitions; p++) {
      const result = await this.options.log.read(topic, p, r.table.position(p), { maxRecords: this.maxRecords });
      if (result.batches.length === 0) continue;
      await r.table.apply(p, result.batches);
      progressed = true;
    }
    return progressed;
  }

  /** The topic's partition count, or 0 while it does not exist. */
  private async partitionCount(topic: string): Promise<number> {
    try {
      return (await this.options.log.describeTopic(topic)).config.partitions;
    } catch (error) {
      if (isFreshetError(error, ErrorCodes.UNKNOWN_TOPIC)) return 0;
      throw error;
    }
  }

  private async latestOffsets(topic: string): Promise<number[]> {
    const n = await this.partitionCount(topic);
    const out: number[] = [];
    for (let p = 0; p < n; p++) out.push(await this.options.log.latestOffset(topic, p));
    return out;
  }

  private async waitUntil(done: () => boolean, deadlineMs: number): Promise<void> {
    while (!done()) {
      if (this.stopping) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the view maintainer is closed');
      if (this.clock.nowMs() > deadlineMs) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'the views did not catch up with the log in time');
      await new Promise<void>((resolve) => this.progressWaiters.push(resolve));
    }
  }

  private report(error: unknown, context: string): void {
    this.options.onError?.(error, context);
  }
}

const KINDS = new Set<ViewKind>(['kv', 'timeseries', 'table']);

/** Parses and checks a registry record (JSON `ViewDefinition`). */
export function parseDefinition(bytes: Uint8Array): ViewDefinition {
  let def: unknown;
  try {
    def = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (cause) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'a view registry record is not JSON', {}, { cause });
  }
  const d = def as Partial<ViewDefinition> | null;
  if (d === null || typeof d !== 'object' || typeof d.name !== 'string' || d.name === '' || typeof d.topic !== 'string' || !KINDS.has(d.kind as ViewKind)) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, 'a view registry record needs a name, a topic and a kind (kv, timeseries or table)');
  }
  if (d.retentionMs !== undefined && !(typeof d.retentionMs === 'number' && d.retentionMs > 0)) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `view '${d.name}': retentionMs must be a positive number`);
  }
  return { pipeline: '', ...d } as ViewDefinition;
}
