/**
 * Cancelling a job, phase by phase (approval-rules.ts cancelCaseOf): a job that has not started a runner ends here
 * (queued, or awaiting an approval nobody gave); a running preview is stopped and the workflow ends the job; an
 * update is never interrupted, the request is only recorded. A job whose execution is gone ends here as
 * `interrupted`. And an org admin's force-cancel ends a job in any phase. Every ending goes through endJob
 * (workflow/endings.ts).
 */
import { ConflictError, ValidationError } from '../domain/errors';
import type { Clock } from '../domain/ids';
import { CANCEL_REQUESTED } from '../domain/events';
import type { EventPublisher, ExecutionInspector } from '../domain/ports';
import type { StackJob } from '../domain/schemas';
import type { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { LockRepository } from '../adapters/dynamodb/lock-repository';
import type { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { endJob, type EndingDeps } from '../workflow/endings';
import { WorkflowErrorName } from '../workflow/errors';
import { executionEnding } from '../workflow/lifecycle';
import type { WorkflowMetrics } from '../workflow/metrics';
import { cancelCaseOf, type CancelCase } from './approval-rules';
import type { LogSink, RunnerTaskStopper, TaskResponder } from './ports';

export { CANCEL_REQUESTED };

export interface CancelDeps {
  jobs: JobRepository;
  approvalItems: ApprovalItemRepository;
  locks: Pick<LockRepository, 'release' | 'read' | 'takeWaiter' | 'restoreWaiter'>;
  resources: Pick<ResourceStatusRepository, 'record' | 'recordDrift'>;
  events: EventPublisher;
  tasks: TaskResponder;
  runnerTasks: RunnerTaskStopper;
  /** Whether the job's execution still runs: a running job whose execution is gone would wait for nobody. */
  executions: ExecutionInspector;
  clock: Clock;
  log: LogSink;
  metrics: WorkflowMetrics;
}

export interface CancelOutcome {
  job: StackJob;
  case: CancelCase | 'execution_gone';
  /** True when the job ended with this call; false when the workflow will end it (or the update finishes first). */
  ended: boolean;
}

const endingDeps = (d: CancelDeps): EndingDeps => ({ ...d, log: d.log });

const alreadyEnded = (j: StackJob) =>
  new ConflictError(`the job has already ended (completed/${j.status.result}${j.status.reason ? `, ${j.status.reason}` : ''}); nothing to cancel`);

/** Raised when the job moved back into a phase that cancel ends itself (a preview that just asked for approval). */
class CaseChanged extends Error {}

export async function cancelJob(d: CancelDeps, jobId: string, by: string, attempts = 3): Promise<CancelOutcome> {
  const now = d.clock.now();
  const requested = { by, at: now.toISOString() };
  let kase: CancelCase = 'completed';
  // One conditional write decides the case on the job as it is now, so an approval or the lock loop racing with this
  // cancel either happened before it (and the case says so) or sees its result.
  const ending = await endJob(
    endingDeps(d),
    jobId,
    (j) => {
      kase = cancelCaseOf(j);
      return kase === 'queued' || kase === 'awaiting_approval' ? { reason: 'cancelled', cancelRequested: requested } : undefined;
    },
    { failApprovalTask: { error: WorkflowErrorName.cancelled, cause: `cancelled by ${by}` }, release: true, wake: 'best_effort', ifEnded: 'leave' },
  );
  if (!ending) throw new ConflictError(`stack job ${jobId} vanished while it was being cancelled`);
  const logged = { jobId, case: kase, by };
  if (ending.endedNow) {
    d.log.info('cancel requested', logged);
    return { job: ending.job, case: kase, ended: true };
  }
  if (ending.ended) throw alreadyEnded(ending.job);

  // A running job: its execution carries the cancel out, unless there is none any more (local mode restarted, the
  // execution was stopped and its cleanup did not run): then nobody would, and the job ends here.
  if (!(await d.executions.isRunning(jobId))) {
    const gone = await endJob(
      endingDeps(d),
      jobId,
      (j) => ({
        ...executionEnding(j, { status: 'INTERRUPTED', seen: `its workflow execution was gone when ${by} cancelled it` }),
        cancelRequested: requested,
      }),
      {
        stopRunner: { why: `cancelled by ${by}: the job's execution is gone`, ifNotStopped: 'keep_lease' },
        release: true,
        wake: 'best_effort',
        ifEnded: 'leave',
      },
    );
    if (gone?.endedNow) {
      d.log.info('cancel found the execution gone; the job ended interrupted', logged);
      return { job: gone.job, case: 'execution_gone', ended: true };
    }
    if (gone?.ended) throw alreadyEnded(gone.job);
  }

  let job: StackJob;
  try {
    job = await d.jobs.update(jobId, (j) => {
      if (j.status.phase === 'completed') throw alreadyEnded(j);
      const now = cancelCaseOf(j);
      if (now === 'queued' || now === 'awaiting_approval') throw new CaseChanged();
      if (j.status.cancelRequested) return j;
      return { ...j, status: { ...j.status, cancelRequested: requested, updatedAt: requested.at } };
    });
  } catch (e) {
    // The job went on into a phase this call ends itself (its preview asked for approval meanwhile): decide again.
    if (e instanceof CaseChanged && attempts > 1) return cancelJob(d, jobId, by, attempts - 1);
    throw e;
  }
  kase = cancelCaseOf(job);
  d.log.info('cancel requested', { ...logged, case: kase });
  if (kase === 'stop_runner' && job.status.runnerTask) {
    try {
      await d.runnerTasks.stop(job.status.runnerTask.arn, `cancelled by ${by}`);
    } catch (e) {
      // The task may have just ended; the recorded request still stops the workflow at its next step.
      d.log.warn('stopping the runner task failed', { ...logged, error: (e as Error).name });
    }
  }
  await d.events.publish(CANCEL_REQUESTED, {
    jobId,
    org: job.metadata.org,
    env: job.metadata.env,
    resourceId: job.spec.apiResourceInfo.id,
    phase: job.status.phase,
    action: kase === 'stop_runner' ? 'runner_stopped' : 'recorded_update_continues',
    by,
  });
  return { job, case: kase, ended: false };
}

/**
 * An org admin's way to get a stack back whatever the job is doing: the job ends `completed/cancelled` with reason
 * `force_cancelled` and who and why recorded; its runner task is stopped (an update included: that is the difference
 * from cancel), a waiting approval is closed, and its stack lease is released even if ECS would not confirm the stop.
 * Terraform's own state lock then still guards the state against a runner that kept going.
 */
export async function forceCancelJob(d: CancelDeps, jobId: string, by: string, why: string): Promise<StackJob> {
  const text = why.trim();
  if (!text)
    throw new ValidationError('a force-cancel needs a reason', [{ path: 'reason', message: 'say why the job is force-cancelled (it is recorded on the job)' }]);
  const now = d.clock.now();
  const ending = await endJob(endingDeps(d), jobId, () => ({ reason: 'force_cancelled', forceCancelled: { by, at: now.toISOString(), why: text } }), {
    stopRunner: { why: `force-cancelled by ${by}`, ifNotStopped: 'release_anyway' },
    failApprovalTask: { error: WorkflowErrorName.cancelled, cause: `force-cancelled by ${by}` },
    release: true,
    wake: 'best_effort',
    ifEnded: 'leave',
  });
  if (!ending) throw new ConflictError(`stack job ${jobId} vanished while it was being force-cancelled`);
  if (!ending.endedNow) throw alreadyEnded(ending.job);
  d.log.info('job force-cancelled', { jobId, by, runnerStopped: ending.runnerStopped, released: ending.released });
  return ending.job;
}
