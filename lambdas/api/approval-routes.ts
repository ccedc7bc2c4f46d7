/**
 * Human control over a job: approve/reject (approvers), cancel and rerun (operators), and the Slack interactions
 * endpoint (no JWT: Slack signs its requests). Dependencies are resolved on the first request.
 */
import * as z from '../shared/zod';
import type { CatalogReader } from '../domain/ports';
import type { SubmissionDeps } from '../app/submit-change';
import { PowertoolsApprovalMetrics } from '../approvals/adapters/metrics';
import { cancelJob, forceCancelJob, type CancelDeps } from '../approvals/cancel';
import { decideApproval } from '../approvals/decide';
import { closeApprovalNotice, refreshApprovalNotice } from '../approvals/notice';
import type { ApprovalMetrics, ResponseUrlPoster, SlackPoster } from '../approvals/ports';
import { rerunJob } from '../approvals/rerun';
import { handleSlackInteraction, type SlackInteractionDeps } from '../approvals/slack-interactions';
import type { SlackLinkRepository } from '../adapters/dynamodb/slack-link-repository';
import { json } from '../http/problem';
import { callerAccess } from '../http/principal';
import { ValidationError, NotFoundError, PreflightFailedError } from '../domain/errors';
import { slackLinkSchema, slackTeamIdSchema, slackUserIdSchema, stackJobSchema, type CheckResult, type SlackLink } from '../domain/schemas';
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
  /** Who each Slack account acts as (made by the person or a platform admin). */
  slackLinks: SlackLinkRepository;
  /** The Slack workspace whose clicks count; unset, no click decides anything. */
  slackTeamId?: string;
}

/** `{reason}`: why an admin force-cancels a job (recorded on the job as `status.forceCancelled.why`). */
export const forceCancelBodySchema = z
  .object({ reason: z.string().trim().min(1, 'say why the job is force-cancelled (it is recorded on the job)').max(1000) })
  .strict();

/** `{comment?}`; an empty body is the same as `{}`. */
export const decisionBodySchema = z.object({ comment: z.string().min(1).max(2000).optional() }).strict();

export const SLACK_INTERACTIONS_PATH = '/v1/slack/interactions';

/** The optional `Idempotency-Key` request header of a rerun: printable ASCII, 1 to 255 characters. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const idempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$/, 'printable ASCII, 1 to 255 characters, no leading or trailing space');

/** The Slack interactions route alone: what the Slack Lambda serves. */
export type SlackRouteDeps = Pick<
  ApprovalRoutesDeps,
  'signingSecret' | 'catalog' | 'events' | 'tasks' | 'respond' | 'clock' | 'log' | 'metrics' | 'slackTeamId'
> & {
  jobs: SlackInteractionDeps['jobs'];
  approvalItems: SlackInteractionDeps['approvalItems'];
  slackLinks: SlackInteractionDeps['links'];
};

export function slackInteractionsRoute(deps: () => SlackRouteDeps): Route {
  return {
    method: 'POST',
    path: SLACK_INTERACTIONS_PATH,
    access: { kind: 'slack-signature' },
    doc: {
      operationId: 'slackInteraction',
      summary: 'Slack interactivity endpoint (Approve / Reject buttons)',
      description:
        'Called by Slack, not by clients: no JWT; the request must carry a valid `X-Slack-Signature` (v0, HMAC-SHA256 with the signing secret) and an ' +
        '`X-Slack-Request-Timestamp` within 5 minutes, else 401 with no detail. A verified click is acknowledged with an empty 200; its outcome (or why it ' +
        'changed nothing) is posted to the `response_url`.',
      tag: 'approvals',
      body: {
        schema: { type: 'object', properties: { payload: { type: 'string', description: 'the block_actions payload, JSON' } }, required: ['payload'] },
        contentTypes: ['application/x-www-form-urlencoded'],
      },
      success: { 200: { description: 'acknowledged (empty body)' } },
      errors: [400, 401, 413, 500],
    },
    async handle(req) {
      const d = deps();
      return handleSlackInteraction(
        {
          signingSecret: d.signingSecret,
          links: d.slackLinks,
          ...(d.slackTeamId ? { slackTeamId: d.slackTeamId } : {}),
          jobs: d.jobs,
          approvalItems: d.approvalItems,
          catalog: d.catalog,
          decisions: { tasks: d.tasks, events: d.events, clock: d.clock, log: d.log, metrics: d.metrics },
          respond: d.respond,
          clock: d.clock,
          log: d.log,
        },
        { headers: req.headers, rawBody: req.rawBody },
      );
    },
  };
}

export function approvalRoutesWith(deps: () => ApprovalRoutesDeps): Route[] {
  const decision = (verb: 'approve' | 'reject'): Route => ({
    method: 'POST',
    path: `/v1/stack-jobs/{id}/${verb}`,
    access: { kind: 'org-role', permission: 'approve', org: 'job' },
    doc: {
      operationId: `${verb}StackJob`,
      summary: verb === 'approve' ? 'Approve the plan a job is waiting on' : 'Reject the plan a job is waiting on (the job ends cancelled)',
      description:
        "When the job's policy names approvers, the caller must be one of them for the job's environment. Nobody approves their own change: the " +
        "change's author, the job's submitter and whoever submitted or reran an earlier job of it are refused (403). The first decision wins: a second one, one after the approval window, or one on a job that is not " +
        'awaiting approval is a 409 whose detail says why. The decision is recorded on `status.approval.decision` (who, when, channel `api`, plan ' +
        "digest, comment). When a plan policy's require_approvals held (`status.approval.required`), each approval is recorded in " +
        '`status.approval.approvals` and the job waits until that many distinct approvers approved (the same approver again is a 409); the first ' +
        'reject ends it.',
      tag: 'approvals',
      body: { schema: decisionBodySchema, optional: true },
      success: {
        200: { description: `${verb === 'approve' ? 'approved' : 'rejected'}: the job with its decision; the workflow resumes`, schema: stackJobSchema },
      },
      errors: [400, 401, 403, 404, 409, 413, 500],
    },
    async handle(req) {
      const d = deps();
      const body = req.body === undefined ? {} : parseOr400(decisionBodySchema, req.body, 'decision');
      const job = await visibleJob(d.jobs, req, req.params.id);
      const decided = await decideApproval(
        { jobs: d.jobs, approvalItems: d.approvalItems, tasks: d.tasks, events: d.events, clock: d.clock, log: d.log, metrics: d.metrics },
        {
          jobId: job.metadata.id,
          decision: verb === 'approve' ? 'approved' : 'rejected',
          decider: { subject: req.principal.subject, channel: 'api' },
          ...(body.comment ? { comment: body.comment } : {}),
        },
      );
      if (d.slack) {
        const notice = { approvalItems: d.approvalItems, slack: d.slack, log: d.log, metrics: d.metrics };
        // Closed, or (an approval short of a quorum) still open with one more approval to show.
        if (decided.status.approval?.decision) await closeApprovalNotice(notice, decided);
        else await refreshApprovalNotice(notice, decided);
      }
      return json(200, decided);
    },
  });

  return [
    decision('approve'),
    decision('reject'),
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/cancel',
      access: { kind: 'org-role', permission: 'submit', org: 'job' },
      doc: {
        operationId: 'cancelStackJob',
        summary: 'Cancel a job',
        description:
          'Queued: it leaves the queue and ends completed/cancelled (200). Awaiting approval: the approval closes, the waiting execution is failed with ' +
          'StackJob.Cancelled, the job ends completed/cancelled (200). Running a refresh or plan: the runner task is stopped (ECS StopTask) and the workflow ' +
          'ends the job completed/cancelled (202, `status.cancelRequested` set). Running an apply or destroy: never interrupted; the request is recorded (202), ' +
          'the update finishes, nothing runs after it, and the job ends with reason `cancel_requested_during_update`. Running, but its workflow execution is ' +
          'gone (local mode restarted, an execution stopped without its cleanup): the job ends completed/failed with reason `interrupted` (200), its runner ' +
          'stopped. Completed: 409. In every case the stack lock is released and an event published.',
        tag: 'approvals',
        success: {
          200: { description: 'the job ended now: completed/cancelled', schema: stackJobSchema },
          202: { description: 'cancellation under way (runner stopping, or the update finishes first)', schema: stackJobSchema },
        },
        errors: [401, 403, 404, 409, 413, 500],
      },
      async handle(req) {
        const d = deps();
        const job = await visibleJob(d.jobs, req, req.params.id);
        const outcome = await cancelJob({ ...d, metrics: d.workflowMetrics }, job.metadata.id, req.principal.subject);
        // A cancel that closed an open approval also closes its Slack message (the case comes from the cancel's own
        // conditional write, not from the read above: a preview may have ended in between).
        if (d.slack && outcome.case === 'awaiting_approval')
          await closeApprovalNotice({ approvalItems: d.approvalItems, slack: d.slack, log: d.log, metrics: d.metrics }, outcome.job);
        // 200: the job ended now; 202: the runner is being stopped, or the update finishes first (cancelRequested is set).
        return json(outcome.ended ? 200 : 202, outcome.job);
      },
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/force-cancel',
      access: { kind: 'org-role', permission: 'admin', org: 'job' },
      doc: {
        operationId: 'forceCancelStackJob',
        summary: 'End a job in any phase and free its stack (org admins)',
        description:
          'For getting a stack back when a job is stuck: the job ends completed/cancelled with reason `force_cancelled`, `status.forceCancelled` records who, ' +
          'when and the reason given; its runner task is stopped (an apply or destroy too: unlike cancel), a waiting approval is closed, and its stack lease ' +
          "is released even if ECS does not confirm the stop (Terraform's own state lock still guards the state). A completed job is a 409.",
        tag: 'approvals',
        body: { schema: forceCancelBodySchema },
        success: { 200: { description: 'the job, ended: completed/cancelled, reason force_cancelled', schema: stackJobSchema } },
        errors: [400, 401, 403, 404, 409, 413, 500],
      },
      async handle(req) {
        const d = deps();
        // Validated before anything is read or written: a rejected request changes nothing.
        const body = parseOr400(forceCancelBodySchema, req.body ?? {}, 'force-cancel');
        const job = await visibleJob(d.jobs, req, req.params.id);
        const ended = await forceCancelJob({ ...d, metrics: d.workflowMetrics }, job.metadata.id, req.principal.subject, body.reason);
        if (d.slack) await closeApprovalNotice({ approvalItems: d.approvalItems, slack: d.slack, log: d.log, metrics: d.metrics }, ended);
        return json(200, ended);
      },
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/rerun',
      access: { kind: 'org-role', permission: 'submit', org: 'job' },
      doc: {
        operationId: 'rerunStackJob',
        summary: 'Run an ended job again for the same resource version (pre-flight runs again)',
        description:
          'A new job linked by `metadata.rerunOf`, submitted by the caller (`metadata.submittedBy`); every rerun is a new job, unless the request carries an ' +
          '`Idempotency-Key`: a retry with the same key for the same job answers 200 with the rerun that key made. 409 when the job has not ended, or when ' +
          'the resource has a newer version (the detail names it). 422 when pre-flight fails now.',
        tag: 'approvals',
        headers: {
          'Idempotency-Key': {
            description:
              'names this rerun attempt, so that a retried request answers with the job it made instead of making another (printable ASCII, 1 to 255 characters)',
            schema: { type: 'string', minLength: 1, maxLength: 255 },
            example: 'rerun-2026-11-27-0001',
          },
        },
        success: {
          200: { description: 'a rerun with this Idempotency-Key was made before: that rerun', schema: stackJobSchema, location: true },
          201: { description: 'the rerun was created and started', schema: stackJobSchema, location: true },
        },
        errors: [400, 401, 403, 404, 409, 413, 422, 500],
      },
      async handle(req) {
        const d = deps();
        const rawKey = req.headers[IDEMPOTENCY_KEY_HEADER];
        const rerunKey = rawKey === undefined ? undefined : parseOr400(idempotencyKeySchema, rawKey, 'Idempotency-Key header', 'header.Idempotency-Key');
        const job = await visibleJob(d.jobs, req, req.params.id);
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
    ...slackLinkRoutes(deps),
  ];
}

/** The routes wired to the API's service context. */
/**
 * Slack links: who a Slack account acts as when it clicks. A person links their own Slack account to their own subject
 * (`/v1/me/...`: nobody can link someone else, and an account already linked to another subject stays theirs); a
 * platform admin may link any account (`/v1/platform/...`). Org admins have no say: that is what stops an org admin
 * from approving their own change as someone else.
 */
function slackLinkRoutes(deps: () => ApprovalRoutesDeps): Route[] {
  const ids = (params: Record<string, string>) => ({
    teamId: parseOr400(slackTeamIdSchema, params.teamId, 'teamId', 'path.teamId'),
    userId: parseOr400(slackUserIdSchema, params.userId, 'userId', 'path.userId'),
  });
  const params = {
    teamId: { description: 'the Slack workspace id (T…)', schema: { type: 'string' }, example: 'T0ACME01' },
    userId: { description: 'the Slack user id (U… or W…)', schema: { type: 'string' }, example: 'U0APPROVER1' },
  };
  return [
    {
      method: 'PUT',
      path: '/v1/me/slack-links/{teamId}/{userId}',
      access: { kind: 'signed-in' },
      doc: {
        operationId: 'linkMySlackAccount',
        summary: 'Link a Slack account to yourself',
        description:
          'Clicks on approval buttons by this Slack account then act as you (the caller). The account proves it is yours with `code`: a one-time ' +
          'code Stack Jobs shows only to that Slack account when it clicks an approval button it cannot decide with (valid 10 minutes, used once). ' +
          'A code issued to another Slack account, expired or used is a 400 and nothing is written; a proven link replaces any earlier link of the ' +
          'account. Without a code you can only refresh a link you already proved (your roles, below). ' +
          "Clicks count only from the deployment's workspace (stackjobs:slackTeamId). " +
          "The link keeps your roles in each org as this request shows them (`orgRoles`): a click decides only with the approver role in the job's " +
          'org there, for 7 days: link again after your roles change, and at least weekly.',
        tag: 'approvals',
        params,
        body: { schema: slackSelfLinkBodySchema, optional: true },
        success: { 200: { description: 'the link', schema: slackLinkSchema } },
        errors: [400, 401, 413, 500],
      },
      async handle(req) {
        const d = deps();
        const { teamId, userId } = ids(req.params);
        const { code } = parseOr400(slackSelfLinkBodySchema, req.body ?? {}, 'Slack link');
        const now = d.clock.now();
        const codeProblem = (message: string) => new ValidationError('the Slack link was not made', [{ path: 'code', message }]);
        let provenAt: string | undefined;
        if (code !== undefined) {
          // Read, checked, then used up: a code for another account (or a late one) is refused with nothing written.
          const issued = await d.slackLinks.readCode(code);
          if (!issued || issued.teamId !== teamId || issued.userId !== userId)
            throw codeProblem(`not a code Stack Jobs showed to Slack user ${userId}: click an approval button in Slack as that user for a new one`);
          if (Date.parse(issued.expiresAt) <= now.getTime()) throw codeProblem(`the code expired at ${issued.expiresAt}: click again in Slack for a new one`);
          if (!(await d.slackLinks.takeCode(code))) throw codeProblem('the code was used already: click again in Slack for a new one');
          provenAt = now.toISOString();
        } else {
          const existing = await d.slackLinks.get(teamId, userId);
          if (existing?.via !== 'self' || existing.subject !== req.principal.subject || !existing.provenAt)
            throw codeProblem(
              `Slack user ${userId} must prove it is yours: click an approval button in Slack as that user, and send the one-time code it shows here ({"code": "…"})`,
            );
          provenAt = existing.provenAt;
        }
        const link: SlackLink = {
          teamId,
          userId,
          subject: req.principal.subject,
          linkedBy: req.principal.subject,
          linkedAt: now.toISOString(),
          via: 'self',
          provenAt,
          orgRoles: Object.fromEntries(callerAccess(req.principal).orgs.map((o) => [o.org, o.roles])),
        };
        await d.slackLinks.put(link);
        d.log.info('Slack account linked', { slackTeamId: teamId, slackUserId: userId, subject: link.subject, via: link.via, proven: code !== undefined });
        return json(200, link);
      },
    },
    {
      method: 'DELETE',
      path: '/v1/me/slack-links/{teamId}/{userId}',
      access: { kind: 'signed-in' },
      doc: {
        operationId: 'unlinkMySlackAccount',
        summary: 'Remove your own link of a Slack account',
        tag: 'approvals',
        params,
        success: { 204: { description: 'removed' } },
        errors: [400, 401, 404, 500],
      },
      async handle(req) {
        const { teamId, userId } = ids(req.params);
        if (!(await deps().slackLinks.delete(teamId, userId, req.principal.subject))) throw new NotFoundError(`you have no link for Slack user ${userId}`);
        return { statusCode: 204 };
      },
    },
    {
      method: 'PUT',
      path: '/v1/platform/slack-links/{teamId}/{userId}',
      access: { kind: 'platform-admin' },
      doc: {
        operationId: 'linkSlackAccount',
        summary: 'Link a Slack account to a principal (platform admin)',
        description:
          'Replaces any link the account had. The link records no roles (a platform admin grants none in an org), so its clicks decide nothing until ' +
          'the person links the account themselves (PUT /v1/me/slack-links/{teamId}/{userId}), which records their roles.',
        tag: 'approvals',
        params,
        body: { schema: slackLinkBodySchema },
        success: { 200: { description: 'the link', schema: slackLinkSchema } },
        errors: [400, 401, 403, 413, 500],
      },
      async handle(req) {
        const d = deps();
        const { teamId, userId } = ids(req.params);
        const { subject } = parseOr400(slackLinkBodySchema, req.body, 'Slack link');
        const link: SlackLink = { teamId, userId, subject, linkedBy: req.principal.subject, linkedAt: d.clock.now().toISOString(), via: 'platform-admin' };
        await d.slackLinks.put(link);
        d.log.info('Slack account linked', { slackTeamId: teamId, slackUserId: userId, subject, via: link.via, by: req.principal.subject });
        return json(200, link);
      },
    },
    {
      method: 'DELETE',
      path: '/v1/platform/slack-links/{teamId}/{userId}',
      access: { kind: 'platform-admin' },
      doc: {
        operationId: 'unlinkSlackAccount',
        summary: 'Remove a Slack link (platform admin)',
        tag: 'approvals',
        params,
        success: { 204: { description: 'removed' } },
        errors: [400, 401, 403, 404, 500],
      },
      async handle(req) {
        const { teamId, userId } = ids(req.params);
        if (!(await deps().slackLinks.delete(teamId, userId))) throw new NotFoundError(`Slack user ${userId} has no link`);
        return { statusCode: 204 };
      },
    },
  ];
}

/** `{subject}`: the principal a platform admin links a Slack account to. */
export const slackLinkBodySchema = z.object({ subject: z.string().min(1).max(512) }).strict();
export const slackSelfLinkBodySchema = z
  .object({ code: z.string().min(1).max(64).optional().describe('the one-time code Stack Jobs showed to this Slack account in Slack') })
  .strict();

export function approvalRoutes(ctx: ServiceContext): Route[] {
  let built: ApprovalRoutesDeps | undefined;
  return approvalRoutesWith(
    () =>
      (built ??= {
        jobs: ctx.jobs,
        approvalItems: ctx.approvalItems,
        catalog: ctx.catalog,
        locks: ctx.locks,
        resources: ctx.resources,
        events: ctx.publisher,
        tasks: ctx.tasks,
        runnerTasks: ctx.runnerTasks,
        executions: ctx.executions,
        respond: ctx.responseUrl,
        submission: ctx.submission,
        signingSecret: ctx.slackSigningSecret,
        clock: ctx.clock,
        log: ctx.logger,
        metrics: new PowertoolsApprovalMetrics(ctx.metrics),
        workflowMetrics: new PowertoolsWorkflowMetrics(ctx.metrics),
        countPreflightFailures: (checks) => countPreflightFailures(ctx.metrics, checks),
        ...(ctx.slack ? { slack: ctx.slack } : {}),
        slackLinks: ctx.slackLinks,
        ...(ctx.config.SLACK_TEAM_ID ? { slackTeamId: ctx.config.SLACK_TEAM_ID } : {}),
      }),
  );
}
