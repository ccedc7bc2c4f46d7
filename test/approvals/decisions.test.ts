/**
 * Approving and rejecting through Slack and the API on a real jobs table: who may decide, one decision only,
 * the approval window, the task token kept out of everything observable, and Slack being down.
 */
import { createHmac } from 'node:crypto';
import { APPROVE_ACTION, REJECT_ACTION } from '../../lambdas/approvals/slack-message';
import { cancelCaseOf } from '../../lambdas/approvals/approval-rules';
import { orgSettingsSchema, type FlowControlPolicy, type Principal, type StackJob } from '../../lambdas/domain/schemas';
import { NOW } from '../support/domain-fixtures';
import { handleApprovalRequest } from '../../lambdas/workflow/approval';
import { finishJob } from '../../lambdas/workflow/lifecycle';
import { EVENT_SOURCE } from '../../lambdas/adapters/aws/event-publisher';
import { closeExpiredApproval, isApprovalExpiry } from '../../lambdas/approvals/expired';
import { RESUME_AGAIN_AFTER_MS } from '../../lambdas/approvals/decide';
import { SLACK_ROLES_MAX_AGE_MS } from '../../lambdas/approvals/slack-interactions';
import {
  changeFor,
  people,
  SIGNING_SECRET,
  SLACK_APPROVER,
  SLACK_AUTHOR,
  SLACK_STAGING_ONLY,
  SLACK_TEAM,
  SLACK_UNMAPPED,
  startHarness,
  type Harness,
  slackClick,
  RESPONSE_URL,
  productionPolicy,
} from './harness';

/** A recognisable task token: it must never appear anywhere a person, Slack or a log could see it. */
const PLANTED = (n: string) => `PLANTED-TASK-TOKEN-${n}-e3b0c44298fc1c149afbf4c8996fb924`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());
beforeEach(() => {
  h.clock.set(NOW);
  h.tasks.calls.length = 0;
  h.tasks.failWith = undefined;
  h.tasks.delayMs = 0;
  h.slack.down = false;
  h.slack.answerChannel = undefined;
  h.slack.onPost = undefined;
  h.responses.length = 0;
});

let n = 0;
async function awaiting(o: { createdBy?: string } = {}): Promise<{ job: StackJob; token: string }> {
  const id = `${++n}`;
  const submitted = await h.submit(changeFor(`dec${id}`, o));
  const token = PLANTED(id);
  return { job: await h.toAwaitingApproval(submitted.metadata.id, token), token };
}

const load = async (id: string) => (await h.jobs.require(id)).job;

/** What an org admin can write (catalog PUT): a resource-level flow-control policy, which wins over every other level. */
const resourcePolicy = (id: string, resourceId: string, approvers: string[], o: Partial<FlowControlPolicy> = {}) =>
  h.catalog.add(
    'flow-control-policies',
    'acmecorp',
    productionPolicy({
      id,
      selector: { level: 'resource', org: 'acmecorp', env: 'production', resourceId },
      approvers: approvers.map((subject) => ({ subject })),
      ...o,
    }),
  );

describe('requesting approval', () => {
  it('keeps the token beside the job, opens an apr_ approval on the plan digest with the policy window, and posts a Block Kit message whose buttons carry only the approval id', async () => {
    const { job, token } = await awaiting();
    expect(job.status.phase).toBe('awaiting_approval');
    expect(job.status.approval).toEqual({
      id: expect.stringMatching(/^apr_[0-9a-z]{26}$/),
      requestedAt: NOW.toISOString(),
      expiresAt: new Date(NOW.getTime() + 60 * 60_000).toISOString(),
      planDigest: 'a'.repeat(64),
    });
    expect(await h.approvalItems.getTaskToken(job.metadata.id)).toBe(token);
    expect(JSON.stringify(job)).not.toContain(token);

    const message = h.slack.posted.at(-1)!;
    expect(message.channel).toBe('C0PRODAPPROVALS');
    const text = JSON.stringify(message.blocks);
    for (const expected of [
      'aws_eks_cluster',
      'prod-api-cluster',
      'acmecorp / production',
      'user@company.com',
      `change dec${n}`,
      '1 to add, 1 to change, 1 to destroy, 1 to replace',
      'aws_launch_template.nodes',
      'aws_security_group.legacy',
      'X-Amz-Signature=abc',
      'X-Amz-Signature=def',
      job.status.approval!.expiresAt,
    ]) {
      expect({ expected, found: text.includes(expected) }).toEqual({ expected, found: true });
    }
    const buttons = (message.blocks.find((b) => (b as { type: string }).type === 'actions') as { elements: { action_id: string; value: string }[] }).elements;
    expect(buttons.map((b) => [b.action_id, b.value])).toEqual([
      [APPROVE_ACTION, job.status.approval!.id],
      [REJECT_ACTION, job.status.approval!.id],
    ]);
    expect(JSON.stringify(message)).not.toContain(token);
  });

  it('posts once when Step Functions retries the approval request (same approval, same message count)', async () => {
    const { job, token } = await awaiting();
    const posts = h.slack.posted.length;
    // The retry: the Lambda failed after posting, and the task ran again with the same token and plan.
    await handleApprovalRequest(h.workflow, { jobId: job.metadata.id, taskToken: token, planDigest: 'a'.repeat(64) }, h.notifier);
    expect(h.slack.posted.length).toBe(posts);
    expect((await load(job.metadata.id)).status.approval!.id).toBe(job.status.approval!.id);
    expect(await h.approvalItems.findJobIdByApproval(job.status.approval!.id)).toBe(job.metadata.id);
  });

  it('posts when the retried request finds the notice claimed by an attempt that died before posting (the post is not lost)', async () => {
    const submitted = await h.submit(changeFor('claim-died'));
    const claim = h.approvalItems.claimApprovalNotice.bind(h.jobs);
    // The first attempt claims the notice and dies right after (a Lambda timeout or crash before the post).
    h.approvalItems.claimApprovalNotice = async (...args) => {
      h.approvalItems.claimApprovalNotice = claim;
      await claim(...args);
      throw Object.assign(new Error('Task timed out after 30.00 seconds'), { name: 'Sandbox.Timedout' });
    };
    await expect(h.toAwaitingApproval(submitted.metadata.id, PLANTED('claim-died'))).rejects.toThrow('Task timed out');
    const posts = h.slack.posted.length;
    // Step Functions' retry of the approval task: same job, same token.
    await handleApprovalRequest(h.workflow, { jobId: submitted.metadata.id, taskToken: PLANTED('claim-died'), planDigest: 'a'.repeat(64) }, h.notifier);
    expect(h.slack.posted.length).toBe(posts + 1);
    const job = await load(submitted.metadata.id);
    expect(await h.approvalItems.approvalNotice(job.status.approval!.id)).toEqual({
      channel: 'C0PRODAPPROVALS',
      ts: `1700000000.${String(h.slack.posted.length).padStart(6, '0')}`,
    });
    // A further retry, now that the message is recorded, posts nothing.
    await handleApprovalRequest(h.workflow, { jobId: submitted.metadata.id, taskToken: PLANTED('claim-died'), planDigest: 'a'.repeat(64) }, h.notifier);
    expect(h.slack.posted.length).toBe(posts + 1);
  });

  it('escapes the version message, so it cannot @channel or forge a link', async () => {
    const submitted = await h.submit({
      ...changeFor('escape'),
      resource: { ...changeFor('escape').resource, version: { id: 'ver-escape', message: 'hi <!channel> <https://evil.example|click>' } },
    });
    await h.toAwaitingApproval(submitted.metadata.id, PLANTED('escape'));
    const text = JSON.stringify(h.slack.posted.at(-1)!.blocks);
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
  });

  it('with Slack down, the job still waits, the failure is logged and counted, and an approver can approve through the API', async () => {
    h.slack.down = true;
    const before = h.counts.slackPostFailed;
    const { job, token } = await awaiting();
    expect((await load(job.metadata.id)).status.phase).toBe('awaiting_approval');
    expect(h.counts.slackPostFailed).toBe(before + 1);
    expect(h.logs.some((l) => l.includes('posting the approval request to Slack failed') && l.includes('invalid_auth'))).toBe(true);

    const res = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: { comment: 'LGTM' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().status.approval.decision).toEqual({
      decision: 'approved',
      by: people.approver.subject,
      at: NOW.toISOString(),
      channel: 'api',
      planDigest: 'a'.repeat(64),
      comment: 'LGTM',
    });
    expect(h.tasks.calls).toEqual([{ kind: 'succeed', token, output: { approvalId: job.status.approval!.id, decision: 'approved' } }]);
    expect(await h.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
  });
});

describe('deciding through Slack', () => {
  it('approves on a verified click by a mapped approver: decision recorded, execution resumed, message replaced', async () => {
    const { job, token } = await awaiting();
    const res = await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    expect(res.statusCode).toBe(200);
    const after = await load(job.metadata.id);
    expect(after.status.approval!.decision).toEqual({
      decision: 'approved',
      by: people.approver.subject,
      at: NOW.toISOString(),
      channel: 'slack',
      planDigest: 'a'.repeat(64),
      slack: { userId: SLACK_APPROVER, teamId: 'T0ACME' },
    });
    expect(h.tasks.calls).toEqual([{ kind: 'succeed', token, output: { approvalId: job.status.approval!.id, decision: 'approved' } }]);
    expect(h.responses).toEqual([
      {
        url: RESPONSE_URL,
        body: expect.objectContaining({ replace_original: true, text: expect.stringContaining(`Approved by <@${SLACK_APPROVER}> at 12:00 UTC`) }),
      },
    ]);
  });

  it('rejects with SendTaskFailure StackJob.Rejected', async () => {
    const { job, token } = await awaiting();
    expect((await slackClick(h, job.status.approval!.id, SLACK_APPROVER, REJECT_ACTION)).statusCode).toBe(200);
    expect((await load(job.metadata.id)).status.approval!.decision).toMatchObject({ decision: 'rejected', by: people.approver.subject, channel: 'slack' });
    expect(h.tasks.calls).toEqual([{ kind: 'fail', token, error: 'StackJob.Rejected', cause: `rejected by ${people.approver.subject} through slack` }]);
    expect(h.responses[0].body.text).toContain(`Rejected by <@${SLACK_APPROVER}>`);
  });

  it('accepts a base64-encoded body from API Gateway (verified over the decoded bytes)', async () => {
    const { job } = await awaiting();
    expect((await slackClick(h, job.status.approval!.id, SLACK_APPROVER, APPROVE_ACTION, { base64: true })).statusCode).toBe(200);
    expect((await load(job.metadata.id)).status.approval!.decision?.decision).toBe('approved');
  });

  it('answers every unverifiable request with the same bare 401 and changes nothing', async () => {
    const { job } = await awaiting();
    const id = job.status.approval!.id;
    const answers = [
      await slackClick(h, id, SLACK_APPROVER, APPROVE_ACTION, { secret: 'wrong-secret' }),
      await slackClick(h, id, SLACK_APPROVER, APPROVE_ACTION, { at: NOW.getTime() - 6 * 60_000 }),
      await slackClick(h, id, SLACK_APPROVER, APPROVE_ACTION, { at: NOW.getTime() + 6 * 60_000 }),
      await h.call('POST', '/v1/slack/interactions', {
        principal: null,
        rawBody: 'payload=%7B%7D',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([401, 401, 401, 401]);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    // Bare: no body that could say which check failed.
    expect(answers[0].body ?? '').toBe('');
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
  });

  it('tells an unknown Slack user their click changed nothing', async () => {
    const { job } = await awaiting();
    expect((await slackClick(h, job.status.approval!.id, SLACK_UNMAPPED)).statusCode).toBe(200);
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
    expect(h.responses).toEqual([
      {
        url: RESPONSE_URL,
        body: expect.objectContaining({ response_type: 'ephemeral', text: expect.stringContaining('not linked to a Stack Jobs principal') }),
      },
    ]);
  });

  it('refuses an approver of another environment (listed for staging only) on a production job', async () => {
    const { job } = await awaiting();
    await slackClick(h, job.status.approval!.id, SLACK_STAGING_ONLY);
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
    expect(h.responses[0].body.text).toContain('is an approver for staging, not for production');
  });

  it("refuses the change's author under requireDistinctApprover, though they are a listed approver", async () => {
    const { job } = await awaiting();
    await slackClick(h, job.status.approval!.id, SLACK_AUTHOR);
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
    expect(h.responses[0].body.text).toContain('nobody approves their own change');
  });

  it('tells a second click who decided, and changes nothing', async () => {
    const { job } = await awaiting();
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    h.responses.length = 0;
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER, REJECT_ACTION);
    expect((await load(job.metadata.id)).status.approval!.decision?.decision).toBe('approved');
    expect(h.tasks.calls.map((c) => c.kind)).toEqual(['succeed']);
    expect(h.responses[0].body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining(`already approved by ${people.approver.subject}`) });
  });
});

describe('deciding through the API', () => {
  it('refuses a viewer (403), another org (404) and a caller outside the approver list (403)', async () => {
    const { job } = await awaiting();
    const path = `/v1/stack-jobs/${job.metadata.id}/approve`;
    expect((await h.call('POST', path, { principal: people.viewer, body: {} })).statusCode).toBe(403);
    expect((await h.call('POST', path, { principal: people.globexApprover, body: {} })).statusCode).toBe(404);
    expect((await h.call('POST', path, { principal: people.stagingApprover, body: {} })).json().detail).toContain('not for production');
    const author = await h.call('POST', path, { principal: people.author, body: {} });
    expect([author.statusCode, author.json().detail]).toEqual([403, expect.stringContaining('nobody approves their own change')]);
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
  });

  it("takes roles in the job's org only: an approver elsewhere, or a platform admin, cannot decide or cancel here", async () => {
    const { job } = await awaiting();
    const approverInGlobexOnly = {
      subject: people.approver.subject,
      orgs: ['acmecorp', 'globex'],
      roles: [],
      orgRoles: { acmecorp: ['viewer' as const], globex: ['approver' as const] },
    };
    const approve = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: approverInGlobexOnly, body: {} });
    expect([approve.statusCode, approve.json().detail]).toEqual([403, 'this needs the role approver in org acmecorp; you have viewer there']);
    const platformAdmin = { subject: 'root@platform.example', orgs: ['globex'], roles: ['platform-admin' as const, 'admin' as const] };
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: platformAdmin })).statusCode).toBe(404);
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: platformAdmin, body: {} })).statusCode).toBe(404);
    expect((await load(job.metadata.id)).status).toMatchObject({ phase: 'awaiting_approval' });
    expect(h.tasks.calls).toEqual([]);
  });

  it("refuses the change's author and its submitter whatever the policy says: an org admin's policy with requireDistinctApprover: false changes nothing (API and Slack)", async () => {
    // What an org admin can write (catalog PUT): a resource-level policy, which wins over every other level, that
    // names the author as an approver and turns the old switch off.
    const change = changeFor('own-change-switch-off', { createdBy: people.author.subject });
    resourcePolicy('own-change-switch-off', change.resource.id, [people.author.subject, people.approver.subject], { requireDistinctApprover: false });
    const submitted = await h.call('POST', '/v1/stack-jobs', { principal: people.author, body: change });
    expect(submitted.statusCode).toBe(201);
    const job = submitted.json() as StackJob;
    expect(job.spec.essentials.flowControlPolicy).toMatchObject({ source: { level: 'resource', id: 'own-change-switch-off' }, requireDistinctApprover: false });
    const waiting = await h.toAwaitingApproval(job.metadata.id, PLANTED('own-change-switch-off'));

    const self = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.author, body: {} });
    expect([self.statusCode, self.json().detail]).toEqual([403, `nobody approves their own change: ${people.author.subject} made this change`]);
    await slackClick(h, waiting.status.approval!.id, SLACK_AUTHOR);
    expect(h.responses.at(-1)!.body).toMatchObject({ text: expect.stringContaining('nobody approves their own change') });
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
  });

  it("refuses the submitter though they named someone else as the change's author", async () => {
    const submitted = await h.call('POST', '/v1/stack-jobs', {
      principal: people.author,
      body: changeFor('bypass-createdby', { createdBy: 'someone-else@company.com' }),
    });
    expect(submitted.statusCode).toBe(201);
    const job = submitted.json() as StackJob;
    expect([job.metadata.submittedBy, job.spec.apiResourceInfo.eventCreatedBy]).toEqual([people.author.subject, 'someone-else@company.com']);
    const waiting = await h.toAwaitingApproval(job.metadata.id, PLANTED('bypass-createdby'));

    const self = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.author, body: {} });
    expect([self.statusCode, self.json().detail]).toEqual([403, `nobody approves their own change: ${people.author.subject} submitted this job`]);
    await slackClick(h, waiting.status.approval!.id, SLACK_AUTHOR);
    expect(h.responses[0].body.text).toContain('submitted this job');
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
  });

  it("refuses the principal who reran someone else's job as the rerun's approver under requireDistinctApprover", async () => {
    const original = await h.submit(changeFor('bypass-rerun', { createdBy: 'someone-else@company.com' }));
    expect((await h.call('POST', `/v1/stack-jobs/${original.metadata.id}/cancel`, { principal: people.operator })).statusCode).toBe(200);
    const rerun = await h.call('POST', `/v1/stack-jobs/${original.metadata.id}/rerun`, { principal: people.author });
    expect(rerun.statusCode).toBe(201);
    const job = rerun.json() as StackJob;
    expect([job.metadata.rerunOf, job.metadata.submittedBy, job.spec.apiResourceInfo.eventCreatedBy]).toEqual([
      original.metadata.id,
      people.author.subject,
      'someone-else@company.com',
    ]);
    await h.toAwaitingApproval(job.metadata.id, PLANTED('bypass-rerun'));

    const self = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.author, body: {} });
    expect([self.statusCode, self.json().detail]).toEqual([403, expect.stringContaining('submitted this job')]);
    expect(h.tasks.calls).toEqual([]);
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
  });

  it('lets any approver of the org decide when the policy names none (API only)', async () => {
    const { job } = await awaiting();
    const open = {
      ...job,
      spec: { ...job.spec, essentials: { ...job.spec.essentials, flowControlPolicy: { ...job.spec.essentials.flowControlPolicy, approvers: [] } } },
    };
    await h.jobs.update(job.metadata.id, (j) => ({ ...j, spec: open.spec }));
    const outsider = { subject: 'someone-else@acmecorp.example', orgs: ['acmecorp'], roles: ['approver' as const] };
    expect((await slackClick(h, job.status.approval!.id, SLACK_APPROVER)).statusCode).toBe(200);
    expect(h.responses[0].body.text).toContain('names no approvers');
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/reject`, { principal: outsider })).statusCode).toBe(200);
    expect(h.tasks.calls.map((c) => c.error)).toEqual(['StackJob.Rejected']);
  });

  it('answers 409 with the reason on a job that is not awaiting approval', async () => {
    const queued = await h.submit(changeFor('notyet'));
    const res = await h.call('POST', `/v1/stack-jobs/${queued.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect([res.statusCode, res.json().detail]).toEqual([409, 'the job is not awaiting approval (it is queued)']);
  });
});

describe('the Slack message of an approval closed through the API', () => {
  /** The post this job's approval made: its channel and ts are what the update must name. */
  const postOf = (job: StackJob) => {
    const i = h.slack.posted.findIndex((m) => JSON.stringify(m.blocks).includes(job.status.approval!.id));
    expect(i).toBeGreaterThanOrEqual(0);
    return { channel: h.slack.posted[i].channel, ts: `1700000000.${String(i + 1).padStart(6, '0')}` };
  };
  const updatesOf = (job: StackJob) => h.slack.updated.filter((u) => u.message.text.includes(job.metadata.id));

  it('is replaced on approve and on reject: the buttons go, who decided through the API stays', async () => {
    for (const [verb, label] of [
      ['approve', ':white_check_mark: Approved'],
      ['reject', ':no_entry: Rejected'],
    ] as const) {
      const { job } = await awaiting();
      expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/${verb}`, { principal: people.approver, body: {} })).statusCode).toBe(200);
      const updates = updatesOf(job);
      expect(updates).toHaveLength(1);
      expect(updates[0].notice).toEqual(postOf(job));
      expect(updates[0].message.text).toContain(`${label} by ${people.approver.subject} through the API at 12:00 UTC`);
      expect(JSON.stringify(updates[0].message.blocks)).not.toContain('stackjobs_approve');
    }
  });

  it('is replaced when the job is cancelled while awaiting approval', async () => {
    const { job } = await awaiting();
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.operator })).statusCode).toBe(200);
    expect(updatesOf(job).map((u) => [u.notice, u.message.text.slice(0, 70)])).toEqual([
      [postOf(job), `:heavy_multiplication_x: Cancelled by ${people.operator.subject} through the API at 12:00 UTC`.slice(0, 70)],
    ]);
  });

  it('is left alone when it was never posted, and a Slack failure is logged and counted without failing the decision', async () => {
    h.slack.down = true;
    const { job: unposted } = await awaiting();
    h.slack.down = false;
    expect((await h.call('POST', `/v1/stack-jobs/${unposted.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
    expect(updatesOf(unposted)).toEqual([]);

    const { job, token } = await awaiting();
    h.slack.down = true;
    const before = h.counts.slackUpdateFailed;
    const res = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect([res.statusCode, res.json().status.approval.decision.decision]).toEqual([200, 'approved']);
    expect(h.tasks.calls.at(-1)).toEqual({ kind: 'succeed', token, output: { approvalId: job.status.approval!.id, decision: 'approved' } });
    expect(h.counts.slackUpdateFailed).toBe(before + 1);
    expect(h.logs.some((l) => l.includes('replacing the approval message in Slack failed') && l.includes('message_not_found'))).toBe(true);
  });

  it('names the conversation Slack answered with, which chat.update needs (the setting may name it another way)', async () => {
    h.slack.answerChannel = 'C0RESOLVED01';
    const { job } = await awaiting();
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
    expect(updatesOf(job).map((u) => u.notice)).toEqual([{ channel: 'C0RESOLVED01', ts: postOf(job).ts }]);
  });

  it('is closed by the approval request itself when the API decided while the message was being posted', async () => {
    const submitted = await h.submit(changeFor('dec-during-post'));
    let decidedDuringPost = 0;
    h.slack.onPost = async () => {
      h.slack.onPost = undefined;
      const res = await h.call('POST', `/v1/stack-jobs/${submitted.metadata.id}/approve`, { principal: people.approver, body: {} });
      decidedDuringPost = res.statusCode ?? 0;
    };
    const job = await h.toAwaitingApproval(submitted.metadata.id, PLANTED('during-post'));
    expect(decidedDuringPost).toBe(200);
    // The API found no message yet; the request, having posted it, replaced it.
    expect(updatesOf(job).map((u) => u.notice)).toEqual([postOf(job)]);
    expect(updatesOf(job)[0].message.text).toContain(`:white_check_mark: Approved by ${people.approver.subject} through the API`);
  });

  it('is left with its buttons when recording where it went fails (logged), and the approval still works', async () => {
    const record = h.approvalItems.recordApprovalNotice.bind(h.jobs);
    h.approvalItems.recordApprovalNotice = () => Promise.reject(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
    try {
      const { job } = await awaiting();
      expect(h.logs.some((l) => l.includes('recording where the approval message went failed') && l.includes('ProvisionedThroughputExceededException'))).toBe(
        true,
      );
      expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
      expect(updatesOf(job)).toEqual([]);
    } finally {
      h.approvalItems.recordApprovalNotice = record;
    }
  });

  it('is replaced when the approval expires, from the status event the expiry rule routes (nobody decided)', async () => {
    const { job } = await awaiting();
    h.clock.set(new Date(NOW.getTime() + 61 * 60_000));
    await finishJob(h.workflow, job.metadata.id, { kind: 'approval_expired' });
    const status = h.events.filter((e) => e.detail.jobId === job.metadata.id && e.detail.phase === 'completed').at(-1)!;
    const event = { source: EVENT_SOURCE, 'detail-type': status.detailType, detail: status.detail };
    expect(isApprovalExpiry({ source: EVENT_SOURCE, detailType: status.detailType, detail: status.detail })).toBe(true);
    const deps = { jobs: h.jobs, approvalItems: h.approvalItems, slack: h.slack, log: h.notifier.log, metrics: h.notifier.metrics };
    expect(await closeExpiredApproval(deps, event)).toBe(true);
    expect(updatesOf(job).map((u) => u.notice)).toEqual([postOf(job)]);
    expect(updatesOf(job)[0].message.text).toContain(':hourglass: Expired at 13:01 UTC without a decision');
    expect(JSON.stringify(updatesOf(job)[0].message.blocks)).not.toContain('stackjobs_approve');

    // Other completions are not expiries, and a malformed event changes nothing.
    const { job: decided } = await awaiting();
    await h.call('POST', `/v1/stack-jobs/${decided.metadata.id}/approve`, { principal: people.approver, body: {} });
    const updates = h.slack.updated.length;
    expect(isApprovalExpiry({ source: EVENT_SOURCE, detailType: status.detailType, detail: { ...status.detail, reason: 'rejected' } })).toBe(false);
    expect(await closeExpiredApproval(deps, { ...event, detail: { ...event.detail, jobId: decided.metadata.id } })).toBe(false);
    expect(await closeExpiredApproval(deps, { 'detail-type': 'Something Else', detail: {} })).toBe(false);
    expect(h.slack.updated.length).toBe(updates);
  });

  it('is closed as expired when a decision was recorded a moment after the workflow timed out (it never took effect)', async () => {
    const { job } = await awaiting();
    // Recorded, but SendTaskSuccess found no task: the approval state had already timed out.
    await h.jobs.update(job.metadata.id, (j) => ({
      ...j,
      status: {
        ...j.status,
        approval: { ...j.status.approval!, decision: { decision: 'approved', by: people.approver.subject, at: NOW.toISOString(), channel: 'api' } },
      },
    }));
    await finishJob(h.workflow, job.metadata.id, { kind: 'approval_expired' });
    const status = h.events.filter((e) => e.detail.jobId === job.metadata.id && e.detail.phase === 'completed').at(-1)!;
    expect(
      await closeExpiredApproval(
        { jobs: h.jobs, approvalItems: h.approvalItems, slack: h.slack, log: h.notifier.log, metrics: h.notifier.metrics },
        { source: EVENT_SOURCE, 'detail-type': status.detailType, detail: status.detail },
      ),
    ).toBe(true);
    expect(updatesOf(job).at(-1)!.message.text).toContain(':hourglass: Expired at');
  });

  it('keeps the approval open when the check after posting fails (logged, best effort like the post)', async () => {
    const submitted = await h.submit(changeFor('reread-fails'));
    const get = h.jobs.get.bind(h.jobs);
    h.slack.onPost = async () => {
      h.slack.onPost = undefined;
      // The next read (keepNotice's) fails once.
      h.jobs.get = () => {
        h.jobs.get = get;
        return Promise.reject(Object.assign(new Error('internal'), { name: 'InternalServerError' }));
      };
    };
    const job = await h.toAwaitingApproval(submitted.metadata.id, PLANTED('reread-fails'));
    expect(job.status.phase).toBe('awaiting_approval');
    expect(
      h.logs.some((l) => l.includes('checking whether the approval was closed while its message was posted failed') && l.includes('InternalServerError')),
    ).toBe(true);
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
    expect(updatesOf(job)).toHaveLength(1);
  });

  it('is not touched by a decision made in Slack (the click replaces it through response_url)', async () => {
    const { job } = await awaiting();
    expect((await slackClick(h, job.status.approval!.id, SLACK_APPROVER)).statusCode).toBe(200);
    expect(updatesOf(job)).toEqual([]);
    expect(h.responses.at(-1)!.body.text).toContain(`Approved by <@${SLACK_APPROVER}> at 12:00 UTC`);
  });
});

describe('races and the window', () => {
  it('two approvals at once: exactly one decision and one SendTaskSuccess; the other is told who won', async () => {
    const { job, token } = await awaiting();
    h.tasks.delayMs = 30;
    const [a, b] = await Promise.all([
      h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} }),
      slackClick(h, job.status.approval!.id, SLACK_APPROVER),
    ]);
    const succeeded = h.tasks.calls.filter((c) => c.kind === 'succeed');
    expect(succeeded).toEqual([expect.objectContaining({ token })]);
    const decision = (await load(job.metadata.id)).status.approval!.decision!;
    if (decision.channel === 'api') {
      expect(a.statusCode).toBe(200);
      expect(h.responses[0].body.text).toContain('already approved');
    } else {
      expect([a.statusCode, a.json().detail]).toEqual([409, expect.stringContaining('already approved')]);
      expect(b.statusCode).toBe(200);
    }
  });

  it('five concurrent API approvals: one 200, four 409, one resume', async () => {
    const { job } = await awaiting();
    h.tasks.delayMs = 10;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })),
    );
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409, 409, 409, 409]);
    expect(h.tasks.calls).toHaveLength(1);
  });

  it('approve after the window closed: 409, nothing recorded, nothing resumed', async () => {
    const { job } = await awaiting();
    h.clock.set(new Date(Date.parse(job.status.approval!.expiresAt) + 1000));
    const res = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect([res.statusCode, res.json().detail]).toEqual([409, `the approval window closed at ${job.status.approval!.expiresAt}`]);
    expect((await slackClick(h, job.status.approval!.id, SLACK_APPROVER)).statusCode).toBe(200);
    expect(h.responses[0].body.text).toContain('the approval window closed');
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
  });

  it('approve after cancel: 409 through the API, a notice in Slack, and only the cancel reached the execution', async () => {
    const { job, token } = await awaiting();
    const cancelled = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.operator });
    expect([cancelled.statusCode, cancelled.json().status.phase, cancelled.json().status.result]).toEqual([200, 'completed', 'cancelled']);
    const res = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect([res.statusCode, res.json().detail]).toEqual([409, expect.stringContaining('the job has ended (cancelled: cancelled)')]);
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    expect(h.responses[0].body.text).toContain('the job has ended');
    expect(h.tasks.calls).toEqual([{ kind: 'fail', token, error: 'StackJob.Cancelled', cause: `cancelled by ${people.operator.subject}` }]);
    expect(await h.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
  });

  it('a decision recorded but never delivered to the workflow is delivered by the same decision again, as recorded, so the job does not wait out its window', async () => {
    const { job, token } = await awaiting();
    // Step Functions throttles past the in-process retries: the approval is recorded, the execution still waits.
    h.tasks.failWith = 'ThrottlingException';
    const first = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: { comment: 'ship it' } });
    expect(first.statusCode).toBe(500);
    expect((await load(job.metadata.id)).status).toMatchObject({
      phase: 'awaiting_approval',
      approval: { decision: { decision: 'approved', by: people.approver.subject } },
    });
    expect(await h.approvalItems.getTaskToken(job.metadata.id)).toBe(token);
    h.tasks.failWith = undefined;
    h.tasks.calls.length = 0;
    // Right after, the same approval is the usual 409: the first request could still be resuming.
    const early = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect([early.statusCode, early.json().detail]).toEqual([409, expect.stringContaining(`already approved by ${people.approver.subject}`)]);
    expect(h.tasks.calls).toEqual([]);
    h.clock.set(new Date(NOW.getTime() + RESUME_AGAIN_AFTER_MS));

    // A reject now is refused (the approval is decided); the approval again, here a click in Slack, delivers it.
    const reject = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/reject`, { principal: people.approver, body: {} });
    expect([reject.statusCode, reject.json().detail]).toEqual([409, expect.stringContaining(`already approved by ${people.approver.subject}`)]);
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    expect(h.tasks.calls).toEqual([{ kind: 'succeed', token, output: { approvalId: job.status.approval!.id, decision: 'approved' } }]);
    expect(await h.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    // Recorded once, as the first approver made it.
    expect((await load(job.metadata.id)).status.approval!.decision).toMatchObject({ by: people.approver.subject, channel: 'api', comment: 'ship it' });
    // Delivered: a further approval is the usual 409 and reaches nothing.
    const again = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect([again.statusCode, again.json().detail]).toEqual([409, expect.stringContaining(`already approved by ${people.approver.subject}`)]);
    expect(h.tasks.calls).toHaveLength(1);
  });

  it('a decision whose first resume reached the workflow but whose answer was lost: sent again, the gone task is taken as delivered and the decision announced once', async () => {
    const { job } = await awaiting();
    h.tasks.failWith = 'ThrottlingException';
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(500);
    h.events.length = 0;
    // The execution did take it: its token is spent now.
    h.tasks.failWith = 'TaskDoesNotExist';
    h.clock.set(new Date(NOW.getTime() + RESUME_AGAIN_AFTER_MS));
    const again = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect(again.statusCode).toBe(200);
    expect(await h.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    expect(h.events.filter((e) => e.detailType === 'Stack Job Approval Decided').map((e) => e.detail)).toEqual([
      expect.objectContaining({ jobId: job.metadata.id, decision: 'approved', by: people.approver.subject, channel: 'api' }),
    ]);
  });

  it('a decision whose task already timed out in the workflow is reported as such (409)', async () => {
    const { job } = await awaiting();
    h.tasks.failWith = 'TaskTimedOut';
    const res = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} });
    expect([res.statusCode, res.json().detail]).toEqual([409, expect.stringContaining('window had already closed in the workflow')]);
  });
});

describe('cancel and rerun (unit level; the phases run end to end in cancel-rerun.e2e.test.ts)', () => {
  it('classifies each phase', async () => {
    const { job } = await awaiting();
    expect(cancelCaseOf(job)).toBe('awaiting_approval');
    const running = {
      ...job,
      status: { ...job.status, phase: 'running' as const, runnerTask: { arn: 'arn:aws:ecs:us-east-1:1:task/c/1', phase: 'preview' as const } },
    };
    expect(cancelCaseOf(running)).toBe('stop_runner');
    const applying = {
      ...running,
      status: { ...running.status, operations: running.status.operations.map((o) => (o.name === 'apply' ? { ...o, status: 'running' as const } : o)) },
    };
    expect(cancelCaseOf(applying)).toBe('record_only');
  });

  it('a viewer cannot cancel (403), another org cannot see the job (404), an ended job is 409', async () => {
    const { job } = await awaiting();
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.viewer })).statusCode).toBe(403);
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.globexApprover })).statusCode).toBe(404);
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.operator })).statusCode).toBe(200);
    const again = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.operator });
    expect([again.statusCode, again.json().detail]).toEqual([409, expect.stringContaining('already ended')]);
  });

  it('stops a running preview through ECS StopTask and answers 202 with cancelRequested', async () => {
    const submitted = await h.submit(changeFor('stoppreview'));
    await h.jobs.update(submitted.metadata.id, (j) => ({
      ...j,
      status: { ...j.status, phase: 'running', runnerTask: { arn: 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs/abc123', phase: 'preview' } },
    }));
    const res = await h.call('POST', `/v1/stack-jobs/${submitted.metadata.id}/cancel`, { principal: people.operator });
    expect([res.statusCode, res.json().status.cancelRequested]).toEqual([202, { by: people.operator.subject, at: NOW.toISOString() }]);
    expect(h.stopped).toEqual([{ arn: 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs/abc123', reason: `cancelled by ${people.operator.subject}` }]);
  });
});

describe('the task token', () => {
  it('appears in no API response, Slack request, response_url post, event or log line', async () => {
    const opened = [await awaiting(), await awaiting(), await awaiting()];
    const planted = opened.map((o) => o.token);
    await h.call('POST', `/v1/stack-jobs/${opened[0].job.metadata.id}/approve`, { principal: people.approver, body: {} });
    await slackClick(h, opened[1].job.status.approval!.id, SLACK_APPROVER, REJECT_ACTION);
    await h.call('POST', `/v1/stack-jobs/${opened[2].job.metadata.id}/cancel`, { principal: people.operator });
    // The execution's side did receive each token (so this test can fail), and nothing else did.
    expect(h.tasks.calls.map((c) => c.token).sort()).toEqual([...planted].sort());
    const observed = h.observed();
    expect(observed.length).toBeGreaterThan(1000);
    expect(observed.includes('PLANTED-TASK-TOKEN')).toBe(false);
    // The job documents (what GET returns) hold no token either; the spent ones are gone from the items too.
    for (const o of opened) {
      expect(JSON.stringify(await load(o.job.metadata.id))).not.toContain('PLANTED-TASK-TOKEN');
      expect(await h.approvalItems.getTaskToken(o.job.metadata.id)).toBeUndefined();
    }
  });
});

describe('rerun and the Idempotency-Key header', () => {
  async function endedJob(n: string): Promise<StackJob> {
    const job = await h.submit(changeFor(n));
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.operator })).statusCode).toBe(200);
    return job;
  }
  const rerun = (id: string, key?: string) =>
    h.call('POST', `/v1/stack-jobs/${id}/rerun`, { principal: people.operator, ...(key !== undefined ? { headers: { 'Idempotency-Key': key } } : {}) });

  it('makes a new job on every rerun without a key', async () => {
    const original = await endedJob('rerun-nokey');
    const [a, b] = [await rerun(original.metadata.id), await rerun(original.metadata.id)];
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect(a.json().metadata.id).not.toBe(b.json().metadata.id);
    for (const r of [a, b])
      expect(r.json().metadata).toMatchObject({ rerunOf: original.metadata.id, version: original.metadata.version, submittedBy: people.operator.subject });
  });

  it('answers a repeated key with the rerun it made (200), and makes another job for another key', async () => {
    const original = await endedJob('rerun-key');
    const first = await rerun(original.metadata.id, 'retry-me-1');
    const repeated = await rerun(original.metadata.id, 'retry-me-1');
    const other = await rerun(original.metadata.id, 'retry-me-2');
    expect([first.statusCode, repeated.statusCode, other.statusCode]).toEqual([201, 200, 201]);
    expect(repeated.json().metadata.id).toBe(first.json().metadata.id);
    expect(repeated.headers?.location).toBe(`/v1/stack-jobs/${first.json().metadata.id}`);
    expect(other.json().metadata.id).not.toBe(first.json().metadata.id);
  });

  it('refuses a malformed key (400) and makes no job', async () => {
    const original = await endedJob('rerun-badkey');
    const before = (await h.jobs.listStack(`acmecorp/production/${original.spec.apiResourceInfo.id}`)).length;
    const res = await rerun(original.metadata.id, 'x'.repeat(256));
    expect([res.statusCode, res.json().errors]).toEqual([400, [expect.objectContaining({ path: 'header.Idempotency-Key' })]]);
    expect((await h.jobs.listStack(`acmecorp/production/${original.spec.apiResourceInfo.id}`)).length).toBe(before);
  });
});

describe('reruns and the distinct-approver rule', () => {
  it('keeps everyone who submitted or reran the change from approving the rerun', async () => {
    // The author (an approver and operator) submits; an operator reruns it after a cancel.
    const change = changeFor('rerun-launder', { createdBy: 'someone-else@acmecorp.example' });
    const submitted = await h.call('POST', '/v1/stack-jobs', { principal: people.author, body: change });
    expect(submitted.statusCode).toBe(201);
    const first = submitted.json() as StackJob;
    expect(first.metadata).toMatchObject({ submittedBy: people.author.subject, submitters: [people.author.subject] });
    expect((await h.call('POST', `/v1/stack-jobs/${first.metadata.id}/cancel`, { principal: people.operator })).statusCode).toBe(200);
    const rerun = await h.call('POST', `/v1/stack-jobs/${first.metadata.id}/rerun`, { principal: people.operator });
    expect(rerun.statusCode).toBe(201);
    const second = rerun.json() as StackJob;
    expect(second.metadata).toMatchObject({ submittedBy: people.operator.subject, submitters: [people.author.subject, people.operator.subject] });

    // The original submitter is an approver under the policy; the rerun does not make them a distinct one.
    const job = await h.toAwaitingApproval(second.metadata.id, PLANTED('rerun-launder'));
    const byAuthor = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.author, body: {} });
    expect([byAuthor.statusCode, byAuthor.json().detail]).toEqual([403, expect.stringContaining('submitted an earlier run of this change')]);
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    // Someone who never submitted it may.
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.approver, body: {} })).statusCode).toBe(200);
  });
});

describe('a rerun of a drift check made before checks carried submitters', () => {
  it('takes the submitters of the change the check was made from, whom the distinct-approver rule then refuses', async () => {
    // The author submits the change (it ends); a check made from it before this version recorded only who started it.
    const change = changeFor('old-check', { createdBy: 'someone-else@acmecorp.example' });
    const base = (await h.call('POST', '/v1/stack-jobs', { principal: people.author, body: change })).json() as StackJob;
    expect((await h.call('POST', `/v1/stack-jobs/${base.metadata.id}/cancel`, { principal: people.operator })).statusCode).toBe(200);
    const ended = await load(base.metadata.id);
    const by = 'drift-schedule:nightly';
    /** A check of the ended change, as one made before this version was stored: only its starter as submitter. */
    const rerunOfCheck = async (checkId: string, basedOn: string) => {
      await h.jobs.create({
        ...ended,
        metadata: { ...ended.metadata, id: checkId, submittedBy: by, submitters: [by] },
        spec: { ...ended.spec, driftCheck: { remediate: 'none', basedOn } },
      });
      const rerun = await h.call('POST', `/v1/stack-jobs/${checkId}/rerun`, { principal: people.operator });
      expect(rerun.statusCode).toBe(201);
      return rerun.json() as StackJob;
    };
    expect((await rerunOfCheck('sj_01m99zzzzzzzzzzzzzzzzzzzzz', base.metadata.id)).metadata.submitters).toEqual([
      people.author.subject,
      by,
      people.operator.subject,
    ]);

    // A basedOn naming another stack's job (never written by the server) brings none of its names.
    const other = (await h.call('POST', '/v1/stack-jobs', { principal: people.author, body: changeFor('old-check-other') })).json() as StackJob;
    const stray = await rerunOfCheck('sj_01m99zzzzzzzzzzzzzzzzzzzzy', other.metadata.id);
    expect(stray.metadata.submitters).toEqual([by, people.operator.subject]);
  });
});

describe('who a Slack click acts as', () => {
  it('refuses Slack users in org settings: an org admin cannot map their Slack account to an approver', () => {
    const parsed = orgSettingsSchema.safeParse({ org: 'acmecorp', slackUsers: { U0EVILADMIN: people.approver.subject } });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]).toMatchObject({ path: ['slackUsers'], message: expect.stringContaining('platform admin') });
  });

  /** Links `userId` to `person` the only way a person can: a click shows that Slack account a code, which they send. */
  async function linkProven(person: Principal, userId: string, approvalId: string) {
    await slackClick(h, approvalId, userId);
    const shown = String(h.responses.at(-1)!.body.text);
    const code = /"code": "([0-9A-Z]{10})"/.exec(shown)?.[1];
    expect({ shown, code }).toEqual({ shown, code: expect.any(String) });
    return h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/${userId}`, { principal: person, body: { code } });
  }

  it('lets a person link a Slack account only with the one-time code Slack showed that account, and the link acts as them', async () => {
    const { job } = await awaiting({ createdBy: people.author.subject });
    const approvalId = job.status.approval!.id;
    // The attack: the org admin (author) links the approver's (or any unlinked) Slack id to themselves by naming it.
    const before = await h.dumpTable();
    const takeover = await h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/${SLACK_APPROVER}`, { principal: people.author });
    expect([takeover.statusCode, takeover.json().errors]).toEqual([400, [{ path: 'code', message: expect.stringContaining('must prove it is yours') }]]);
    const unlinked = await h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/U0SOMEONE1`, { principal: people.author, body: {} });
    expect(unlinked.statusCode).toBe(400);
    expect(await h.dumpTable()).toEqual(before);

    // A code shown to one Slack account links no other, and is refused with nothing written.
    await slackClick(h, approvalId, 'U0AUTHORNEW');
    const code = /"code": "([0-9A-Z]{10})"/.exec(String(h.responses.at(-1)!.body.text))![1];
    const afterIssue = await h.dumpTable();
    const elsewhere = await h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/U0SOMEONE1`, { principal: people.author, body: { code } });
    expect([elsewhere.statusCode, elsewhere.json().errors[0].path]).toEqual([400, 'code']);
    expect(await h.dumpTable()).toEqual(afterIssue);
    // The code is stored only as its hash, and no log line, event or API answer carries it.
    expect(afterIssue).not.toContain(code);
    expect(h.logs.join('\n')).not.toContain(code);

    const own = await h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/U0AUTHORNEW`, { principal: people.author, body: { code } });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ subject: people.author.subject, linkedBy: people.author.subject, via: 'self', provenAt: NOW.toISOString() });
    // Used once.
    const again = await h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/U0AUTHORNEW`, { principal: people.approver, body: { code } });
    expect([again.statusCode, again.json().errors[0].message]).toEqual([400, expect.stringContaining('not a code Stack Jobs showed')]);
    // Refreshing a proven link of one's own needs no new code.
    expect((await h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/U0AUTHORNEW`, { principal: people.author })).statusCode).toBe(200);
    // Clicking with it acts as the author, whom the distinct-approver rule then refuses on their own change.
    await slackClick(h, approvalId, 'U0AUTHORNEW');
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.responses.at(-1)!.body).toMatchObject({ text: expect.stringContaining('nobody approves their own change') });
    // Nobody removes someone else's link through /v1/me (that would free the account for a takeover).
    expect((await h.call('DELETE', `/v1/me/slack-links/${SLACK_TEAM}/U0AUTHORNEW`, { principal: people.approver })).statusCode).toBe(404);
    expect((await h.call('DELETE', `/v1/me/slack-links/${SLACK_TEAM}/${SLACK_APPROVER}`, { principal: people.author })).statusCode).toBe(404);
    expect((await h.call('DELETE', `/v1/me/slack-links/${SLACK_TEAM}/U0AUTHORNEW`, { principal: people.author })).statusCode).toBe(204);
    // Used, refused and reused: the code never reached a log line, an event or the table.
    expect(h.logs.join('\n')).not.toContain(code);
    expect(JSON.stringify(h.events)).not.toContain(code);
    expect(await h.dumpTable()).not.toContain(code);
  });

  it('refuses an expired code, and a self link made before codes existed until the account proves itself', async () => {
    const { job } = await awaiting();
    await slackClick(h, job.status.approval!.id, 'U0LATE00001');
    const code = /"code": "([0-9A-Z]{10})"/.exec(String(h.responses.at(-1)!.body.text))![1];
    h.clock.set(new Date(NOW.getTime() + 601_000));
    const late = await h.call('PUT', `/v1/me/slack-links/${SLACK_TEAM}/U0LATE00001`, { principal: people.approver, body: { code } });
    expect([late.statusCode, late.json().errors[0].message]).toEqual([400, expect.stringContaining('expired')]);
    h.clock.set(NOW);
    // An unproven self link (anyone could have made one for any Slack id) decides nothing and asks for proof.
    await h.slackLinks.put({
      teamId: SLACK_TEAM,
      userId: 'U0OLDLINK01',
      subject: people.approver.subject,
      linkedBy: people.approver.subject,
      linkedAt: NOW.toISOString(),
      via: 'self',
      orgRoles: { acmecorp: ['approver'] },
    });
    await slackClick(h, job.status.approval!.id, 'U0OLDLINK01');
    expect(h.responses.at(-1)!.body).toMatchObject({ text: expect.stringContaining('without proof that this Slack account is yours') });
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect((await linkProven(people.approver, 'U0OLDLINK01', job.status.approval!.id)).statusCode).toBe(200);
    await slackClick(h, job.status.approval!.id, 'U0OLDLINK01');
    expect((await load(job.metadata.id)).status.approval!.decision).toMatchObject({ decision: 'approved', by: people.approver.subject });
  });

  it("decides through Slack only with the approver role in the job's org, as the API would: an org admin naming themselves an approver, a link a platform admin made, a role since lost", async () => {
    // An org admin (no approver role) writes a resource-level policy naming themselves, links their own Slack account
    // and clicks Approve on someone else's change: the API refuses them (403), and so must Slack.
    const change = changeFor('admin-names-self');
    resourcePolicy('admin-names-self', change.resource.id, [people.admin.subject, people.approver.subject]);
    const submitted = await h.call('POST', '/v1/stack-jobs', { principal: people.operator, body: change });
    expect(submitted.statusCode).toBe(201);
    const job = await h.toAwaitingApproval((submitted.json() as StackJob).metadata.id, PLANTED('admin-names-self'));
    expect((await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { principal: people.admin, body: {} })).statusCode).toBe(403);
    const adminLink = await linkProven(people.admin, 'U0ADMINSELF', job.status.approval!.id);
    expect(adminLink.json()).toMatchObject({ via: 'self', orgRoles: { acmecorp: ['admin'] } });
    await slackClick(h, job.status.approval!.id, 'U0ADMINSELF');
    expect(h.responses.at(-1)!.body).toMatchObject({
      text: expect.stringContaining('needs the role approver in org acmecorp; your Slack link records admin there'),
    });

    // A link a platform admin made records no roles: it decides nothing until the person links it themselves.
    const platformAdmin = { subject: 'root@platform.example', orgs: [], roles: ['platform-admin' as const] };
    await h.call('PUT', `/v1/platform/slack-links/${SLACK_TEAM}/U0BYPLATFORM`, { principal: platformAdmin, body: { subject: people.approver.subject } });
    await slackClick(h, job.status.approval!.id, 'U0BYPLATFORM');
    expect(h.responses.at(-1)!.body).toMatchObject({ text: expect.stringContaining('records no roles (a platform admin made it)') });

    // Someone whose link was made while they were an approver, and who since lost the role, relinks and is refused.
    const demoted = { ...people.approver, roles: ['viewer' as const] };
    await h.call('DELETE', `/v1/platform/slack-links/${SLACK_TEAM}/U0BYPLATFORM`, { principal: platformAdmin });
    expect((await linkProven(demoted, 'U0BYPLATFORM', job.status.approval!.id)).json()).toMatchObject({
      orgRoles: { acmecorp: ['viewer'] },
    });
    await slackClick(h, job.status.approval!.id, 'U0BYPLATFORM');
    expect(h.responses.at(-1)!.body).toMatchObject({ text: expect.stringContaining('your Slack link records viewer there') });

    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
    // The approver's own link (made with the role) decides.
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    expect((await load(job.metadata.id)).status.approval!.decision).toMatchObject({ decision: 'approved', by: people.approver.subject, channel: 'slack' });
  });

  it('takes the roles a Slack link recorded for a week at most: a role removed in the identity provider stops counting then', async () => {
    const { job } = await awaiting();
    h.clock.set(new Date(NOW.getTime() + SLACK_ROLES_MAX_AGE_MS + 1000));
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    expect(h.responses.at(-1)!.body).toMatchObject({ text: expect.stringContaining('link it again') });
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
  });

  it('lets only a platform admin link someone else', async () => {
    const asOrgAdmin = await h.call('PUT', `/v1/platform/slack-links/${SLACK_TEAM}/U0ANYONE1`, {
      principal: people.author,
      body: { subject: people.approver.subject },
    });
    expect([asOrgAdmin.statusCode, asOrgAdmin.json().detail]).toEqual([403, 'writing the platform catalog needs the role platform-admin']);
    const platformAdmin = { subject: 'root@platform.example', orgs: [], roles: ['platform-admin' as const] };
    const linked = await h.call('PUT', `/v1/platform/slack-links/${SLACK_TEAM}/U0ANYONE1`, {
      principal: platformAdmin,
      body: { subject: people.approver.subject },
    });
    expect(linked.json()).toMatchObject({ subject: people.approver.subject, linkedBy: platformAdmin.subject, via: 'platform-admin' });
    expect((await h.call('DELETE', `/v1/platform/slack-links/${SLACK_TEAM}/U0ANYONE1`, { principal: platformAdmin })).statusCode).toBe(204);
  });

  it('refuses a click from another Slack workspace, even by a linked user id, and records the workspace of the ones it takes', async () => {
    const { job } = await awaiting();
    const payloadFromElsewhere = {
      type: 'block_actions',
      user: { id: SLACK_APPROVER },
      team: { id: 'T0OTHERCO' },
      response_url: RESPONSE_URL,
      actions: [{ action_id: APPROVE_ACTION, value: job.status.approval!.id }],
    };
    const rawBody = `payload=${encodeURIComponent(JSON.stringify(payloadFromElsewhere))}`;
    const ts = String(Math.floor(h.clock.now().getTime() / 1000));
    const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${rawBody}`).digest('hex')}`;
    const res = await h.call('POST', '/v1/slack/interactions', {
      principal: null,
      rawBody,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': signature },
    });
    expect(res.statusCode).toBe(200);
    expect((await load(job.metadata.id)).status.approval!.decision).toBeUndefined();
    expect(h.tasks.calls).toEqual([]);
    expect(h.responses.at(-1)!.body).toMatchObject({ text: expect.stringContaining('not the one Stack Jobs takes decisions from') });
  });
});
