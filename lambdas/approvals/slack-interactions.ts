/**
 * POST /v1/slack/interactions: verify Slack's signature, read the button click, map the Slack user to a principal,
 * decide, and tell the clicker what happened through response_url, all inside Slack's 3-second window.
 * Every verification failure is the same bare 401; a verified click always gets 200 (Slack shows nothing else),
 * with the outcome or the reason it changed nothing posted to response_url.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from '../shared/zod';
import { ConflictError, ForbiddenError, NotFoundError } from '../domain/errors';
import type { Clock } from '../domain/ids';
import type { CatalogReader } from '../domain/ports';
import type { SlackLinkRepository } from '../adapters/dynamodb/slack-link-repository';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import { problem } from '../http/problem';
import { ROLE_GRANTS } from '../http/principal';
import { decideApproval, type DecisionDeps } from './decide';
import type { LogSink, ResponseUrlPoster } from './ports';
import { verifySlackRequest } from './slack-signature';
import { APPROVE_ACTION, REJECT_ACTION, decidedMessage, ephemeralNotice, pendingApprovalMessage } from './slack-message';

export interface SlackInteractionDeps {
  /** The signing secret (Secrets Manager); cached by the caller. */
  signingSecret: () => Promise<string>;
  /** The one Slack workspace whose clicks count (stackjobs:slackTeamId); unset, no click decides anything. */
  slackTeamId?: string;
  /** Who each Slack account acts as (made by the person themselves or a platform admin). */
  links: Pick<SlackLinkRepository, 'get' | 'issueCode'>;
  jobs: Pick<JobRepository, 'get'> & DecisionDeps['jobs'];
  approvalItems: Pick<ApprovalItemRepository, 'findJobIdByApproval'> & DecisionDeps['approvalItems'];
  catalog: CatalogReader;
  decisions: Omit<DecisionDeps, 'jobs' | 'approvalItems'>;
  respond: ResponseUrlPoster;
  clock: Clock;
  log: LogSink;
}

/** Only Slack's own hooks host is ever posted to, whatever a payload says. */
const RESPONSE_URL = /^https:\/\/hooks\.slack\.com\//;

export const slackActionPayloadSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]{2,20}$/), username: z.string().optional() }),
  team: z.object({ id: z.string() }).nullish(),
  response_url: z.string().regex(RESPONSE_URL, 'a hooks.slack.com URL'),
  actions: z
    .array(z.object({ action_id: z.string(), value: z.string().optional() }))
    .min(1)
    .max(5),
});

const APPROVAL_ID = /^apr_[0-9a-hjkmnp-tv-z]{26}$/;

/** One bare answer for every verification failure (no body), so a caller learns nothing about which check failed. */
export const unverified = (): APIGatewayProxyStructuredResultV2 => ({ statusCode: 401 });
const ack = (): APIGatewayProxyStructuredResultV2 => ({ statusCode: 200 });

/** How long the roles a Slack link recorded decide: a role taken away in the identity provider counts this long at most. */
export const SLACK_ROLES_MAX_AGE_MS = 7 * 86_400_000;

export async function handleSlackInteraction(
  d: SlackInteractionDeps,
  req: { headers: Record<string, string>; rawBody: string },
): Promise<APIGatewayProxyStructuredResultV2> {
  let secret: string;
  try {
    secret = await d.signingSecret();
  } catch (e) {
    d.log.error('the Slack signing secret could not be read; refusing every interaction', { error: (e as Error).name });
    return unverified();
  }
  const verified = verifySlackRequest(req, secret, d.clock.now().getTime());
  if (!verified.ok) {
    d.log.warn('Slack request refused', { reason: verified.reason });
    return unverified();
  }

  let payload: z.infer<typeof slackActionPayloadSchema>;
  try {
    const raw = new URLSearchParams(req.rawBody).get('payload');
    payload = slackActionPayloadSchema.parse(JSON.parse(raw ?? ''));
  } catch {
    d.log.warn('Slack interaction ignored: not a block action this app sent');
    return problem(400, 'Invalid request', 'not a Stack Jobs block action');
  }
  const action = payload.actions.find((a) => a.action_id === APPROVE_ACTION || a.action_id === REJECT_ACTION);
  if (!action?.value || !APPROVAL_ID.test(action.value)) return problem(400, 'Invalid request', 'not a Stack Jobs approval action');
  const decision = action.action_id === APPROVE_ACTION ? 'approved' : 'rejected';
  const approvalId = action.value;
  const tell = (text: string) => postQuietly(d, payload.response_url, ephemeralNotice(text), approvalId);

  const jobId = await d.approvalItems.findJobIdByApproval(approvalId);
  const found = jobId ? await d.jobs.get(jobId) : undefined;
  if (!jobId || !found || found.job.status.approval?.id !== approvalId) {
    await tell('This approval request is unknown or has been replaced.');
    return ack();
  }
  // Only the configured workspace: a signed request from another workspace running the same app decides nothing.
  const teamId = payload.team?.id;
  if (!d.slackTeamId || teamId !== d.slackTeamId) {
    d.log.warn('Slack click from another workspace refused', { jobId, approvalId, slackTeamId: teamId ?? 'none', configured: Boolean(d.slackTeamId) });
    await tell(
      d.slackTeamId
        ? 'This workspace is not the one Stack Jobs takes decisions from, so your click changed nothing.'
        : 'Stack Jobs takes no decisions through Slack until its workspace is configured (stackjobs:slackTeamId); decide through the API.',
    );
    return ack();
  }
  const link = await d.links.get(teamId, payload.user.id);
  // Whoever needs to link (again) gets a one-time code, shown only to this Slack account: using it with their own
  // token proves the account is theirs (nobody links someone else's Slack id). Best effort: a failure only drops it.
  const relink = async (why: string) => {
    const howTo = await d.links.issueCode(teamId, payload.user.id, d.clock.now()).then(
      ({ code, expiresAt }) =>
        ` To link this Slack account to yourself, signed in as yourself, within 10 minutes: PUT /v1/me/slack-links/${teamId}/${payload.user.id} with {"code": "${code}"} (until ${expiresAt}).`,
      (e: Error) => {
        d.log.warn('a Slack link code could not be issued', { error: e.name });
        return ' Click again for a link code.';
      },
    );
    await tell(`${why}, so your click changed nothing.${howTo}`);
    return ack();
  };
  if (!link) {
    d.log.warn('Slack user is not linked to a principal', { jobId, approvalId, slackUserId: payload.user.id });
    return relink('Your Slack account is not linked to a Stack Jobs principal (or ask a platform admin to link it)');
  }
  if (link.via === 'self' && !link.provenAt) {
    d.log.warn('Slack click through a self link never proven refused', { jobId, approvalId, slackUserId: payload.user.id });
    return relink('Your Slack link was made without proof that this Slack account is yours');
  }
  const subject = link.subject;
  // Slack carries no roles: the link keeps the roles the person's own sign-in showed when they linked it. Without the
  // approver role in the job's org there, a click decides nothing, as the API would refuse the same person.
  // Roles age: one removed in the identity provider still counts here until the link is made again, so what a link
  // records decides for SLACK_ROLES_MAX_AGE_MS at most (a platform admin removes the link of someone who leaves).
  const org = found.job.metadata.org;
  if (link.orgRoles && d.clock.now().getTime() - Date.parse(link.linkedAt) > SLACK_ROLES_MAX_AGE_MS) {
    d.log.warn('Slack click with roles recorded too long ago refused', { jobId, approvalId, slackUserId: payload.user.id, linkedAt: link.linkedAt });
    return relink(
      `Your Slack link records your roles as of ${link.linkedAt}, more than ${SLACK_ROLES_MAX_AGE_MS / 86_400_000} days ago: link it again so they are current`,
    );
  }
  const held = link.orgRoles?.[org] ?? [];
  if (!ROLE_GRANTS.approve.some((r) => held.includes(r))) {
    d.log.warn('Slack click without the approver role refused', { jobId, approvalId, slackUserId: payload.user.id, via: link.via });
    if (link.orgRoles)
      return relink(
        `Deciding needs the role ${ROLE_GRANTS.approve.join(' or ')} in org ${org}; your Slack link records ${held.length ? held.join(', ') : 'none'} there (link it again after a role change)`,
      );
    return relink(`Your Slack link records no roles (a platform admin made it): link it yourself so your role in org ${org} is known`);
  }
  try {
    const decided = await decideApproval(
      { ...d.decisions, jobs: d.jobs, approvalItems: d.approvalItems },
      { jobId, decision, decider: { subject, channel: 'slack', slack: { userId: payload.user.id, teamId } } },
    );
    // An approval that did not complete a quorum leaves the request open: the message says how many there are now.
    const reply = decided.status.approval?.decision
      ? decidedMessage(decided, { slackUserId: payload.user.id, subject }, decision, d.clock.now())
      : pendingApprovalMessage(decided);
    await postQuietly(d, payload.response_url, reply, approvalId);
  } catch (e) {
    if (!(e instanceof ForbiddenError || e instanceof ConflictError || e instanceof NotFoundError)) throw e;
    d.log.info('Slack click changed nothing', { jobId, approvalId, slackUserId: payload.user.id, why: e.message });
    await tell(`Your click changed nothing: ${e.message}.`);
  }
  return ack();
}

async function postQuietly(d: SlackInteractionDeps, url: string, body: Record<string, unknown>, approvalId: string): Promise<void> {
  try {
    await d.respond.post(url, body);
  } catch (e) {
    // The decision (if any) stands; only the message in Slack is stale.
    d.log.warn('updating the Slack message failed', { approvalId, error: (e as Error).name });
  }
}
