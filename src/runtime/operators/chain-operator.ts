import type { KeyValue } from '../../plan/plan.js';
import type { RecordBatchView } from '../../log/log.js';
import { type Batch, type BatchOrigins, type Edge, type Operator, emit, emitWatermark } from '../batch.js';

/** One stateless step of a fused chain. */
export type ChainStep =
  | { readonly kind: 'filter'; readonly fn: (value: unknown) => boolean }
  | { readonly kind: 'map'; readonly fn: (value: unknown) => unknown }
  | { readonly kind: 'flatMap'; readonly fn: (value: unknown) => Iterable<unknown> }
  | { readonly kind: 'keyBy'; readonly fn: (value: unknown) => KeyValue };

/**
 * Consecutive stateless operators (filter, map, flatMap, keyBy) fused into one loop over the batch: one
 * pass, one output batch, no intermediate arrays or per-record closures.
 */
export class ChainOperator implements Operator {
  readonly outputs: Edge[] = [];
  constructor(
    readonly name: string,
    /** The fused steps; compile() appends to this array while it fuses, so read it at push time. */
    private readonly steps: readonly ChainStep[],
  ) {}

  /** Whether the chain keys its output (checked per batch: the steps may grow after construction). */
  private get setsKeys(): boolean {
    return this.steps.some((s) => s.kind === 'keyBy');
  }

  push(batch: Batch): void {
    const steps = this.steps;
    if (steps.length === 1 && steps[0]!.kind === 'keyBy') {
      this.pushKeyBy(batch, steps[0]!.fn);
      return;
    }
    const values: unknown[] = [];
    const timestamps: number[] = [];
    const inKeys = batch.keys;
    const keys: KeyValue[] | null = this.setsKeys || inKeys ? [] : null;
    // Each output keeps its input's origin (a map's output too: replaying the original runs the map again).
    const inOrigins = batch.origins ?? null;
    const views: RecordBatchView[] | null = inOrigins ? [] : null;
    const indexes: number[] | null = inOrigins ? [] : null;
    const n = batch.values.length;
    for (let i = 0; i < n; i++) {
      const before = values.length;
      this.run(0, batch.values[i], batch.timestamps[i]!, inKeys ? inKeys[i]! : 0, values, timestamps, keys);
      if (views !== null) {
        for (let j = before; j < values.length; j++) {
          views.push(inOrigins!.views[i]!);
          indexes!.push(inOrigins!.indexes[i]!);
        }
      }
    }
    const origins: BatchOrigins | null = views !== null ? { views, indexes: indexes! } : null;
    emit(this.outputs, { values, timestamps, keys, origins });
  }

  /**
   * A lone keyBy (the usual step before a window) changes only the keys: the output shares the input's
   * value and timestamp arrays (batches are immutable), so the loop does one call and one store per record.
   */
  private pushKeyBy(batch: Batch, keyOf: (value: unknown) => KeyValue): void {
    const inValues = batch.values;
    const n = inValues.length;
    const keys: KeyValue[] = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = keyOf(inValues[i]);
    emit(this.outputs, { values: inValues, timestamps: batch.timestamps, keys, origins: batch.origins ?? null });
  }

  watermark(watermarkMs: number): void {
    emitWatermark(this.outputs, watermarkMs);
  }

  /** Runs steps from `from` on one value; flatMap recurses for each of its outputs. */
  private run(from: number, value: unknown, ts: number, key: KeyValue, values: unknown[], timestamps: number[], keys: KeyValue[] | null): void {
    const steps = this.steps;
    for (let s = from; s < steps.length; s++) {
      const step = steps[s]!;
      switch (step.kind) {
        case 'filter':
          if (!step.fn(value)) return;
          break;
        case 'map':
          value = step.fn(value);
          break;
        case 'keyBy':
          key = step.fn(value);
          break;
        case 'flatMap':
          for (const out of step.fn(value)) this.run(s + 1, out, ts, key, values, timestamps, keys);
          return;
      }
    }
    values.push(value);
    timestamps.push(ts);
    if (keys) keys.push(key);
  }
}
