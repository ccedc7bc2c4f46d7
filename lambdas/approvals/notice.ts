/**
 * Replacing an approval's Slack message when the approval is closed somewhere other than Slack: decided through the
 * API, cancelled, or expired. (A decision in Slack replaces it through the interaction's response_url.) Best effort,
 * like the post: a failure is logged by name and Slack's error code and counted, and never fails the decision.
 */
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { StackJob } from '../domain/schemas';
import type { ApprovalMetrics, LogSink, SlackPoster } from './ports';
import { closedMessage, type ApprovalOutcome } from './slack-message';

export interface NoticeDeps {
  jobs: Pick<JobRepository, 'approvalNotice'>;
  slack: SlackPoster;
  log: LogSink;
  metrics: ApprovalMetrics;
}

/**
 * Returns whether a message was replaced: false when none was posted for the approval, or Slack failed. `by` is who
 * closed it (none for an expiry).
 */
export async function closeApprovalNotice(d: NoticeDeps, job: StackJob, outcome: ApprovalOutcome, by: string | undefined, at: Date): Promise<boolean> {
  const approvalId = job.status.approval?.id;
  if (!approvalId) return false;
  const logged = { jobId: job.metadata.id, approvalId, outcome };
  try {
    const notice = await d.jobs.approvalNotice(approvalId);
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
    d.log.error('replacing the approval message in Slack failed; its buttons stay until they are clicked (the click is answered that the approval is closed)', { ...logged, error: err.name, code: err.code, slackError: err.data?.error });
    d.metrics.slackUpdateFailed();
    return false;
  }
}
