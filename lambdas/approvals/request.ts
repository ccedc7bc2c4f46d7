/**
 * Opening an approval: the token kept in its own item (lifecycle.requestApproval), the opaque approval id mapped back
 * to the job for Slack's buttons, and the Slack message. Slack is best effort: whatever goes wrong there is logged
 * and counted, and the approval stays pending and decidable through the API.
 */
import type { CatalogReader } from '../domain/ports';
import { orgSettingsSchema, type StackJob } from '../domain/schemas';
import { requestApproval, type WorkflowDeps } from '../workflow/lifecycle';
import type { ApprovalMetrics, LogSink, SlackNotice, SlackPoster } from './ports';
import { closeApprovalNotice } from './notice';
import { approvalRequestMessage, type ApprovalLinks } from './slack-message';

/** Everything the Slack message needs; without one, the approval is opened for the API only. */
export interface ApprovalNotifier {
  catalog: CatalogReader;
  slack: SlackPoster;
  /** Presigned links for the message; a failure here only leaves them out. */
  links: (jobId: string) => Promise<ApprovalLinks>;
  log: LogSink;
  metrics: ApprovalMetrics;
}

export interface ApprovalRequestDeps {
  workflow: WorkflowDeps;
  notifier?: ApprovalNotifier;
}

export interface OpenApprovalInput {
  jobId: string;
  taskToken: string;
  planDigest: string;
}

/** The Slack channel for the job's org and environment, from org-settings `approvalChannels`. */
export async function approvalChannelOf(catalog: CatalogReader, job: StackJob): Promise<string | undefined> {
  return approvalChannelFor(catalog, job.metadata.org, job.metadata.env);
}

/** The approval channel of an org's environment (drift notices go there too). */
export async function approvalChannelFor(catalog: CatalogReader, org: string, env: string): Promise<string | undefined> {
  for (const raw of await catalog.list('org-settings', org)) {
    const parsed = orgSettingsSchema.safeParse(raw);
    if (parsed.success && parsed.data.org === org) return parsed.data.approvalChannels[env];
  }
  return undefined;
}

export async function openApproval(d: ApprovalRequestDeps, input: OpenApprovalInput): Promise<StackJob> {
  const job = await requestApproval(d.workflow, input.jobId, input.taskToken, input.planDigest);
  const approval = job.status.approval!;
  await d.workflow.approvalItems.putApprovalRef(approval.id, input.jobId);
  // Once per approval: a retried request (same approval, see requestApproval) finds the message recorded and posts
  // nothing; one whose earlier attempt died before posting posts it (claimApprovalNotice).
  if (d.notifier && (await d.workflow.approvalItems.claimApprovalNotice(approval.id, d.workflow.clock.now()))) {
    const notice = await notifySlack(d.notifier, job);
    if (notice) await keepNotice(d.workflow, d.notifier, input.jobId, approval.id, notice);
  }
  return job;
}

/**
 * Records where the message went, so a decision through the API or a cancel can replace it (notice.ts). One that
 * came while the message was being posted found nothing to replace: the job is read again and the message closed now.
 */
async function keepNotice(
  { jobs, approvalItems }: Pick<ApprovalRequestDeps['workflow'], 'jobs' | 'approvalItems'>,
  notifier: ApprovalNotifier,
  jobId: string,
  approvalId: string,
  notice: SlackNotice,
): Promise<void> {
  try {
    await approvalItems.recordApprovalNotice(approvalId, notice);
  } catch (e) {
    notifier.log.warn('recording where the approval message went failed; it will not be replaced when the approval is closed through the API', {
      jobId,
      approvalId,
      error: (e as Error).name,
    });
    return;
  }
  try {
    const current = (await jobs.get(jobId))?.job;
    if (current?.status.approval?.id === approvalId)
      await closeApprovalNotice({ approvalItems, slack: notifier.slack, log: notifier.log, metrics: notifier.metrics }, current);
  } catch (e) {
    // Like the post itself, best effort: the approval is open and decidable whatever happens here.
    notifier.log.warn('checking whether the approval was closed while its message was posted failed', { jobId, approvalId, error: (e as Error).name });
  }
}

/** Never throws: the job waits for a decision whether or not Slack heard about it. Returns where the message went. */
export async function notifySlack(d: ApprovalNotifier, job: StackJob): Promise<SlackNotice | undefined> {
  const logged = { jobId: job.metadata.id, approvalId: job.status.approval?.id, org: job.metadata.org, env: job.metadata.env };
  try {
    const channel = await approvalChannelOf(d.catalog, job);
    if (!channel) {
      d.log.warn('no Slack approval channel is configured for this org/environment (org-settings approvalChannels); decide through the API', logged);
      d.metrics.slackPostFailed();
      return undefined;
    }
    const links = await d.links(job.metadata.id).catch((e: Error) => {
      d.log.warn('presigning the plan and log links failed; the message goes without them', { ...logged, error: e.name });
      return {};
    });
    const posted = await d.slack.post(approvalRequestMessage(job, channel, links));
    d.log.info('approval request posted to Slack', { ...logged, channel, ts: posted.ts });
    return posted.ts ? { channel: posted.channel ?? channel, ts: posted.ts } : undefined;
  } catch (e) {
    const err = e as Error & { code?: string; data?: { error?: string } };
    // Slack's error code (e.g. channel_not_found, invalid_auth) says what to fix; nothing else of the error is logged.
    d.log.error('posting the approval request to Slack failed; the approval stays pending and can be decided through the API', {
      ...logged,
      error: err.name,
      code: err.code,
      slackError: err.data?.error,
    });
    d.metrics.slackPostFailed();
    return undefined;
  }
}
