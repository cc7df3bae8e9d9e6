import { pack } from 'msgpackr';
import { type Clock, systemClock } from '../../core/clock.js';
import { type ErrorCode, ErrorCodes, FreshetError } from '../../core/errors.js';
import type { RecordBatchView } from '../../log/log.js';
import type { KeyValue, TopicFormat } from '../../plan/plan.js';
import {
  isWindowCheck,
  type QualityAction,
  type QualityCheck,
  type QualityEventFn,
  type QualityMetricsFn,
  type QualityOutcome,
  type RecordCheck,
} from '../../plan/quality-check.js';
import { validateAction, validateCheck } from '../../quality/checks.js';
import { type DeadLetterPayload, deadLetterRecord, deadLetterTopic } from '../../quality/dead-letter.js';
import type { DedupSnapshot, DedupState } from '../../quality/dedup.js';
import { compileRecordCheck, type RecordJudge } from '../../quality/record-checks.js';
import { WindowQualityTracker } from '../../quality/window-checks.js';
import { type Batch, type Edge, emit, emitWatermark } from '../batch.js';
import type { DeadLetterFn } from '../source-decoder.js';
import { checkSnapshot, type OperatorSnapshot, type StatefulOperator } from './stateful.js';

/**
 * Where each record of a batch was read from: the read batch view and the record's index in it
 * (parallel arrays, one entry per record, no object per record). A batch that carries them lets a
 * quality check dead-letter the *original bytes* with their topic, partition and offset.
 *
 * Proposed as an optional `Batch` field: source decoding fills it, stateless chains (filter, keyBy, and
 * map/flatMap, whose outputs keep their input's origin) carry it, and operators that combine records
 * (windows, joins) drop it. Until then a check dead-letters the value re-encoded.
 *
 * @example
 * ```ts
 * const batch: BatchWithOrigins = { values, timestamps, keys: null, origins: { views: [view, view], indexes: [0, 1] } };
 * ```
 */
export interface BatchOrigins {
  readonly views: readonly RecordBatchView[];
  readonly indexes: readonly number[];
}

/**
 * A batch that may carry its records' origins (see BatchOrigins).
 *
 * @example
 * ```ts
 * const origins = (batch as BatchWithOrigins).origins ?? null;
 * ```
 */
export interface BatchWithOrigins extends Batch {
  readonly origins?: BatchOrigins | null;
}

/**
 * What a quality operator needs from the runner that compiled it.
 *
 * @example
 * ```ts
 * const deadLetters = new DeadLetterBuffer();
 * const context: QualityOperatorContext = {
 *   pipeline: plan.pipeline, stage: node.stage, deadLetter: deadLetters.add,
 *   sourceTopic: 'orders', sourceFormat: 'json', clock,
 *   metrics: (check, stage, outcome, n) => counter.inc({ check, stage, outcome }, n),
 *   onEvent: (event) => alerts.raise(event),
 * };
 * ```
 */
export interface QualityOperatorContext {
  readonly pipeline: string;
  /** The stage the check runs after (the input node's name): the `stage` of dead letters, metrics and errors. */
  readonly stage: string;
  /** Receives dead letters (the runner's DeadLetterBuffer.add, flushed at batch boundaries). */
  readonly deadLetter: DeadLetterFn;
  /**
   * For batches without origins: the source topic the checked values were read from, when the path from
   * that source to this check only has nodes that keep values as they are (filter, keyBy, expect): the
   * re-encoded value is then the record as it was, and `freshet dlq replay` can send it back there.
   * Otherwise (a map, a join, a merge of sources) null: dead letters go to `<pipeline>.<check>.dlq`
   * with no topic to replay to.
   */
  readonly sourceTopic: string | null;
  /** How to re-encode values for dead letters without origins (the source's format). Default `json`. */
  readonly sourceFormat?: TopicFormat;
  /** For freshness against the wall clock. Default the system clock. */
  readonly clock?: Clock;
  readonly metrics?: QualityMetricsFn;
  /** Window checks' findings (volume, completeness, anomaly), for alerts and the dashboard. */
  readonly onEvent?: QualityEventFn;
}

const SNAPSHOT_VERSION = 1;

/** Counts since start, per outcome (also what the metrics callback was told). */
export type QualityCounts = Record<QualityOutcome, number>;

/**
 * Runs one data-quality check on a stream: the `expect` plan node. Records pass through unchanged;
 * record checks route failing records by `action` (`dlq`: to the dead-letter topic with the reason, check
 * and stage in headers; `warn`: counted, passed on; `fail`: FRESHET_QUALITY_CHECK_FAILED stops the
 * pipeline), window checks judge each closed window and raise metrics and events.
 *
 * Batch at a time: one loop per batch calling a compiled judge (no closure or promise per record); a
 * batch where every record passes is forwarded as is; metrics are reported once per batch.
 *
 * @example
 * ```ts
 * // in compile(): case 'expect'
 * const op = new QualityOperator(node.name, node.check, node.action, {
 *   pipeline: plan.pipeline, stage: node.stage, deadLetter, sourceTopic, sourceFormat, clock, metrics, onEvent,
 * });
 * ```
 */
export class QualityOperator implements StatefulOperator {
  readonly outputs: Edge[] = [];
  readonly counts: QualityCounts = { passed: 0, dead_lettered: 0, warned: 0, failed: 0, evicted: 0, late: 0, window_passed: 0, window_violated: 0 };
  private readonly judge: RecordJudge | null;
  private readonly windows: WindowQualityTracker | null;
  private readonly clock: Clock;
  private readonly stage: string;
  private readonly fallbackDlqTopic: string;
  private readonly sourceTopic: string | null;
  private readonly format: TopicFormat;
  private watermarkMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly check: QualityCheck,
    readonly action: QualityAction,
    private readonly context: QualityOperatorContext,
  ) {
    validateCheck(check);
    validateAction(action);
    this.stage = context.stage;
    this.clock = context.clock ?? systemClock;
    this.sourceTopic = context.sourceTopic;
    this.format = context.sourceFormat ?? 'json';
    this.fallbackDlqTopic = deadLetterTopic(context.sourceTopic ?? `${context.pipeline}.${name}`.replace(/[^a-zA-Z0-9._-]/g, '_'));
    if (isWindowCheck(check)) {
      this.judge = null;
      this.windows = new WindowQualityTracker(check);
    } else {
      this.judge = compileRecordCheck(check as RecordCheck, `quality check '${name}'`);
      this.windows = null;
    }
  }

  /** De-duplication checks: the state (for metrics and tests); null for other kinds. */
  get dedupState(): DedupState | null {
    return this.judge !== null && 'state' in this.judge ? (this.judge as { state: DedupState }).state : null;
  }

  /**
   * `[1, 'expect', watermarkMs, dedup | null, windows | null]`: de-duplication ids and open windows with
   * the count history survive a restart, so duplicates across it are still caught.
   */
  snapshotState(): OperatorSnapshot {
    return [SNAPSHOT_VERSION, 'expect', this.watermarkMs, this.dedupState?.snapshot() ?? null, this.windows?.snapshot() ?? null];
  }

  /** Restores a snapshot; state for another kind of check (the check was changed) is dropped, not misread. */
  restoreState(snapshot: OperatorSnapshot): void {
    checkSnapshot(this.name, 'expect', SNAPSHOT_VERSION, snapshot);
    const [, , watermarkMs, dedup, windows] = snapshot as [number, string, number | null, DedupSnapshot | null, unknown[] | null];
    // msgpack keeps -Infinity; null would mean "no watermark yet" from another encoder.
    this.watermarkMs = watermarkMs ?? Number.NEGATIVE_INFINITY;
    if (this.judge !== null) this.judge.begin(this.watermarkMs, this.clock.nowMs());
    const state = this.dedupState;
    if (state !== null && dedup !== null) {
      state.restore(dedup);
      this.judge!.watermark(this.watermarkMs);
    }
    if (this.windows !== null && windows !== null) this.windows.restore(windows);
  }

  push(batch: Batch): void {
    if (this.windows !== null) {
      const late = this.windows.add(batch.values, batch.timestamps);
      this.report('passed', batch.values.length - late);
      this.report('late', late);
      emit(this.outputs, batch);
      return;
    }
    const judge = this.judge!;
    judge.begin(this.watermarkMs, this.clock.nowMs());
    const values = batch.values;
    const timestamps = batch.timestamps;
    const keys = batch.keys;
    const origins = (batch as BatchWithOrigins).origins ?? null;
    const action = this.action;
    const n = values.length;
    const evictedBefore = this.dedupState?.evicted ?? 0;
    // Output arrays are made only when a record is dropped; until then the input batch goes on as is.
    let outValues: unknown[] | null = null;
    let outTimestamps: number[] | null = null;
    let outKeys: KeyValue[] | null = null;
    let outViews: RecordBatchView[] | null = null;
    let outIndexes: number[] | null = null;
    let failed = 0;
    for (let i = 0; i < n; i++) {
      const reason = judge.judge(values[i], timestamps[i]!);
      if (reason !== null) {
        failed++;
        if (action === 'fail') {
          this.report('passed', i + 1 - failed);
          this.report('failed', 1);
          throw this.failure(reason, origins, i);
        }
        if (action === 'dlq') {
          if (outValues === null) {
            outValues = values.slice(0, i);
            outTimestamps = timestamps.slice(0, i);
            outKeys = keys !== null ? keys.slice(0, i) : null;
            if (origins !== null) {
              outViews = origins.views.slice(0, i);
              outIndexes = origins.indexes.slice(0, i);
            }
          }
          this.deadLetter(values[i], timestamps[i]!, reason, judge.code, origins, i);
          continue;
        }
      }
      if (outValues !== null) {
        outValues.push(values[i]);
        outTimestamps!.push(timestamps[i]!);
        if (outKeys !== null) outKeys.push(keys![i]!);
        if (outViews !== null) {
          outViews.push(origins!.views[i]!);
          outIndexes!.push(origins!.indexes[i]!);
        }
      }
    }
    this.report('passed', n - failed);
    this.report(action === 'dlq' ? 'dead_lettered' : 'warned', failed);
    const dedup = this.dedupState;
    if (dedup !== null) this.report('evicted', dedup.evicted - evictedBefore);
    if (outValues === null) {
      emit(this.outputs, batch);
    } else {
      const out: BatchWithOrigins = {
        values: outValues,
        timestamps: outTimestamps!,
        keys: outKeys,
        ...(outViews !== null && { origins: { views: outViews, indexes: outIndexes! } }),
      };
      emit(this.outputs, out);
    }
  }

  watermark(watermarkMs: number): void {
    if (watermarkMs <= this.watermarkMs) return;
    this.watermarkMs = watermarkMs;
    if (this.judge !== null) this.judge.watermark(watermarkMs);
    if (this.windows !== null) this.closeWindows(watermarkMs);
    emitWatermark(this.outputs, watermarkMs);
  }

  private closeWindows(watermarkMs: number): void {
    const verdicts = this.windows!.advance(watermarkMs);
    let passed = 0;
    for (const verdict of verdicts) {
      if (verdict.violations.length === 0) {
        passed++;
        continue;
      }
      this.report('window_violated', 1);
      for (const v of verdict.violations) {
        this.context.onEvent?.({
          check: this.name,
          stage: this.stage,
          rule: v.rule,
          action: this.action,
          windowStartMs: verdict.startMs,
          windowEndMs: verdict.endMs,
          count: verdict.count,
          message: v.message,
          details: v.details,
        });
      }
      if (this.action === 'fail') {
        this.report('window_passed', passed);
        const v = verdict.violations[0]!;
        throw new FreshetError(
          ErrorCodes.QUALITY_CHECK_FAILED,
          `quality check '${this.name}' failed at stage '${this.stage}': window [${verdict.startMs}, ${verdict.endMs}): ${v.message}`,
          { check: this.name, stage: this.stage, rule: v.rule, windowStartMs: verdict.startMs, windowEndMs: verdict.endMs, count: verdict.count },
        );
      }
    }
    this.report('window_passed', passed);
  }

  private report(outcome: QualityOutcome, count: number): void {
    if (count <= 0) return;
    this.counts[outcome] += count;
    this.context.metrics?.(this.name, this.stage, outcome, count);
  }

  private failure(reason: string, origins: BatchOrigins | null, i: number): FreshetError {
    const where = origins !== null ? ` (${origins.views[i]!.topic}/${origins.views[i]!.partition}@${origins.views[i]!.offsetAt(origins.indexes[i]!)})` : '';
    return new FreshetError(ErrorCodes.QUALITY_CHECK_FAILED, `quality check '${this.name}' failed at stage '${this.stage}'${where}: ${reason}`, {
      check: this.name,
      stage: this.stage,
      reason,
      ...(origins !== null && { topic: origins.views[i]!.topic, partition: origins.views[i]!.partition, offset: origins.views[i]!.offsetAt(origins.indexes[i]!) }),
    });
  }

  /** Sends one record to the dead-letter topic: its original bytes when the batch has origins, else re-encoded. */
  private deadLetter(value: unknown, timestampMs: number, reason: string, code: ErrorCode, origins: BatchOrigins | null, i: number): void {
    if (origins !== null) {
      const view = origins.views[i]!;
      const index = origins.indexes[i]!;
      this.context.deadLetter(
        deadLetterTopic(view.topic),
        deadLetterRecord({
          value: view.valueAt(index),
          key: view.keyAt(index),
          timestampMs: view.timestampAt(index),
          code,
          reason,
          stage: this.stage,
          topic: view.topic,
          partition: view.partition,
          offset: view.offsetAt(index),
          check: this.name,
          payload: 'original',
        }),
      );
      return;
    }
    let bytes: Uint8Array | null;
    let payload: DeadLetterPayload = this.format;
    let why = reason;
    try {
      // Off the hot path: only failing records are encoded.
      if (this.format === 'msgpack') bytes = pack(value);
      else {
        const text = JSON.stringify(value);
        bytes = text === undefined ? null : Buffer.from(text);
      }
    } catch (error) {
      bytes = null;
      payload = 'json';
      why = `${reason} (the value could not be encoded: ${(error as Error).message})`;
    }
    this.context.deadLetter(
      this.fallbackDlqTopic,
      deadLetterRecord({ value: bytes, timestampMs, code, reason: why, stage: this.stage, topic: this.sourceTopic ?? '', check: this.name, payload }),
    );
  }
}
