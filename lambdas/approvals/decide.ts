/**
 * Deciding an approval, the same way from Slack and from the API: authorize, record the decision with a
 * conditional write (only the first decision wins), resume the waiting execution, drop the spent token.
 * The execution ignores SendTaskSuccess's output, so the decision (with the plan digest) is on the job first.
 */
import { ConflictError } from '../domain/errors';
import { withoutTokenError } from '../shared/task-token';
import type { Clock } from '../domain/ids';
import type { EventPublisher } from '../domain/ports';
import type { StackJob } from '../domain/schemas';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import { WorkflowErrorName } from '../workflow/errors';
import { applyDecision, approvalCount, authorizeDecider, type Decider, type Decision } from './approval-rules';
import { TASK_GONE, type ApprovalMetrics, type LogSink, type TaskResponder } from './ports';

import { APPROVAL_DECIDED } from '../domain/events';

export { APPROVAL_DECIDED };

/**
 * Resuming is retried in-process only for throttling and 5xx (SFN's own transient answers): 3 attempts,
 * 200 ms then 400 ms apart (0.6 s at most), which keeps a Slack click inside its 3-second window.
 */
export const RESUME_RETRY = { attempts: 3, firstDelayMs: 200, backoff: 2 } as const;

/**
 * How long after a decision was recorded the same decision again may deliver it: longer than any deciding request can
 * still be resuming (the API's 29 s, Slack's 3 s), so a concurrent second click is the usual 409, never a second resume.
 */
export const RESUME_AGAIN_AFTER_MS = 60_000;

export interface DecisionDeps {
  jobs: Pick<JobRepository, 'update'>;
  approvalItems: Pick<ApprovalItemRepository, 'getTaskToken' | 'clearTaskToken'>;
  tasks: TaskResponder;
  events: EventPublisher;
  clock: Clock;
  log: LogSink;
  metrics: ApprovalMetrics;
  /** Waits between resume attempts; injected so tests do not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export interface DecideInput {
  jobId: string;
  decision: Decision;
  decider: Decider;
  comment?: string;
}

const isTransient = (e: unknown) => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'ThrottlingException' || err.name === 'Throttling' || (err.$metadata?.httpStatusCode ?? 0) >= 500;
};

async function withResumeRetry(d: DecisionDeps, call: () => Promise<void>): Promise<void> {
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let delay: number = RESUME_RETRY.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (attempt >= RESUME_RETRY.attempts || !isTransient(e)) throw e;
      await sleep(delay);
      delay *= RESUME_RETRY.backoff;
    }
  }
}

/**
 * Records and carries out one decision; throws ForbiddenError (not allowed) or ConflictError (cannot be decided now,
 * with why). A decision that was recorded but whose resume never reached Step Functions (the resume failed past its
 * retries, or the Lambda died between the two) would leave the execution waiting out the whole approval window with
 * the stack locked: the same decision again, by anyone who may decide, once RESUME_AGAIN_AFTER_MS have passed, resumes
 * it with the decision as recorded.
 */
export async function decideApproval(d: DecisionDeps, input: DecideInput): Promise<StackJob> {
  const now = d.clock.now();
  let resumeRecorded = false;
  const job = await d.jobs.update(input.jobId, (j) => {
    authorizeDecider(j, input.decider);
    const recorded = j.status.approval?.decision;
    // The token is removed once the execution has taken the decision; whether it is still there is read below.
    resumeRecorded =
      recorded !== undefined &&
      recorded.decision === input.decision &&
      j.status.phase === 'awaiting_approval' &&
      now.getTime() - Date.parse(recorded.at) >= RESUME_AGAIN_AFTER_MS;
    return resumeRecorded ? j : applyDecision(j, input.decision, input.decider, now, input.comment);
  });
  if (resumeRecorded) return resumeRecordedDecision(d, job, input);
  const approvalId = job.status.approval!.id;
  const logged = { jobId: input.jobId, approvalId, decision: input.decision, by: input.decider.subject, channel: input.decider.channel };
  // One approval of a quorum that is not complete yet: recorded on the job; the workflow waits for the next approver.
  if (!job.status.approval?.decision) {
    const { required, approved } = approvalCount(job);
    d.log.info('approval recorded; the plan needs more distinct approvers', { ...logged, approved, required });
    return job;
  }
  const token = await d.approvalItems.getTaskToken(input.jobId);
  if (!token) {
    d.log.error('decision recorded but no execution is waiting for it', logged);
    throw new ConflictError('the decision was recorded, but the workflow no longer waits for it (the approval expired or the job was cancelled)');
  }
  try {
    await resume(d, token, approvalId, input.decision, input.decider);
  } catch (e) {
    const name = (e as Error).name;
    d.log.error('resuming the execution failed', { ...logged, error: name });
    if (TASK_GONE.has(name)) throw new ConflictError('the decision was recorded, but the approval window had already closed in the workflow');
    throw withoutTokenError(e, token);
  }
  await d.approvalItems.clearTaskToken(input.jobId);
  d.log.info('approval decided', logged);
  await announce(d, job, input.decision, input.decider);
  return job;
}

/** The decision's metric and event, once the execution has it. */
async function announce(d: DecisionDeps, job: StackJob, decision: Decision, by: Pick<Decider, 'subject' | 'channel'>): Promise<void> {
  d.metrics.decided(decision, by.channel);
  try {
    await d.events.publish(APPROVAL_DECIDED, {
      jobId: job.metadata.id,
      org: job.metadata.org,
      env: job.metadata.env,
      resourceId: job.spec.apiResourceInfo.id,
      approvalId: job.status.approval!.id,
      decision,
      by: by.subject,
      channel: by.channel,
      ...(job.status.approval?.planDigest ? { planDigest: job.status.approval.planDigest } : {}),
    });
  } catch (e) {
    // The decision stands and the execution is resumed; the status event that follows still goes out.
    d.log.warn('publishing the decision event failed', { jobId: job.metadata.id, decision, error: (e as Error).name });
  }
}

/** Sends the decision to the waiting execution (retried while Step Functions answers throttling or 5xx). */
function resume(d: DecisionDeps, token: string, approvalId: string, decision: Decision, by: Pick<Decider, 'subject' | 'channel'>): Promise<void> {
  return withResumeRetry(d, () =>
    decision === 'approved'
      ? d.tasks.succeed(token, { approvalId, decision: 'approved' })
      : d.tasks.fail(token, WorkflowErrorName.rejected, `rejected by ${by.subject} through ${by.channel}`),
  );
}

/**
 * The recorded decision, sent again: the job still waits on it and still holds the token (decideApproval removes the
 * token only after the execution took it). A token already gone means the execution has it, or stopped waiting.
 */
async function resumeRecordedDecision(d: DecisionDeps, job: StackJob, input: DecideInput): Promise<StackJob> {
  const approval = job.status.approval!;
  const recorded = approval.decision!;
  const logged = { jobId: input.jobId, approvalId: approval.id, decision: recorded.decision, recordedBy: recorded.by, by: input.decider.subject };
  const token = await d.approvalItems.getTaskToken(input.jobId);
  if (!token) throw new ConflictError(`already ${recorded.decision} by ${recorded.by} at ${recorded.at} (${recorded.channel})`);
  try {
    await resume(d, token, approval.id, recorded.decision, { subject: recorded.by, channel: recorded.channel });
  } catch (e) {
    const name = (e as Error).name;
    d.log.error('resuming a recorded decision failed', { ...logged, error: name });
    if (!TASK_GONE.has(name)) throw withoutTokenError(e, token);
    // Nothing waits on the token any more: the window closed (the execution ends the job), or the execution took the
    // first resume after all and only its answer was lost.
    await d.approvalItems.clearTaskToken(input.jobId);
    if (name === 'TaskTimedOut') throw new ConflictError('the decision was recorded, but the approval window had already closed in the workflow');
    // The execution has the decision: its metric and event, which the first attempt never sent, go out now.
    await announce(d, job, recorded.decision, { subject: recorded.by, channel: recorded.channel });
    return job;
  }
  await d.approvalItems.clearTaskToken(input.jobId);
  d.log.warn('resumed a decision whose first resume had failed', logged);
  await announce(d, job, recorded.decision, { subject: recorded.by, channel: recorded.channel });
  return job;
}
