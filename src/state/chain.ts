import { assert } from '../core/assert.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { StateLimits } from './limits.js';
import { readSnapshotHeader } from './snapshot-format.js';

/**
 * Options every backend takes for its snapshot chains.
 *
 * @example
 * ```ts
 * new MemoryStateBackend({ maxDeltaChain: 5 }); // a full snapshot at least every 6 checkpoints
 * ```
 */
export interface ChainOptions {
  /** Deltas after a full snapshot before the next one is full (default StateLimits.maxDeltaChain). */
  readonly maxDeltaChain?: number;
}

/**
 * Where one operator's snapshot chain stands: the checkpoint later deltas build on, and how long and
 * large the chain of deltas since the last full snapshot is (so it can be cut with a full one).
 */
export class ChainState {
  /** The last completed checkpoint this operator's state was part of (null: the next snapshot is full). */
  base: number | null = null;
  deltas = 0;
  fullBytes = 0;
  deltaBytes = 0;

  /** True when the next snapshot must (or should) be full. */
  wantsFull(forceFull: boolean, maxDeltaChain: number): boolean {
    return forceFull || this.base === null || this.deltas >= maxDeltaChain || this.deltaBytes > Math.max(this.fullBytes, 64 * 1024) * StateLimits.maxDeltaBytesRatio;
  }

  completed(checkpointId: number, type: 'full' | 'delta', bytes: number): void {
    this.base = checkpointId;
    if (type === 'full') {
      this.deltas = 0;
      this.fullBytes = bytes;
      this.deltaBytes = 0;
    } else {
      this.deltas++;
      this.deltaBytes += bytes;
    }
  }

  reset(): void {
    this.base = null;
    this.deltas = 0;
    this.fullBytes = 0;
    this.deltaBytes = 0;
  }
}

/** Checks that a chain is one full snapshot of `operator` then deltas, each on the previous link. */
export function checkChain(operator: string, chain: readonly Uint8Array[]): void {
  if (chain.length === 0) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `the snapshot chain of operator '${operator}' is empty`);
  let previous: number | null = null;
  for (let i = 0; i < chain.length; i++) {
    const h = readSnapshotHeader(chain[i]!);
    const problem =
      h.operator !== operator
        ? `link ${i} belongs to operator '${h.operator}'`
        : i === 0 && h.type !== 'full'
          ? 'it does not start with a full snapshot'
          : i > 0 && (h.type !== 'delta' || h.baseCheckpointId !== previous)
            ? `link ${i} (checkpoint ${h.checkpointId}) is not a delta on checkpoint ${previous}`
            : null;
    if (problem !== null) throw new FreshetError(ErrorCodes.CHECKPOINT_CORRUPT, `the snapshot chain of operator '${operator}' is broken: ${problem}`, { operator });
    previous = h.checkpointId;
  }
}

/** Checkpoint ids handed to `snapshot` must increase. */
export function checkSnapshotId(checkpointId: number, last: number): void {
  if (!Number.isSafeInteger(checkpointId) || checkpointId < 1) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `checkpoint id must be a positive integer, got ${checkpointId}`);
  assert(checkpointId > last, `checkpoint ids increase (got ${checkpointId} after ${last})`);
}
