import type { RecordBatchView } from '../log/log.js';
import type { KeyValue } from '../plan/plan.js';

/**
 * What flows between operators: parallel arrays, one entry per record (no wrapper object per record).
 * `keys` is set downstream of keyBy. Batches are never mutated after they are emitted: an operator that
 * changes records builds new arrays, so one batch can go to several consumers.
 */
export interface Batch {
  readonly values: readonly unknown[];
  readonly timestamps: readonly number[];
  readonly keys: readonly KeyValue[] | null;
  /**
   * Where each record was read from, when known (source decoding fills it, stateless chains keep it,
   * operators that combine records drop it): quality checks dead-letter the original bytes from it.
   */
  readonly origins?: BatchOrigins | null;
}

/** Per record: the read batch view it was decoded from and its index there (parallel arrays, no object per record). */
export interface BatchOrigins {
  readonly views: readonly RecordBatchView[];
  readonly indexes: readonly number[];
}

export const EMPTY_BATCH: Batch = { values: [], timestamps: [], keys: null };

/** A consumer of an operator's output: the operator and which of its inputs this edge feeds. */
export interface Edge {
  readonly operator: Operator;
  readonly input: number;
}

/**
 * A runtime operator. Operators are synchronous: they take a batch, do their work, and push results to
 * their outputs before returning. I/O happens only in sources and sinks, at batch boundaries.
 */
export interface Operator {
  /** The plan node's stable name. */
  readonly name: string;
  readonly outputs: Edge[];
  /** Processes a batch arriving on input `input`. */
  push(batch: Batch, input: number): void;
  /** Input `input`'s watermark advanced to `watermarkMs`. */
  watermark(watermarkMs: number, input: number): void;
}

/** Sends a batch to every output edge. */
export function emit(outputs: readonly Edge[], batch: Batch): void {
  if (batch.values.length === 0) return;
  for (let i = 0; i < outputs.length; i++) outputs[i]!.operator.push(batch, outputs[i]!.input);
}

/** Sends a watermark to every output edge. */
export function emitWatermark(outputs: readonly Edge[], watermarkMs: number): void {
  for (let i = 0; i < outputs.length; i++) outputs[i]!.operator.watermark(watermarkMs, outputs[i]!.input);
}

/**
 * Tracks the watermark of an operator with several inputs: the minimum over inputs, which only moves
 * forward. Returns the new combined watermark from `update`, or null when it did not advance.
 */
export class WatermarkTracker {
  private readonly inputs: number[];
  private current = Number.NEGATIVE_INFINITY;

  constructor(inputCount: number) {
    this.inputs = new Array<number>(inputCount).fill(Number.NEGATIVE_INFINITY);
  }

  get watermarkMs(): number {
    return this.current;
  }

  /** `[current, ...per-input]`, for checkpoints. */
  snapshot(): number[] {
    return [this.current, ...this.inputs];
  }

  restore(state: readonly number[]): void {
    this.current = state[0]!;
    for (let i = 0; i < this.inputs.length; i++) this.inputs[i] = state[i + 1]!;
  }

  update(input: number, watermarkMs: number): number | null {
    if (watermarkMs <= this.inputs[input]!) return null;
    this.inputs[input] = watermarkMs;
    let min = Number.POSITIVE_INFINITY;
    for (const w of this.inputs) if (w < min) min = w;
    if (min <= this.current) return null;
    this.current = min;
    return min;
  }
}
