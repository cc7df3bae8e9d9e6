import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import { type AlertRuleConfig, alertRulesShape } from './alert-rules.js';
import { AlertManager, DEFAULT_CLOSE_TIMEOUT_MS } from './alerts.js';
import { createLogger } from './logger.js';
import { FreshetMetrics } from './metrics.js';
import { type WebhookConfig, webhookShape } from './notifiers.js';

/** The `alerts` section of a config file: rules, receivers and the evaluation interval. */
export interface AlertsConfig {
  readonly rules?: readonly AlertRuleConfig[];
  readonly webhooks?: readonly WebhookConfig[];
  /** Time between evaluations (default 5000 ms). */
  readonly evaluationIntervalMs?: number;
}

/** The zod shape of the `alerts` config section. */
export const alertsConfigShape = z.strictObject({
  rules: alertRulesShape.optional(),
  webhooks: z.array(webhookShape).max(16).optional(),
  evaluationIntervalMs: z.int().min(100).max(3_600_000).optional(),
});

/**
 * Validates the `alerts` section of a config file (rules are fully checked when the manager is built).
 * Throws FRESHET_INVALID_CONFIG listing every problem.
 *
 * @example
 * ```ts
 * const alerts = parseAlertsConfig(JSON.parse(await readFile('freshet.json', 'utf8')).alerts ?? {});
 * const observe = new Observability({ alerts });
 * ```
 */
export function parseAlertsConfig(input: unknown): AlertsConfig {
  const parsed = alertsConfigShape.safeParse(input);
  if (!parsed.success) {
    const list = parsed.error.issues.map((i) => `alerts.${i.path.map(String).join('.')}: ${i.message}`);
    throw new FreshetError(ErrorCodes.INVALID_CONFIG, `invalid config: ${list.join('; ')}`);
  }
  return parsed.data as AlertsConfig;
}

/** Options of `new Observability()`. */
export interface ObservabilityOptions {
  /** "Now" for ages and alerts (default the system clock). */
  readonly clock?: Clock;
  /** The root logger (default `createLogger()`, level from FRESHET_LOG_LEVEL); `null` for none. */
  readonly logger?: Logger | null;
  /** Export process and Node.js metrics too (default true). */
  readonly processMetrics?: boolean;
  readonly alerts?: AlertsConfig;
  /** This server's base URL, for links in webhook payloads. */
  readonly externalUrl?: string;
}

/**
 * Freshet's observability for one instance: metrics (a fresh registry), alerting over them, and the
 * root logger. Give it to `createServer({ observe })` for `GET /metrics` and `GET /v1/alerts`, and
 * `metrics.pipeline(name)` to each pipeline runner.
 *
 * @example
 * ```ts
 * const observe = new Observability({
 *   alerts: { rules: [{ name: 'LagHigh', forMs: 30_000, condition: { kind: 'threshold', metric: 'freshet_consumer_lag_records', op: '>', value: 1e4 } }],
 *             webhooks: [{ url: 'http://alerts.internal/hook' }] },
 * });
 * const server = createServer({ log, observe });
 * observe.start();
 * // ... on shutdown
 * await server.close();
 * await observe.close();
 * ```
 */
export class Observability {
  readonly metrics: FreshetMetrics;
  readonly alerts: AlertManager;
  /** The root logger (a silent one when `logger: null`). */
  readonly logger: Logger | null;

  constructor(options: ObservabilityOptions = {}) {
    this.logger = options.logger === undefined ? createLogger() : options.logger;
    this.metrics = new FreshetMetrics({ processMetrics: options.processMetrics ?? true, ...(options.clock ? { clock: options.clock } : {}) });
    const alerts = options.alerts ?? {};
    this.alerts = new AlertManager({
      registry: this.metrics.registry,
      rules: alerts.rules ?? [],
      webhooks: alerts.webhooks ?? [],
      ...(alerts.evaluationIntervalMs !== undefined ? { evaluationIntervalMs: alerts.evaluationIntervalMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      logger: this.logger,
      externalUrl: options.externalUrl ?? '',
    });
  }

  /** Starts evaluating alert rules on their interval. */
  start(): void {
    this.alerts.start();
  }

  /** Stops alert evaluation and waits (bounded) for webhook deliveries. */
  async close(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    await this.alerts.stop(timeoutMs);
  }
}
