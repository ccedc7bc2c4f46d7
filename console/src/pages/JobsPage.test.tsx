import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { JobsPage } from './JobsPage';
import { renderSignedIn, type Recorded } from '../test-support';

function job(id: string, over: { phase?: string; result?: string; reason?: string; queuePosition?: number } = {}) {
  return {
    apiVersion: 'infra-hub.planton.cloud/v1',
    kind: 'StackJob',
    metadata: { id, name: id, org: 'acmecorp', env: 'prod', version: { id: 'v2', message: 'bigger disk' }, submittedBy: 'dev@acmecorp.example' },
    spec: {
      apiResourceInfo: {
        kind: 'demo_bucket',
        id: 'res_1',
        name: 'orders-bucket',
        versionId: 'v2',
        triggerEvent: 'updated',
        eventCreatedBy: 'dev@acmecorp.example',
        spec: {},
      },
    },
    status: {
      phase: over.phase ?? 'completed',
      result: over.result ?? 'succeeded',
      ...(over.reason ? { reason: over.reason } : {}),
      ...(over.queuePosition !== undefined ? { queuePosition: over.queuePosition } : {}),
      createdAt: '2026-12-07T08:00:00.000Z',
      startedAt: '2026-12-07T08:00:01.000Z',
      ...(over.phase && over.phase !== 'completed' ? {} : { finishedAt: '2026-12-07T08:00:43.000Z' }),
      operations: [],
    },
  };
}

describe('JobsPage', () => {
  it("lists the org's jobs with resource, kind, env, state with reason, submitter and duration", async () => {
    renderSignedIn({
      element: <JobsPage />,
      path: '/jobs',
      route: (r) =>
        r.url.pathname === '/v1/stack-jobs'
          ? {
              status: 200,
              body: {
                items: [job('sj_1', { result: 'failed', reason: 'operation_failed' }), job('sj_2', { phase: 'queued', result: 'tbd', queuePosition: 2 })],
              },
            }
          : undefined,
    });
    expect(await screen.findByRole('link', { name: 'sj_1' })).toHaveAttribute('href', '/jobs/sj_1');
    const rows = screen.getAllByRole('row');
    expect(rows[1]).toHaveTextContent('orders-bucket');
    expect(rows[1]).toHaveTextContent('demo_bucket');
    expect(rows[1]).toHaveTextContent('prod');
    expect(rows[1]).toHaveTextContent('failed (operation failed)');
    expect(rows[1]).toHaveTextContent('dev@acmecorp.example');
    expect(rows[1]).toHaveTextContent('42 s');
    expect(rows[2]).toHaveTextContent('queued (#2)');
  });

  it('sends the filters to the API, and pages with the cursor', async () => {
    const user = userEvent.setup();
    const { calls } = renderSignedIn({
      element: <JobsPage />,
      path: '/jobs',
      route: (r: Recorded) =>
        r.url.pathname === '/v1/stack-jobs'
          ? { status: 200, body: r.url.searchParams.get('cursor') ? { items: [job('sj_old')] } : { items: [job('sj_new')], cursor: 'next-page' } }
          : undefined,
    });
    await screen.findByRole('link', { name: 'sj_new' });
    await user.selectOptions(screen.getByRole('combobox', { name: 'Phase' }), 'awaiting_approval');
    await user.type(screen.getByRole('searchbox', { name: 'Kind' }), 'demo_bucket{Enter}');
    await waitFor(() => {
      const last = calls.filter((c) => c.url.pathname === '/v1/stack-jobs').at(-1)!;
      expect(last.url.searchParams.get('phase')).toBe('awaiting_approval');
      expect(last.url.searchParams.get('kind')).toBe('demo_bucket');
      expect(last.url.searchParams.get('org')).toBe('acmecorp');
    });
    await user.click(screen.getByRole('button', { name: 'Older' }));
    expect(await screen.findByRole('link', { name: 'sj_old' })).toBeInTheDocument();
    expect(
      calls
        .filter((c) => c.url.pathname === '/v1/stack-jobs')
        .at(-1)!
        .url.searchParams.get('cursor'),
    ).toBe('next-page');
    expect(screen.getByRole('button', { name: 'Newer' })).toBeEnabled();
  });

  it('polls active jobs with If-None-Match and keeps the page on a 304', async () => {
    const { calls } = renderSignedIn({
      element: <JobsPage />,
      path: '/jobs',
      route: (r) =>
        r.url.pathname === '/v1/stack-jobs'
          ? r.headers.get('if-none-match') === '"v1"'
            ? { status: 304, headers: { etag: '"v1"' } }
            : { status: 200, body: { items: [job('sj_run', { phase: 'running', result: 'tbd' })] }, headers: { etag: '"v1"' } }
          : undefined,
    });
    await screen.findByRole('link', { name: 'sj_run' });
    await waitFor(() => expect(calls.filter((c) => c.headers.get('if-none-match') === '"v1"').length).toBeGreaterThan(0), { timeout: 5000 });
    expect(screen.getByRole('link', { name: 'sj_run' })).toBeInTheDocument();
  });
});
