import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { vi } from 'vitest';
import type { StackJob } from '../api/client';
import { renderPage, stackJob, type Handler } from '../test/support';
import { JobsPage } from './JobsPage';

/** The StackJob example under `id`, ended (succeeded, 42 s after it started) unless `status` says otherwise. */
function job(id: string, status: Partial<StackJob['status']> = {}): StackJob {
  const ended = (status.phase ?? 'completed') === 'completed';
  return stackJob(id, {
    phase: 'completed',
    result: 'succeeded',
    createdAt: '2026-12-07T08:00:00.000Z',
    startedAt: '2026-12-07T08:00:01.000Z',
    ...(ended ? { finishedAt: '2026-12-07T08:00:43.000Z' } : {}),
    ...status,
  });
}

const open = (list: Handler) => renderPage(<JobsPage />, { path: '/jobs', handlers: { 'GET /v1/stack-jobs': list } });

describe('JobsPage', () => {
  it("lists the org's jobs with resource, kind, env, state with reason, submitter and duration", async () => {
    open(() => ({
      body: { items: [job('sj_1', { result: 'failed', reason: 'operation_failed' }), job('sj_2', { phase: 'queued', result: 'tbd', queuePosition: 2 })] },
    }));
    expect(await screen.findByRole('link', { name: 'sj_1' })).toHaveAttribute('href', '/jobs/sj_1');
    const rows = screen.getAllByRole('row');
    expect(rows[1]).toHaveTextContent('prod-api-cluster');
    expect(rows[1]).toHaveTextContent('aws_eks_cluster');
    expect(rows[1]).toHaveTextContent('production');
    expect(rows[1]).toHaveTextContent('failed (operation failed)');
    expect(rows[1]).toHaveTextContent('user@company.com');
    expect(rows[1]).toHaveTextContent('42 s');
    expect(rows[2]).toHaveTextContent('queued (#2)');
  });

  it('sends the filters to the API, and pages with the cursor', async () => {
    const user = userEvent.setup();
    const { calls } = open((call) => ({ body: call.query.get('cursor') ? { items: [job('sj_old')] } : { items: [job('sj_new')], cursor: 'next-page' } }));
    const lists = () => calls.filter((c) => c.path === '/v1/stack-jobs');
    await screen.findByRole('link', { name: 'sj_new' });
    await user.selectOptions(screen.getByRole('combobox', { name: 'Phase' }), 'awaiting_approval');
    await user.type(screen.getByRole('searchbox', { name: 'Kind' }), 'demo_bucket{Enter}');
    await waitFor(() => {
      const last = lists().at(-1)!;
      expect(last.query.get('phase')).toBe('awaiting_approval');
      expect(last.query.get('kind')).toBe('demo_bucket');
      expect(last.query.get('org')).toBe('acmecorp');
    });
    await user.click(screen.getByRole('button', { name: 'Older' }));
    expect(await screen.findByRole('link', { name: 'sj_old' })).toBeInTheDocument();
    expect(lists().at(-1)!.query.get('cursor')).toBe('next-page');
    expect(screen.getByRole('button', { name: 'Newer' })).toBeEnabled();
  });

  it('starts again from the newest page when a filter changes', async () => {
    const user = userEvent.setup();
    const { calls } = open((call) => ({ body: call.query.get('cursor') ? { items: [job('sj_old')] } : { items: [job('sj_new')], cursor: 'next-page' } }));
    await user.click(await screen.findByRole('button', { name: 'Older' }));
    await screen.findByRole('link', { name: 'sj_old' });
    expect(screen.getByRole('button', { name: 'Newer' })).toBeEnabled();

    await user.selectOptions(screen.getByRole('combobox', { name: 'Result' }), 'failed');
    expect(await screen.findByRole('link', { name: 'sj_new' })).toBeInTheDocument();
    const last = calls.filter((c) => c.path === '/v1/stack-jobs').at(-1)!;
    expect([last.query.get('result'), last.query.get('cursor')]).toEqual(['failed', null]);
    expect(screen.getByRole('button', { name: 'Newer' })).toBeDisabled();
  });

  it('polls active jobs with If-None-Match and keeps the page on a 304', async () => {
    const { calls } = open((call) =>
      call.headers.get('if-none-match') === '"v1"'
        ? { status: 304, headers: { etag: '"v1"' } }
        : { body: { items: [job('sj_run', { phase: 'running', result: 'tbd' })] }, headers: { etag: '"v1"' } },
    );
    await screen.findByRole('link', { name: 'sj_run' });
    await waitFor(() => expect(calls.filter((c) => c.headers.get('if-none-match') === '"v1"').length).toBeGreaterThan(0), { timeout: 5000 });
    expect(screen.getByRole('link', { name: 'sj_run' })).toBeInTheDocument();
  });

  it('reads a page of ended jobs again every 10 s, so a job submitted since appears without a reload', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      let reads = 0;
      open(() => {
        reads++;
        return { body: { items: reads === 1 ? [job('sj_old')] : [job('sj_new', { phase: 'running', result: 'tbd' }), job('sj_old')] } };
      });
      await screen.findByRole('link', { name: 'sj_old' });
      await act(async () => {
        await vi.advanceTimersByTimeAsync(5000);
      });
      expect(reads).toBe(1);
      await act(async () => {
        await vi.advanceTimersByTimeAsync(5000);
      });
      expect(await screen.findByRole('link', { name: 'sj_new' })).toBeInTheDocument();
    } finally {
      vi.useRealTimers();
    }
  });
});
