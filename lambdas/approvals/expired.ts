/**
 * Closing the Slack message of an approval that expired. The workflow ends such a job `completed/cancelled` with reason
 * `approval_expired` and publishes its status event; an EventBridge rule on the app's bus sends exactly those events
 * here (infra/constructs/events.ts), so the Slack-free step Lambda never needs the bot token.
 */
import * as z from '../shared/zod';
import { EVENT_SOURCE } from '../adapters/aws/event-publisher';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import { STATUS_CHANGED } from '../workflow/lifecycle';
import { closeApprovalNotice, type NoticeDeps } from './notice';

/** The EventBridge pattern of the rule that routes expiries here (infra/constructs/events.ts; local mode matches it too). */
export const APPROVAL_EXPIRED_PATTERN = {
  source: [EVENT_SOURCE],
  detailType: [STATUS_CHANGED],
  detail: { phase: ['completed'], reason: ['approval_expired'] },
} as const;

/** Whether a published event matches APPROVAL_EXPIRED_PATTERN. */
export function isApprovalExpiry(e: { source: string; detailType: string; detail: unknown }): boolean {
  const p = APPROVAL_EXPIRED_PATTERN;
  const detail = (e.detail ?? {}) as Record<string, unknown>;
  return (p.source as readonly string[]).includes(e.source) && (p.detailType as readonly string[]).includes(e.detailType) && (p.detail.phase as readonly unknown[]).includes(detail.phase) && (p.detail.reason as readonly unknown[]).includes(detail.reason);
}

/** The part of the status event the rule matches and this reads. */
export const approvalExpiredEventSchema = z.object({
  'detail-type': z.literal(STATUS_CHANGED),
  detail: z.object({ jobId: z.string().min(1), phase: z.literal('completed'), reason: z.literal('approval_expired') }),
});

export interface ExpiredNoticeDeps extends NoticeDeps {
  jobs: Pick<JobRepository, 'get' | 'approvalNotice'>;
}

/** Returns whether a message was replaced; an event that is not an expiry, or a job without an approval, changes nothing. */
export async function closeExpiredApproval(d: ExpiredNoticeDeps, event: unknown): Promise<boolean> {
  const parsed = approvalExpiredEventSchema.safeParse(event);
  if (!parsed.success) {
    d.log.warn('ignored an event that is not an approval expiry', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    return false;
  }
  const job = (await d.jobs.get(parsed.data.detail.jobId))?.job;
  // The stored job decides, not the event. Ending with reason approval_expired means no decision took effect: one
  // recorded a moment after the workflow's timeout (SendTaskSuccess then found no task) is on the job but was never
  // applied, so its message is closed as expired too.
  if (!job?.status.approval || job.status.phase !== 'completed' || job.status.reason !== 'approval_expired') return false;
  return closeApprovalNotice(d, job, 'expired', undefined, new Date(job.status.finishedAt ?? job.status.approval.expiresAt));
}
