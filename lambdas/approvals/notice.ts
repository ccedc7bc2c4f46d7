/**
 * Replacing an approval's Slack message when the approval is closed somewhere other than Slack: decided through the
 * API, cancelled, or expired. (A decision in Slack replaces it through the interaction's response_url.) Best effort,
 * like the post: a failure is logged by name and Slack's error code and counted, and never fails the decision.
 */
import type { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import type { StackJob } from '../domain/schemas';
import type { ApprovalMetrics, LogSink, SlackPoster } from './ports';
import { closedMessage, type ApprovalOutcome } from './slack-message';

export interface NoticeDeps {
  approvalItems: Pick<ApprovalItemRepository, 'approvalNotice'>;
  slack: SlackPoster;
  log: LogSink;
  metrics: ApprovalMetrics;
}

/** How an approval was closed, read from the stored job; undefined while it is open or when Slack already shows it. */
export function closedApproval(job: StackJob): { outcome: ApprovalOutcome; by?: string; at: Date } | undefined {
  const approval = job.status.approval;
  if (!approval) return undefined;
  // Expired wins over a decision recorded a moment after the workflow's timeout: that one never took effect.
  if (job.status.phase === 'completed' && job.status.reason === 'approval_expired')
    return { outcome: 'expired', at: new Date(job.status.finishedAt ?? approval.expiresAt) };
  // A click in Slack replaced the message through the interaction's response_url.
  if (approval.decision)
    return approval.decision.channel === 'api'
      ? { outcome: approval.decision.decision, by: approval.decision.by, at: new Date(approval.decision.at) }
      : undefined;
  if (job.status.phase !== 'completed') return undefined;
  const forced = job.status.forceCancelled;
  if (forced) return { outcome: 'cancelled', by: forced.by, at: new Date(forced.at) };
  if (job.status.cancelRequested) return { outcome: 'cancelled', by: job.status.cancelRequested.by, at: new Date(job.status.cancelRequested.at) };
  // Ended some other way while it waited (interrupted, the execution stopped, a step failed): nobody decided.
  return { outcome: 'ended', at: new Date(job.status.finishedAt ?? approval.expiresAt) };
}

/**
 * Replaces the approval's Slack message with how it was closed (closedApproval). Returns whether a message was
 * replaced: false while the approval is open, when none was posted for it, or when Slack failed.
 */
export async function closeApprovalNotice(d: NoticeDeps, job: StackJob): Promise<boolean> {
  const approvalId = job.status.approval?.id;
  const closed = closedApproval(job);
  if (!approvalId || !closed) return false;
  const { outcome, by, at } = closed;
  const logged = { jobId: job.metadata.id, approvalId, outcome };
  try {
    const notice = await d.approvalItems.approvalNotice(approvalId);
    if (!notice) {
      // Slack is not configured, the post failed, or it is still under way (the request then closes it, request.ts).
      d.log.info('no Slack message is recorded for this approval; nothing to replace', logged);
      return false;
    }
    await d.slack.update(notice, closedMessage(job, by === undefined ? undefined : { subject: by }, outcome, at, 'api'));
    d.log.info('approval message in Slack replaced', { ...logged, channel: notice.channel, ts: notice.ts });
    return true;
  } catch (e) {
    const err = e as Error & { code?: string; data?: { error?: string } };
    d.log.error('replacing the approval message in Slack failed; its buttons stay until they are clicked (the click is answered that the approval is closed)', {
      ...logged,
      error: err.name,
      code: err.code,
      slackError: err.data?.error,
    });
    d.metrics.slackUpdateFailed();
    return false;
  }
}
