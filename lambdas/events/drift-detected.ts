/**
 * What happens when a drift check finds drift: the workflow publishes `Stack Drift Detected` (workflow/endings.ts), and
 * an EventBridge rule on the app's bus sends it here (infra/constructs/events.ts routeDriftDetected; local mode routes
 * it the same way). This
 * 1. with `remediate: plan`, submits a change job from the resource's last applied version: a rerun (approvals/rerun.ts)
 *    of the job the check was made from (`spec.driftCheck.basedOn`), submitted by `drift-check:<checkJobId>` and keyed
 *    by the check's job id, so a redelivered event finds that job instead of making a second one. It goes through
 *    pre-flight, plan, policy and approval like any change;
 * 2. counts `DriftDetected` (Powertools metrics, namespace StackJobs, service `drift`);
 * 3. posts a notice naming the drifted resources (and the remediation job) in the environment's approval channel,
 *    with the approval request's Slack poster and channel resolution. Slack is best effort: a failure is logged by name
 *    and Slack's error code, never with the token, and fails nothing.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import * as z from '../shared/zod';
import { EVENT_SOURCE } from '../adapters/aws/event-publisher';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { SubmissionDeps } from '../app/submit-change';
import { rerunJob } from '../approvals/rerun';
import { approvalChannelFor } from '../approvals/request';
import type { LogSink, SlackMessage, SlackPoster } from '../approvals/ports';
import { escapeMrkdwn } from '../approvals/slack-message';
import { ConflictError, NotFoundError } from '../domain/errors';
import { DRIFT_DETECTED, EVENT_DETAILS } from '../domain/events';
import type { CatalogReader } from '../domain/ports';
import type { CheckResult } from '../domain/schemas';

export const METRIC_DRIFT_DETECTED = 'DriftDetected';
/** The Powertools `service` dimension of the drift metrics (the dashboard reads it). */
export const DRIFT_METRICS_SERVICE = 'drift';
/** How many drifted addresses the Slack notice names. */
export const NOTICE_ADDRESSES = 10;

/** The EventBridge pattern of the rule that routes the app's drift events here (infra/constructs/events.ts; local mode matches it too). */
export const DRIFT_DETECTED_PATTERN = { source: [EVENT_SOURCE], detailType: [DRIFT_DETECTED] } as const;

export const driftDetectedEventSchema = z.object({
  source: z.literal(EVENT_SOURCE),
  'detail-type': z.literal(DRIFT_DETECTED),
  detail: EVENT_DETAILS[DRIFT_DETECTED],
});
export type DriftDetectedDetail = z.infer<(typeof EVENT_DETAILS)[typeof DRIFT_DETECTED]>;

/** Whether a published event (local mode's shape) is one the rule routes here. */
export function isDriftDetected(e: { source: string; detailType: string; detail: unknown }): boolean {
  return driftDetectedEventSchema.safeParse({ source: e.source, 'detail-type': e.detailType, detail: e.detail }).success;
}

/** Who submits a remediation job, and the rerun key that makes it once per check. */
export const remediationSubmitter = (checkJobId: string) => `drift-check:${checkJobId}`;

export interface DriftMetrics {
  driftDetected(detail: DriftDetectedDetail): void;
}

/** Powertools EMF, flushed at once (the Lambda may end right after). */
export class PowertoolsDriftMetrics implements DriftMetrics {
  constructor(private readonly metrics: Metrics) {}

  driftDetected(): void {
    this.metrics.addMetric(METRIC_DRIFT_DETECTED, MetricUnit.Count, 1);
    this.metrics.publishStoredMetrics();
  }
}

export interface DriftDetectedDeps {
  jobs: Pick<JobRepository, 'get' | 'newestInStack'>;
  submission: SubmissionDeps;
  catalog: CatalogReader;
  slack: SlackPoster;
  log: LogSink;
  metrics: DriftMetrics;
}

export type Remediation =
  { kind: 'none' } | { kind: 'submitted'; jobId: string; existing: boolean } | { kind: 'rejected'; checks: CheckResult[] } | { kind: 'refused'; why: string };

export interface DriftDetectedOutcome {
  remediation: Remediation;
  /** Where the notice was posted; undefined when there is no channel or Slack failed. */
  notice?: { channel: string; ts?: string };
}

/** Submits the change back with `remediate: plan`; a transient failure throws (the event is delivered again). */
async function remediate(d: DriftDetectedDeps, detail: DriftDetectedDetail): Promise<Remediation> {
  if (detail.remediate !== 'plan') return { kind: 'none' };
  try {
    const check = (await d.jobs.get(detail.jobId))?.job;
    const basedOn = check?.spec.driftCheck?.basedOn;
    if (!basedOn) return { kind: 'refused', why: `drift check ${detail.jobId} names no job it was made from` };
    const base = (await d.jobs.get(basedOn))?.job;
    if (!base) return { kind: 'refused', why: `job ${basedOn}, which last applied the resource, is gone` };
    const by = remediationSubmitter(detail.jobId);
    const outcome = await rerunJob(d.jobs, d.submission, base, by, by);
    if (outcome.kind === 'rejected') return { kind: 'rejected', checks: outcome.checks };
    return { kind: 'submitted', jobId: outcome.job.metadata.id, existing: outcome.kind === 'duplicate' };
  } catch (e) {
    // The resource moved on (a newer version, or it was deleted): bringing back the old version would roll it back.
    if (e instanceof ConflictError || e instanceof NotFoundError) return { kind: 'refused', why: e.message };
    throw e;
  }
}

export async function handleDriftDetected(d: DriftDetectedDeps, event: unknown): Promise<DriftDetectedOutcome | undefined> {
  const parsed = driftDetectedEventSchema.safeParse(event);
  if (!parsed.success) {
    d.log.warn('ignored an event that is not a Stack Drift Detected event', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    return undefined;
  }
  const detail = parsed.data.detail;
  const logged = { jobId: detail.jobId, org: detail.org, env: detail.env, resourceId: detail.resourceId, total: detail.total, scheduleId: detail.scheduleId };
  const remediation = await remediate(d, detail);
  if (remediation.kind === 'submitted')
    d.log.info(remediation.existing ? 'the remediation job was submitted before (a redelivered event)' : 'remediation job submitted', {
      ...logged,
      remediationJobId: remediation.jobId,
    });
  else if (remediation.kind === 'rejected')
    d.log.warn('pre-flight refused the remediation job', { ...logged, failedChecks: remediation.checks.filter((c) => !c.passed).map((c) => c.check) });
  else if (remediation.kind === 'refused') d.log.warn('no remediation job was submitted', { ...logged, why: remediation.why });
  d.metrics.driftDetected(detail);
  return { remediation, notice: await postNotice(d, detail, remediation, logged) };
}

/** Never throws: the drift is recorded on the resource and in the event whether or not Slack heard about it. */
async function postNotice(
  d: DriftDetectedDeps,
  detail: DriftDetectedDetail,
  remediation: Remediation,
  logged: Record<string, unknown>,
): Promise<DriftDetectedOutcome['notice']> {
  try {
    const channel = await approvalChannelFor(d.catalog, detail.org, detail.env);
    if (!channel) {
      d.log.warn('no Slack approval channel is configured for this org/environment (org-settings approvalChannels); no drift notice posted', logged);
      return undefined;
    }
    const posted = await d.slack.post(driftNoticeMessage(detail, channel, remediation));
    d.log.info('drift notice posted to Slack', { ...logged, channel, ts: posted.ts });
    return { channel, ...(posted.ts ? { ts: posted.ts } : {}) };
  } catch (e) {
    const err = e as Error & { code?: string; data?: { error?: string } };
    d.log.error('posting the drift notice to Slack failed', { ...logged, error: err.name, code: err.code, slackError: err.data?.error });
    return undefined;
  }
}

/** The notice: which resource drifted, each drifted address with its actions, and what was done about it. Pure. */
export function driftNoticeMessage(detail: DriftDetectedDetail, channel: string, remediation: Remediation): SlackMessage {
  const where = `${detail.org}/${detail.env}`;
  const title = `Drift in ${where}: ${detail.resourceId}`;
  const listed = detail.resources.slice(0, NOTICE_ADDRESSES).map((r) => `• \`${escapeMrkdwn(r.address)}\` (${escapeMrkdwn(r.actions.join(', '))})`);
  const more = detail.total - listed.length;
  const source = detail.scheduleId ? `drift schedule \`${escapeMrkdwn(detail.scheduleId)}\`` : 'a drift check on demand';
  const then =
    remediation.kind === 'submitted'
      ? `*Remediation*: change job \`${remediation.jobId}\` from the last applied version was submitted; it goes through plan, policy and approval like any change.`
      : remediation.kind === 'rejected'
        ? `*Remediation*: not submitted, pre-flight failed (${escapeMrkdwn(
            remediation.checks
              .filter((c) => !c.passed)
              .map((c) => c.check)
              .join(', '),
          )}).`
        : remediation.kind === 'refused'
          ? `*Remediation*: not submitted: ${escapeMrkdwn(remediation.why)}`
          : '*Remediation*: none (the schedule only reports); rerun the last change or submit one to bring it back.';
  const text = `${detail.total} resource(s) of ${detail.resourceId} in ${where} changed outside Stack Jobs`;
  return {
    channel,
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title.length > 150 ? `${title.slice(0, 149)}…` : title } },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `*${detail.total}* resource(s) changed outside Stack Jobs, found by drift check \`${detail.jobId}\` (${source}) at ${escapeMrkdwn(detail.checkedAt)}:\n${listed.join('\n')}${more > 0 ? `\n…and ${more} more` : ''}`,
        },
      },
      { type: 'section', text: { type: 'mrkdwn', text: then } },
    ],
  };
}
