import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { AlertSeverity } from './alert-rules.js';
import { ObserveLimits } from './limits.js';

/**
 * A firing or resolved alert, as every notifier receives it.
 *
 * @example
 * ```ts
 * const notifier: AlertNotifier = { name: 'pager', notify: (n) => { if (n.severity === 'critical') page(n.annotations.summary) } };
 * ```
 */
export interface AlertNotification {
  readonly status: 'firing' | 'resolved';
  /** `alertname`, `severity`, the rule's labels and the instance's `groupBy` labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** Templated annotations (`summary`, `description`...). */
  readonly annotations: Readonly<Record<string, string>>;
  readonly alertname: string;
  readonly severity: AlertSeverity;
  /** The condition's value at the transition. */
  readonly value: number | null;
  /** When the condition started to hold (pending began), as Prometheus' `startsAt`. */
  readonly startsAtMs: number;
  /** When it resolved (`null` while firing). */
  readonly endsAtMs: number | null;
  /** Evaluation time of the transition. */
  readonly atMs: number;
  /** Stable id of the alert instance (hash of its labels). */
  readonly fingerprint: string;
  /** The rule's condition, PromQL-like. */
  readonly expr: string;
}

/** Anything that receives alert notifications. `notify` must not throw or block (queue and return). */
export interface AlertNotifier {
  readonly name: string;
  notify(notification: AlertNotification): void;
  /** Waits (at most `timeoutMs`) for queued notifications to be delivered. */
  flush?(timeoutMs: number): Promise<void>;
  close?(): Promise<void>;
}

/**
 * Stable fingerprint of a label set: 16 hex chars of SHA-256 over the sorted labels.
 *
 * @example
 * ```ts
 * fingerprintOf({ alertname: 'Lag', topic: 'orders' }) // e.g. '3f2a9c0d1e4b5a67'
 * ```
 */
export function fingerprintOf(labels: Readonly<Record<string, string>>): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
  return createHash('sha256').update(sorted).digest('hex').slice(0, 16);
}

/** Alertmanager's "zero time", which its webhook sends as `endsAt` of firing alerts. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The JSON body a webhook receives: Alertmanager's webhook format (version 4), one alert per message. */
export interface WebhookPayload {
  readonly version: '4';
  readonly groupKey: string;
  readonly truncatedAlerts: 0;
  readonly status: 'firing' | 'resolved';
  readonly receiver: string;
  readonly groupLabels: Record<string, string>;
  readonly commonLabels: Record<string, string>;
  readonly commonAnnotations: Record<string, string>;
  readonly externalURL: string;
  readonly alerts: readonly {
    readonly status: 'firing' | 'resolved';
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
    readonly startsAt: string;
    readonly endsAt: string;
    readonly generatorURL: string;
    readonly fingerprint: string;
    /** Freshet's addition: the condition's value (receivers ignore unknown fields). */
    readonly value: number | null;
  }[];
}

/**
 * The Alertmanager-compatible webhook body for one notification, so existing receivers (PagerDuty and
 * Slack bridges, Alertmanager's own webhook tooling) read it unchanged.
 *
 * @example
 * ```ts
 * const body = webhookPayload(notification, 'ops-webhook', 'http://freshet:8080');
 * body.alerts[0].labels.alertname // 'ConsumerLagHigh'
 * ```
 */
export function webhookPayload(n: AlertNotification, receiver: string, externalUrl: string): WebhookPayload {
  return {
    version: '4',
    groupKey: `{}:{alertname=${JSON.stringify(n.alertname)}}`,
    truncatedAlerts: 0,
    status: n.status,
    receiver,
    groupLabels: { alertname: n.alertname },
    commonLabels: { ...n.labels },
    commonAnnotations: { ...n.annotations },
    externalURL: externalUrl,
    alerts: [
      {
        status: n.status,
        labels: { ...n.labels },
        annotations: { ...n.annotations },
        startsAt: new Date(n.startsAtMs).toISOString(),
        endsAt: n.endsAtMs === null ? ZERO_TIME : new Date(n.endsAtMs).toISOString(),
        generatorURL: externalUrl === '' ? '' : `${externalUrl.replace(/\/$/, '')}/v1/alerts`,
        fingerprint: n.fingerprint,
        value: n.value,
      },
    ],
  };
}

/**
 * A webhook receiver, as configured.
 *
 * @example
 * ```ts
 * const hook: WebhookConfig = { url: 'http://alerts.internal/hook', headers: { authorization: 'Bearer x' }, maxAttempts: 5 };
 * ```
 */
export interface WebhookConfig {
  /** `http:` or `https:` URL that receives a POST per notification. */
  readonly url: string;
  /** Receiver name in payloads and metrics (default `webhook-<n>`). */
  readonly name?: string;
  /** Extra request headers (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Per-attempt timeout (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Attempts per notification, the first included (default 5, at most `ObserveLimits.maxWebhookAttempts`). */
  readonly maxAttempts?: number;
  /** Backoff before the 2nd attempt, doubling after each failure (default 500 ms). */
  readonly initialBackoffMs?: number;
  /** Longest backoff (default 30 000 ms, at most `ObserveLimits.maxWebhookBackoffMs`). */
  readonly maxBackoffMs?: number;
}

/** The zod shape of a webhook config (reused by config-file parsers). */
export const webhookShape = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  name: z.string().min(1).max(200).optional(),
  headers: z.record(z.string().min(1), z.string()).optional(),
  timeoutMs: z.int().min(1).max(ObserveLimits.maxWebhookTimeoutMs).optional(),
  maxAttempts: z.int().min(1).max(ObserveLimits.maxWebhookAttempts).optional(),
  initialBackoffMs: z.int().min(0).max(ObserveLimits.maxWebhookBackoffMs).optional(),
  maxBackoffMs: z.int().min(0).max(ObserveLimits.maxWebhookBackoffMs).optional(),
});

/** How a webhook delivery ended, counted in `freshet_alert_notifications_total{outcome}`. */
export type DeliveryOutcome = 'delivered' | 'failed' | 'rejected' | 'dropped';

/** Dependencies of a WebhookNotifier. */
export interface WebhookNotifierOptions {
  readonly externalUrl?: string;
  readonly logger?: Logger | null;
  readonly onOutcome?: (receiver: string, outcome: DeliveryOutcome) => void;
}

/**
 * Delivers notifications to one webhook, in order (a resolved never overtakes its firing): one queue,
 * one request at a time. Network errors, timeouts, 429 and 5xx are retried with exponential backoff
 * up to `maxAttempts`; other 4xx answers are not (the receiver refuses the payload). The queue holds at
 * most `ObserveLimits.maxPendingNotifications`; past it the oldest is dropped and counted.
 *
 * @example
 * ```ts
 * const hook = new WebhookNotifier({ url: 'http://127.0.0.1:9095/hook' }, 0, { logger });
 * hook.notify(notification);
 * await hook.flush(5_000);
 * ```
 */
export class WebhookNotifier implements AlertNotifier {
  readonly name: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly externalUrl: string;
  private readonly logger: Logger | null;
  private readonly onOutcome: (receiver: string, outcome: DeliveryOutcome) => void;
  private readonly queue: AlertNotification[] = [];
  private pumping: Promise<void> | null = null;
  private closed = false;
  private readonly abort = new AbortController();
  /** The last delivery error, for `GET /v1/alerts` (null after a success). */
  lastError: string | null = null;

  constructor(config: WebhookConfig, index: number, options: WebhookNotifierOptions = {}) {
    const parsed = webhookShape.safeParse(config);
    if (!parsed.success) {
      throw new FreshetError(ErrorCodes.INVALID_CONFIG, `invalid webhook ${index}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    this.name = config.name ?? `webhook-${index}`;
    this.url = config.url;
    this.headers = { 'content-type': 'application/json', 'user-agent': 'freshet-alerts', ...config.headers };
    this.timeoutMs = config.timeoutMs ?? 5_000;
    this.maxAttempts = config.maxAttempts ?? 5;
    this.initialBackoffMs = config.initialBackoffMs ?? 500;
    this.maxBackoffMs = Math.min(config.maxBackoffMs ?? 30_000, ObserveLimits.maxWebhookBackoffMs);
    this.externalUrl = options.externalUrl ?? '';
    this.logger = options.logger ?? null;
    this.onOutcome = options.onOutcome ?? (() => {});
  }

  /** Notifications waiting (the one being delivered included). */
  get pending(): number {
    return this.queue.length;
  }

  notify(notification: AlertNotification): void {
    if (this.closed) return;
    if (this.queue.length >= ObserveLimits.maxPendingNotifications) {
      // Drop the oldest that is not in flight (index 0 is being delivered while pumping).
      const dropAt = this.pumping !== null && this.queue.length > 1 ? 1 : 0;
      const [dropped] = this.queue.splice(dropAt, 1);
      this.onOutcome(this.name, 'dropped');
      this.logger?.warn({ code: ErrorCodes.ALERT_NOTIFICATION_FAILED, receiver: this.name, alertname: dropped?.alertname }, 'alert notification dropped: webhook queue full');
    }
    this.queue.push(notification);
    this.pumping ??= this.pump().finally(() => {
      this.pumping = null;
    });
  }

  async flush(timeoutMs: number): Promise<void> {
    const pumping = this.pumping;
    if (pumping === null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pumping, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Stops delivering: aborts the request in flight and drops what is queued. */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    this.queue.length = 0;
    await this.pumping?.catch(() => {});
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const n = this.queue[0]!;
      const outcome = await this.deliver(n);
      if (this.queue[0] === n) this.queue.shift();
      if (!this.closed) this.onOutcome(this.name, outcome);
    }
  }

  private async deliver(n: AlertNotification): Promise<DeliveryOutcome> {
    const body = JSON.stringify(webhookPayload(n, this.name, this.externalUrl));
    let backoffMs = this.initialBackoffMs;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (this.closed) return 'failed';
      let retryable = true;
      try {
        const status = await this.post(body);
        if (status >= 200 && status < 300) {
          this.lastError = null;
          return 'delivered';
        }
        retryable = status === 429 || status >= 500;
        this.lastError = `HTTP ${status}`;
      } catch (error) {
        this.lastError = (error as Error).message;
      }
      const log = { code: ErrorCodes.ALERT_NOTIFICATION_FAILED, receiver: this.name, alertname: n.alertname, status: n.status, attempt, error: this.lastError };
      if (!retryable) {
        this.logger?.error(log, 'alert webhook refused the notification');
        return 'rejected';
      }
      if (attempt === this.maxAttempts) {
        this.logger?.error(log, 'alert webhook failed: giving up');
        return 'failed';
      }
      this.logger?.warn({ ...log, retryInMs: backoffMs }, 'alert webhook failed: retrying');
      await this.sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, this.maxBackoffMs);
    }
    return 'failed';
  }

  private async post(body: string): Promise<number> {
    const controller = new AbortController();
    const onClose = (): void => controller.abort();
    this.abort.signal.addEventListener('abort', onClose, { once: true });
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const response = await fetch(this.url, { method: 'POST', headers: this.headers, body, signal: controller.signal });
      // Drain the body so the connection is reused.
      await response.arrayBuffer().catch(() => {});
      return response.status;
    } catch (error) {
      const reason = controller.signal.reason as unknown;
      throw reason instanceof Error ? reason : error;
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onClose);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const onAbort = (): void => done();
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/**
 * Writes notifications to the structured log: firing at `warn` (`error` for critical), resolved at `info`.
 *
 * @example
 * ```ts
 * const notifier = new LogNotifier(createLogger());
 * ```
 */
export class LogNotifier implements AlertNotifier {
  readonly name = 'log';
  constructor(private readonly logger: Logger) {}
  notify(n: AlertNotification): void {
    const fields = { alert: { name: n.alertname, status: n.status, severity: n.severity, labels: n.labels, value: n.value, fingerprint: n.fingerprint, expr: n.expr } };
    const message = `alert ${n.status}: ${n.alertname}${n.annotations.summary !== undefined ? ` - ${n.annotations.summary}` : ''}`;
    if (n.status === 'resolved') this.logger.info(fields, message);
    else if (n.severity === 'critical') this.logger.error(fields, message);
    else this.logger.warn(fields, message);
  }
}

/** One entry of the alert feed. */
export interface AlertFeedEvent extends AlertNotification {
  /** Increasing id (for SSE `Last-Event-ID` and `?after=`). */
  readonly id: number;
}

/**
 * The in-memory feed of recent firing/resolved notifications that the dashboard reads: the last
 * `ObserveLimits.maxFeedEvents` events, and live subscribers (for SSE).
 *
 * @example
 * ```ts
 * const unsubscribe = feed.subscribe((event) => sse.send(JSON.stringify(event), event.id));
 * feed.recent(50); // newest last
 * ```
 */
export class AlertFeed implements AlertNotifier {
  readonly name = 'feed';
  private readonly events: AlertFeedEvent[] = [];
  private readonly subscribers = new Set<(event: AlertFeedEvent) => void>();
  private nextId = 1;
  constructor(private readonly logger: Logger | null = null) {}

  notify(n: AlertNotification): void {
    const event: AlertFeedEvent = { ...n, id: this.nextId++ };
    this.events.push(event);
    if (this.events.length > ObserveLimits.maxFeedEvents) this.events.splice(0, this.events.length - ObserveLimits.maxFeedEvents);
    for (const subscriber of this.subscribers) {
      try {
        subscriber(event);
      } catch (error) {
        // A broken subscriber (a closed SSE stream) must not stop evaluation or other subscribers.
        this.logger?.warn({ err: error }, 'alert feed subscriber threw');
      }
    }
  }

  /** The newest `limit` events (oldest first), optionally only those with `id > afterId`. */
  recent(limit: number = ObserveLimits.maxFeedEvents, afterId = 0): AlertFeedEvent[] {
    const after = this.events.filter((e) => e.id > afterId);
    return after.slice(Math.max(0, after.length - limit));
  }

  /** Calls `listener` with every new event until the returned function is called. */
  subscribe(listener: (event: AlertFeedEvent) => void): () => void {
    if (this.subscribers.size >= ObserveLimits.maxFeedSubscribers) {
      throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `the alert feed already has ${ObserveLimits.maxFeedSubscribers} subscribers`);
    }
    this.subscribers.add(listener);
    return () => {
      this.subscribers.delete(listener);
    };
  }
}
