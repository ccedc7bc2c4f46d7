/**
 * Deciding an approval, the same way from Slack and from the API: authorize, record the decision with a
 * conditional write (only the first decision wins), resume the waiting execution, drop the spent token.
 * The execution ignores SendTaskSuccess's output, so the decision (with the plan digest) is on the job first.
 */
import { ConflictError } from '../domain/errors';
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

/** Records and carries out one decision; throws ForbiddenError (not allowed) or ConflictError (cannot be decided now, with why). */
export async function decideApproval(d: DecisionDeps, input: DecideInput): Promise<StackJob> {
  const now = d.clock.now();
  const job = await d.jobs.update(input.jobId, (j) => {
    authorizeDecider(j, input.decider);
    return applyDecision(j, input.decision, input.decider, now, input.comment);
  });
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
    await withResumeRetry(d, () =>
      input.decision === 'approved'
        ? d.tasks.succeed(token, { approvalId, decision: 'approved' })
        : d.tasks.fail(token, WorkflowErrorName.rejected, `rejected by ${input.decider.subject} through ${input.decider.channel}`),
    );
  } catch (e) {
    const name = (e as Error).name;
    d.log.error('resuming the execution failed', { ...logged, error: name });
    if (TASK_GONE.has(name)) throw new ConflictError('the decision was recorded, but the approval window had already closed in the workflow');
    throw e;
  }
  await d.approvalItems.clearTaskToken(input.jobId);
  d.metrics.decided(input.decision, input.decider.channel);
  d.log.info('approval decided', logged);
  try {
    await d.events.publish(APPROVAL_DECIDED, {
      jobId: job.metadata.id,
      org: job.metadata.org,
      env: job.metadata.env,
      resourceId: job.spec.apiResourceInfo.id,
      approvalId,
      decision: input.decision,
      by: input.decider.subject,
      channel: input.decider.channel,
      ...(job.status.approval?.planDigest ? { planDigest: job.status.approval.planDigest } : {}),
    });
  } catch (e) {
    // The decision stands and the execution is resumed; the status event that follows still goes out.
    d.log.warn('publishing the decision event failed', { ...logged, error: (e as Error).name });
  }
  return job;
}
