import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { WindowSpec } from '../plan/plan.js';

/*
 * Window definitions. A window is [startMs, endMs): it holds events with startMs <= eventTimeMs < endMs.
 * Windows are a definition you then aggregate: `keyed.window(tumbling({ sizeMs: 60_000 })).aggregate(...)`.
 */

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive integer (ms), got ${value}`);
  return value;
}

/**
 * Fixed-size, non-overlapping windows aligned to the epoch (plus `offsetMs`).
 *
 * @example
 * ```ts
 * keyed.window(tumbling({ sizeMs: 60_000 })) // one window per key per minute
 * ```
 */
export function tumbling(options: { sizeMs: number; offsetMs?: number }): WindowSpec {
  return { type: 'tumbling', sizeMs: positive('sizeMs', options.sizeMs), offsetMs: options.offsetMs ?? 0 };
}

/**
 * Fixed-size windows that start every `advanceMs` and so overlap (an event is in sizeMs / advanceMs windows).
 *
 * @example
 * ```ts
 * keyed.window(hopping({ sizeMs: 10_000, advanceMs: 2_000 })) // 10 s windows every 2 s
 * ```
 */
export function hopping(options: { sizeMs: number; advanceMs: number; offsetMs?: number }): WindowSpec {
  const sizeMs = positive('sizeMs', options.sizeMs);
  const advanceMs = positive('advanceMs', options.advanceMs);
  if (advanceMs > sizeMs) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `advanceMs (${advanceMs}) must not exceed sizeMs (${sizeMs})`);
  return { type: 'hopping', sizeMs, advanceMs, offsetMs: options.offsetMs ?? 0 };
}

/**
 * Kafka Streams' SlidingWindows: a window of length `maxDifferenceMs` for every distinct set of events
 * within that time difference of each other; each event opens a window ending at its timestamp and one
 * starting just after it. Good for "count in the last N ms" without a fixed grid.
 *
 * @example
 * ```ts
 * keyed.window(sliding({ maxDifferenceMs: 5_000 }))
 * ```
 */
export function sliding(options: { maxDifferenceMs: number }): WindowSpec {
  return { type: 'sliding', maxDifferenceMs: positive('maxDifferenceMs', options.maxDifferenceMs) };
}

/**
 * Per-key activity sessions: a session closes after `gapMs` without events; sessions that come within
 * `gapMs` of each other (even through late events) merge.
 *
 * @example
 * ```ts
 * clicksByUser.window(session({ gapMs: 30 * 60_000 }))
 * ```
 */
export function session(options: { gapMs: number }): WindowSpec {
  return { type: 'session', gapMs: positive('gapMs', options.gapMs) };
}
