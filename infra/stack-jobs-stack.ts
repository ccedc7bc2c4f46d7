/** The one stack: one construct per capability, composed here and nowhere else. */
import { Aws, Stack, type StackProps, ArnFormat, CfnOutput } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { OrgRunnerNetworks } from '../lambdas/domain/preflight';
import { Api, type JwtSettings } from './constructs/api';
import { Approvals } from './constructs/approvals';
import { WebConsole, type ConsoleSignIn } from './constructs/console';
import { Drift } from './constructs/drift';
import { Events } from './constructs/events';
import { Observability } from './constructs/observability';
import { Orchestration, type OrchestrationProps } from './constructs/orchestration';
import { Runner, type ExistingVpc } from './constructs/runner';
import { Storage } from './constructs/storage';

/** Provider and backend credential secrets must be named under this prefix (docs/architecture.md). */
export const CREDENTIAL_SECRET_PREFIX = 'stackjobs/';

/** The orchestration settings are the Orchestration construct's own props (documented there), passed through. */
type OrchestrationSettings = Pick<
  OrchestrationProps,
  'lockWaitSeconds' | 'lockWaitMaxAttempts' | 'previewTimeout' | 'updateTimeout' | 'orgRunnerTaskDefinitionArns' | 'orgRunnerRoleArns'
>;

export interface StackJobsStackProps extends StackProps, OrchestrationSettings {
  readonly jwt: JwtSettings;
  /**
   * Per org, the subnets and security groups its registered runners may name: an org runner naming any other is not
   * used (its jobs run on the platform runner), so no org puts module code into a network reaching another org's.
   * @default none: no org runner is used
   */
  readonly orgRunnerNetworks?: OrgRunnerNetworks;
  /**
   * The web console's OIDC client and the extra origins its sign-in calls.
   * @default the first JWT audience as the client id; no origins besides the issuer's
   */
  readonly console?: ConsoleSignIn;
  /**
   * Keep tables, key and buckets when the stack is deleted (and protect the tables from deletion).
   * @default true
   */
  readonly retainData?: boolean;
  /**
   * A step of the jobs table's index upgrade (StorageProps.jobsIndexUpgradeStep; README, Deploy).
   * @default none: this version's indexes only
   */
  readonly jobsIndexUpgradeStep?: number;
  /**
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * @default - a new VPC
   */
  readonly existingVpc?: ExistingVpc;
  /**
   * Interface endpoints for ECR, STS, Secrets Manager, Step Functions and CloudWatch Logs in the new VPC (runner.ts).
   * @default false
   */
  readonly interfaceEndpoints?: boolean;
  /**
   * The runner task's size (Fargate CPU units and memory).
   * @default RUNNER_DEFAULT_SIZE (1 vCPU, 2 GB)
   */
  readonly runnerSize?: { cpu: number; memoryLimitMiB: number };
  /**
   * @default - built from runner-image/
   */
  readonly runnerImage?: ecs.ContainerImage;
  /**
   * IAM roles pre-flight and the runner may assume for provider credentials that name a role.
   * @default [`arn:<partition>:iam::*:role/stackjobs-*`]
   */
  readonly assumableRoleArnPatterns?: string[];
  /**
   * S3 state buckets (names, `*` allowed) pre-flight may probe and the runner may use with its own role.
   * @default ['*-terraform-state', '*-tfstate']
   */
  readonly stateBucketNames?: string[];
  /**
   * DynamoDB lock tables (names, `*` wildcards) S3 backends without a secret may lock with: the state role may use
   * them, and pre-flight may read their lock items.
   * @default ['*-terraform-locks', 'terraform-locks']
   */
  readonly stateLockTableNames?: string[];
  /**
   * The Slack workspace whose approval clicks count (`T…`).
   * @default - none: Slack buttons decide nothing
   */
  readonly slackTeamId?: string;
  /**
   * @default - no alarm subscription
   */
  readonly alarmEmail?: string;
}

export class StackJobsStack extends Stack {
  public readonly storage: Storage;
  public readonly events: Events;
  public readonly runner: Runner;
  public readonly approvals: Approvals;
  public readonly orchestration: Orchestration;
  public readonly api: Api;
  public readonly drift: Drift;
  public readonly observability: Observability;
  public readonly console: WebConsole;

  constructor(scope: Construct, id: string, props: StackJobsStackProps) {
    super(scope, id, props);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const credentialSecretArnPattern = this.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${CREDENTIAL_SECRET_PREFIX}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const assumableRoleArnPatterns = props.assumableRoleArnPatterns ?? [`arn:${Aws.PARTITION}:iam::*:role/stackjobs-*`];
    const stateBucketArnPatterns = (props.stateBucketNames ?? ['*-terraform-state', '*-tfstate']).map((b) => `arn:${Aws.PARTITION}:s3:::${b}`);
    const stateLockTableArnPatterns = (props.stateLockTableNames ?? ['*-terraform-locks', 'terraform-locks']).map((t) =>
      this.formatArn({ service: 'dynamodb', resource: 'table', resourceName: t }),
    );

    this.storage = new Storage(this, 'Storage', { retainData: props.retainData, jobsIndexUpgradeStep: props.jobsIndexUpgradeStep });
    this.events = new Events(this, 'Events');
    this.runner = new Runner(this, 'Runner', {
      jobsTable: this.storage.jobsTable,
      artifactsBucket: this.storage.artifactsBucket,
      artifactsKey: this.storage.artifactsKey,
      credentialSecretArnPattern,
      assumableRoleArnPatterns,
      stateBucketArnPatterns,
      stateLockTableArnPatterns,
      logRetention,
      existingVpc: props.existingVpc,
      interfaceEndpoints: props.interfaceEndpoints,
      image: props.runnerImage,
      ...props.runnerSize,
    });
    this.approvals = new Approvals(this, 'Approvals', {
      jobsTable: this.storage.jobsTable,
      catalogTable: this.storage.catalogTable,
      artifactsBucket: this.storage.artifactsBucket,
      bus: this.events.bus,
      logRetention,
      ...(props.slackTeamId ? { slackTeamId: props.slackTeamId } : {}),
    });
    this.orchestration = new Orchestration(this, 'Orchestration', {
      jobsTable: this.storage.jobsTable,
      artifactsBucket: this.storage.artifactsBucket,
      bus: this.events.bus,
      runner: this.runner,
      approvalFunction: this.approvals.requestApprovalFunction,
      logRetention,
      lockWaitSeconds: props.lockWaitSeconds,
      lockWaitMaxAttempts: props.lockWaitMaxAttempts,
      previewTimeout: props.previewTimeout,
      updateTimeout: props.updateTimeout,
      orgRunnerTaskDefinitionArns: props.orgRunnerTaskDefinitionArns,
      orgRunnerRoleArns: props.orgRunnerRoleArns,
    });
    this.approvals.allowDecisions(this.orchestration.stateMachine);
    this.api = new Api(this, 'Api', {
      jobsTable: this.storage.jobsTable,
      catalogTable: this.storage.catalogTable,
      artifactsBucket: this.storage.artifactsBucket,
      bus: this.events.bus,
      stateMachine: this.orchestration.stateMachine,
      runnerCluster: this.runner.cluster,
      slackInteractionsFunction: this.approvals.slackInteractionsFunction,
      slackBotToken: this.approvals.slackBotToken,
      jwt: props.jwt,
      credentialSecretArnPattern,
      assumableRoleArnPatterns,
      stateBucketArnPatterns,
      stateLockTableArnPatterns,
      orgRunnerTaskDefinitionArns: props.orgRunnerTaskDefinitionArns ?? [],
      orgRunnerNetworks: props.orgRunnerNetworks ?? {},
      logRetention,
    });
    this.console = new WebConsole(this, 'Console', {
      apiEndpoint: this.api.endpoint,
      issuer: props.jwt.issuer,
      clientId: props.console?.clientId ?? props.jwt.audience[0],
      authOrigins: props.console?.authOrigins,
      logsBucket: this.storage.accessLogsBucket,
      logRetention,
      retainData: props.retainData,
    });
    this.api.allowBrowserOrigin(this.console.url, logRetention);
    this.events.routeResourceChanges(this.api.resourceChangedFunction);
    this.events.routeExecutionEnds(this.orchestration.stateMachine, this.orchestration.cleanupFunction);
    this.events.routeApprovalExpiries(this.approvals.approvalExpiredFunction);
    this.events.routeRunnerStops(this.orchestration.runnerStoppedFunction);
    this.drift = new Drift(this, 'Drift', {
      api: this.api,
      events: this.events,
      jobsTable: this.storage.jobsTable,
      catalogTable: this.storage.catalogTable,
      slackBotToken: this.approvals.slackBotToken,
    });
    this.observability = new Observability(this, 'Observability', {
      stateMachine: this.orchestration.stateMachine,
      deadLetterQueues: {
        InboundEvents: this.events.inboundDlq,
        ExecutionCleanup: this.events.cleanupDlq,
        ApprovalExpiredEvents: this.events.approvalExpiredDlq,
        RunnerStoppedEvents: this.events.runnerStoppedDlq,
        IntakeFailures: this.events.handlerFailures.Intake,
        CleanupFailures: this.events.handlerFailures.Cleanup,
        ApprovalExpiredFailures: this.events.handlerFailures.ApprovalExpired,
        RunnerStoppedFailures: this.events.handlerFailures.RunnerStopped,
        DriftDetectedEvents: this.events.driftDetectedDlq,
        DriftDetectedFailures: this.events.handlerFailures.DriftDetected,
        DriftFanOutFailures: this.events.handlerFailures.DriftFanOut,
      },
      driftScheduleGroup: this.drift.scheduleGroup,
      alarmEmail: props.alarmEmail,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the Stack Jobs API' });
    new CfnOutput(this, 'ConsoleUrl', {
      value: this.console.url,
      description: 'The web console; register <ConsoleUrl>/callback and <ConsoleUrl>/ with the OIDC provider',
    });
    new CfnOutput(this, 'SlackInteractionsUrl', { value: `${this.api.url}v1/slack/interactions`, description: 'Slack app "Interactivity" request URL' });
    new CfnOutput(this, 'EventBusName', { value: this.events.bus.eventBusName, description: 'Send "Cloud Resource Changed" events here' });
    new CfnOutput(this, 'StateMachineArn', { value: this.orchestration.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ArtifactsBucketName', { value: this.storage.artifactsBucket.bucketName });
    new CfnOutput(this, 'JobsTableName', { value: this.storage.jobsTable.tableName, description: 'For upgrade steps such as npm run backfill-open-index' });
    new CfnOutput(this, 'SlackSigningSecretArn', { value: this.approvals.slackSigningSecret.secretArn });
    new CfnOutput(this, 'SlackBotTokenSecretArn', { value: this.approvals.slackBotToken.secretArn });
  }
}
