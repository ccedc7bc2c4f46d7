/**
 * Replacing an approval's Slack message when the approval is closed somewhere other than Slack: decided through the
 * API, cancelled, or expired. (A decision in Slack replaces it through the interaction's response_url.) Best effort,
 * like the post: a failure is logged by name and Slack's error code and counted, and never fails the decision.
 */
import type { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import type { StackJob } from '../domain/schemas';
import type { ApprovalMetrics, LogSink, SlackPoster } from './ports';
import { approvalRequestMessage, closedMessage, type ApprovalOutcome } from './slack-message';

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

/**
 * After an approval through the API that did not complete a quorum: the request's Slack message, buttons kept, shows
 * how many approvals there are now. Best effort, like closeApprovalNotice; false when nothing was replaced.
 */
export async function refreshApprovalNotice(d: NoticeDeps, job: StackJob): Promise<boolean> {
  const approval = job.status.approval;
  if (!approval || approval.decision || job.status.phase !== 'awaiting_approval') return false;
  try {
    const notice = await d.approvalItems.approvalNotice(approval.id);
    if (!notice) return false;
    const { channel: _channel, ...message } = approvalRequestMessage(job, notice.channel);
    await d.slack.update(notice, message);
    return true;
  } catch (e) {
    const err = e as Error & { code?: string; data?: { error?: string } };
    d.log.error('updating the approval message in Slack with the approvals so far failed', {
      jobId: job.metadata.id,
      approvalId: approval.id,
      error: err.name,
      code: err.code,
      slackError: err.data?.error,
    });
    d.metrics.slackUpdateFailed();
    return false;
  }
}
