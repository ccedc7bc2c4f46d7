/**
 * A plan policy's require_approvals: N distinct approvers, through the API and Slack alike (the harness: a real jobs
 * table, the real lifecycle, recording fakes for Step Functions and Slack). Each approval is recorded with who, when,
 * the channel and the plan digest; the job waits until there are N; the same approver twice counts once; the approver
 * list and requireDistinctApprover apply to each; the first reject ends it; Slack says "1 of 2 approvals". And a
 * warning reaches the approver in the Slack message.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APPROVE_ACTION, REJECT_ACTION } from '../../lambdas/approvals/slack-message';
import { PLATFORM_OWNER } from '../../lambdas/domain/ports';
import type { StackJob } from '../../lambdas/domain/schemas';
import { NOW } from '../support/domain-fixtures';
import { changeFor, people, slackClick, SLACK_APPROVER, SLACK_AUTHOR, startHarness, type Harness } from './harness';

const PLAN = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'terraform', 'show-json', 'basic-delete.json'), 'utf8')) as Record<string, unknown>;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  h.catalog.add('plan-policies', PLATFORM_OWNER, {
    id: 'two-for-production',
    selector: { level: 'platform' },
    rules: [
      { name: 'production', effect: 'require_approvals', approvals: 2, expression: "job.env == 'production'", message: 'Production takes two approvers' },
      {
        name: 'deletes',
        effect: 'warn',
        expression: "plan.resources.exists(r, 'delete' in r.actions)",
        message: 'This plan deletes test_instance.test-delete',
      },
    ],
  });
  h.workflow.plans = { getPlanDocument: async () => PLAN };
});
afterAll(() => h.stop());
beforeEach(() => {
  h.clock.set(NOW);
  h.tasks.calls.length = 0;
  h.responses.length = 0;
});

let n = 0;
/** Awaiting approval; made by someone who is no approver, so both listed approvers may approve it. */
async function awaiting(): Promise<{ job: StackJob; token: string }> {
  const id = `q${++n}`;
  const submitted = await h.submit(changeFor(id, { createdBy: 'dev@acmecorp.example' }));
  const token = `token-${id}`;
  return { job: await h.toAwaitingApproval(submitted.metadata.id, token), token };
}
const load = async (id: string) => (await h.jobs.require(id)).job;
const approve = (id: string, principal: (typeof people)[keyof typeof people]) => h.call('POST', `/v1/stack-jobs/${id}/approve`, { principal, body: {} });

const textOf = (m: { blocks: unknown[] } | Record<string, unknown>) => JSON.stringify((m as { blocks?: unknown }).blocks ?? m);

describe('require_approvals: 2', () => {
  it('asks for two approvals in Slack, with the warning, and records the policy results on the job', async () => {
    const { job } = await awaiting();
    expect(job.status.approval?.required).toBe(2);
    expect(job.status.policy).toMatchObject({ outcome: 'warned', requiredApprovals: 2 });
    const message = h.slack.posted.at(-1)!;
    expect(textOf(message)).toContain('0 of 2 approvals');
    expect(textOf(message)).toContain('Plan policy warnings');
    expect(textOf(message)).toContain('This plan deletes test_instance.test-delete');
    expect(textOf(message)).toContain('needs 2 approvals: Production takes two approvers');
    expect(message.text).toContain('0 of 2 approvals');
  });

  it('keeps the job waiting after one approval, refuses the same approver again, and proceeds after a second, distinct one', async () => {
    const { job, token } = await awaiting();
    const first = await approve(job.metadata.id, people.approver);
    expect(first.statusCode).toBe(200);
    expect(first.json().status.phase).toBe('awaiting_approval');
    expect(first.json().status.approval.approvals).toEqual([
      { decision: 'approved', by: people.approver.subject, at: NOW.toISOString(), channel: 'api', planDigest: 'a'.repeat(64) },
    ]);
    expect(first.json().status.approval.decision).toBeUndefined();
    // The execution is not resumed; the Slack message shows where it stands.
    expect(h.tasks.calls).toEqual([]);
    expect(textOf(h.slack.updated.at(-1)!.message)).toContain(`1 of 2 approvals (${people.approver.subject})`);

    // The same approver again, through the API or through Slack, does not count.
    const again = await approve(job.metadata.id, people.approver);
    expect(again.statusCode).toBe(409);
    expect(again.json().detail).toBe(`${people.approver.subject} has already approved this plan; a plan policy requires 2 distinct approvers (1 of 2 so far)`);
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    expect(h.responses.at(-1)!.body.text).toContain('has already approved this plan');
    expect(h.tasks.calls).toEqual([]);

    // A second, distinct approver in Slack completes it: the workflow resumes.
    h.clock.set(new Date(NOW.getTime() + 60_000));
    await slackClick(h, job.status.approval!.id, SLACK_AUTHOR);
    const done = await load(job.metadata.id);
    expect(done.status.approval?.approvals?.map((a) => [a.by, a.channel])).toEqual([
      [people.approver.subject, 'api'],
      [people.author.subject, 'slack'],
    ]);
    expect(done.status.approval?.decision).toMatchObject({ decision: 'approved', by: people.author.subject, channel: 'slack', planDigest: 'a'.repeat(64) });
    expect(h.tasks.calls).toEqual([{ kind: 'succeed', token, output: { approvalId: job.status.approval!.id, decision: 'approved' } }]);
    expect(textOf(h.responses.at(-1)!.body)).toContain('Approved');
  });

  it('shows "1 of 2 approvals" in Slack after an approval there, and the first reject ends the job', async () => {
    const { job, token } = await awaiting();
    await slackClick(h, job.status.approval!.id, SLACK_APPROVER);
    const pending = h.responses.at(-1)!.body;
    expect(pending.replace_original).toBe(true);
    expect(textOf(pending)).toContain('1 of 2 approvals (<@U0APPROVER1>)');
    expect(textOf(pending)).toContain(APPROVE_ACTION);
    await slackClick(h, job.status.approval!.id, SLACK_AUTHOR, REJECT_ACTION);
    expect(h.tasks.calls).toEqual([{ kind: 'fail', token, error: 'StackJob.Rejected', cause: expect.stringContaining(people.author.subject) }]);
    expect((await load(job.metadata.id)).status.approval?.decision).toMatchObject({ decision: 'rejected', by: people.author.subject });
  });

  it('applies the approver list and the own-change rule to each approval', async () => {
    const { job } = await awaiting();
    // Not on the policy's list for production.
    expect((await approve(job.metadata.id, people.stagingApprover)).statusCode).toBe(403);
    const own = await h.submit(changeFor(`q-own-${++n}`, { createdBy: people.author.subject }));
    await h.toAwaitingApproval(own.metadata.id, `token-own-${n}`);
    expect((await approve(own.metadata.id, people.approver)).statusCode).toBe(200);
    // The change's author cannot be the second approver either.
    const author = await approve(own.metadata.id, people.author);
    expect(author.statusCode).toBe(403);
    expect(author.json().detail).toContain('nobody approves their own change');
    expect((await load(own.metadata.id)).status.phase).toBe('awaiting_approval');
  });
});
