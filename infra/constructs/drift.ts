/**
 * Drift schedules and what follows drift: the deployment's EventBridge Scheduler group (the API creates, changes and
 * deletes one schedule per drift schedule in it, and in it only), the role Scheduler assumes (it may invoke the
 * fan-out and nothing else), the fan-out Lambda (starts a drift check of each resource a schedule selects), and the
 * Lambda subscribed to "Stack Drift Detected" (Slack notice, DriftDetected metric, remediation job). Both Lambdas
 * submit jobs, so both are made by the intake with pre-flight's grants (Api.submittingFunction).
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { RESOURCE_LIST_ATTRIBUTES } from '../../lambdas/adapters/dynamodb/resource-status-repository';
import type { Api } from './api';
import type { Events } from './events';
import { acknowledgeWildcardResources } from './nag';
import type { StackJobsFunction } from './stack-jobs-function';

export interface DriftProps {
  readonly api: Api;
  readonly events: Events;
  readonly jobsTable: dynamodb.ITableV2;
  readonly catalogTable: dynamodb.ITableV2;
  /** The drift notice goes to the environment's approval channel with the approvals' bot token. */
  readonly slackBotToken: secretsmanager.ISecret;
}

/** The scheduler actions the API uses, on schedules of this deployment's group only. */
export const SCHEDULE_ACTIONS = ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule'] as const;

export class Drift extends Construct {
  /** One per deployment; deleting the stack deletes it and every schedule in it. */
  public readonly scheduleGroup: scheduler.ScheduleGroup;
  /** Assumed by EventBridge Scheduler: lambda:InvokeFunction on the fan-out only. */
  public readonly schedulerRole: iam.Role;
  public readonly fanOutFunction: StackJobsFunction;
  public readonly driftDetectedFunction: StackJobsFunction;

  constructor(scope: Construct, id: string, props: DriftProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'ScheduleGroup', { removalPolicy: RemovalPolicy.DESTROY });

    // A thousand resources, ten checks at a time, each a pre-flight of a few seconds: minutes, not seconds.
    this.fanOutFunction = props.api
      .submittingFunction(
        this,
        'FanOutFunction',
        'lambdas/handlers/drift-fan-out.handler.ts',
        'Stack Jobs drift schedules: start a drift check of each resource a schedule selects',
        Duration.minutes(10),
      )
      .bindTable('CATALOG_TABLE', props.catalogTable, 'read');
    // Listing an environment's or an org's resources scans the jobs table (resource items have no index), returning
    // the listing's attributes only: never a job document, a task token or a lease.
    this.fanOutFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ListResourceItems',
        actions: ['dynamodb:Scan'],
        resources: [props.jobsTable.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...RESOURCE_LIST_ATTRIBUTES] },
          StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        },
      }),
    );
    props.events.keepDriftFanOutFailures(this.fanOutFunction);

    this.driftDetectedFunction = props.api
      .submittingFunction(
        this,
        'DriftDetectedFunction',
        'lambdas/handlers/drift-detected.handler.ts',
        'Stack Jobs drift detected: Slack notice, DriftDetected metric, remediation job',
      )
      .bindTable('CATALOG_TABLE', props.catalogTable, 'read')
      .bindSecret('SLACK_BOT_TOKEN_SECRET_ARN', props.slackBotToken);
    props.events.routeDriftDetected(this.driftDetectedFunction);

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': stack.account } }),
      description: 'EventBridge Scheduler: invokes the Stack Jobs drift fan-out (and nothing else)',
    });
    // The function's ARN alone (no `:*`): Scheduler invokes the unqualified function.
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'InvokeDriftFanOut', actions: ['lambda:InvokeFunction'], resources: [this.fanOutFunction.functionArn] }),
    );

    // The API keeps Scheduler in step with the catalog: schedules of this group only, passing this role only.
    const api = props.api.apiFunction;
    const schedules = stack.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `${this.scheduleGroup.scheduleGroupName}/*` });
    api.addToRolePolicy(new iam.PolicyStatement({ sid: 'DriftSchedules', actions: [...SCHEDULE_ACTIONS], resources: [schedules] }));
    api.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PassSchedulerRole',
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    api
      .setConfig('DRIFT_SCHEDULE_GROUP', this.scheduleGroup.scheduleGroupName)
      .setConfig('DRIFT_SCHEDULER_ROLE_ARN', this.schedulerRole.roleArn)
      .setConfig('DRIFT_FAN_OUT_FUNCTION_ARN', this.fanOutFunction.functionArn);
    acknowledgeWildcardResources(api.executionRole, [
      [
        schedules,
        "Schedule names are derived from each drift schedule's org and id when it is created; the grant covers this deployment's schedule group only.",
      ],
    ]);
  }
}
