import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Me, Schemas, StackJob } from '../api/client';
import { examples, memberOf, problem, renderPage, stackJob, type Handlers } from '../test/support';
import { ResourcePage } from './ResourcePage';

const RESOURCE = 'eks_01jq5xe4z7farkgenqsh47c1h0';
const BASE = `/v1/orgs/acmecorp/envs/production/resources/${RESOURCE}`;
const PAGE = `/orgs/acmecorp/envs/production/resources/${RESOURCE}`;
const HOLDER = 'sj_01jsrq2z9k3m4n5p6q7r8s9t0v';
const APPLIED = 'sj_01jsrnmwpnnc6n62h06xafcgxv';

/** A job of the resource, from the API's StackJob example. */
function job(id: string, status: Partial<StackJob['status']>, message?: string): StackJob {
  const j = stackJob(id, status);
  if (message) j.metadata.version.message = message;
  return j;
}

const resourceStatus: Schemas['ResourceStatus'] = {
  org: 'acmecorp',
  env: 'production',
  resourceId: RESOURCE,
  kind: 'aws_eks_cluster',
  lastJobId: APPLIED,
  lastResult: 'succeeded',
  lastFinishedAt: '2025-04-24T09:20:05.000Z',
  versionApplied: 'ver-01jsrnmrwjn57drj0ekht8hb93',
  lastAppliedJobId: APPLIED,
  drift: {
    checkedAt: '2025-04-25T06:00:12.000Z',
    jobId: 'sj_01jsv0c4d5e6f7g8h9j0k1m2n3',
    drifted: true,
    total: 1,
    resources: [{ address: 'aws_eks_node_group.main', actions: ['update'] }],
  },
  lease: { holder: HOLDER, since: '2025-04-25T08:01:00.000Z', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), fencingToken: 7 },
};

const stateLock: Schemas['StateLock'] = {
  org: 'acmecorp',
  env: 'production',
  resourceId: RESOURCE,
  stateKey: `stack-jobs/acmecorp/production/${RESOURCE}/terraform.tfstate`,
  backend: { id: 'tfcred_s3_backend_prod', type: 's3' },
  lock: {
    id: '6b8ce3f2-0c2e-4e0b-9d0c-0d5f8f1c9a47',
    operation: 'OperationTypeApply',
    who: 'runner@ip-10-0-1-23',
    created: '2025-04-24T09:13:02.123456Z',
    store: 's3-object',
    held: true,
  },
  leftBy: { jobId: APPLIED, phase: 'completed', result: 'failed' },
};

const outputs: Schemas['JobOutputs'] = {
  jobId: APPLIED,
  outputs: {
    cluster_endpoint: { sensitive: false, type: 'string', value: 'https://4f1c2e.gr7.us-east-1.eks.amazonaws.com' },
    // The API masks sensitive values; the page must not show one even if it came unmasked.
    kubeconfig_token: { sensitive: true, type: 'string', value: 'k8s-aws-v1.aHR0cHM6Ly9zdHMu' },
  },
};

const newest = job(HOLDER, { phase: 'running', result: 'tbd', startedAt: '2025-04-25T08:01:00.000Z' }, 'Scale EKS node group from 5 to 6 nodes');
const applied = job(APPLIED, { phase: 'completed', result: 'succeeded', startedAt: '2025-04-24T09:12:40.000Z', finishedAt: '2025-04-24T09:20:05.000Z' });
const oldest = job(
  'sj_01jsr0aaaabbbbccccddddeeee',
  { phase: 'completed', result: 'failed', reason: 'operation_failed', finishedAt: '2025-04-20T10:00:00.000Z' },
  'Create the cluster',
);

function handlers(extra: Handlers = {}): Handlers {
  return {
    [`GET ${BASE}`]: { body: { ...resourceStatus } },
    [`GET ${BASE}/state-lock`]: { body: stateLock },
    [`GET /v1/stack-jobs/${APPLIED}/outputs`]: { body: outputs },
    'GET /v1/stack-jobs': (call) =>
      call.query.get('cursor') === 'page-2' ? { body: { items: [oldest] } } : { body: { items: [newest, applied], cursor: 'page-2' } },
    ...extra,
  };
}

function open(me: Me, extra?: Handlers) {
  return renderPage(<ResourcePage />, { route: '/orgs/:org/envs/:env/resources/:resourceId', path: PAGE, me, handlers: handlers(extra) });
}

const operator = examples.Me; // operator and approver in acmecorp
const admin = memberOf('acmecorp', ['admin'], ['read', 'submit', 'admin']);
const viewer = memberOf('acmecorp', ['viewer'], ['read']);

const panel = (name: string) => screen.getByRole('heading', { level: 2, name }).closest('section')!;

describe('ResourcePage', () => {
  it('shows the lease and the lock holders, the job history linking to each job, and masks a sensitive output', async () => {
    const { calls } = open(viewer);
    expect(await screen.findByRole('heading', { level: 1, name: new RegExp(RESOURCE) })).toBeTruthy();

    const lease = await waitFor(() => panel('Lease and state lock'));
    expect(within(lease).getByRole('link', { name: HOLDER }).getAttribute('href')).toBe(`/jobs/${HOLDER}`);
    expect(await within(lease).findByText('runner@ip-10-0-1-23')).toBeTruthy();
    expect(within(lease).getByText('6b8ce3f2-0c2e-4e0b-9d0c-0d5f8f1c9a47')).toBeTruthy();

    const history = panel('Job history');
    const rows = await within(history).findAllByRole('row');
    expect(rows.slice(1).map((r) => within(r).getAllByRole('link')[0].getAttribute('href'))).toEqual([`/jobs/${HOLDER}`, `/jobs/${APPLIED}`]);
    expect(within(rows[1]).getByText('Scale EKS node group from 5 to 6 nodes')).toBeTruthy();
    const asked = calls.find((c) => c.path === '/v1/stack-jobs')!.query;
    expect([asked.get('org'), asked.get('env'), asked.get('resourceId')]).toEqual(['acmecorp', 'production', RESOURCE]);

    const out = panel('Outputs');
    const secret = (await within(out).findByRole('rowheader', { name: 'kubeconfig_token' })).closest('tr')!;
    expect(within(secret).getByText('(sensitive)')).toBeTruthy();
    expect(document.body.textContent).not.toContain('k8s-aws-v1');
    expect(within(out).getByText('https://4f1c2e.gr7.us-east-1.eks.amazonaws.com')).toBeTruthy();
  });

  it('pages through the job history with the cursor', async () => {
    const { calls } = open(viewer);
    const user = userEvent.setup();
    const history = await waitFor(() => panel('Job history'));
    await within(history).findByRole('link', { name: APPLIED });
    await user.click(within(history).getByRole('button', { name: 'Older' }));

    expect(await within(history).findByRole('link', { name: 'sj_01jsr0aaaabbbbccccddddeeee' })).toBeTruthy();
    expect(within(history).queryByRole('link', { name: APPLIED })).toBeNull();
    expect(calls.some((c) => c.path === '/v1/stack-jobs' && c.query.get('cursor') === 'page-2')).toBe(true);
    await user.click(within(history).getByRole('button', { name: 'Newer' }));
    expect(await within(history).findByRole('link', { name: APPLIED })).toBeTruthy();
  });

  it("lists the history in the resource's own columns: the trigger and version, not the resource again", async () => {
    open(viewer);
    const history = await waitFor(() => panel('Job history'));
    const row = (await within(history).findByRole('link', { name: APPLIED })).closest('tr')!;
    expect(
      within(history)
        .getAllByRole('columnheader')
        .map((h) => h.textContent),
    ).toEqual(['Job', 'Trigger', 'Version', 'State', 'Submitted by', 'Created', 'Duration']);
    expect(within(row).getByText('updated')).toBeTruthy();
    expect(within(row).getByText(examples.StackJob.metadata.version.message)).toBeTruthy();
  });

  it('uses the outputs the status carries, masked the same way', async () => {
    const { calls } = open(viewer, { [`GET ${BASE}`]: { body: { ...resourceStatus, outputs: outputs.outputs } } });
    const out = await waitFor(() => panel('Outputs'));
    expect(within(out).getByText('(sensitive)')).toBeTruthy();
    expect(document.body.textContent).not.toContain('k8s-aws-v1');
    expect(calls.some((c) => c.path.endsWith('/outputs'))).toBe(false);
  });

  it('says "No such resource" for a 404 and asks nothing else', async () => {
    const { calls } = open(viewer, {
      [`GET ${BASE}`]: { status: 404, body: problem(404, 'Not found', `resource ${RESOURCE} has no stack job yet`) },
    });
    expect(await screen.findByRole('heading', { level: 1, name: 'No such resource' })).toBeTruthy();
    expect(calls.map((c) => c.path)).toEqual(['/v1/me', BASE]);
  });

  it('lets an admin force-unlock the state with a reason, after confirming', async () => {
    let locked = true;
    const released = { ...stateLock, released: { by: 'admin@acmecorp.example', at: '2025-04-25T09:00:00.000Z', reason: 'runner killed mid-apply' } };
    const { calls } = open(admin, {
      [`GET ${BASE}`]: { body: { ...resourceStatus, lease: undefined } },
      [`GET ${BASE}/state-lock`]: () => (locked ? { body: stateLock } : { status: 404, body: problem(404, 'Not found', 'no lock') }),
      [`POST ${BASE}/state-lock/force-unlock`]: () => {
        locked = false;
        return { body: released };
      },
    });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Force unlock' }));
    const dialog = screen.getByRole('dialog', { name: 'Force unlock the state?' });
    await user.click(within(dialog).getByRole('button', { name: 'Force unlock' }));
    expect(within(dialog).getByRole('alert').textContent).toMatch(/Say why/);
    expect(calls.some((c) => c.method === 'POST')).toBe(false);

    await user.type(within(dialog).getByRole('textbox', { name: 'Reason' }), 'runner killed mid-apply');
    await user.click(within(dialog).getByRole('button', { name: 'Force unlock' }));

    expect((await screen.findByRole('status')).textContent).toMatch(/Released by admin@acmecorp.example .*: runner killed mid-apply/);
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ lockId: stateLock.lock.id, reason: 'runner killed mid-apply' });
    expect(await screen.findByText('No lock is held on the state.')).toBeTruthy();
  });

  it('lets an operator check drift and follows the new job, with no Force unlock', async () => {
    const check = job('sj_01jsw1drift0000000000000000', { phase: 'queued', result: 'tbd' });
    open(operator, { [`POST ${BASE}/drift-checks`]: { status: 202, body: check } });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Check drift' }));

    expect(await screen.findByRole('heading', { name: 'Job page sj_01jsw1drift0000000000000000' })).toBeTruthy();
  });

  it('shows a refused drift check where it happened, with the failed checks', async () => {
    open(operator, { [`POST ${BASE}/drift-checks`]: { status: 422, body: examples.PreflightFailedProblem } });
    const user = userEvent.setup();
    await screen.findByText('runner@ip-10-0-1-23');
    expect(screen.queryByRole('button', { name: 'Force unlock' })).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Check drift' }));

    const alert = await within(panel('Drift')).findByRole('alert');
    expect(alert.textContent).toContain('Could not check drift: one or more pre-flight checks failed');
    expect(within(alert).getByRole('heading', { name: /IaC module failed/ })).toBeTruthy();
  });

  it('offers a viewer neither Check drift nor Force unlock', async () => {
    open(viewer);
    await screen.findByText('runner@ip-10-0-1-23');
    expect(screen.queryByRole('button', { name: 'Check drift' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Force unlock' })).toBeNull();
  });
});
