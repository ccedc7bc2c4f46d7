/** The submission's metrics, the same from the API, a rerun and the EventBridge intake. */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { CheckResult } from '../domain/schemas';

/** One `PreflightFailed_<check>` count per failing check. */
export function countPreflightFailures(metrics: Pick<Metrics, 'addMetric'>, checks: readonly CheckResult[]): void {
  for (const c of checks) if (!c.passed) metrics.addMetric(`PreflightFailed_${c.check}`, MetricUnit.Count, 1);
}
