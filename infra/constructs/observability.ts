/**
 * Observability: a dashboard and the alarms an operator needs: failed jobs, undeliverable events (DLQ depth),
 * approvals that waited past their window, and executions that failed outside the job's own failure path. The
 * dashboard also graphs the drift found (DriftDetected) and the drift schedules' invocations.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DRIFT_METRICS_SERVICE, METRIC_DRIFT_DETECTED } from '../../lambdas/events/drift-detected';
import { METRIC_APPROVAL_EXPIRED, METRIC_JOB_COMPLETED, METRIC_JOB_FAILED, METRICS_NAMESPACE } from '../../lambdas/workflow/metrics';

export interface ObservabilityProps {
  readonly stateMachine: sfn.IStateMachine;
  /** Dead-letter queues whose depth should page someone. */
  readonly deadLetterQueues: Record<string, sqs.IQueue>;
  /** The drift schedules' group: its invocations and dropped invocations are graphed beside the drift found. */
  readonly driftScheduleGroup?: scheduler.IScheduleGroup;
  /**
   * Where alarm notifications go.
   * @default - alarms only (no subscription)
   */
  readonly alarmEmail?: string;
}

/** The Powertools dimension the workflow's metrics carry (metrics.ts serviceName). */
const WORKFLOW_DIMENSIONS = { service: 'workflow' };

export class Observability extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    // A customer-managed key: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed
    // alias/aws/sns key (its policy cannot be changed to let cloudwatch.amazonaws.com use it).
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: 'Stack Jobs alarm topic',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { masterKey: topicKey, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const count = (metricName: string) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: WORKFLOW_DIMENSIONS, statistic: 'Sum', period: Duration.minutes(5) });
    const alarm = (aid: string, metric: cloudwatch.IMetric, description: string) => {
      const a = new cloudwatch.Alarm(this, aid, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(new actions.SnsAction(this.alarmTopic));
      this.alarms.push(a);
      return a;
    };

    const failedJobs = count(METRIC_JOB_FAILED);
    const expiredApprovals = count(METRIC_APPROVAL_EXPIRED);
    const failedExecutions = new cloudwatch.MathExpression({
      expression: 'failed + timedOut + aborted',
      usingMetrics: { failed: props.stateMachine.metricFailed(), timedOut: props.stateMachine.metricTimedOut(), aborted: props.stateMachine.metricAborted() },
      period: Duration.minutes(5),
      label: 'Executions failed, timed out or aborted',
    });
    alarm('FailedJobsAlarm', failedJobs, 'A stack job failed (an operation or a workflow step); see the job status for which and why.');
    alarm('ApprovalExpiredAlarm', expiredApprovals, 'An approval waited longer than its policy window and the job was cancelled (approval_expired).');
    alarm(
      'FailedExecutionsAlarm',
      failedExecutions,
      'A state machine execution ended outside its own failure path; the cleanup Lambda marks the job and releases the lock.',
    );
    const dlqWidgets: cloudwatch.IMetric[] = [];
    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      const depth = queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' });
      alarm(`${name}DepthAlarm`, depth, `Events are waiting in the ${name} dead-letter queue: they were not delivered after all retries.`);
      dlqWidgets.push(depth);
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Jobs completed / failed', left: [count(METRIC_JOB_COMPLETED), failedJobs] }),
          new cloudwatch.GraphWidget({ title: 'Approvals expired', left: [expiredApprovals] }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Executions',
            left: [props.stateMachine.metricStarted(), props.stateMachine.metricSucceeded(), failedExecutions],
          }),
          new cloudwatch.GraphWidget({ title: 'Dead-letter queue depth', left: dlqWidgets }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Drift detected (checks that found drift)',
            left: [
              new cloudwatch.Metric({
                namespace: METRICS_NAMESPACE,
                metricName: METRIC_DRIFT_DETECTED,
                dimensionsMap: { service: DRIFT_METRICS_SERVICE },
                statistic: 'Sum',
                period: Duration.hours(1),
              }),
            ],
          }),
          ...(props.driftScheduleGroup
            ? [
                new cloudwatch.GraphWidget({
                  title: 'Drift schedules: invocations',
                  left: [props.driftScheduleGroup.metricAttempts(), props.driftScheduleGroup.metricTargetErrors(), props.driftScheduleGroup.metricDropped()],
                }),
              ]
            : []),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms })],
      ],
    });
  }
}
