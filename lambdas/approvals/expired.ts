/**
 * Closing the Slack message of an approval that expired. The workflow ends such a job `completed/cancelled` with reason
 * `approval_expired` and publishes its status event; an EventBridge rule on the app's bus sends exactly those events
 * here (infra/constructs/events.ts), so the Slack-free step Lambda never needs the bot token.
 */
import * as z from '../shared/zod';
import { EVENT_SOURCE } from '../adapters/aws/event-publisher';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import { STATUS_CHANGED } from '../workflow/lifecycle';
import { closeApprovalNotice, closedApproval, type NoticeDeps } from './notice';

/** The EventBridge pattern of the rule that routes expiries here (infra/constructs/events.ts; local mode matches it too). */
export const APPROVAL_EXPIRED_PATTERN = {
  source: [EVENT_SOURCE],
  detailType: [STATUS_CHANGED],
  detail: { phase: ['completed'], reason: ['approval_expired'] },
} as const;

/** The part of the status event the rule matches (APPROVAL_EXPIRED_PATTERN) and this reads. */
export const approvalExpiredEventSchema = z.object({
  source: z.literal(EVENT_SOURCE),
  'detail-type': z.literal(STATUS_CHANGED),
  detail: z.object({ jobId: z.string().min(1), phase: z.literal(APPROVAL_EXPIRED_PATTERN.detail.phase[0]), reason: z.literal(APPROVAL_EXPIRED_PATTERN.detail.reason[0]) }),
});

/** Whether a published event (local mode's shape) is one the rule routes here. */
export function isApprovalExpiry(e: { source: string; detailType: string; detail: unknown }): boolean {
  return approvalExpiredEventSchema.safeParse({ source: e.source, 'detail-type': e.detailType, detail: e.detail }).success;
}

export interface ExpiredNoticeDeps extends NoticeDeps {
  jobs: Pick<JobRepository, 'get' | 'approvalNotice'>;
}

/** Returns whether a message was replaced; an event that is not an expiry, or a job that did not expire, changes nothing. */
export async function closeExpiredApproval(d: ExpiredNoticeDeps, event: unknown): Promise<boolean> {
  const parsed = approvalExpiredEventSchema.safeParse(event);
  if (!parsed.success) {
    d.log.warn('ignored an event that is not an approval expiry', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    return false;
  }
  // The stored job decides, not the event: only a job that did expire has its message closed here.
  const job = (await d.jobs.get(parsed.data.detail.jobId))?.job;
  return job && closedApproval(job)?.outcome === 'expired' ? closeApprovalNotice(d, job) : false;
}
