/**
 * Who may decide an approval, whether it can still be decided, and what a cancel means in each phase.
 * Pure: no I/O, the time is passed in, so every rule is tested without mocks.
 */
import { ConflictError, ForbiddenError } from '../domain/errors';
import type { ApprovalDecision, StackJob } from '../domain/schemas';

export type Channel = ApprovalDecision['channel'];
export type Decision = ApprovalDecision['decision'];

/** Who is deciding: the principal subject, and through which channel they were identified. */
export interface Decider {
  subject: string;
  channel: Channel;
  /** Through Slack: the account that clicked, and its workspace (recorded with the decision). */
  slack?: { userId: string; teamId: string };
}

/**
 * The policy's approver rule for one decider:
 * - a non-empty `approvers` list names who may approve (each for every environment, or for the listed ones);
 * - an empty list means anyone with the approver role in the org (API only: the role comes from the JWT; a Slack
 *   click carries no roles, so through Slack an empty list lets nobody approve);
 * - nobody approves their own change: the change's author (`eventCreatedBy`), its submitter (`metadata.submittedBy`)
 *   and everyone who submitted or reran an earlier job of the change (`metadata.submitters`) are refused, whatever
 *   the policy says (its `requireDistinctApprover` was once a switch for this; a stored `false` no longer turns it off,
 *   so an org admin cannot write a policy that lets them approve their own change).
 * Throws ForbiddenError with the reason.
 */
export function authorizeDecider(job: StackJob, decider: Decider): void {
  const policy = job.spec.essentials.flowControlPolicy;
  const env = job.metadata.env;
  if (policy.approvers.length === 0) {
    if (decider.channel === 'slack')
      throw new ForbiddenError(`the policy for ${job.metadata.org}/${env} names no approvers, so nobody can be verified through Slack; decide through the API`);
  } else {
    const listed = policy.approvers.find((a) => a.subject === decider.subject);
    if (!listed) throw new ForbiddenError(`${decider.subject} is not an approver under the policy for ${job.metadata.org}/${env}`);
    if (listed.environments && !listed.environments.includes(env))
      throw new ForbiddenError(`${decider.subject} is an approver for ${listed.environments.join(', ')}, not for ${env}`);
  }
  // Both who the change says made it (caller-supplied) and who actually submitted it (authenticated): either could
  // otherwise approve their own change by naming someone else as its author, or by rerunning someone else's job.
  if (decider.subject === job.spec.apiResourceInfo.eventCreatedBy) {
    throw new ForbiddenError(`nobody approves their own change: ${decider.subject} made this change`);
  }
  if (job.metadata.submittedBy !== undefined && decider.subject === job.metadata.submittedBy) {
    throw new ForbiddenError(`nobody approves their own change: ${decider.subject} submitted this job`);
  }
  if (job.metadata.submitters?.includes(decider.subject)) {
    throw new ForbiddenError(`nobody approves their own change: ${decider.subject} submitted an earlier run of this change`);
  }
}

/** Why a job cannot take a decision now, in words for the person who clicked; undefined when it can. */
export function undecidableReason(job: StackJob, now: Date): string | undefined {
  const approval = job.status.approval;
  const d = approval?.decision;
  if (d) return `already ${d.decision} by ${d.by} at ${d.at} (${d.channel})`;
  if (job.status.phase === 'completed') return `the job has ended (${job.status.result}${job.status.reason ? `: ${job.status.reason}` : ''})`;
  if (job.status.cancelRequested) return `the job is being cancelled (requested by ${job.status.cancelRequested.by})`;
  if (job.status.phase !== 'awaiting_approval' || !approval) return `the job is not awaiting approval (it is ${job.status.phase})`;
  if (now.getTime() >= Date.parse(approval.expiresAt)) return `the approval window closed at ${approval.expiresAt}`;
  return undefined;
}

/** How many approvals the open approval needs (a plan policy's require_approvals), and how many it has. */
export function approvalCount(job: StackJob): { required: number; approved: number } {
  const approval = job.status.approval;
  return { required: approval?.required ?? 1, approved: approval?.approvals?.length ?? (approval?.decision?.decision === 'approved' ? 1 : 0) };
}

/**
 * Records the decision on the job (the optimistic write around this makes each one count once). Throws ConflictError
 * when it cannot. Under a quorum (`approval.required`, from a plan policy's require_approvals) each approval is kept
 * in `approvals`, and only the one that completes the quorum becomes the `decision` (the workflow resumes on it); an
 * approver counts once; the first reject is the decision.
 */
export function applyDecision(job: StackJob, decision: Decision, decider: Decider, now: Date, comment?: string): StackJob {
  const reason = undecidableReason(job, now);
  if (reason) throw new ConflictError(reason);
  const approval = job.status.approval!;
  const recorded: ApprovalDecision = {
    decision,
    by: decider.subject,
    at: now.toISOString(),
    channel: decider.channel,
    ...(approval.planDigest ? { planDigest: approval.planDigest } : {}),
    ...(comment ? { comment } : {}),
    ...(decider.slack ? { slack: decider.slack } : {}),
  };
  const at = now.toISOString();
  const required = approval.required ?? 1;
  if (decision === 'approved' && required > 1) {
    const approvals = approval.approvals ?? [];
    if (approvals.some((a) => a.by === decider.subject))
      throw new ConflictError(
        `${decider.subject} has already approved this plan; a plan policy requires ${required} distinct approvers (${approvals.length} of ${required} so far)`,
      );
    const all = [...approvals, recorded];
    return {
      ...job,
      status: { ...job.status, updatedAt: at, approval: { ...approval, approvals: all, ...(all.length >= required ? { decision: recorded } : {}) } },
    };
  }
  return { ...job, status: { ...job.status, updatedAt: at, approval: { ...approval, decision: recorded } } };
}

/**
 * What cancelling means for the job as it is now:
 * - `queued`: never started; it ends here.
 * - `awaiting_approval`: no runner is working; the approval closes and the job ends here.
 * - `stop_runner`: a preview (refresh/plan) is running; its task is stopped and the workflow ends the job.
 *   Not once the plan is approved: the update task then starts or is starting, and its claim refuses a cancel.
 * - `record_only`: an update may be applying (or about to); it is never interrupted: the request is recorded,
 *   nothing after the update runs, and the result says so.
 * - `completed`: nothing to cancel.
 */
export type CancelCase = 'queued' | 'awaiting_approval' | 'stop_runner' | 'record_only' | 'completed';

export function cancelCaseOf(job: StackJob): CancelCase {
  const s = job.status;
  if (s.phase === 'completed') return 'completed';
  if (s.phase === 'queued') return 'queued';
  // A decided approval is already on its way back to running: treat it as a running update.
  if (s.phase === 'awaiting_approval') return s.approval?.decision ? 'record_only' : 'awaiting_approval';
  const updateStarted = s.operations.some((o) => (o.name === 'apply' || o.name === 'destroy') && o.status !== 'pending');
  // An approved job's preview is over: the task it names is that finished preview's until the update task claims the
  // job (in the write that starts its apply, which a cancel recorded first refuses), so there is nothing to stop.
  if (!updateStarted && s.runnerTask?.phase === 'preview' && s.approval?.decision?.decision !== 'approved') return 'stop_runner';
  return 'record_only';
}
