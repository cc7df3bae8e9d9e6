/**
 * The demo's alert rules (the `alerts.rules` of a config file, as plain objects): what a team running
 * the shop's pipeline would page on. With the generator's default 2% malformed events, the dead-letter
 * rule fires within a minute of start, so the dashboard has an active alert to show.
 */
import type { AlertRuleConfig } from '../../src/observe/index.js';

export const demoAlertRules: readonly AlertRuleConfig[] = [
  {
    name: 'DeadLettersHigh',
    severity: 'warning',
    forMs: 10_000,
    condition: { kind: 'rate', metric: 'freshet_dead_letters_total', windowMs: 30_000, groupBy: ['stage'], op: '>', value: 0.5 },
    annotations: { summary: '{{ $labels.stage }} sends {{ $value }} records/s to its dead-letter topic' },
  },
  {
    name: 'ConsumerLagHigh',
    severity: 'critical',
    forMs: 15_000,
    condition: { kind: 'threshold', metric: 'freshet_consumer_lag_records', groupBy: ['topic'], op: '>', value: 50_000 },
    annotations: { summary: 'the pipeline is {{ $value }} records behind on {{ $labels.topic }}' },
  },
  {
    name: 'OperatorErrors',
    severity: 'critical',
    forMs: 0,
    condition: { kind: 'rate', metric: 'freshet_operator_errors_total', windowMs: 30_000, groupBy: ['operator'], op: '>', value: 0 },
    annotations: { summary: '{{ $labels.operator }} fails {{ $value }} records/s' },
  },
  {
    name: 'ViewStale',
    severity: 'warning',
    forMs: 30_000,
    condition: { kind: 'threshold', metric: 'freshet_view_freshness_seconds', aggregate: 'max', groupBy: ['view'], op: '>', value: 60 },
    annotations: { summary: 'view {{ $labels.view }} has not been updated for {{ $value }} s' },
  },
];
