import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import axe from 'axe-core';
import { describe, expect, it } from 'vitest';
import type { Me, StackJob } from '../api/client';
import { awaitingApproval, examples, failedInPlan, JOB_ID, memberOf, planChanges, problem, renderPage, running, type Handlers } from '../test/support';
import { JobPage } from './JobPage';

const approver = examples.Me; // operator and approver in acmecorp
const operatorOnly = memberOf('acmecorp', ['operator'], ['read', 'submit']);

const PLAN_LOG = 'Initializing the backend...\nterraform plan\ntest_instance.test must be replaced\nPlan: 1 to add, 1 to change, 0 to destroy.\n';

/** The API as the job page reads it for `job`, with `extra` routes on top. */
function api(job: StackJob, extra: Handlers = {}): Handlers {
  const id = job.metadata.id;
  return {
    [`GET /v1/stack-jobs/${id}`]: { body: job, headers: { etag: '"v1"' } },
    [`GET /v1/stack-jobs/${id}/plan/changes`]: { body: planChanges() },
    // The whole log on the first read; nothing more after its cursor.
    [`GET /v1/stack-jobs/${id}/logs`]: (call) => ({
      body: call.query.get('cursor')
        ? { jobId: id, phase: job.status.phase, text: '', chunks: 0, cursor: 'c1' }
        : { jobId: id, phase: job.status.phase, text: PLAN_LOG, chunks: 1, cursor: 'c1' },
    }),
    [`GET /v1/stack-jobs/${id}/outputs`]: { status: 404, body: problem(404, 'Not found', `stack job ${id} has no outputs`) },
    ...extra,
  };
}

/** The job page of JOB_ID, signed in as `me`, the API answered by `handlers`. */
const open = (handlers: Handlers, me: Me = approver) => renderPage(<JobPage />, { route: '/jobs/:id', path: `/jobs/${JOB_ID}`, me, handlers });

const approvalPanel = () => screen.getByRole('region', { name: 'Approval' });

describe('JobPage', () => {
  it('shows a quorum as "1 of 2 distinct approvals" with who approved, and tells the next approver one more is needed', async () => {
    const job = awaitingApproval();
    const approval = job.status.approval!;
    job.status.approval = {
      ...approval,
      required: 2,
      approvals: [{ decision: 'approved', by: 'lee@acmecorp.example', at: '2026-12-07T09:01:00.000Z', channel: 'api', planDigest: approval.planDigest }],
    } as typeof approval;
    open(api(job));
    const panel = await screen.findByRole('region', { name: 'Approval' });
    expect(await within(panel).findByText(/1 of 2 distinct approvals: lee@acmecorp.example/)).toBeTruthy();
    expect(within(panel).getByRole('button', { name: 'Approve' })).toBeEnabled();
  });

  it('lets an approver whose approval already counts reject, but not approve again', async () => {
    const job = awaitingApproval();
    const approval = job.status.approval!;
    job.status.approval = {
      ...approval,
      required: 2,
      approvals: [{ decision: 'approved', by: approver.subject, at: '2026-12-07T09:01:00.000Z', channel: 'api' }],
    } as typeof approval;
    open(api(job));
    const panel = await screen.findByRole('region', { name: 'Approval' });
    expect(await within(panel).findByText(/You cannot approve again: you have already approved this plan \(1 of 2/)).toBeTruthy();
    expect(within(panel).getByRole('button', { name: 'Approve' })).toBeDisabled();
    expect(within(panel).getByRole('button', { name: 'Reject' })).toBeEnabled();
  });

  it('says who may approve, who may not under the distinct-approver rule, and counts down to the expiry', async () => {
    const job = awaitingApproval();
    const approval = job.status.approval!;
    job.status.approval = { ...approval, expiresAt: new Date(Date.now() + 90_000).toISOString() };
    job.spec.essentials.flowControlPolicy.approvers = [{ subject: approver.subject, environments: [job.metadata.env] }, { subject: 'lee@acmecorp.example' }];
    job.spec.essentials.flowControlPolicy.requireDistinctApprover = true;
    job.metadata.submittedBy = 'sam@acmecorp.example';
    open(api(job));
    const panel = await screen.findByRole('region', { name: 'Approval' });
    expect(await within(panel).findByText('lee@acmecorp.example')).toBeTruthy();
    expect(within(panel).getByText(`(${job.metadata.env})`)).toBeTruthy();
    expect(within(panel).getByText(/required: .*sam@acmecorp.example may not approve/)).toBeTruthy();
    const countdown = () => within(panel).getByText(/^\d+ min \d+ s$/).textContent!;
    const first = countdown();
    expect(first).toMatch(/^1 min (2\d|30) s$/);
    await waitFor(() => expect(countdown()).not.toBe(first), { timeout: 3000 });
  });

  it('shows the frozen snapshot: module and the rule that chose it, backend, credential reference, policy and its level', async () => {
    const job = awaitingApproval();
    open(api(job));
    const e = job.spec.essentials;
    const snapshot = await screen.findByRole('region', { name: /snapshot/i });
    expect(within(snapshot).getByText(e.iacModule.id)).toBeTruthy();
    expect(within(snapshot).getByText(e.iacModule.rule)).toBeTruthy();
    expect(within(snapshot).getAllByText(new RegExp(e.backendCredential.id)).length).toBeGreaterThan(0);
    if (e.providerCredential) expect(within(snapshot).getAllByText(new RegExp(e.providerCredential.id)).length).toBeGreaterThan(0);
    expect(within(snapshot).getByText(new RegExp(`${e.flowControlPolicy.source.id}.*${e.flowControlPolicy.source.level}`))).toBeTruthy();
  });

  it('shows the plan policies that did not pass, with their effect and message, and the quorum they ask for', async () => {
    const job = awaitingApproval();
    const plan = {
      ...planChanges(),
      policy: {
        evaluatedAt: '2026-12-07T09:00:00.000Z',
        outcome: 'warned' as const,
        requiredApprovals: 2,
        results: [
          {
            policy: 'prod-guard',
            source: 'platform' as const,
            rule: 'warn-replace',
            effect: 'warn' as const,
            passed: false,
            message: 'this plan replaces test_instance.test',
          },
          {
            policy: 'prod-guard',
            source: 'platform' as const,
            rule: 'two-for-iam',
            effect: 'require_approvals' as const,
            approvals: 2,
            passed: false,
            message: 'IAM changes need two approvers',
          },
          { policy: 'org-rules', source: 'org' as const, rule: 'no-deletes', effect: 'deny' as const, passed: true, message: 'no deletes in production' },
        ],
      },
    };
    open(api(job, { [`GET /v1/stack-jobs/${job.metadata.id}/plan/changes`]: { body: plan } }));
    const region = await screen.findByRole('region', { name: 'Plan' });
    expect(await within(region).findByText('Plan policies: warned')).toBeTruthy();
    expect(within(region).getByText(/This plan needs 2 distinct approvers/)).toBeTruthy();
    expect(within(region).getByText(/platform policy prod-guard, rule warn-replace\): this plan replaces test_instance.test/)).toBeTruthy();
    expect(within(region).getByText(/rule two-for-iam\): IAM changes need two approvers/)).toBeTruthy();
    // A rule that passed is not listed as a finding.
    expect(within(region).queryByText(/no deletes in production/)).toBeNull();
  });

  it('groups the plan by action and expands a resource to its attribute diff, before → after', async () => {
    open(api(awaitingApproval()));

    const plan = await screen.findByRole('region', { name: 'Plan' });
    expect(await within(plan).findByText('Plan: 1 to add, 1 to change, 0 to destroy, 1 to replace. 1 output change.')).toBeTruthy();
    // create, update, replace in that order, whatever order the API listed them in.
    const groups = within(plan)
      .getAllByRole('heading', { level: 3 })
      .map((h) => h.textContent);
    expect(groups.slice(0, 3)).toEqual(['Create (1)', 'Update (1)', 'Replace (1)']);
    expect(within(plan).getByText(/replaced because ami changed/)).toBeTruthy();

    const replaced = within(plan).getByRole('button', { name: 'test_instance.test' });
    expect(replaced.getAttribute('aria-expanded')).toBe('false');
    expect(within(plan).queryByRole('table', { name: 'Attribute changes of test_instance.test' })).toBeNull();
    await userEvent.click(replaced);
    expect(replaced.getAttribute('aria-expanded')).toBe('true');
    const diff = within(plan).getByRole('table', { name: 'Attribute changes of test_instance.test' });
    const id = within(diff).getByRole('rowheader', { name: 'id' }).closest('tr')!;
    const [before, after] = within(id).getAllByRole('cell');
    expect(before.textContent).toBe('"placeholder"');
    expect(after.textContent).toContain('(known after apply)');
    expect(within(after).getByText('(known after apply)').className).toBe('value-masked');

    // Output changes and the refresh's drift are there too.
    expect(within(plan).getByRole('table', { name: 'Output changes' })).toBeTruthy();
    expect(within(plan).getByRole('heading', { name: 'Drift found by the refresh' })).toBeTruthy();
  });

  it('reads "No plan yet" while the plan changes are a 404', async () => {
    const job = running();
    open(
      api(job, {
        [`GET /v1/stack-jobs/${JOB_ID}/plan/changes`]: { status: 404, body: problem(404, 'Not found', `stack job ${JOB_ID} has no plan yet`) },
      }),
    );
    const plan = await screen.findByRole('region', { name: 'Plan' });
    expect(await within(plan).findByText('No plan yet.')).toBeTruthy();
  });

  it('approves with a comment only after the confirmation, and shows the decision', async () => {
    const decided = awaitingApproval();
    decided.status = {
      ...decided.status,
      approval: {
        ...decided.status.approval!,
        decision: { decision: 'approved', by: approver.subject, at: '2025-04-24T09:20:00.000Z', channel: 'api', comment: 'LGTM: node group only' },
      },
    };
    const approved = (req: { method: string; path: string }) => req.method === 'POST' && req.path.endsWith('/approve');
    // The job reads as decided once the decision was posted.
    const { calls } = open(
      api(awaitingApproval(), {
        [`GET /v1/stack-jobs/${JOB_ID}`]: (_, seen) => (seen.some(approved) ? { body: decided, headers: { etag: '"v2"' } } : { body: awaitingApproval() }),
        [`POST /v1/stack-jobs/${JOB_ID}/approve`]: { body: decided },
      }),
    );

    await screen.findByRole('region', { name: 'Approval' });
    await userEvent.type(within(approvalPanel()).getByLabelText('Comment'), 'LGTM: node group only');
    await userEvent.click(within(approvalPanel()).getByRole('button', { name: 'Approve' }));
    const dialog = screen.getByRole('dialog', { name: 'Approve this plan?' });
    expect(within(dialog).getByText('LGTM: node group only')).toBeTruthy();
    expect(calls.some(approved)).toBe(false);

    await userEvent.click(within(dialog).getByRole('button', { name: 'Yes, approve' }));
    await waitFor(() => expect(calls.filter(approved)).toHaveLength(1));
    expect(calls.find(approved)!.body).toEqual({ comment: 'LGTM: node group only' });
    expect(await within(approvalPanel()).findByText(/by pat@acmecorp\.example/)).toBeTruthy();
    expect(within(approvalPanel()).getByText('Approved')).toBeTruthy();
  });

  it("shows the API's reason where a 409 on approve happened", async () => {
    const detail = 'it was already rejected by sam@acmecorp.example at 2025-04-24T09:19:00.000Z (slack)';
    open(
      api(awaitingApproval(), {
        [`POST /v1/stack-jobs/${JOB_ID}/approve`]: { status: 409, body: problem(409, 'Conflict', detail) },
      }),
    );

    await userEvent.click(await within(await screen.findByRole('region', { name: 'Approval' })).findByRole('button', { name: 'Approve' }));
    await userEvent.click(screen.getByRole('button', { name: 'Yes, approve' }));
    const alert = await within(approvalPanel()).findByRole('alert');
    expect(alert.textContent).toBe(detail);
  });

  it('disables Approve and Reject, with the reason, for the submitter (nobody approves their own change)', async () => {
    const job = awaitingApproval();
    job.metadata.submittedBy = approver.subject;
    job.spec.essentials.flowControlPolicy.requireDistinctApprover = true;
    const { calls } = open(api(job));

    const panel = await screen.findByRole('region', { name: 'Approval' });
    const approve = within(panel).getByRole('button', { name: 'Approve' }) as HTMLButtonElement;
    const reject = within(panel).getByRole('button', { name: 'Reject' }) as HTMLButtonElement;
    expect(approve.disabled).toBe(true);
    expect(reject.disabled).toBe(true);
    expect(within(panel).getByText(/You cannot decide this job: nobody approves their own change, and you submitted this job/)).toBeTruthy();
    // The reason is what a screen reader hears on the button too.
    expect(approve.getAttribute('aria-describedby')).toBe('decide-blocked');
    await userEvent.click(approve);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(calls.some((r) => r.method === 'POST')).toBe(false);
  });

  it('offers an operator without the approver role Cancel, but no Approve button', async () => {
    open(api(awaitingApproval()), operatorOnly);

    const panel = await screen.findByRole('region', { name: 'Approval' });
    expect(within(panel).getByText('You cannot approve: you do not hold the approver role in acmecorp.')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Reject' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Cancel' })).toBeTruthy();
  });

  it('offers a viewer neither Cancel nor Rerun', async () => {
    const viewer = memberOf('acmecorp', ['viewer'], ['read']);
    open(api(failedInPlan()), viewer);
    await screen.findByRole('heading', { name: 'Failed in plan' });
    expect(screen.queryByRole('button', { name: 'Rerun' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
  });

  it('cancels after the confirmation and reads the job again', async () => {
    const cancelled = awaitingApproval();
    cancelled.status = { ...cancelled.status, phase: 'completed', result: 'cancelled', reason: 'cancelled', finishedAt: '2025-04-24T09:21:00.000Z' };
    delete cancelled.status.approval;
    open(
      {
        [`GET /v1/stack-jobs/${JOB_ID}`]: (_, seen) => (seen.some((r) => r.path.endsWith('/cancel')) ? { body: cancelled } : { body: awaitingApproval() }),
        [`POST /v1/stack-jobs/${JOB_ID}/cancel`]: { body: cancelled },
      },
      operatorOnly,
    );

    await userEvent.click(await screen.findByRole('button', { name: 'Cancel' }));
    const dialog = screen.getByRole('dialog', { name: 'Cancel this job?' });
    expect(within(dialog).getByText('The approval closes and the job ends cancelled; nothing is applied.')).toBeTruthy();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel the job' }));
    expect(await screen.findByText('cancelled')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
  });

  it('gives the focus back to the button that opened a confirmation when it is dismissed, and posts nothing', async () => {
    const { calls } = open(api(awaitingApproval()), operatorOnly);
    const cancel = await screen.findByRole('button', { name: 'Cancel' });
    await userEvent.click(cancel);
    const dialog = screen.getByRole('dialog', { name: 'Cancel this job?' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Keep the job' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Cancel' }));
    expect(calls.filter((c) => c.method === 'POST')).toEqual([]);
  });

  it('reruns after the confirmation and opens the new job', async () => {
    const rerun = failedInPlan();
    rerun.metadata = { ...rerun.metadata, id: 'sj_01jsrp4m2c7v9k3h6t8w0x1y2z', rerunOf: JOB_ID, submittedBy: approver.subject };
    const { calls } = open(
      api(failedInPlan(), {
        [`POST /v1/stack-jobs/${JOB_ID}/rerun`]: { status: 201, body: rerun, headers: { location: `/v1/stack-jobs/${rerun.metadata.id}` } },
        [`GET /v1/stack-jobs/${rerun.metadata.id}`]: { body: rerun },
      }),
    );

    await userEvent.click(await screen.findByRole('button', { name: 'Rerun' }));
    await userEvent.click(screen.getByRole('button', { name: 'Yes, rerun' }));
    await waitFor(() => expect(screen.getByTestId('location').textContent).toBe(`/jobs/${rerun.metadata.id}`));
    const post = calls.find((r) => r.method === 'POST')!;
    expect(post.headers.get('idempotency-key')).toMatch(/^console-rerun-/);
    expect(await screen.findByText(/rerun of/)).toBeTruthy();
  });

  it('shows a failed job’s failing operation and its error first', async () => {
    open(api(failedInPlan()));

    const failure = await screen.findByRole('alert', { name: 'Failed in plan' });
    expect(within(failure).getByText(/An argument named "desired_sise" is not expected here\./)).toBeTruthy();
    expect(within(failure).getByText('Exit code 1.')).toBeTruthy();
    expect(within(failure).getByText('Reason: operation failed')).toBeTruthy();
    // The timeline marks it failed, and the steps after it never ran.
    const timeline = screen.getByRole('region', { name: 'Operations' });
    const steps = [...timeline.querySelectorAll('ol > li')];
    expect(steps.map((s) => s.querySelector('.badge')?.textContent)).toEqual(['succeeded', 'failed', 'skipped']);
    // The failure comes before everything but the header.
    expect(failure.compareDocumentPosition(timeline) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  });

  it('never renders a sensitive output’s value, even one the API failed to mask', async () => {
    const job = failedInPlan();
    job.status = { ...job.status, result: 'succeeded', reason: 'succeeded', outputsKey: `outputs/${JOB_ID}.json` };
    delete job.status.failure;
    const { container } = open(
      api(job, {
        [`GET /v1/stack-jobs/${JOB_ID}/outputs`]: {
          body: {
            jobId: JOB_ID,
            outputs: {
              cluster_endpoint: { sensitive: false, type: 'string', value: 'https://ABCD.gr7.us-east-1.eks.amazonaws.com' },
              kubeconfig_token: { sensitive: true, type: 'string', value: '***' },
              admin_password: { sensitive: true, type: 'string', value: 'hunter2-not-masked' },
            },
          },
        },
      }),
    );

    const outputs = await screen.findByRole('table', { name: `Outputs of ${JOB_ID}` });
    expect(within(outputs).getByText('"https://ABCD.gr7.us-east-1.eks.amazonaws.com"'.slice(1, -1))).toBeTruthy();
    const token = within(outputs).getByRole('rowheader', { name: 'kubeconfig_token' }).closest('tr')!;
    expect(within(token).getByText('(sensitive)')).toBeTruthy();
    expect(container.textContent).not.toContain('hunter2');
    expect(container.textContent).not.toContain('***');
  });

  it('filters and highlights log lines by the search', async () => {
    open(api(failedInPlan()));

    const logs = await screen.findByRole('region', { name: 'Logs' });
    const text = within(logs).getByLabelText('Log text');
    await waitFor(() => expect(text.textContent).toContain('Initializing the backend...'));
    await userEvent.type(within(logs).getByLabelText('Search logs'), 'REPLACED');
    expect(text.textContent).toBe('test_instance.test must be replaced\n');
    expect(within(text).getByText('replaced').tagName).toBe('MARK');
    expect(within(logs).getByText('1 matching line')).toBeTruthy();
  });

  it('follows running logs with the cursor, appending only what was written since', async () => {
    const job = running();
    const { calls } = open(
      api(job, {
        [`GET /v1/stack-jobs/${JOB_ID}/logs`]: [
          { body: { jobId: JOB_ID, phase: 'running', text: 'init line\n', chunks: 1, cursor: 'c1' }, headers: { etag: '"l1"' } },
          { body: { jobId: JOB_ID, phase: 'running', text: 'refresh line\n', chunks: 1, cursor: 'c2' }, headers: { etag: '"l2"' } },
          { body: { jobId: JOB_ID, phase: 'completed', text: '', chunks: 0, cursor: 'c2' } },
        ],
        [`GET /v1/stack-jobs/${JOB_ID}/plan/changes`]: { status: 404, body: problem(404, 'Not found', 'no plan yet') },
      }),
    );

    const text = await screen.findByLabelText('Log text');
    await waitFor(() => expect(text.textContent).toBe('init line\nrefresh line\n'));
    const reads = calls.filter((r) => r.path.endsWith('/logs'));
    await waitFor(() => expect(reads.length).toBeGreaterThanOrEqual(3));
    expect(reads.map((r) => r.query.get('cursor'))).toEqual([null, 'c1', 'c2']);
    expect(await screen.findByText('The job has ended: these are all its logs.')).toBeTruthy();
  });

  it('reads one operation of one phase', async () => {
    const { calls } = open(api(failedInPlan()));
    const logs = await screen.findByRole('region', { name: 'Logs' });
    const operation = within(logs).getByRole('combobox', { name: 'Operation' }) as HTMLSelectElement;
    expect(operation.disabled).toBe(true);
    await userEvent.selectOptions(within(logs).getByRole('combobox', { name: 'Phase' }), 'preview');
    await userEvent.selectOptions(operation, 'plan');
    // The new selection is read from its start.
    await waitFor(() => expect(calls.some((r) => r.path.endsWith('/logs') && r.query.get('operation') === 'plan')).toBe(true));
    const first = calls.find((r) => r.path.endsWith('/logs') && r.query.get('operation') === 'plan')!;
    expect(Object.fromEntries(first.query)).toEqual({ phase: 'preview', operation: 'plan' });
  });

  it('downloads the logs as a text file', async () => {
    const blobs: Blob[] = [];
    const { createObjectURL, revokeObjectURL } = URL;
    URL.createObjectURL = (b: Blob) => (blobs.push(b), 'blob:http://console.test/1');
    URL.revokeObjectURL = () => undefined;
    // The link the page clicks: jsdom cannot follow it, so it is caught and read instead.
    const saved: HTMLAnchorElement[] = [];
    const save = (e: MouseEvent) => {
      if (e.target instanceof HTMLAnchorElement) {
        saved.push(e.target);
        e.preventDefault();
      }
    };
    document.addEventListener('click', save, true);
    try {
      open(api(failedInPlan()));
      const download = await screen.findByRole('button', { name: 'Download logs' });
      await waitFor(() => expect((download as HTMLButtonElement).disabled).toBe(false));
      await userEvent.click(download);
      expect(blobs).toHaveLength(1);
      expect(saved.map((a) => [a.download, a.href])).toEqual([[`${JOB_ID}-all.log`, 'blob:http://console.test/1']]);
      const text = await new Promise<string>((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result as string);
        reader.readAsText(blobs[0]);
      });
      expect(text).toBe(PLAN_LOG);
      expect(blobs[0].type).toMatch(/^text\/plain/);
    } finally {
      document.removeEventListener('click', save, true);
      URL.createObjectURL = createObjectURL;
      URL.revokeObjectURL = revokeObjectURL;
    }
  });

  it('names the job holding the stack while queued', async () => {
    const job = awaitingApproval();
    job.status = {
      ...job.status,
      phase: 'queued',
      queuePosition: 2,
      operations: job.status.operations.map((o) => ({ name: o.name, status: 'pending', result: 'tbd', errors: [] })),
    };
    delete job.status.plan;
    delete job.status.approval;
    delete job.status.startedAt;
    const holder = 'sj_01jsrmz8q4w2e6r8t0y2u4i6o8';
    open(
      api(job, {
        ['GET /v1/orgs/acmecorp/envs/production/resources/eks_01jq5xe4z7farkgenqsh47c1h0']: {
          body: {
            org: 'acmecorp',
            env: 'production',
            resourceId: 'eks_01jq5xe4z7farkgenqsh47c1h0',
            lease: { holder, since: '2025-04-24T09:10:00.000Z', expiresAt: new Date(Date.now() + 600_000).toISOString(), fencingToken: 7 },
          },
        },
      }),
    );
    expect(await screen.findByText('#2')).toBeTruthy();
    expect((await screen.findByRole('link', { name: holder })).getAttribute('href')).toBe(`/jobs/${holder}`);
  });

  it("shows a drift check's drift from its drift changes, attribute by attribute, and no plan", async () => {
    const job = failedInPlan();
    job.spec = { ...job.spec, operations: ['init', 'refresh'], driftCheck: { remediate: 'none' } };
    const checkedAt = '2025-04-24T09:13:31.000Z';
    job.status = {
      ...job.status,
      result: 'succeeded',
      reason: 'drift_checked',
      // A drift check's operations: init and its refresh-only plan.
      operations: [job.status.operations[0], { ...job.status.operations[0], name: 'refresh' }],
      drift: { checkedAt, total: 1, resources: [{ address: 'test_instance.should_refresh', actions: ['update'] }] },
    };
    delete job.status.failure;
    const { calls } = open(
      api(job, {
        [`GET /v1/stack-jobs/${JOB_ID}/drift/changes`]: { body: { jobId: JOB_ID, checkedAt, total: 1, drift: planChanges().drift } },
      }),
    );

    const drift = await screen.findByRole('region', { name: 'Drift' });
    expect(await within(drift).findByText('1 resource drifted')).toBeTruthy();
    await userEvent.click(within(drift).getByRole('button', { name: 'test_instance.should_refresh' }));
    const ami = within(drift).getByRole('rowheader', { name: 'ami' }).closest('tr')!;
    expect(
      within(ami)
        .getAllByRole('cell')
        .map((c) => c.textContent),
    ).toEqual(['"refresh-me"', '→ "refreshed"']);
    expect(screen.queryByRole('region', { name: 'Plan' })).toBeNull();
    expect(calls.some((r) => r.path.endsWith('/plan/changes'))).toBe(false);
  });

  it('has no serious or critical accessibility violation, plan expanded and approval open', async () => {
    const job = awaitingApproval();
    job.spec.essentials.flowControlPolicy.approvers = [{ subject: approver.subject, environments: ['production'] }, { subject: 'lee@acmecorp.example' }];
    const { container } = open(api(job));
    const plan = await screen.findByRole('region', { name: 'Plan' });
    for (const address of ['test_instance.test', 'test_instance.test[1]']) await userEvent.click(await within(plan).findByRole('button', { name: address }));
    await within(screen.getByRole('region', { name: 'Logs' })).findByText(/Initializing the backend/);
    // Contrast needs a real renderer: the browser tests scan for it.
    const { violations } = await axe.run(container, { resultTypes: ['violations'], rules: { 'color-contrast': { enabled: false } } });
    expect(
      violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`),
    ).toEqual([]);
  });

  it("says no such job for another org's job, and shows nothing of it", async () => {
    open({
      [`GET /v1/stack-jobs/${JOB_ID}`]: { status: 404, body: problem(404, 'Not found', `stack job ${JOB_ID} not found`) },
    });
    expect(await screen.findByRole('heading', { level: 1, name: 'No such job' })).toBeTruthy();
    expect(screen.queryByRole('region', { name: 'Plan' })).toBeNull();
    expect(screen.queryByRole('button')).toBeNull();
  });
});
