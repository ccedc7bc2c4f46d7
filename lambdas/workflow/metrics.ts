/** What the workflow counts, behind a small port: CloudWatch (EMF through Powertools) in AWS, a no-op or a recorder in tests. */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { JobResult } from '../domain/schemas';

/** The namespace the observability construct's alarms read. */
export const METRICS_NAMESPACE = 'StackJobs';
export const METRIC_JOB_FAILED = 'JobFailed';
export const METRIC_JOB_COMPLETED = 'JobCompleted';
export const METRIC_APPROVAL_EXPIRED = 'ApprovalExpired';
export const METRIC_LOCK_WAIT_EXCEEDED = 'LockWaitExceeded';

export interface WorkflowMetrics {
  jobCompleted(result: JobResult, reason: string | undefined): void;
}

export const noMetrics: WorkflowMetrics = { jobCompleted: () => undefined };

/** Powertools EMF metrics; each count is flushed at once so a crash later in the step cannot lose it. */
export class PowertoolsWorkflowMetrics implements WorkflowMetrics {
  constructor(private readonly metrics: Metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'workflow' })) {}

  jobCompleted(result: JobResult, reason: string | undefined): void {
    this.metrics.addMetric(METRIC_JOB_COMPLETED, MetricUnit.Count, 1);
    if (result === 'failed') this.metrics.addMetric(METRIC_JOB_FAILED, MetricUnit.Count, 1);
    if (reason === 'approval_expired') this.metrics.addMetric(METRIC_APPROVAL_EXPIRED, MetricUnit.Count, 1);
    if (reason === 'lock_wait_exceeded') this.metrics.addMetric(METRIC_LOCK_WAIT_EXCEEDED, MetricUnit.Count, 1);
    this.metrics.publishStoredMetrics();
  }
}
