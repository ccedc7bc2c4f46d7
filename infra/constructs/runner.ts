/**
 * The runner: an ECS cluster (Container Insights on), the Fargate task definition built from runner-image/,
 * the network it runs in (an existing VPC named in context, or a new one with private subnets), and its
 * least-privilege task role. The state machine starts one task per phase (orchestration construct).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration, IgnoreMode, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources } from './nag';
import { PROJECT_ROOT } from './stack-jobs-function';
import { RUNNER_STOP_TIMEOUT } from './state-machine';
import { RUNNER_CONTAINER_NAME } from '../../lambdas/workflow/runner-stopped';
import { leadingKeysOf } from '../../lambdas/adapters/dynamodb/keys';

/** Reasons for the configurable provider-role and state-bucket patterns (shared with the pre-flight grants). */
export function wildcardPatternReasons(roles: string[], buckets: string[]): Array<[string, string]> {
  return [
    ...roles.map((r): [string, string] => [
      r,
      'Provider roles live in customer accounts and are registered after deploy; only roles matching the configured name pattern are assumable.',
    ]),
    ...buckets.map((b): [string, string] => [b, 'State buckets are registered after deploy; only buckets matching the configured name pattern are reachable.']),
    ...buckets.map((b): [string, string] => [
      `${b}/*`,
      'State object keys are chosen per stack by the backend configuration; limited to the configured state buckets.',
    ]),
  ];
}

/** An existing VPC, given by attributes (no lookup, so synth stays offline). */
export interface ExistingVpc {
  readonly vpcId: string;
  readonly availabilityZones: string[];
  /** Private subnets with a route to the internet (NAT): the runner clones modules and talks to providers. */
  readonly privateSubnetIds: string[];
}

export interface RunnerProps {
  readonly jobsTable: dynamodb.ITableV2;
  readonly artifactsBucket: s3.IBucket;
  readonly artifactsKey: kms.IKey;
  /** Secrets the runner may read: the credential secrets' ARN pattern (see docs/architecture.md). */
  readonly credentialSecretArnPattern: string;
  /** Roles the runner may assume for provider credentials that name a role. */
  readonly assumableRoleArnPatterns: string[];
  /** Terraform/OpenTofu S3 state buckets a backend without a secret may use (through the state role), as bucket ARN patterns. */
  readonly stateBucketArnPatterns: string[];
  /** DynamoDB lock tables those backends may use (through the state role), as table ARN patterns. */
  readonly stateLockTableArnPatterns: string[];
  readonly logRetention: logs.RetentionDays;
  /**
   * Run in this VPC instead of creating one.
   * @default - a new VPC with public and private subnets in two AZs and one NAT gateway
   */
  readonly existingVpc?: ExistingVpc;
  /**
   * Interface endpoints in the new VPC for ECR (image pulls), STS, Secrets Manager, Step Functions and CloudWatch Logs,
   * so the runner reaches them without the NAT gateway: $0.01/hour per endpoint per AZ (6 endpoints, 2 AZs: about
   * $87.60 a month) plus $0.01/GB, against the NAT gateway's $0.045/GB. Pays off above roughly 2 TB a month through
   * the NAT gateway. Ignored with `existingVpc`.
   * @default false (S3 and DynamoDB always get free gateway endpoints)
   */
  readonly interfaceEndpoints?: boolean;
  /**
   * The runner image.
   * @default - built from runner-image/ at deploy time (synth only stages the folder)
   */
  readonly image?: ecs.ContainerImage;
  /**
   * The task's CPU units (1024 = 1 vCPU).
   * @default RUNNER_DEFAULT_SIZE.cpu (1 vCPU)
   */
  readonly cpu?: number;
  /**
   * The task's memory.
   * @default RUNNER_DEFAULT_SIZE.memoryLimitMiB (2 GB)
   */
  readonly memoryLimitMiB?: number;
  /**
   * Must match the architecture the image (and the IaC binaries pinned in it) is built for.
   * @default ecs.CpuArchitecture.X86_64
   */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
}

/**
 * The runner task's size unless stackjobs:runnerCpu / stackjobs:runnerMemoryMiB say otherwise: 1 vCPU and 2 GB, the
 * memory HashiCorp gives as the least for an HCP Terraform agent's runs
 * (https://developer.hashicorp.com/terraform/cloud-docs/agents/requirements). Fargate bills every task at least a
 * minute at this size, so it multiplies the cost of every task however short. A module that needs more memory has its
 * task stopped by ECS (OutOfMemoryError) and wants a larger size.
 */
export const RUNNER_DEFAULT_SIZE = { cpu: 1024, memoryLimitMiB: 2048 } as const;

/** What the image built from runner-image/ carries (its Dockerfile's RUNNER_TOOLS and TERRAFORM_PROVIDER_MIRROR). */
export interface RunnerImageBuild {
  /** The IaC tools in the image. @default terraform, tofu and pulumi */
  readonly tools?: string[];
  /** Providers baked into a read-only mirror, `<namespace>/<type>=<version>`. @default none */
  readonly providerMirror?: string[];
}

/**
 * The runner image built from runner-image/Dockerfile. Its build context is the repository root (the runner imports
 * the shared domain from lambdas/), narrowed by runner-image/Dockerfile.dockerignore, which is read here so synth
 * stages exactly what `docker build` would be sent, never node_modules. Built for linux/amd64, like its pinned tools.
 */
export function runnerImageAsset(build: RunnerImageBuild = {}): ecs.ContainerImage {
  const ignore = fs
    .readFileSync(path.join(PROJECT_ROOT, 'runner-image', 'Dockerfile.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return ecs.ContainerImage.fromAsset(PROJECT_ROOT, {
    file: 'runner-image/Dockerfile',
    exclude: ignore,
    ignoreMode: IgnoreMode.DOCKER,
    platform: Platform.LINUX_AMD64,
    buildArgs: {
      ...(build.tools ? { RUNNER_TOOLS: build.tools.join(' ') } : {}),
      ...(build.providerMirror ? { TERRAFORM_PROVIDER_MIRROR: build.providerMirror.join(' ') } : {}),
    },
  });
}

/**
 * The container's name: the state machine's container overrides address it by this name, and the runner-stopped
 * rule and Lambda find the runner's environment and exit code under it.
 */
export const RUNNER_CONTAINER = RUNNER_CONTAINER_NAME;

export class Runner extends Construct {
  public readonly vpc: ec2.IVpc;
  public readonly cluster: ecs.Cluster;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly subnets: ec2.SubnetSelection;
  public readonly taskRole: iam.Role;
  /** Assumed by the runner (session-scoped) for S3 backends without a secret; passed to it as STACKJOBS_STATE_ROLE_ARN. */
  public readonly stateRole: iam.Role;

  constructor(scope: Construct, id: string, props: RunnerProps) {
    super(scope, id);
    if (props.existingVpc) {
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: props.existingVpc.vpcId,
        availabilityZones: props.existingVpc.availabilityZones,
        privateSubnetIds: props.existingVpc.privateSubnetIds,
      });
      this.subnets = { subnets: props.existingVpc.privateSubnetIds.map((s, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, s)) };
    } else {
      const flowLogs = new logs.LogGroup(this, 'VpcFlowLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
      this.vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 1,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        ],
        flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.ALL } },
      });
      this.subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
      // Free: state, artifacts, the image's layers (ECR serves them from S3) and the jobs table stay off the NAT gateway.
      this.vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });
      this.vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    }
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'Stack Jobs runner tasks: no inbound, outbound to git, providers and AWS APIs',
      allowAllOutbound: true,
    });
    if (props.interfaceEndpoints && !props.existingVpc) {
      // Reachable on 443 from the runner tasks only.
      const endpointGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: this.vpc,
        description: 'Stack Jobs runner VPC endpoints: HTTPS from the runner tasks only',
        allowAllOutbound: false,
      });
      endpointGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(443), 'HTTPS from the runner tasks');
      const services: Array<[string, ec2.InterfaceVpcEndpointAwsService]> = [
        ['EcrApiEndpoint', ec2.InterfaceVpcEndpointAwsService.ECR],
        ['EcrDockerEndpoint', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
        ['StsEndpoint', ec2.InterfaceVpcEndpointAwsService.STS],
        ['SecretsManagerEndpoint', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
        ['StepFunctionsEndpoint', ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS],
        ['LogsEndpoint', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ];
      for (const [id, service] of services)
        this.vpc.addInterfaceEndpoint(id, { service, subnets: this.subnets, privateDnsEnabled: true, open: false, securityGroups: [endpointGroup] });
    }
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: this.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    this.taskRole = new iam.Role(this, 'TaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'), description: 'Stack Jobs runner task' });
    // How an S3 backend without a secret reaches its state: the runner assumes this role with a session policy limited
    // to the job's state key and lock, and hands only those keys to the backend. The task role itself has no state access.
    this.stateRole = new iam.Role(this, 'StateAccessRole', {
      assumedBy: new iam.ArnPrincipal(this.taskRole.roleArn),
      description: 'Stack Jobs: state access for S3 backends without a secret (session-scoped to one state key per job)',
      maxSessionDuration: Duration.hours(12),
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: props.cpu ?? RUNNER_DEFAULT_SIZE.cpu,
      memoryLimitMiB: props.memoryLimitMiB ?? RUNNER_DEFAULT_SIZE.memoryLimitMiB,
      taskRole: this.taskRole,
      runtimePlatform: { cpuArchitecture: props.cpuArchitecture ?? ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const logGroup = new logs.LogGroup(this, 'TaskLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    // The whole runner contract (job id, phase, token, table, bucket, digest) arrives as container overrides per
    // run from the state machine; the definition itself carries no environment.
    this.container = this.taskDefinition.addContainer(RUNNER_CONTAINER, {
      image: props.image ?? runnerImageAsset(),
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'runner' }),
      // Above the runner's grace period: a stopped task's Terraform writes its state and releases its lock first.
      stopTimeout: RUNNER_STOP_TIMEOUT,
    });

    this.grantRunnerAccess(props);
    const executionRole = this.taskDefinition.executionRole;
    if (executionRole) {
      Validations.of(executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken (pulling the runner image) has no resource-level permissions.',
      });
    }
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'No environment is set in the definition; the state machine passes the per-run contract as container overrides.',
    });
  }

  private grantRunnerAccess(props: RunnerProps): void {
    const role = this.taskRole;
    // Its own job: job items only (pk JOB#<id>), read and update; never the catalog, locks or other records.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'JobItemsOnly',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [props.jobsTable.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf('job')] } },
      }),
    );
    // Artifacts: write and read only under jobs/ (logs, plan, outputs).
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ArtifactsUnderJobs',
        actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject'],
        resources: [props.artifactsBucket.arnForObjects('jobs/*')],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListJobsPrefix',
        actions: ['s3:ListBucket'],
        resources: [props.artifactsBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': ['jobs/*'] } },
      }),
    );
    // SSE-KMS: PutObject needs GenerateDataKey, GetObject needs Decrypt; nothing else of the key.
    props.artifactsKey.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
    // Credential material: only secrets under the credentials prefix.
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'CredentialSecrets', actions: ['secretsmanager:GetSecretValue'], resources: [props.credentialSecretArnPattern] }),
    );
    if (props.assumableRoleArnPatterns.length > 0) {
      role.addToPolicy(
        new iam.PolicyStatement({ sid: 'ProviderRoles', actions: ['sts:AssumeRole', 'sts:TagSession'], resources: props.assumableRoleArnPatterns }),
      );
    }
    role.addToPolicy(new iam.PolicyStatement({ sid: 'AssumeStateRole', actions: ['sts:AssumeRole'], resources: [this.stateRole.roleArn] }));
    if (props.stateBucketArnPatterns.length > 0) {
      this.stateRole.addToPolicy(new iam.PolicyStatement({ sid: 'StateBuckets', actions: ['s3:ListBucket'], resources: props.stateBucketArnPatterns }));
      this.stateRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'StateObjects',
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          resources: props.stateBucketArnPatterns.map((b) => `${b}/*`),
        }),
      );
    }
    if (props.stateLockTableArnPatterns.length > 0) {
      this.stateRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'StateLockTables',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable'],
          resources: props.stateLockTableArnPatterns,
        }),
      );
    }
    acknowledgeWildcardResources(this.stateRole, [
      ...wildcardPatternReasons([], props.stateBucketArnPatterns),
      ...props.stateLockTableArnPatterns.map((t): [string, string] => [
        t,
        "Lock tables are named by the deployer (stackjobs:stateLockTableNames); each session is limited to one state's items.",
      ]),
    ]);
    acknowledgeWildcardResources(role, [
      [props.artifactsBucket.arnForObjects('jobs/*'), 'Artifact keys are per job (jobs/<jobId>/...) and unknown at deploy time; limited to the jobs/ prefix.'],
      [
        props.credentialSecretArnPattern,
        'Credential secrets are registered after deploy; only names under the credentials prefix are readable (docs/architecture.md).',
      ],
      ...wildcardPatternReasons(props.assumableRoleArnPatterns, []),
    ]);
  }
}
