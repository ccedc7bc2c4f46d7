/**
 * The stack-job state machine (Standard, JSONPath only: the local interpreter silently ignores JSONata and
 * variables). Every Task has an explicit timeout no larger than MAX_TASK_TIMEOUT_SECONDS, retries only named
 * transient errors, and catches everything else into one ending path: record, publish, release.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { WorkflowErrorName } from '../../lambdas/workflow/errors';
import { deploymentId } from './deployment';
import type { LockNext } from '../../lambdas/workflow/lifecycle';
import type { StepAction } from '../../lambdas/workflow/steps';

/** The local interpreter overflows setTimeout above ~2,147,483 s (and AWS allows far more), so no Task exceeds this. */
export const MAX_TASK_TIMEOUT_SECONDS = 2_000_000;

/** State names: the contract with local mode and the tests, which bind handlers by state name. */
export const STATE = {
  start: 'Start',
  acquireLock: 'Acquire Stack Lock',
  lockAcquired: 'Lock Acquired?',
  waitForLock: 'Wait For Stack Lock',
  lockWaitExceeded: 'Lock Wait Exceeded',
  skipPreview: 'Skip Preview',
  runPreview: 'Run Preview',
  runPreviewOnOrgRunner: 'Run Preview On Org Runner',
  runPreviewAndUpdate: 'Run Preview And Update',
  runPreviewAndUpdateOnOrgRunner: 'Run Preview And Update On Org Runner',
  updatedInOneTask: 'Updated In One Task',
  recordPreview: 'Record Preview',
  previewOutcome: 'Preview Outcome',
  requestApproval: 'Request Approval',
  recordApproval: 'Record Approval',
  updateRunner: 'Update Runner?',
  runUpdate: 'Run Update',
  runUpdateOnOrgRunner: 'Run Update On Org Runner',
  updated: 'Updated',
  noChanges: 'No Changes',
  policyDenied: 'Policy Denied',
  policyCheckFailed: 'Policy Check Failed',
  previewFailed: 'Preview Failed',
  updateFailed: 'Update Failed',
  runnerCancelled: 'Runner Cancelled',
  cancelRequested: 'Cancel Requested',
  rejected: 'Rejected',
  approvalExpired: 'Approval Expired',
  approvalCancelled: 'Approval Cancelled',
  approvalFailed: 'Approval Failed',
  acquireLockFailed: 'Acquire Lock Failed',
  recordPreviewFailed: 'Record Preview Failed',
  recordApprovalFailed: 'Record Approval Failed',
  finishJob: 'Finish Job',
  releaseLock: 'Release Stack Lock',
  releaseLockAfterFailedFinish: 'Release Lock After Failed Finish',
  done: 'Done',
  finishFailed: 'Finish Failed',
  releaseFailed: 'Lock Release Failed',
} as const;

/**
 * Lambda steps: retried on Lambda's own transient service errors and on StackJob.Transient (throttling, a lost
 * optimistic race, an event bus hiccup), which the steps raise only when nothing was decided yet.
 * 2 s, then x2: 2 + 4 + 8 + 16 + 32 + 64 = 126 s of waiting over 6 retries before the Catch takes over.
 */
export const LAMBDA_STEP_RETRY: sfn.RetryProps = {
  errors: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException', WorkflowErrorName.transient],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 6,
};

/**
 * Runner launch: retried only when ECS refused to start the task (throttling, "Capacity is unavailable at this
 * time"), which Step Functions reports as ECS.AmazonECSException; nothing ran, so starting again is safe. A task
 * that started and then failed reports through SendTaskFailure or a heartbeat timeout and is never retried.
 * 15 s, then x2: 15 + 30 + 60 + 120 + 240 = 465 s (under 8 min) over 5 retries.
 */
export const ECS_LAUNCH_RETRY: sfn.RetryProps = {
  errors: ['ECS.AmazonECSException'],
  interval: Duration.seconds(15),
  backoffRate: 2,
  maxAttempts: 5,
};

/**
 * Where the approval task reads its timeout: the job's approval window, which Record Preview put in the gate. AWS
 * resolves TimeoutSecondsPath against the state input; local mode does too (local/step-functions.ts).
 */
export const APPROVAL_TIMEOUT_PATH = '$.gate.approvalTimeoutSeconds';

/**
 * A stopped task gets SIGTERM, then SIGKILL after the container's stop timeout (Fargate's maximum is 120 s). The
 * runner passes SIGINT to the tool and waits RUNNER_GRACE for it to write state and release its lock: shorter than
 * the stop timeout, so the tool's clean shutdown is never cut off.
 */
export const RUNNER_STOP_TIMEOUT = Duration.seconds(120);
export const RUNNER_GRACE = Duration.seconds(90);

/** The runner heartbeats every 60 s; five missed beats mean the task is gone. */
export const RUNNER_HEARTBEAT = Duration.seconds(300);

/**
 * The lock-wait loop costs about 10 history events per iteration (Task 5, Choice 2, Wait 2, plus a retry now
 * and then); Standard executions stop at 25,000 events, so the loop is capped at MAX_LOCK_WAIT_ATTEMPTS = 2,000
 * iterations (~20,000 events) with room left for the job itself.
 */
export const MAX_LOCK_WAIT_ATTEMPTS = 2_000;

export interface StateMachineDefinitionProps {
  readonly stepFunction: lambda.IFunction;
  readonly approvalFunction: lambda.IFunction;
  readonly cluster: ecs.ICluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly jobsTableName: string;
  readonly artifactsBucketName: string;
  /** The runner's state-access role (S3 backends without a secret). */
  readonly stateRoleArn: string;
  /** Seconds between two attempts at the stack lock. */
  readonly lockWaitSeconds: number;
  /** Attempts at the stack lock before the job ends cancelled (lock_wait_exceeded). */
  readonly lockWaitMaxAttempts: number;
  readonly previewTimeout: Duration;
  readonly updateTimeout: Duration;
}

const timeoutOf = (d: Duration, what: string) => {
  const s = d.toSeconds();
  if (s < 1 || s > MAX_TASK_TIMEOUT_SECONDS) throw new Error(`${what} must be between 1 and ${MAX_TASK_TIMEOUT_SECONDS} seconds, got ${s}`);
  return sfn.Timeout.duration(d);
};

/** Builds the definition. `scope` owns the state constructs. */
export function buildDefinition(scope: Construct, p: StateMachineDefinitionProps): sfn.IChainable {
  if (p.lockWaitMaxAttempts < 1 || p.lockWaitMaxAttempts > MAX_LOCK_WAIT_ATTEMPTS) throw new Error(`lockWaitMaxAttempts must be 1..${MAX_LOCK_WAIT_ATTEMPTS}`);
  const outcome = (id: string, parameters: Record<string, unknown>) => new sfn.Pass(scope, id, { parameters, resultPath: '$.outcome' });
  const step = (id: string, action: StepAction, extra: Record<string, unknown>, resultPath: string) =>
    new tasks.LambdaInvoke(scope, id, {
      lambdaFunction: p.stepFunction,
      payload: sfn.TaskInput.fromObject({ action, jobId: sfn.JsonPath.stringAt('$.jobId'), ...extra }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath,
      taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
    }).addRetry(LAMBDA_STEP_RETRY);
  const caught = { resultPath: '$.error' };

  // ---- the ending: record + publish, then release; if recording fails the lock is still released.
  const done = new sfn.Succeed(scope, STATE.done);
  const releaseFailed = new sfn.Fail(scope, STATE.releaseFailed, {
    error: 'StackJob.LockReleaseFailed',
    cause: 'the stack lock could not be released; the cleanup Lambda or the lease expiry will',
  });
  const finishFailed = new sfn.Fail(scope, STATE.finishFailed, {
    error: 'StackJob.FinishFailed',
    cause: 'the job outcome could not be recorded; the lock was released and the cleanup Lambda marks the job',
  });
  const release = step(STATE.releaseLock, 'releaseLock', {}, sfn.JsonPath.DISCARD).addCatch(releaseFailed, { resultPath: '$.releaseError' }).next(done);
  const releaseAfterFailedFinish = step(STATE.releaseLockAfterFailedFinish, 'releaseLock', {}, sfn.JsonPath.DISCARD)
    .addCatch(releaseFailed, { resultPath: '$.releaseError' })
    .next(finishFailed);
  const finish = step(STATE.finishJob, 'finish', { outcome: sfn.JsonPath.objectAt('$.outcome') }, sfn.JsonPath.DISCARD)
    .addCatch(releaseAfterFailedFinish, { resultPath: '$.finishError' })
    .next(release);

  const withError = { 'error.$': '$.error' };
  const updated = outcome(STATE.updated, { kind: 'updated', 'result.$': '$.update' }).next(finish);
  const updatedInOneTask = outcome(STATE.updatedInOneTask, { kind: 'updated', 'result.$': '$.preview.then' }).next(finish);
  const noChanges = outcome(STATE.noChanges, { kind: 'no_changes' }).next(finish);
  // A plan policy stopped the plan before any approval (Record Preview evaluated it): nothing is applied.
  const policyDenied = outcome(STATE.policyDenied, { kind: 'policy_denied' }).next(finish);
  const policyCheckFailed = outcome(STATE.policyCheckFailed, { kind: 'policy_failed' }).next(finish);
  const previewFailed = outcome(STATE.previewFailed, { kind: 'operation_failed', phase: 'preview', ...withError }).next(finish);
  const updateFailed = outcome(STATE.updateFailed, { kind: 'operation_failed', phase: 'update', ...withError }).next(finish);
  const runnerCancelled = outcome(STATE.runnerCancelled, { kind: 'cancelled', ...withError }).next(finish);
  const cancelRequested = outcome(STATE.cancelRequested, { kind: 'cancelled' }).next(finish);
  const rejected = outcome(STATE.rejected, { kind: 'rejected', ...withError }).next(finish);
  const approvalExpired = outcome(STATE.approvalExpired, { kind: 'approval_expired', ...withError }).next(finish);
  const approvalCancelled = outcome(STATE.approvalCancelled, { kind: 'cancelled', ...withError }).next(finish);
  const approvalFailed = outcome(STATE.approvalFailed, { kind: 'step_failed', step: 'request-approval', ...withError }).next(finish);
  const lockWaitExceeded = outcome(STATE.lockWaitExceeded, { kind: 'lock_wait_exceeded' }).next(finish);
  const acquireFailed = outcome(STATE.acquireLockFailed, { kind: 'step_failed', step: 'acquire-lock', ...withError }).next(finish);
  const recordPreviewFailed = outcome(STATE.recordPreviewFailed, { kind: 'step_failed', step: 'record-preview', ...withError }).next(finish);
  const recordApprovalFailed = outcome(STATE.recordApprovalFailed, { kind: 'step_failed', step: 'record-approval', ...withError }).next(finish);

  // ---- the runner, once per phase (or once for both: 'preview+update'); the token travels in the container environment only.
  type RunnerPhase = 'preview' | 'update' | 'preview+update';
  const timeoutFor = (phase: RunnerPhase) =>
    phase === 'preview' ? p.previewTimeout : phase === 'update' ? p.updateTimeout : p.previewTimeout.plus(p.updateTimeout);
  /** The runner's environment contract: each variable is a literal or a JSONPath into the state. */
  const environmentOf = (phase: RunnerPhase): Array<{ name: string; value?: string; path?: string }> => [
    { name: 'STACKJOBS_JOB_ID', path: '$.jobId' },
    { name: 'STACKJOBS_PHASE', value: phase === 'update' ? 'update' : 'preview' },
    // A job that never pauses: the preview task applies its own plan (runsInOneTask, lifecycle.ts).
    ...(phase === 'preview+update' ? [{ name: 'STACKJOBS_THEN_UPDATE', value: 'true' }] : []),
    // The phase's own timeout bounds each command (and the sessions the runner assumes), so the task timeout holds.
    {
      name: 'STACKJOBS_OPERATION_TIMEOUT_SECONDS',
      value: String(phase === 'preview+update' ? Math.max(p.previewTimeout.toSeconds(), p.updateTimeout.toSeconds()) : timeoutFor(phase).toSeconds()),
    },
    // Within the container's stop timeout (RUNNER_STOP_TIMEOUT): Terraform gets this long to write state and unlock.
    { name: 'STACKJOBS_GRACE_SECONDS', value: String(RUNNER_GRACE.toSeconds()) },
    { name: 'STACKJOBS_TASK_TOKEN', path: '$$.Task.Token' },
    { name: 'STACKJOBS_JOBS_TABLE', value: p.jobsTableName },
    { name: 'STACKJOBS_ARTIFACTS_BUCKET', value: p.artifactsBucketName },
    { name: 'STACKJOBS_STATE_ROLE_ARN', value: p.stateRoleArn },
    { name: 'STACKJOBS_DEPLOYMENT_ID', value: deploymentId(scope) },
    // The approved digest: the runner refuses to apply a plan whose SHA-256 differs ('' = no preview ran).
    ...(phase === 'update' ? [{ name: 'STACKJOBS_PLAN_DIGEST', path: '$.gate.planDigest' }] : []),
  ];
  const runner = (id: string, phase: RunnerPhase, resultPath: string) => {
    const timeout = timeoutFor(phase);
    const environment: tasks.TaskEnvironmentVariable[] = environmentOf(phase).map((e) => ({
      name: e.name,
      value: e.path ? sfn.JsonPath.stringAt(e.path) : e.value!,
    }));
    return new tasks.EcsRunTask(scope, id, {
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      cluster: p.cluster,
      taskDefinition: p.taskDefinition,
      launchTarget: new tasks.EcsFargateLaunchTarget({ platformVersion: ecs.FargatePlatformVersion.LATEST }),
      subnets: p.subnets,
      securityGroups: [p.securityGroup],
      assignPublicIp: false,
      containerOverrides: [{ containerDefinition: p.container, environment }],
      taskTimeout: timeoutOf(timeout, `${phase} timeout`),
      heartbeatTimeout: sfn.Timeout.duration(RUNNER_HEARTBEAT),
      resultPath,
    }).addRetry(ECS_LAUNCH_RETRY);
  };

  /**
   * The org's registered runner: the same contract as the platform task (container overrides, token, heartbeat,
   * timeout, retries, Catch), but Cluster, TaskDefinition and network come from the placement acquireLock read from
   * the snapshot ($.lock.orgRunner). EcsRunTask needs a task-definition construct, so this is the plain ASL state.
   * The org task definition's container must be named like the platform one (RUNNER_CONTAINER, runner.ts) and run
   * the runner image; the state machine role may start it only if it matches stackjobs:orgRunnerTaskDefinitionArns.
   */
  const orgRunner = (id: string, phase: RunnerPhase, resultPath: string) => {
    const timeout = timeoutFor(phase);
    const environment = environmentOf(phase).map((e) => (e.path ? { Name: e.name, 'Value.$': e.path } : { Name: e.name, Value: e.value }));
    timeoutOf(timeout, `${phase} timeout`);
    return new sfn.CustomState(scope, id, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::ecs:runTask.waitForTaskToken`,
        Parameters: {
          'Cluster.$': '$.lock.orgRunner.cluster',
          'TaskDefinition.$': '$.lock.orgRunner.taskDefinition',
          LaunchType: 'FARGATE',
          PlatformVersion: 'LATEST',
          NetworkConfiguration: {
            AwsvpcConfiguration: { 'Subnets.$': '$.lock.orgRunner.subnets', 'SecurityGroups.$': '$.lock.orgRunner.securityGroups', AssignPublicIp: 'DISABLED' },
          },
          Overrides: { ContainerOverrides: [{ Name: p.container.containerName, Environment: environment }] },
        },
        TimeoutSeconds: timeout.toSeconds(),
        HeartbeatSeconds: RUNNER_HEARTBEAT.toSeconds(),
        ResultPath: resultPath,
      },
    }).addRetry(ECS_LAUNCH_RETRY);
  };

  /**
   * A runner phase's two tasks, the org's runner and the platform's, caught alike (StackJob.Cancelled to Runner
   * Cancelled, anything else to `failed`) and both going on to `next`.
   */
  const runnerTasks = (ids: { platform: string; org: string }, phase: RunnerPhase, resultPath: string, failed: sfn.IChainable, next: sfn.IChainable) => {
    const caughtAlike = (task: sfn.TaskStateBase | sfn.CustomState) =>
      task
        .addCatch(runnerCancelled, { errors: [WorkflowErrorName.cancelled], ...caught })
        .addCatch(failed, caught)
        .next(next);
    return { org: caughtAlike(orgRunner(ids.org, phase, resultPath)), platform: caughtAlike(runner(ids.platform, phase, resultPath)) };
  };

  // The update is reached from three places (Skip Preview, Record Approval, Preview Outcome): its own Choice on the
  // placement acquire-lock recorded. The preview and the one-task run are reached from Lock Acquired alone, which
  // chooses the task itself (acquire-lock's `next`): one billed transition fewer per job.
  const update = runnerTasks({ platform: STATE.runUpdate, org: STATE.runUpdateOnOrgRunner }, 'update', '$.update', updateFailed, updated);
  const runUpdate = new sfn.Choice(scope, STATE.updateRunner).when(sfn.Condition.stringEquals('$.lock.runner', 'org'), update.org).otherwise(update.platform);

  const recordApproval = step(STATE.recordApproval, 'recordApproval', {}, '$.gate').addCatch(recordApprovalFailed, caught).next(runUpdate);

  // ---- approval: the window is the job's policy (TimeoutSecondsPath), at most 7 days by the schema.
  const requestApproval = new tasks.LambdaInvoke(scope, STATE.requestApproval, {
    lambdaFunction: p.approvalFunction,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      jobId: sfn.JsonPath.stringAt('$.jobId'),
      taskToken: sfn.JsonPath.taskToken,
      planDigest: sfn.JsonPath.stringAt('$.gate.planDigest'),
      approvalTimeoutSeconds: sfn.JsonPath.numberAt(APPROVAL_TIMEOUT_PATH),
    }),
    taskTimeout: sfn.Timeout.at(APPROVAL_TIMEOUT_PATH),
    retryOnServiceExceptions: false,
    // The decision is recorded on the job by whoever made it; the state keeps nothing from the callback.
    resultPath: sfn.JsonPath.DISCARD,
  })
    .addRetry({ ...LAMBDA_STEP_RETRY, errors: LAMBDA_STEP_RETRY.errors!.filter((e) => e.startsWith('Lambda.')) })
    .addCatch(rejected, { errors: [WorkflowErrorName.rejected], ...caught })
    .addCatch(approvalExpired, { errors: [sfn.Errors.TIMEOUT], ...caught })
    .addCatch(approvalCancelled, { errors: [WorkflowErrorName.cancelled], ...caught })
    .addCatch(approvalFailed, caught)
    .next(recordApproval);

  const previewOutcome = new sfn.Choice(scope, STATE.previewOutcome)
    .when(sfn.Condition.stringEquals('$.gate.next', 'no_changes'), noChanges)
    .when(sfn.Condition.stringEquals('$.gate.next', 'approval'), requestApproval)
    .when(sfn.Condition.stringEquals('$.gate.next', 'update'), runUpdate)
    .when(sfn.Condition.stringEquals('$.gate.next', 'updated'), updatedInOneTask)
    .when(sfn.Condition.stringEquals('$.gate.next', 'cancelled'), cancelRequested)
    .when(sfn.Condition.stringEquals('$.gate.next', 'policy_denied'), policyDenied)
    .when(sfn.Condition.stringEquals('$.gate.next', 'policy_failed'), policyCheckFailed)
    // 'gone': the job ended meanwhile (cancelled through the API); only the lock is left to release.
    .otherwise(release);

  const recordPreview = step(STATE.recordPreview, 'recordPreview', { result: sfn.JsonPath.objectAt('$.preview') }, '$.gate')
    .addCatch(recordPreviewFailed, caught)
    .next(previewOutcome);
  const preview = runnerTasks({ platform: STATE.runPreview, org: STATE.runPreviewOnOrgRunner }, 'preview', '$.preview', previewFailed, recordPreview);
  // One task for a job that never pauses: its result goes through Record Preview like a preview's; a failure of
  // either part is the job's operation failure (the error names the operation).
  const both = runnerTasks(
    { platform: STATE.runPreviewAndUpdate, org: STATE.runPreviewAndUpdateOnOrgRunner },
    'preview+update',
    '$.preview',
    previewFailed,
    recordPreview,
  );
  const skipPreview = new sfn.Pass(scope, STATE.skipPreview, { result: sfn.Result.fromObject({ planDigest: '' }), resultPath: '$.gate' }).next(runUpdate);

  // ---- the stack lock: FIFO per stack, a bounded wait loop.
  // The execution's input (job id and the submitted snapshot) from the context object: the state itself carries only
  // the id, so the snapshot is not copied through every state.
  const acquire = step(
    STATE.acquireLock,
    'acquireLock',
    { attempts: sfn.JsonPath.numberAt('$.lock.attempts'), execution: sfn.JsonPath.objectAt('$$.Execution.Input') },
    '$.lock',
  ).addCatch(acquireFailed, caught);
  // No polling: the job parks on a task token and whoever frees the stack wakes the oldest parked job (lifecycle.ts,
  // parkForLock / releaseAndWakeNext). The timeout is the bound for a holder that vanished without releasing: the
  // job then looks again on its own. Either way it goes back to Acquire Stack Lock, which alone decides.
  const waitForLock = new tasks.LambdaInvoke(scope, STATE.waitForLock, {
    lambdaFunction: p.stepFunction,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      action: 'parkForLock' satisfies StepAction,
      jobId: sfn.JsonPath.stringAt('$.jobId'),
      taskToken: sfn.JsonPath.taskToken,
    }),
    taskTimeout: timeoutOf(Duration.seconds(p.lockWaitSeconds), 'lockWaitSeconds'),
    retryOnServiceExceptions: false,
    resultPath: sfn.JsonPath.DISCARD,
  })
    .addRetry(LAMBDA_STEP_RETRY)
    .addCatch(acquire, { errors: [sfn.Errors.TIMEOUT], resultPath: sfn.JsonPath.DISCARD })
    .addCatch(acquireFailed, caught);
  waitForLock.next(acquire);
  // Every outcome of acquire-lock carries `next` (LockNext, lifecycle.ts) and `attempts`: no rule reads a path that
  // might be missing.
  const lockNext = (next: LockNext) => sfn.Condition.stringEquals('$.lock.next', next);
  const lockAcquired = new sfn.Choice(scope, STATE.lockAcquired)
    .when(lockNext('preview'), preview.platform)
    .when(lockNext('preview_on_org'), preview.org)
    .when(lockNext('one_task'), both.platform)
    .when(lockNext('one_task_on_org'), both.org)
    .when(lockNext('update'), skipPreview)
    .when(lockNext('release'), release)
    .when(sfn.Condition.numberLessThan('$.lock.attempts', p.lockWaitMaxAttempts), waitForLock)
    .otherwise(lockWaitExceeded);
  acquire.next(lockAcquired);

  return new sfn.Pass(scope, STATE.start, { parameters: { jobId: sfn.JsonPath.stringAt('$.jobId'), lock: { attempts: 0 } } }).next(acquire);
}
