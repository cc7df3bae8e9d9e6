/**
 * Bounds and defaults of the state backends and the checkpoint store (named here, as every bound in
 * Freshet is; see src/core/limits.ts for the rest).
 *
 * @example
 * ```ts
 * LmdbStateBackend.open({ path, cacheBytes: StateLimits.lmdbCacheBytes * 4 });
 * ```
 */
export const StateLimits = {
  /** Entries (values, map entries, window entries, timers) the memory backend holds before FRESHET_STATE_LIMIT_EXCEEDED. */
  memoryMaxEntries: 50_000_000,
  /** Deltas after a full snapshot before the next snapshot of an operator is full again (bounds restore work). */
  maxDeltaChain: 20,
  /** Deltas also stop once they add up to more than this many times the last full snapshot. */
  maxDeltaBytesRatio: 1,
  /** LMDB backend: default in-memory cache budget (decoded values and unwritten changes). */
  lmdbCacheBytes: 64 * 1024 * 1024,
  /** LMDB backend: estimated bytes of one cached entry besides its encoded key and value. */
  lmdbCacheEntryOverheadBytes: 96,
  /** LMDB backend: default maximum database size (the memory map; LMDB needs a bound up front). */
  lmdbMapBytes: 64 * 1024 * 1024 * 1024,
  /** Checkpoints kept (the newest K complete ones) by default. */
  retainedCheckpoints: 3,
  /** Longest savepoint / pipeline / task name. */
  maxNameLength: 200,
  /** `freshet savepoint create`: how long the CLI waits for a running pipeline to take the savepoint. */
  savepointRequestTimeoutMs: 60_000,
} as const;
