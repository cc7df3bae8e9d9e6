import type { QualityMetricsFn } from '../plan/quality-check.js';

/**
 * The part of the observability layer's per-pipeline metrics a quality check reports to (see
 * src/observe/pipeline-metrics.ts), structurally, so quality/ does not import observe/.
 *
 * @example
 * ```ts
 * const sink: QualityMetricsSink = pipelineMetrics; // a PipelineMetrics from src/observe
 * ```
 */
export interface QualityMetricsSink {
  qualityChecks(stage: string, check: string, passed: number, failed: number): void;
  deadLetters(stage: string, reason: string, count: number): void;
}

/**
 * Adapts a quality operator's metrics callback to the pipeline metrics: `passed` counts as passed;
 * `dead_lettered`, `warned` and `failed` as failed (and `dead_lettered` also as dead letters, with the
 * check's name as the low-cardinality reason); windows the same way. `evicted` and `late` have no
 * counter there yet and are ignored.
 *
 * @example
 * ```ts
 * new QualityOperator(node.name, node.check, node.action, { ...context, metrics: qualityMetricsTo(pipelineMetrics) });
 * ```
 */
export function qualityMetricsTo(sink: QualityMetricsSink): QualityMetricsFn {
  return (check, stage, outcome, count) => {
    switch (outcome) {
      case 'passed':
      case 'window_passed':
        sink.qualityChecks(stage, check, count, 0);
        break;
      case 'dead_lettered':
        sink.qualityChecks(stage, check, 0, count);
        sink.deadLetters(stage, check, count);
        break;
      case 'warned':
      case 'failed':
      case 'window_violated':
        sink.qualityChecks(stage, check, 0, count);
        break;
      case 'evicted':
      case 'late':
        break;
    }
  };
}
