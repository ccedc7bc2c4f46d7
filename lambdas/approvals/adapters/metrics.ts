/** The approvals work's counts as CloudWatch EMF through Powertools, flushed at once (a Lambda may end right after). */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { ApprovalMetrics } from '../ports';

export const METRIC_SLACK_POST_FAILED = 'SlackApprovalPostFailed';
export const METRIC_SLACK_UPDATE_FAILED = 'SlackApprovalUpdateFailed';
export const METRIC_APPROVAL_DECIDED = 'ApprovalDecided';

export class PowertoolsApprovalMetrics implements ApprovalMetrics {
  constructor(private readonly metrics: Metrics) {}

  slackPostFailed(): void {
    this.metrics.addMetric(METRIC_SLACK_POST_FAILED, MetricUnit.Count, 1);
    this.metrics.publishStoredMetrics();
  }

  slackUpdateFailed(): void {
    this.metrics.addMetric(METRIC_SLACK_UPDATE_FAILED, MetricUnit.Count, 1);
    this.metrics.publishStoredMetrics();
  }

  decided(decision: 'approved' | 'rejected', channel: 'slack' | 'api'): void {
    this.metrics.addMetric(`${METRIC_APPROVAL_DECIDED}_${decision}_${channel}`, MetricUnit.Count, 1);
    this.metrics.publishStoredMetrics();
  }
}
