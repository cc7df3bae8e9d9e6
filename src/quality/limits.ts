/**
 * Bounds of the data-quality layer, named in one place (the log's and runtime's are in src/core/limits.ts).
 *
 * @example
 * ```ts
 * checks.unique('orderId', { horizonMs: 3_600_000, maxKeys: QualityLimits.defaultMaxDedupKeys / 10 });
 * ```
 */
export const QualityLimits = {
  /** De-duplication: ids kept at most, by default (then the oldest are evicted, outcome `evicted`). */
  defaultMaxDedupKeys: 1_000_000,
  /** De-duplication: the most ids any check may keep (about 100 B each, so ~1 GiB). */
  maxDedupKeys: 10_000_000,
  /** Window checks: windows open at once (out-of-order data); beyond it the oldest is closed early. */
  maxOpenWindows: 10_000,
  /**
   * Window checks: empty windows evaluated in one watermark advance (a long gap in traffic, or a
   * watermark jump). Older empty windows of a longer gap are skipped and counted in the event.
   */
  maxGapWindows: 1_000,
  /** Anomaly rule: the longest count history. */
  maxAnomalyWindows: 10_000,
  /** Field paths in one check. */
  maxFields: 256,
  /** Values of a `oneOf` check. */
  maxOneOfValues: 100_000,
  /** `freshet dlq list`: records scanned per dead-letter topic for its top reasons (the newest ones). */
  listScanRecords: 100_000,
  /** `freshet dlq list`: reasons shown per topic. */
  listTopReasons: 3,
  /** `freshet dlq show`: records printed by default. */
  showDefaultLimit: 100,
  /** `freshet dlq replay`: records read and re-submitted per round (one produce, one commit). */
  replayBatchRecords: 1_000,
} as const;
