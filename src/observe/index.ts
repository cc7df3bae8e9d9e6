/**
 * Observability: metrics (Prometheus, via prom-client), alert rules with notifications, structured logs.
 * See docs/observability.md.
 *
 * @example
 * ```ts
 * import { Observability, createServer } from 'freshet';
 * const observe = new Observability();
 * const server = createServer({ log, observe }); // GET /metrics, GET /v1/alerts
 * ```
 */
export { ObserveLimits } from './limits.js';
export {
  noopPipelineMetrics,
  type PipelineMetrics,
  type OperatorMetrics,
  type LatencyRecorder,
  type LatencyOrigin,
  type LateHandling,
  type LagSource,
  type PartitionLag,
} from './pipeline-metrics.js';
export {
  FreshetMetrics,
  MetricNames,
  LATENCY_BUCKETS_SECONDS,
  BATCH_BUCKETS_SECONDS,
  HTTP_BUCKETS_SECONDS,
  CHECKPOINT_BUCKETS_SECONDS,
  type MetricsOptions,
} from './metrics.js';
export {
  Family,
  CounterFamily,
  GaugeFamily,
  AgeGaugeFamily,
  HistogramFamily,
  CounterChild,
  GaugeChild,
  AgeChild,
  HistogramChild,
  registerFamily,
  OVERFLOW_LABEL_VALUE,
  type MetricSample,
  type MetricSnapshot,
  type FamilyOptions,
  type HistogramFamilyOptions,
} from './families.js';
export { logLagSource } from './lag.js';
export {
  parseAlertRules,
  alertRuleShape,
  alertRulesShape,
  MAX_ALERT_DURATION_MS,
  type AlertRule,
  type AlertRuleConfig,
  type AlertCondition,
  type ThresholdCondition,
  type RateCondition,
  type AbsentCondition,
  type AlertSeverity,
  type Aggregation,
  type CompareOp,
  type LabelMatcher,
} from './alert-rules.js';
export {
  AlertManager,
  DEFAULT_EVALUATION_INTERVAL_MS,
  RESOLVED_RETENTION_MS,
  type AlertManagerOptions,
  type AlertState,
  type AlertRuleState,
  type AlertInstanceState,
} from './alerts.js';
export {
  AlertFeed,
  WebhookNotifier,
  LogNotifier,
  webhookPayload,
  webhookShape,
  fingerprintOf,
  type AlertNotification,
  type AlertNotifier,
  type AlertFeedEvent,
  type WebhookConfig,
  type WebhookPayload,
  type DeliveryOutcome,
} from './notifiers.js';
export { createLogger, pipelineLogger, checkpointLogger, silentLogger, LOG_LEVEL_ENV, type LoggerOptions, type PipelineLogContext } from './logger.js';
export { Observability, parseAlertsConfig, alertsConfigShape, type ObservabilityOptions, type AlertsConfig } from './observability.js';
