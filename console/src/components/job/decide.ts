/**
 * Whether the signed-in principal may decide a job's approval, and if not, why: the API's own rules
 * (lambdas/approvals/approval-rules.ts `authorizeDecider`, `undecidableReason`, `applyDecision`), read ahead so the
 * console offers only what the API would accept. The API still decides; a 409 it answers is shown as it says it.
 * Pure: the time is passed in.
 */
import type { StackJob } from '../../api/client';
import { when } from '../../format';

export type DecisionRight =
  /** No approver role in the org: Approve and Reject are not offered at all. */
  | { offered: false }
  /**
   * An approver: free to decide, or not for this job now (`blocked` says why), or free to reject but not to approve
   * again (`approveBlocked`: their approval already counts toward a quorum; the API still takes their reject).
   */
  | { offered: true; blocked?: string; approveBlocked?: string };

export function decisionRight(job: StackJob, subject: string, mayApprove: boolean, now: number): DecisionRight {
  if (!mayApprove) return { offered: false };
  const blocked = closedReason(job, now) ?? notYoursReason(job, subject);
  if (blocked) return { offered: true, blocked };
  const approveBlocked = countedReason(job, subject);
  return approveBlocked ? { offered: true, approveBlocked } : { offered: true };
}

/** Why nobody can decide it now (already decided, ended, being cancelled, expired). */
function closedReason(job: StackJob, now: number): string | undefined {
  const s = job.status;
  const approval = s.approval;
  if (approval?.decision) return `it was already ${approval.decision.decision} by ${approval.decision.by} at ${when(approval.decision.at)}.`;
  if (s.phase === 'completed') return 'the job has ended.';
  if (s.cancelRequested) return `the job is being cancelled (requested by ${s.cancelRequested.by}).`;
  if (s.phase !== 'awaiting_approval' || !approval) return 'the job is not waiting for approval.';
  if (now >= Date.parse(approval.expiresAt)) return `the approval window closed at ${when(approval.expiresAt)}.`;
  return undefined;
}

/** Why this principal in particular may not decide it (the policy's approvers, distinct approver, a counted vote). */
function notYoursReason(job: StackJob, subject: string): string | undefined {
  const policy = job.spec.essentials.flowControlPolicy;
  const { org, env } = job.metadata;
  if (policy.approvers.length > 0) {
    const listed = policy.approvers.find((a) => a.subject === subject);
    if (!listed) return `you are not an approver under the policy for ${org}/${env}.`;
    if (listed.environments && !listed.environments.includes(env)) return `you are an approver for ${listed.environments.join(', ')}, not for ${env}.`;
  }
  // Nobody approves their own change, whatever the policy's requireDistinctApprover says (the API's rule).
  if (subject === job.spec.apiResourceInfo.eventCreatedBy) return 'nobody approves their own change, and you made this change.';
  if (subject === job.metadata.submittedBy) return 'nobody approves their own change, and you submitted this job.';
  if (job.metadata.submitters?.includes(subject)) return 'nobody approves their own change, and you submitted an earlier run of this change.';
  return undefined;
}

/** Why this principal may not approve again: their approval already counts toward the quorum (rejecting stays open). */
function countedReason(job: StackJob, subject: string): string | undefined {
  const { required, approvals } = quorumOf(job);
  if (required > 1 && approvals.some((a) => a.by === subject))
    return `you have already approved this plan (${approvals.length} of ${required} distinct approvals so far); you may still reject it.`;
  return undefined;
}

/** How many approvals the open approval needs (a plan policy's require_approvals), and those it has. */
export function quorumOf(job: StackJob): { required: number; approvals: NonNullable<NonNullable<StackJob['status']['approval']>['approvals']> } {
  const approval = job.status.approval;
  return { required: approval?.required ?? 1, approvals: approval?.approvals ?? [] };
}

/** Who may not approve (nobody approves their own change): the change's author, the job's submitter and earlier submitters. */
export function excludedApprovers(job: StackJob): string[] {
  const who = [job.spec.apiResourceInfo.eventCreatedBy, job.metadata.submittedBy, ...(job.metadata.submitters ?? [])];
  return [...new Set(who.filter((w): w is string => Boolean(w)))];
}
