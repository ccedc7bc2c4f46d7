/**
 * Approvals: the approval task's Lambda (stores the task token beside the job, posts to Slack), the Slack
 * interactions Lambda (verifies the signature, authorizes the approver, resumes the execution), and the two
 * Slack secrets. Secret values are put in after deploy (docs/architecture.md, "Connect the Slack app").
 */
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackJobsFunction } from './stack-jobs-function';
import { leadingKeysOf } from '../../lambdas/adapters/dynamodb/keys';

/** Slack secrets live outside the credentials prefix (`stackjobs/`), so neither the runner nor pre-flight can read them. */
export const SLACK_SECRET_PREFIX = 'stackjobs-slack/';

export interface ApprovalsProps {
  readonly jobsTable: dynamodb.ITableV2;
  readonly catalogTable: dynamodb.ITableV2;
  readonly artifactsBucket: s3.IBucket;
  readonly bus: events.IEventBus;
  readonly logRetention: logs.RetentionDays;
  /**
   * The Slack workspace (team id, `T…`) whose clicks count; from context `stackjobs:slackTeamId`.
   * @default - none: Slack buttons decide nothing (decisions through the API only)
   */
  readonly slackTeamId?: string;
}

export class Approvals extends Construct {
  /** Invoked by the state machine's approval task with `.waitForTaskToken`. */
  public readonly requestApprovalFunction: StackJobsFunction;
  /** Behind POST /v1/slack/interactions (no JWT: Slack signs its requests). */
  public readonly slackInteractionsFunction: StackJobsFunction;
  /** Replaces the Slack message of an approval that expired (routed by the events construct). */
  public readonly approvalExpiredFunction: StackJobsFunction;
  public readonly slackSigningSecret: secretsmanager.Secret;
  public readonly slackBotToken: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ApprovalsProps) {
    super(scope, id);
    const slackSecret = (sid: string, name: string, description: string) => {
      const secret = new secretsmanager.Secret(this, sid, { secretName: `${SLACK_SECRET_PREFIX}${name}`, description });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'Issued by Slack, not by AWS: it is rotated in the Slack app settings and put here by hand.',
      });
      return secret;
    };
    this.slackSigningSecret = slackSecret('SlackSigningSecret', 'signing-secret', 'Slack app signing secret (verifies interaction requests)');
    this.slackBotToken = slackSecret('SlackBotToken', 'bot-token', 'Slack bot token (posts and updates approval messages)');

    this.requestApprovalFunction = new StackJobsFunction(this, 'RequestApprovalFunction', {
      entry: 'lambdas/workflow/request-approval.handler.ts',
      description: 'Stack Jobs approval request: keeps the task token beside the job, posts to Slack',
      logRetention: props.logRetention,
    })
      .bindTable('JOBS_TABLE', props.jobsTable, 'readWrite')
      .bindTable('CATALOG_TABLE', props.catalogTable, 'read')
      .bindBucket('ARTIFACTS_BUCKET', props.artifactsBucket, 'read', 'jobs/')
      .bindEventBus('EVENT_BUS_NAME', props.bus)
      .bindSecret('SLACK_BOT_TOKEN_SECRET_ARN', this.slackBotToken);

    this.slackInteractionsFunction = new StackJobsFunction(this, 'SlackInteractionsFunction', {
      entry: 'lambdas/handlers/slack-interactions.handler.ts',
      description: 'Stack Jobs Slack interactions: verify, authorize, decide, resume',
      logRetention: props.logRetention,
    })
      .bindTable('JOBS_TABLE', props.jobsTable, 'readWrite')
      .bindTable('CATALOG_TABLE', props.catalogTable, 'read')
      .bindEventBus('EVENT_BUS_NAME', props.bus)
      // The outcome goes back through the interaction's response_url, which needs no token: only the signing secret is readable here.
      .bindSecret('SLACK_SIGNING_SECRET_ARN', this.slackSigningSecret);
    if (props.slackTeamId) this.slackInteractionsFunction.setConfig('SLACK_TEAM_ID', props.slackTeamId);

    this.approvalExpiredFunction = new StackJobsFunction(this, 'ApprovalExpiredFunction', {
      entry: 'lambdas/handlers/approval-expired.handler.ts',
      description: 'Stack Jobs: closes the Slack message of an approval that expired',
      logRetention: props.logRetention,
    })
      .setConfig('JOBS_TABLE', props.jobsTable.tableName)
      .bindSecret('SLACK_BOT_TOKEN_SECRET_ARN', this.slackBotToken);
    // It reads a job and its approval's message reference, nothing else: never a task token (TOKEN#) or a lease.
    this.approvalExpiredFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'JobAndApprovalItemsOnly',
        actions: ['dynamodb:GetItem'],
        resources: [props.jobsTable.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf('job'), leadingKeysOf('approval')] } },
      }),
    );
  }

  /** Lets the Slack Lambda resume executions of this state machine (SendTaskSuccess/Failure, on this state machine only). */
  allowDecisions(stateMachine: sfn.IStateMachine): void {
    stateMachine.grantTaskResponse(this.slackInteractionsFunction);
  }
}
