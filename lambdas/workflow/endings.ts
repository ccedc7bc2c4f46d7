/**
 * The one code that ends a job. Every path goes through endJob: the workflow's Finish Job step (finishJob), the
 * cleanup Lambda for an execution that ended outside its own Catch path (cleanupExecution), a cancel or a force-cancel
 * through the API, and local mode's recovery on start. Given the job and why it ends (a reason of
 * lambdas/domain/endings.ts), it
 * 1. stops the job's runner task when asked (a timed-out runner, an execution that ended, a force-cancel);
 * 2. records the ending in one conditional write: the result the reason gives, the failure, the runner's report, who
 *    asked;
 * 3. fails the approval task the execution waits on, when the ending comes from outside the workflow;
 * 4. removes the spent tokens, wakes the job's own parked execution (it then finds the job gone), writes the
 *    resource's latest status, publishes `Stack Job Status Changed` (a rule closes the approval's Slack message with
 *    it), counts it;
 * 5. releases the stack lease with the job's fencing token and wakes the next parked job of the stack.
 * Idempotent: a job already completed keeps its ending, and steps 3-5 run again (a retry may be here precisely because
 * one of them failed the first time).
 */
import { ENDINGS, type EndingReason } from '../domain/endings';
import type { Clock } from '../domain/ids';
import type { EventPublisher } from '../domain/ports';
import { DRIFT_DETECTED, STATUS_CHANGED } from '../domain/events';
import type { JobStatus, RunnerResult, StackJob } from '../domain/schemas';
import { stackKeyOfJob } from '../domain/stack-job';
import { transitionJob } from '../domain/status';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import type { LockRepository } from '../adapters/dynamodb/lock-repository';
import type { ResourceDrift, ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { TASK_GONE, type LogSink, type RunnerTaskStopper, type TaskResponder } from '../approvals/ports';
import { TransientStepError } from './errors';
import type { WorkflowMetrics } from './metrics';
import { releaseAndWakeNext, wakeFailed, wakeParked } from './wake';

export interface EndingDeps {
  jobs: Pick<JobRepository, 'get' | 'update' | 'listOpenInStack'>;
  approvalItems: Pick<ApprovalItemRepository, 'getTaskToken' | 'clearTaskToken'>;
  locks: Pick<LockRepository, 'read' | 'release' | 'takeWaiter' | 'restoreWaiter'>;
  resources: Pick<ResourceStatusRepository, 'record' | 'recordDrift'>;
  events: EventPublisher;
  tasks: Pick<TaskResponder, 'succeed' | 'fail'>;
  runnerTasks: RunnerTaskStopper;
  metrics: WorkflowMetrics;
  clock: Clock;
  /** Where best-effort failures are told (an ending through the API goes on without them). */
  log?: LogSink;
}

export interface Failure {
  operation: string;
  message: string;
  exitCode?: number;
}

/** Why the job ends and what is recorded with it. */
export interface Ending {
  reason: EndingReason;
  failure?: Failure;
  /** The update runner's report: logs, outputs and durations. */
  runner?: RunnerResult;
  cancelRequested?: NonNullable<JobStatus['cancelRequested']>;
  forceCancelled?: NonNullable<JobStatus['forceCancelled']>;
}

export interface EndOptions {
  /**
   * Stop the runner task a running job recorded, before the ending is written. What happens when ECS will not stop it
   * (for another reason than the task being gone): `retry` ends nothing (a transient error: the step is retried),
   * `keep_lease` ends the job but keeps the lease (it expires on its own: a runner may still be working under it),
   * `release_anyway` ends it and frees the stack (an admin's force-cancel).
   */
  stopRunner?: { why: string; ifNotStopped: 'retry' | 'keep_lease' | 'release_anyway' };
  /** Fail the approval task the execution waits on (an ending from outside the workflow), so the execution ends too. */
  failApprovalTask?: { error: string; cause: string };
  /** Release the lease and wake the next job now (false: the workflow's own Release Stack Lock step does). */
  release: boolean;
  /** A failed wake: `must` throws (the workflow step is retried); `best_effort` logs (parked jobs look again at their park timeout). */
  wake: 'must' | 'best_effort';
  /**
   * A job someone else already ended: `repeat` runs the steps after the write again (a retried workflow step may be
   * here because one of them failed); `leave` changes nothing (a person's request that found the job ended is refused).
   */
  ifEnded?: 'repeat' | 'leave';
}

export interface EndResult {
  job: StackJob;
  /** The job is completed (by this call or before it). */
  ended: boolean;
  /** This call wrote the ending. */
  endedNow: boolean;
  released: boolean;
  /** Present when a runner task was to be stopped: whether it is stopped (or already was). */
  runnerStopped?: boolean;
}

/** How many runners that take a job over while it is being ended are stopped in turn before the ending is written anyway. */
const MAX_RUNNER_TAKEOVERS = 3;

/** The most a failure message carries into the job document and events. */
const MAX_MESSAGE = 2000;
export const clip = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s);

/**
 * Ends the job with what `decide` says, given the job as it is at the write; `decide` returning undefined leaves an
 * unfinished job as it is (and nothing else happens). Returns undefined when there is no such job.
 */
export async function endJob(d: EndingDeps, jobId: string, decide: (job: StackJob) => Ending | undefined, options: EndOptions): Promise<EndResult | undefined> {
  const found = await d.jobs.get(jobId);
  if (!found) return undefined;
  const now = d.clock.now();

  let runnerStopped: boolean | undefined;
  let stoppedArn: string | undefined;
  const stop = async (task: NonNullable<JobStatus['runnerTask']>, why: string, ifNotStopped: string) => {
    runnerStopped = await stopRunnerTask(d, task.arn, why);
    stoppedArn = task.arn;
    if (!runnerStopped && ifNotStopped === 'retry') throw new TransientStepError(`the runner task of ${jobId} could not be stopped yet`);
  };
  const task = options.stopRunner && found.job.status.phase === 'running' ? found.job.status.runnerTask : undefined;
  if (task && options.stopRunner) await stop(task, options.stopRunner.why, options.stopRunner.ifNotStopped);
  // Read before the ending removes it: the waiting approval task is failed with it.
  const approvalToken = options.failApprovalTask ? await d.approvalItems.getTaskToken(jobId) : undefined;

  let wrote = false;
  let job!: StackJob;
  // Set when runners kept taking the job over past MAX_RUNNER_TAKEOVERS: one named by the ending was not stopped.
  let unstopped = false;
  for (let attempt = 1; ; attempt++) {
    // A runner that took the job over after the one stopped above (an update task claiming its phase, whose write
    // landed between the read and this one) is stopped as well before the ending is written: the ending releases the
    // lease, and the task it names would otherwise go on, apply included, on a stack that is no longer its job's.
    let newer: JobStatus['runnerTask'];
    job = await d.jobs.update(jobId, (j) => {
      wrote = false;
      newer = undefined;
      if (j.status.phase === 'completed') return j;
      const ending = decide(j);
      if (!ending) return j;
      const current = options.stopRunner && j.status.phase === 'running' ? j.status.runnerTask : undefined;
      unstopped = false;
      if (current && current.arn !== stoppedArn) {
        if (attempt <= MAX_RUNNER_TAKEOVERS) {
          newer = current;
          return j;
        }
        if (options.stopRunner?.ifNotStopped === 'retry') throw new TransientStepError(`the runner task of ${jobId} keeps changing; not ended yet`);
        unstopped = true;
      }
      wrote = true;
      return withEnding(j, ending, now);
    });
    if (!newer || !options.stopRunner) break;
    // Only the last stop's answer is kept: the tasks stopped before it were the job's earlier ones (a finished preview's).
    await stop(newer, options.stopRunner.why, options.stopRunner.ifNotStopped);
  }
  if (unstopped) runnerStopped = false;
  if (job.status.phase !== 'completed')
    return { job, ended: false, endedNow: false, released: false, ...(runnerStopped !== undefined ? { runnerStopped } : {}) };
  if (!wrote && options.ifEnded === 'leave')
    return { job, ended: true, endedNow: false, released: false, ...(runnerStopped !== undefined ? { runnerStopped } : {}) };

  const bestEffort = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (e) {
      if (options.wake === 'must') throw wakeFailed(what, e);
      d.log?.warn(`${what} failed; parked executions look again when their park times out`, { jobId, error: (e as Error).name });
    }
  };
  if (approvalToken && options.failApprovalTask) {
    const { error, cause } = options.failApprovalTask;
    await bestEffort('failing the approval task', async () => {
      try {
        await d.tasks.fail(approvalToken, error, cause);
      } catch (e) {
        // Already timed out or answered: the execution is on its own ending path, which is all this wanted.
        if (!TASK_GONE.has((e as Error).name)) throw e;
      }
    });
  }
  // A completed job holds no token: an approval that expired or was rejected left a spent one.
  await d.approvalItems.clearTaskToken(jobId);
  // Its own execution, if parked on the stack lock, is woken to end (it finds the job gone).
  await bestEffort("waking the job's own parked execution", () => wakeParked(d, jobId));
  await recordResourceStatus(d, job, now);
  await publishStatus(d, job);
  await publishDrift(d, job);
  if (wrote) d.metrics.jobCompleted(job.status.result, job.status.reason);

  let released = false;
  const keepLease = runnerStopped === false && options.stopRunner?.ifNotStopped === 'keep_lease';
  if (options.release && !keepLease) {
    await bestEffort('waking the next job of the stack', async () => {
      released = await releaseAndWakeNext(d, stackKeyOfJob(job), jobId, job.status.lease?.fencingToken);
    });
  }
  return { job, ended: true, endedNow: wrote, released, ...(runnerStopped !== undefined ? { runnerStopped } : {}) };
}

/** The job moved to completed with the ending's result, reason and records. */
function withEnding(job: StackJob, ending: Ending, now: Date): StackJob {
  const moved = transitionJob(job, 'completed', ENDINGS[ending.reason].result, now, ending.reason);
  const status = { ...moved.status };
  if (ending.failure) status.failure = ending.failure;
  if (ending.cancelRequested) status.cancelRequested = status.cancelRequested ?? ending.cancelRequested;
  if (ending.forceCancelled) status.forceCancelled = ending.forceCancelled;
  if (ending.runner) {
    status.logPrefix = ending.runner.logPrefix;
    status.durations = { ...status.durations, ...prefixed('update', ending.runner.durations) };
    if (ending.runner.outputsKey) status.outputsKey = ending.runner.outputsKey;
  }
  return { ...moved, status };
}

export const prefixed = (phase: string, durations: Record<string, number>) =>
  Object.fromEntries(Object.entries(durations).map(([k, v]) => [`${phase}.${k}`, v]));

/** What the job's refresh found, as the resource status keeps it (a drift check's, or a change's own refresh). */
export function resourceDriftOf(job: StackJob): ResourceDrift | undefined {
  const drift = job.status.drift;
  if (!drift) return undefined;
  return { checkedAt: drift.checkedAt, jobId: job.metadata.id, drifted: drift.total > 0, total: drift.total, resources: drift.resources };
}

async function recordResourceStatus(d: Pick<EndingDeps, 'resources'>, job: StackJob, now: Date): Promise<void> {
  const drift = resourceDriftOf(job);
  if (drift && job.status.result === 'succeeded') await d.resources.recordDrift(job.metadata.org, job.metadata.env, job.spec.apiResourceInfo.id, drift);
  // A drift check changes nothing but the drift: the resource's last job, version and outputs stay the last change's.
  if (job.spec.driftCheck) return;
  await d.resources.record({
    org: job.metadata.org,
    env: job.metadata.env,
    resourceId: job.spec.apiResourceInfo.id,
    kind: job.spec.apiResourceInfo.kind,
    jobId: job.metadata.id,
    result: job.status.result,
    finishedAt: job.status.finishedAt ?? now.toISOString(),
    ...(job.status.result === 'succeeded'
      ? { applied: { versionId: job.metadata.version.id, ...(job.status.outputsKey ? { outputsKey: job.status.outputsKey } : {}) } }
      : {}),
  });
}

// ---------------------------------------------------------------- the status event

export function statusEventDetail(job: StackJob) {
  return {
    jobId: job.metadata.id,
    org: job.metadata.org,
    env: job.metadata.env,
    resourceId: job.spec.apiResourceInfo.id,
    phase: job.status.phase,
    result: job.status.result,
    ...(job.status.failure ? { failedOperation: job.status.failure.operation } : {}),
    ...(job.status.reason ? { reason: job.status.reason } : {}),
    ...(job.status.approval ? { approvalId: job.status.approval.id } : {}),
  };
}

/** Publishes the job's status event; a failure is transient (the job write before it is idempotent: sent at least once). */
/** A drift check that found drift says so (and, with `remediate: plan`, its subscriber submits the change back). */
async function publishDrift(d: Pick<EndingDeps, 'events'>, job: StackJob): Promise<void> {
  const drift = resourceDriftOf(job);
  if (!job.spec.driftCheck || job.status.result !== 'succeeded' || !drift?.drifted) return;
  try {
    await d.events.publish(DRIFT_DETECTED, {
      jobId: job.metadata.id,
      org: job.metadata.org,
      env: job.metadata.env,
      resourceId: job.spec.apiResourceInfo.id,
      checkedAt: drift.checkedAt,
      total: drift.total,
      resources: drift.resources,
      remediate: job.spec.driftCheck.remediate,
      ...(job.spec.driftCheck.scheduleId ? { scheduleId: job.spec.driftCheck.scheduleId } : {}),
    });
  } catch (e) {
    throw new TransientStepError(`publishing the drift event failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

export async function publishStatus(d: Pick<EndingDeps, 'events'>, job: StackJob): Promise<void> {
  try {
    await d.events.publish(STATUS_CHANGED, statusEventDetail(job));
  } catch (e) {
    throw new TransientStepError(`publishing the status event failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

// ---------------------------------------------------------------- runner tasks

/**
 * ECS's answers to StopTask for a task that is already gone: AWS forgets stopped tasks after a while ("The referenced
 * task was not found"; a recently stopped one is simply stopped again); local mode says "is not running".
 */
export function isTaskAlreadyStopped(e: unknown): boolean {
  const err = e as { name?: string; message?: string };
  return err.name === 'InvalidParameterException' && /not found|not running/i.test(err.message ?? '');
}

/** True when the task is stopped or already was; false when ECS would not stop it (access, throttling, a bad ARN). */
async function stopRunnerTask(d: Pick<EndingDeps, 'runnerTasks'>, taskArn: string, reason: string): Promise<boolean> {
  try {
    await d.runnerTasks.stop(taskArn, reason);
    return true;
  } catch (e) {
    return isTaskAlreadyStopped(e);
  }
}

/** The operation a job was in when it stopped: the one running, else (a runner stopped gracefully) the one it cancelled. */
export function interruptedOperation(job: StackJob): string | undefined {
  const ops = job.status.operations;
  return ops.find((o) => o.status === 'running')?.name ?? ops.find((o) => o.result === 'cancelled')?.name;
}
