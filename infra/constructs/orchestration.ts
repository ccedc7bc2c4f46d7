/**
 * Orchestration: the state machine, the workflow step Lambda it drives, the cleanup Lambda for executions that end
 * without their own Catch path and the Lambda that fails a lost runner's task (wired to the aws.states and aws.ecs
 * rules by the events construct).
 */
import { ORG_PLACEHOLDER } from '../../lambdas/domain/preflight';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources, renderResolved } from './nag';
import type { Runner } from './runner';
import { StackJobsFunction } from './stack-jobs-function';
import { buildDefinition } from './state-machine';
import { JOBS_INDEX_OPEN_BY_STACK, readableIndexNames } from '../../lambdas/adapters/dynamodb/table-definitions';
import { JOBS_INDEX_NAMES } from './storage';

export interface OrchestrationProps {
  readonly jobsTable: dynamodb.ITableV2;
  readonly artifactsBucket: s3.IBucket;
  readonly bus: events.IEventBus;
  readonly runner: Runner;
  /** The approval task's Lambda (approvals construct). */
  readonly approvalFunction: StackJobsFunction;
  readonly logRetention: logs.RetentionDays;
  /**
   * The longest a job waiting for a busy stack stays parked before it looks again on its own. Jobs do not poll: the
   * job that frees the stack wakes the next one at once; this bounds the wait only when a holder vanished without
   * releasing (its lease expires) or a wake was lost.
   * @default 300
   */
  readonly lockWaitSeconds?: number;
  /**
   * Attempts at a busy stack lock (each wake or park timeout is one) before the job ends cancelled with reason
   * lock_wait_exceeded.
   * @default 48 (4 hours of 300 s parks when nobody wakes the job)
   */
  readonly lockWaitMaxAttempts?: number;
  /**
   * How long a preview (init, refresh, plan) may run.
   * @default Duration.hours(2)
   */
  readonly previewTimeout?: Duration;
  /**
   * How long an update (init, apply) may run.
   * @default Duration.hours(4)
   */
  readonly updateTimeout?: Duration;
  /**
   * Task-definition ARN patterns of org runners the state machine may start (ecs:RunTask). Pre-flight freezes an
   * org runner's placement only when its task definition matches one; empty: every job runs on the platform runner.
   * @default []
   */
  readonly orgRunnerTaskDefinitionArns?: string[];
  /**
   * Roles (task and execution roles of org runner task definitions) the state machine may pass to ECS.
   * @default []
   */
  readonly orgRunnerRoleArns?: string[];
}

export class Orchestration extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  /** Acquire lock, record preview and approval, finish, release. */
  public readonly stepFunction: StackJobsFunction;
  /** Marks the job and releases its lock when an execution fails, times out or is aborted. */
  public readonly cleanupFunction: StackJobsFunction;
  /** Fails the task of a runner whose ECS task stopped without reporting (wired to the ECS rule by the events construct). */
  public readonly runnerStoppedFunction: StackJobsFunction;

  constructor(scope: Construct, id: string, props: OrchestrationProps) {
    super(scope, id);
    const previewTimeout = props.previewTimeout ?? Duration.hours(2);
    const updateTimeout = props.updateTimeout ?? Duration.hours(4);
    const lockWaitSeconds = props.lockWaitSeconds ?? 300;
    const lockWaitMaxAttempts = props.lockWaitMaxAttempts ?? 48;
    // A lease must outlive everything after it is taken except the approval window (added per job): both runner
    // phases with their launch retries, plus an hour for the Lambda steps and slack.
    const leaseMarginSeconds = previewTimeout.toSeconds() + updateTimeout.toSeconds() + 3600;

    const workflowFunction = (fid: string, entry: string, description: string, indexNames: readonly string[]) =>
      new StackJobsFunction(this, fid, { entry, description, logRetention: props.logRetention, timeout: Duration.seconds(30) })
        .bindTable('JOBS_TABLE', props.jobsTable, 'readWrite', indexNames)
        .bindEventBus('EVENT_BUS_NAME', props.bus)
        .setConfig('LEASE_MARGIN_SECONDS', String(leaseMarginSeconds));
    this.stepFunction = workflowFunction(
      'StepFunction',
      'lambdas/workflow/step.handler.ts',
      'Stack Jobs workflow steps (lock, record, finish, release)',
      JOBS_INDEX_NAMES,
    )
      // Record Preview reads the plan the runner stored (plan.json, masked) when plan policies check it.
      .bindBucket('ARTIFACTS_BUCKET', props.artifactsBucket, 'read', 'jobs/');
    // Cleanup releases the stack and wakes its next parked job, which it finds in the open-by-stack index.
    this.cleanupFunction = workflowFunction(
      'CleanupFunction',
      'lambdas/workflow/execution-ended.handler.ts',
      'Stack Jobs cleanup after failed, timed-out or aborted executions',
      readableIndexNames(JOBS_INDEX_OPEN_BY_STACK),
    );
    // A runner that never reported (task or heartbeat timeout, lost) may still be applying: Finish Job (the step
    // Lambda) stops it before the job ends and its lock is released, and retries until it is stopped. An aborted or
    // timed-out execution leaves its runner running too: cleanup stops it before releasing the lock.
    const stopTaskResource = Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.runner.cluster.clusterName}/*` });
    for (const fn of [this.stepFunction, this.cleanupFunction]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'StopRunnerTasks',
          actions: ['ecs:StopTask'],
          resources: [stopTaskResource],
          conditions: { ArnEquals: { 'ecs:cluster': props.runner.cluster.clusterArn } },
        }),
      );
      acknowledgeWildcardResources(fn.executionRole, [
        [stopTaskResource, 'Runner task ids are minted per run; the grant is limited to tasks of the runner cluster (and conditioned on it).'],
      ]);
    }

    // No table, bus or configuration: the token is in the event, and all it may do is fail this machine's tasks (below).
    this.runnerStoppedFunction = new StackJobsFunction(this, 'RunnerStoppedFunction', {
      entry: 'lambdas/workflow/runner-stopped.handler.ts',
      description: 'Stack Jobs: fails the task of a runner whose ECS task stopped without reporting',
      logRetention: props.logRetention,
      timeout: Duration.seconds(30),
    });

    const definition = buildDefinition(this, {
      stepFunction: this.stepFunction,
      approvalFunction: props.approvalFunction,
      cluster: props.runner.cluster,
      taskDefinition: props.runner.taskDefinition,
      container: props.runner.container,
      subnets: props.runner.subnets,
      securityGroup: props.runner.securityGroup,
      jobsTableName: props.jobsTable.tableName,
      artifactsBucketName: props.artifactsBucket.bucketName,
      stateRoleArn: props.runner.stateRole.roleArn,
      lockWaitSeconds,
      lockWaitMaxAttempts,
      previewTimeout,
      updateTimeout,
    });

    // Under /aws/vendedlogs/states/: Step Functions then needs no CloudWatch Logs resource policy of its own (a deploy
    // into an account near the 5,120-character resource-policy limit fails otherwise).
    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-StateMachine`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      comment: 'Stack job: lock, preview, approve, update, record, release',
      tracingEnabled: true,
      // ALL levels for the audit trail, but never execution data: task states carry the task token.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const smRole = this.stateMachine.role;
    acknowledgeWildcardResources(smRole, [
      [`${this.stepFunction.functionArn}:*`, 'Generated by LambdaInvoke: invoking the step function also covers its versions and aliases.'],
      [`${props.approvalFunction.functionArn}:*`, 'Generated by LambdaInvoke: invoking the approval function also covers its versions and aliases.'],
    ]);
    // EcsRunTask grants RunTask on every revision of the runner's task-definition family (family ARN + ':*');
    // the ARN is built with Fn::Split at deploy time, so it is read back from the generated policy.
    const policy = smRole.node.findChild('DefaultPolicy') as iam.Policy;
    const statements = (Stack.of(this).resolve(policy.document) as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement;
    const runTask = statements.find((st) => [st.Action].flat().includes('ecs:RunTask'));
    for (const resource of [runTask?.Resource ?? []].flat()) {
      const rendered = renderResolved(resource);
      if (rendered.endsWith(':*'))
        Validations.of(smRole).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${rendered}]`,
          reason: 'Generated by EcsRunTask: RunTask on any revision of the runner task-definition family, so a new image revision needs no policy change.',
        });
    }
    Validations.of(smRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing and CloudWatch Logs delivery (logs:CreateLogDelivery and friends) have no resource-level permissions.',
    });
    this.grantOrgRunners(smRole, props.orgRunnerTaskDefinitionArns ?? [], props.orgRunnerRoleArns ?? []);
    // The runner reports back (SendTaskSuccess/Failure/Heartbeat) to this state machine only.
    this.stateMachine.grantTaskResponse(props.runner.taskRole);
    // A lost runner's task can only be failed, never succeeded or kept alive, and only on this state machine.
    this.runnerStoppedFunction.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'FailLostRunnerTasks', actions: ['states:SendTaskFailure'], resources: [this.stateMachine.stateMachineArn] }),
    );
    // The step and cleanup Lambdas wake jobs parked on a stack lock. A policy of its own, not the roles' default
    // policies: the functions depend on those, the state machine depends on the functions, and this names the machine.
    new iam.Policy(this, 'WakeParkedJobs', {
      roles: [this.stepFunction.executionRole, this.cleanupFunction.executionRole],
      statements: [new iam.PolicyStatement({ actions: ['states:SendTaskSuccess'], resources: [this.stateMachine.stateMachineArn] })],
    });
  }

  /**
   * The org runner tasks (state 'Run … On Org Runner') start task definitions named only at run time, so the role
   * may start exactly the configured patterns and pass exactly the configured roles, to ECS tasks only.
   */
  private grantOrgRunners(role: iam.IRole, patterns: string[], roleArns: string[]): void {
    // IAM cannot see whose job a task is: it allows any org's family of a pattern, and pre-flight keeps each job to
    // its own org's ({org} read as the job's org) before the placement is frozen.
    const taskDefinitionArns = patterns.map((p) => p.replace(ORG_PLACEHOLDER, '*'));
    if (taskDefinitionArns.length > 0) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'OrgRunnerTasks', actions: ['ecs:RunTask'], resources: taskDefinitionArns }));
      acknowledgeWildcardResources(
        role,
        taskDefinitionArns
          .filter((a) => a.includes('*'))
          .map(
            (a) =>
              [
                a,
                'Org runner task definitions are registered by orgs after deploy; RunTask is limited to the configured stackjobs:orgRunnerTaskDefinitionArns pattern.',
              ] as [string, string],
          ),
      );
    }
    if (roleArns.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'OrgRunnerRoles',
          actions: ['iam:PassRole'],
          resources: roleArns,
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
      );
      acknowledgeWildcardResources(
        role,
        roleArns
          .filter((a) => a.includes('*'))
          .map(
            (a) =>
              [
                a,
                'Org runner task and execution roles are created by orgs after deploy; PassRole is limited to the configured stackjobs:orgRunnerRoleArns pattern and to ECS tasks.',
              ] as [string, string],
          ),
      );
    }
  }
}
