/**
 * The Block Kit messages of an approval: the request (what would change, by whom, until when, with Approve/Reject
 * buttons that carry only the opaque approval id) and the decided state that replaces it. Pure.
 * Everything user-supplied is escaped, so a version message cannot mention @channel or forge a link.
 */
import type { StackJob } from '../domain/schemas';
import type { SlackMessage } from './ports';

export const APPROVE_ACTION = 'stackjobs_approve';
export const REJECT_ACTION = 'stackjobs_reject';

/** How many destroyed/replaced addresses the message calls out by name. */
export const CALLED_OUT_ADDRESSES = 5;

export interface ApprovalLinks {
  planUrl?: string;
  logsUrl?: string;
  /** When the presigned links stop working. */
  expiresAt?: string;
}

/** Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
export const escapeMrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const when = (iso: string) => `<!date^${Math.floor(Date.parse(iso) / 1000)}^{date_short_pretty} {time}|${iso}>`;

/** The addresses a plan would destroy or replace, in plan order. */
export function destructiveAddresses(job: StackJob): { destroyed: string[]; replaced: string[] } {
  const resources = job.status.plan?.summary.resources ?? [];
  const replaced = resources.filter((r) => r.actions.includes('delete') && r.actions.includes('create')).map((r) => r.address);
  const destroyed = resources.filter((r) => r.actions.includes('delete') && !r.actions.includes('create')).map((r) => r.address);
  return { destroyed, replaced };
}

export function approvalRequestMessage(job: StackJob, channel: string, links: ApprovalLinks = {}): SlackMessage {
  const approval = job.status.approval;
  if (!approval) throw new Error('approvalRequestMessage needs an open approval');
  const m = job.metadata;
  const info = job.spec.apiResourceInfo;
  const s = job.status.plan?.summary;
  const { destroyed, replaced } = destructiveAddresses(job);
  const title = `${info.triggerEvent === 'deleted' ? 'Destroy' : 'Apply'} ${info.kind} ${info.name} in ${m.org}/${m.env}?`;

  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, 150) } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Resource*\n${escapeMrkdwn(info.kind)} \`${escapeMrkdwn(info.name)}\`` },
        { type: 'mrkdwn', text: `*Org / environment*\n${escapeMrkdwn(m.org)} / ${escapeMrkdwn(m.env)}` },
        { type: 'mrkdwn', text: `*Changed by*\n${escapeMrkdwn(info.eventCreatedBy)}` },
        { type: 'mrkdwn', text: `*Version*\n${escapeMrkdwn(m.version.id)}` },
      ],
    },
  ];
  if (m.version.message)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `>${escapeMrkdwn(clip(m.version.message, 500)).replace(/\n/g, '\n>')}` } });
  blocks.push({
    type: 'section',
    text: {
      type: 'mrkdwn',
      text: s ? `*Plan*: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy, ${s.replace} to replace` : '*Plan*: no summary recorded',
    },
  });
  const callOut = (label: string, addresses: string[]) =>
    addresses.length === 0
      ? []
      : [
          {
            type: 'section',
            text: {
              type: 'mrkdwn',
              text: `:warning: *${label}*\n${addresses
                .slice(0, CALLED_OUT_ADDRESSES)
                .map((a) => `• \`${escapeMrkdwn(a)}\``)
                .join('\n')}${addresses.length > CALLED_OUT_ADDRESSES ? `\n…and ${addresses.length - CALLED_OUT_ADDRESSES} more` : ''}`,
            },
          },
        ];
  blocks.push(...callOut('Would be replaced', replaced), ...callOut('Would be destroyed', destroyed));
  blocks.push(...policyBlocks(job));

  const linkText = [links.planUrl ? `<${links.planUrl}|Full plan (JSON)>` : undefined, links.logsUrl ? `<${links.logsUrl}|Plan logs>` : undefined]
    .filter(Boolean)
    .join(' · ');
  const context = [
    `Job \`${m.id}\``,
    approval.planDigest ? `plan digest \`${approval.planDigest.slice(0, 12)}\`` : undefined,
    `decide by ${when(approval.expiresAt)}`,
    linkText ? `${linkText}${links.expiresAt ? ` (links expire ${when(links.expiresAt)})` : ''}` : undefined,
  ].filter(Boolean);
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] });
  blocks.push({
    type: 'actions',
    block_id: 'stackjobs_decision',
    elements: [
      { type: 'button', action_id: APPROVE_ACTION, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: approval.id },
      {
        type: 'button',
        action_id: REJECT_ACTION,
        style: 'danger',
        text: { type: 'plain_text', text: 'Reject' },
        value: approval.id,
        confirm: {
          title: { type: 'plain_text', text: 'Reject this plan?' },
          text: { type: 'plain_text', text: 'The job ends cancelled; nothing is applied.' },
          confirm: { type: 'plain_text', text: 'Reject' },
          deny: { type: 'plain_text', text: 'Back' },
        },
      },
    ],
  });
  return {
    channel,
    text: clip(
      `${title} (${s ? `+${s.add} ~${s.change} -${s.destroy} ±${s.replace}` : 'no plan summary'})${approval.required ? ` — ${approval.approvals?.length ?? 0} of ${approval.required} approvals` : ''} — decide by ${approval.expiresAt}`,
      300,
    ),
    blocks,
  };
}

/** How many plan policy rules the message lists by name. */
export const LISTED_POLICY_RULES = 10;

/**
 * What the plan policies said that the approver must see: each warning (and each require_approvals rule that holds),
 * and under a quorum how many distinct approvals there are so far ("1 of 2 approvals", by whom).
 */
export function policyBlocks(job: StackJob): unknown[] {
  const blocks: unknown[] = [];
  const held = (job.status.policy?.results ?? []).filter((r) => !r.passed && !r.error && r.effect !== 'deny');
  if (held.length > 0) {
    const line = (r: (typeof held)[number]) =>
      `• ${r.effect === 'warn' ? '' : `needs ${r.approvals ?? 2} approvals: `}${escapeMrkdwn(clip(r.message, 300))} _(${r.source === 'platform' ? 'platform' : 'org'} policy ${escapeMrkdwn(r.policy)}, rule ${escapeMrkdwn(r.rule)})_`;
    const more = held.length > LISTED_POLICY_RULES ? `\n…and ${held.length - LISTED_POLICY_RULES} more` : '';
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `:warning: *Plan policy warnings*\n${held.slice(0, LISTED_POLICY_RULES).map(line).join('\n')}${more}` },
    });
  }
  const approval = job.status.approval;
  if (approval?.required) {
    const approvals = approval.approvals ?? [];
    const by = approvals.map((a) => (a.slack ? `<@${a.slack.userId}>` : escapeMrkdwn(a.by))).join(', ');
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*Approvals*: ${approvals.length} of ${approval.required} approvals${by ? ` (${by})` : ''}; each must come from a different approver`,
      },
    });
  }
  return blocks;
}

/** The request as it stands after an approval that did not complete the quorum (buttons kept): a response_url body. */
export function pendingApprovalMessage(job: StackJob): Record<string, unknown> {
  const { channel: _channel, ...message } = approvalRequestMessage(job, '');
  return { replace_original: true, ...message };
}

export type ApprovalOutcome = 'approved' | 'rejected' | 'cancelled' | 'expired' | 'ended';

const OUTCOME_LABEL: Record<ApprovalOutcome, string> = {
  approved: ':white_check_mark: Approved',
  rejected: ':no_entry: Rejected',
  cancelled: ':heavy_multiplication_x: Cancelled',
  expired: ':hourglass: Expired',
  ended: ':heavy_multiplication_x: Closed: the job ended',
};

/**
 * What replaces the request once the approval is closed: the buttons go, the outcome stays ("Approved by @x at 14:02
 * UTC"). `by` is the Slack user who clicked, or the subject who decided or cancelled through the API; an approval
 * that expired has nobody ("Expired at 15:00 UTC without a decision").
 */
export function closedMessage(
  job: StackJob,
  by: { slackUserId?: string; subject: string } | undefined,
  outcome: ApprovalOutcome,
  at: Date,
  channel: 'slack' | 'api',
): Omit<SlackMessage, 'channel'> {
  const hhmm = at.toISOString().slice(11, 16);
  const how = channel === 'api' ? ' through the API' : '';
  const who = by ? ` by ${by.slackUserId ? `<@${by.slackUserId}>` : escapeMrkdwn(by.subject)}${how}` : '';
  const why = outcome === 'ended' && job.status.reason ? ` (${job.status.reason})` : '';
  const text = `${OUTCOME_LABEL[outcome]}${why}${who} at ${hhmm} UTC${by ? '' : ' without a decision'} — ${escapeMrkdwn(job.spec.apiResourceInfo.kind)} \`${escapeMrkdwn(job.spec.apiResourceInfo.name)}\` in ${escapeMrkdwn(job.metadata.org)}/${escapeMrkdwn(job.metadata.env)} (job \`${job.metadata.id}\`)`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

/** The response_url body that replaces the request after a decision in Slack. */
export function decidedMessage(
  job: StackJob,
  by: { slackUserId?: string; subject: string },
  decision: 'approved' | 'rejected',
  at: Date,
): Record<string, unknown> {
  return { replace_original: true, ...closedMessage(job, by, decision, at, 'slack') };
}

/** Told only to the person who clicked, when their click changed nothing. */
export function ephemeralNotice(text: string): Record<string, unknown> {
  return { response_type: 'ephemeral', replace_original: false, text: escapeMrkdwn(text) };
}
