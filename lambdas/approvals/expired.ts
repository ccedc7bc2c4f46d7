/**
 * Closing the Slack message of an approval that closed without anyone closing it through the API: it expired
 * (`approval_expired`), or the job ended some other way while it waited (its execution was interrupted, failed,
 * timed out or was stopped, a workflow step failed). Every ending publishes the job's status event (workflow/endings.ts);
 * an EventBridge rule on the app's bus sends exactly those events here (infra/constructs/events.ts), so the Slack-free
 * step Lambda never needs the bot token. Decisions, cancels and force-cancels through the API close their message
 * themselves; a click in Slack replaces it through the interaction's response_url.
 */
import * as z from '../shared/zod';
import type { EndingReason } from '../domain/endings';
import { EVENT_SOURCE } from '../adapters/aws/event-publisher';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import { STATUS_CHANGED } from '../domain/events';
import { closeApprovalNotice, closedApproval, type NoticeDeps } from './notice';

/** The endings that close an approval nobody closed through the API or Slack. */
export const UNATTENDED_APPROVAL_ENDINGS = [
  'approval_expired',
  'interrupted',
  'execution_failed',
  'execution_timed_out',
  'execution_aborted',
  'workflow_step_failed',
] as const satisfies readonly EndingReason[];

/** The EventBridge pattern of the rule that routes those endings here (infra/constructs/events.ts; local mode matches it too). */
export const APPROVAL_EXPIRED_PATTERN = {
  source: [EVENT_SOURCE],
  detailType: [STATUS_CHANGED],
  detail: { phase: ['completed'], reason: UNATTENDED_APPROVAL_ENDINGS, approvalId: [{ exists: true }] },
} as const;

/** The part of the status event the rule matches (APPROVAL_EXPIRED_PATTERN) and this reads. */
export const approvalExpiredEventSchema = z.object({
  source: z.literal(EVENT_SOURCE),
  'detail-type': z.literal(STATUS_CHANGED),
  detail: z.object({ jobId: z.string().min(1), phase: z.literal('completed'), reason: z.enum(UNATTENDED_APPROVAL_ENDINGS), approvalId: z.string().min(1) }),
});

/** Whether a published event (local mode's shape) is one the rule routes here. */
export function isApprovalExpiry(e: { source: string; detailType: string; detail: unknown }): boolean {
  return approvalExpiredEventSchema.safeParse({ source: e.source, 'detail-type': e.detailType, detail: e.detail }).success;
}

export interface ExpiredNoticeDeps extends NoticeDeps {
  jobs: Pick<JobRepository, 'get'>;
}

/** Returns whether a message was replaced; another event, or a job whose approval was closed otherwise, changes nothing. */
export async function closeExpiredApproval(d: ExpiredNoticeDeps, event: unknown): Promise<boolean> {
  const parsed = approvalExpiredEventSchema.safeParse(event);
  if (!parsed.success) {
    d.log.warn('ignored an event that is not an unattended approval ending', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    return false;
  }
  // The stored job decides, not the event: only an approval that closed unattended has its message closed here.
  const job = (await d.jobs.get(parsed.data.detail.jobId))?.job;
  const outcome = job ? closedApproval(job)?.outcome : undefined;
  return job && (outcome === 'expired' || outcome === 'ended') ? closeApprovalNotice(d, job) : false;
}
