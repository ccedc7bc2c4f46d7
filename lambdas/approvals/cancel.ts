/**
 * Cancelling a job, phase by phase (approval-rules.ts cancelCaseOf): a job that has not started a runner ends here
 * (queued, or awaiting an approval nobody gave); a running preview is stopped and the workflow ends the job; an
 * update is never interrupted, the request is only recorded. Every ending releases the lock and publishes.
 */
import { ConflictError } from '../domain/errors';
import type { Clock } from '../domain/ids';
import type { EventPublisher } from '../domain/ports';
import type { StackJob } from '../domain/schemas';
import { stackKeyOfJob } from '../domain/stack-job';
import { transitionJob } from '../domain/status';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { LockRepository } from '../adapters/dynamodb/lock-repository';
import type { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { WorkflowErrorName } from '../workflow/errors';
import { recordEnding, wakeNextWaiter, wakeParked } from '../workflow/lifecycle';
import type { WorkflowMetrics } from '../workflow/metrics';
import { cancelCaseOf, type CancelCase } from './approval-rules';
import { TASK_GONE, type LogSink, type RunnerTaskStopper, type TaskResponder } from './ports';

export const CANCEL_REQUESTED = 'Stack Job Cancel Requested';

export interface CancelDeps {
  jobs: JobRepository;
  locks: Pick<LockRepository, 'release' | 'read' | 'takeWaiter' | 'restoreWaiter'>;
  resources: Pick<ResourceStatusRepository, 'record'>;
  events: EventPublisher;
  tasks: TaskResponder;
  runnerTasks: RunnerTaskStopper;
  clock: Clock;
  log: LogSink;
  metrics: WorkflowMetrics;
}

export interface CancelOutcome {
  job: StackJob;
  case: CancelCase;
  /** True when the job ended with this call; false when the workflow will end it (or the update finishes first). */
  ended: boolean;
}

export async function cancelJob(d: CancelDeps, jobId: string, by: string): Promise<CancelOutcome> {
  const now = d.clock.now();
  let kase = 'completed' as CancelCase;
  // One conditional write decides the case on the job as it is now, so an approval or the lock loop racing
  // with this cancel either happened before it (and the case says so) or sees its result.
  const job = await d.jobs.update(jobId, (j) => {
    kase = cancelCaseOf(j);
    if (kase === 'completed') throw new ConflictError(`the job has already ended (completed/${j.status.result}${j.status.reason ? `, ${j.status.reason}` : ''}); nothing to cancel`);
    const requested = j.status.cancelRequested ?? { by, at: now.toISOString() };
    if (kase === 'queued' || kase === 'awaiting_approval') {
      const ended = transitionJob(j, 'completed', 'cancelled', now, 'cancelled');
      return { ...ended, status: { ...ended.status, cancelRequested: requested } };
    }
    if (j.status.cancelRequested) return j;
    return { ...j, status: { ...j.status, cancelRequested: requested, updatedAt: now.toISOString() } };
  });
  const logged = { jobId, case: kase, by };
  d.log.info('cancel requested', logged);

  if (kase === 'queued' || kase === 'awaiting_approval') {
    // Read before recordEnding removes it: the waiting approval task is failed with it.
    const token = kase === 'awaiting_approval' ? await d.jobs.getTaskToken(jobId) : undefined;
    await recordEnding({ jobs: d.jobs, resources: d.resources, events: d.events, metrics: d.metrics }, job, now);
    if (token) {
      try {
        await d.tasks.fail(token, WorkflowErrorName.cancelled, `cancelled by ${by}`);
      } catch (e) {
        // Already timed out or answered: the execution is on its own ending path, which is all we wanted.
        if (!TASK_GONE.has((e as Error).name)) d.log.error('failing the approval task failed; the approval timeout will end the execution', { ...logged, error: (e as Error).name });
      }
    }
    // No runner works on a queued or awaiting job, so its lease (if it holds one) can go now. Its own execution, if
    // parked on the stack lock, is woken to end (it finds the job gone); if the stack is free now (released, or this
    // was the queued job the next one waited for), its next parked job is woken.
    await d.locks.release(stackKeyOfJob(job), jobId);
    try {
      await wakeParked(d, jobId);
      await wakeNextWaiter(d, stackKeyOfJob(job));
    } catch (e) {
      // The parked executions look again when their park times out (lockWaitSeconds); the cancel itself is done.
      d.log.warn('waking parked executions failed; they look again when their park times out', { ...logged, error: (e as Error).name });
    }
    return { job, case: kase, ended: true };
  }

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
