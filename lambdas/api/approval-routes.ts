/**
 * Human control over a job: approve/reject (approvers), cancel and rerun (operators), and the Slack interactions
 * endpoint (no JWT: Slack signs its requests). Dependencies are resolved on the first request.
 */
import * as z from '../shared/zod';
import type { CatalogReader } from '../domain/ports';
import type { SubmissionDeps } from '../app/submit-change';
import { PowertoolsApprovalMetrics } from '../approvals/adapters/metrics';
import { cancelJob, type CancelDeps } from '../approvals/cancel';
import { decideApproval } from '../approvals/decide';
import { closeApprovalNotice } from '../approvals/notice';
import type { ApprovalMetrics, ResponseUrlPoster, SlackPoster } from '../approvals/ports';
import { rerunJob } from '../approvals/rerun';
import { handleSlackInteraction, type SlackInteractionDeps } from '../approvals/slack-interactions';
import { json } from '../http/problem';
import { PreflightFailedError } from '../domain/errors';
import type { CheckResult } from '../domain/schemas';
import { countPreflightFailures } from '../app/submission-metrics';
import type { Route } from '../http/router';
import type { WorkflowMetrics } from '../workflow/metrics';
import { PowertoolsWorkflowMetrics } from '../workflow/metrics';
import type { ServiceContext } from './context';
import { visibleJob } from './job-routes';
import { parseOr400 } from './validate';

/** What cancel needs (its workflow metrics are `workflowMetrics` here), plus what deciding and Slack need. */
export interface ApprovalRoutesDeps extends Omit<CancelDeps, 'metrics'> {
  catalog: CatalogReader;
  respond: ResponseUrlPoster;
  submission: SubmissionDeps;
  signingSecret: () => Promise<string>;
  metrics: ApprovalMetrics;
  workflowMetrics: WorkflowMetrics;
  /** Counts rerun pre-flight failures like submissions do. */
  countPreflightFailures?: (checks: readonly CheckResult[]) => void;
  /** Replaces the approval's Slack message after a decision or cancel here; without it the buttons stay until clicked. */
  slack?: SlackPoster;
}

/** `{comment?}`; an empty body is the same as `{}`. */
export const decisionBodySchema = z.object({ comment: z.string().min(1).max(2000).optional() }).strict();

export const SLACK_INTERACTIONS_PATH = '/v1/slack/interactions';

/** The optional `Idempotency-Key` request header of a rerun: printable ASCII, 1 to 255 characters. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$/, 'printable ASCII, 1 to 255 characters, no leading or trailing space');

/** The Slack interactions route alone: what the Slack Lambda serves. */
export type SlackRouteDeps = Pick<ApprovalRoutesDeps, 'signingSecret' | 'catalog' | 'events' | 'tasks' | 'respond' | 'clock' | 'log' | 'metrics'> & { jobs: SlackInteractionDeps['jobs'] };

export function slackInteractionsRoute(deps: () => SlackRouteDeps): Route {
  return {
    method: 'POST',
    path: SLACK_INTERACTIONS_PATH,
    authenticated: false,
    async handle(req) {
      const d = deps();
      return handleSlackInteraction(
        { signingSecret: d.signingSecret, jobs: d.jobs, catalog: d.catalog, decisions: { tasks: d.tasks, events: d.events, clock: d.clock, log: d.log, metrics: d.metrics }, respond: d.respond, clock: d.clock, log: d.log },
        { headers: req.headers, rawBody: req.rawBody },
      );
    },
  };
}

export function approvalRoutesWith(deps: () => ApprovalRoutesDeps): Route[] {
  const decision = (verb: 'approve' | 'reject'): Route => ({
    method: 'POST',
    path: `/v1/stack-jobs/{id}/${verb}`,
    authenticated: true,
    async handle(req) {
      const d = deps();
      const body = req.body === undefined ? {} : parseOr400(decisionBodySchema, req.body, 'decision');
      const job = await visibleJob(d.jobs, req.principal, req.params.id, 'approve');
      const decided = await decideApproval(
        { jobs: d.jobs, tasks: d.tasks, events: d.events, clock: d.clock, log: d.log, metrics: d.metrics },
        { jobId: job.metadata.id, decision: verb === 'approve' ? 'approved' : 'rejected', decider: { subject: req.principal.subject, channel: 'api' }, ...(body.comment ? { comment: body.comment } : {}) },
      );
      if (d.slack) await closeApprovalNotice({ jobs: d.jobs, slack: d.slack, log: d.log, metrics: d.metrics }, decided);
      return json(200, decided);
    },
  });

  return [
    decision('approve'),
    decision('reject'),
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/cancel',
      authenticated: true,
      async handle(req) {
        const d = deps();
        const job = await visibleJob(d.jobs, req.principal, req.params.id, 'submit');
        const outcome = await cancelJob(
          { ...d, metrics: d.workflowMetrics },
          job.metadata.id,
          req.principal.subject,
        );
        // A cancel that closed an open approval also closes its Slack message (the case comes from the cancel's own
        // conditional write, not from the read above: a preview may have ended in between).
        if (d.slack && outcome.case === 'awaiting_approval') await closeApprovalNotice({ jobs: d.jobs, slack: d.slack, log: d.log, metrics: d.metrics }, outcome.job);
        // 200: the job ended now; 202: the runner is being stopped, or the update finishes first (cancelRequested is set).
        return json(outcome.ended ? 200 : 202, outcome.job);
      },
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/rerun',
      authenticated: true,
      async handle(req) {
        const d = deps();
        const rawKey = req.headers[IDEMPOTENCY_KEY_HEADER];
        const rerunKey = rawKey === undefined ? undefined : parseOr400(idempotencyKeySchema, rawKey, 'Idempotency-Key header', 'header.Idempotency-Key');
        const job = await visibleJob(d.jobs, req.principal, req.params.id, 'submit');
        const outcome = await rerunJob(d.jobs, d.submission, job, req.principal.subject, rerunKey);
        if (outcome.kind === 'rejected') {
          d.countPreflightFailures?.(outcome.checks);
          throw new PreflightFailedError(outcome.checks);
        }
        d.log.info('rerun submitted', { jobId: outcome.job.metadata.id, rerunOf: job.metadata.id, duplicate: outcome.kind === 'duplicate' });
        return json(outcome.kind === 'created' ? 201 : 200, outcome.job, { location: `/v1/stack-jobs/${outcome.job.metadata.id}` });
      },
    },
    slackInteractionsRoute(deps),
  ];
}

/** The routes wired to the API's service context. */
export function approvalRoutes(ctx: ServiceContext): Route[] {
  let built: ApprovalRoutesDeps | undefined;
  return approvalRoutesWith(
    () =>
      (built ??= {
        jobs: ctx.jobs,
        catalog: ctx.catalog,
        locks: ctx.locks,
        resources: ctx.resources,
        events: ctx.publisher,
        tasks: ctx.tasks,
        runnerTasks: ctx.runnerTasks,
        respond: ctx.responseUrl,
        submission: ctx.submission,
        signingSecret: ctx.slackSigningSecret,
        clock: ctx.clock,
        log: ctx.logger,
        metrics: new PowertoolsApprovalMetrics(ctx.metrics),
        workflowMetrics: new PowertoolsWorkflowMetrics(ctx.metrics),
        countPreflightFailures: (checks) => countPreflightFailures(ctx.metrics, checks),
        ...(ctx.slack ? { slack: ctx.slack } : {}),
      }),
  );
}
