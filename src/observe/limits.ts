/**
 * Bounds of the observability layer, named in one place (as src/core/limits.ts does for the rest).
 * Exceeding one collapses, drops or refuses with a counted or coded outcome, never unbounded growth.
 *
 * @example
 * ```ts
 * import { ObserveLimits } from 'freshet';
 * ObserveLimits.maxSeriesPerFamily // 10_000
 * ```
 */
export const ObserveLimits = {
  /**
   * Label combinations one metric family keeps. Past it, new combinations share one overflow series
   * (every label `_overflow`) and `freshet_metric_series_overflow_total` counts them: an operator or
   * topic name with unbounded cardinality must not grow memory or the scrape without limit.
   */
  maxSeriesPerFamily: 10_000,
  /** A lag source that has not answered after this long is skipped for that scrape (and counted). */
  lagSourceTimeoutMs: 5_000,
  /** Alert rules one manager holds. */
  maxAlertRules: 1_000,
  /** Alert instances (label groups) one rule tracks. Past it, further groups are ignored (and logged). */
  maxInstancesPerRule: 1_000,
  /** Samples kept per series for rate and absence windows (on top of pruning to the window). */
  maxHistorySamplesPerSeries: 10_000,
  /** Notifications waiting per webhook; past it the oldest is dropped (and counted). */
  maxPendingNotifications: 1_000,
  /** Events the in-memory alert feed keeps for the dashboard. */
  maxFeedEvents: 500,
  /** Subscribers of the alert feed (SSE connections). */
  maxFeedSubscribers: 1_000,
  /** Delivery attempts of one webhook notification at most (the configured value is capped here). */
  maxWebhookAttempts: 20,
  /** Longest backoff between webhook attempts. */
  maxWebhookBackoffMs: 60_000,
  /** Longest accepted webhook request timeout. */
  maxWebhookTimeoutMs: 60_000,
} as const;
