/**
 * Cancel and Rerun, for operators (the `submit` permission) only: each behind a confirmation that says what it will do.
 * A rerun opens the job it made.
 */
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { ApiError, must, type Schemas, type StackJob } from '../../api/client';
import { useMe } from '../../auth/session';
import { ConfirmDialog, ErrorNote, jobPath } from '../common';
import { isActive, when } from '../../format';
import './job.css';

type Action = 'cancel' | 'rerun';

/** What cancelling does to the job as it is now (the API's cancel cases, approval-rules.ts `cancelCaseOf`). */
export function cancelEffect(job: StackJob): string {
  const s = job.status;
  if (s.phase === 'queued') return 'The job leaves the queue and ends cancelled; nothing runs.';
  if (s.phase === 'awaiting_approval' && !s.approval?.decision) return 'The approval closes and the job ends cancelled; nothing is applied.';
  const updateStarted = s.operations.some((o) => (o.name === 'apply' || o.name === 'destroy') && o.status !== 'pending');
  if (!updateStarted && s.runnerTask?.phase === 'preview') return 'The runner is stopped during the preview and the job ends cancelled; nothing is applied.';
  return 'An apply or destroy under way is never interrupted: the request is recorded, the update finishes, and nothing runs after it.';
}

/** A key naming one rerun attempt, so that a retried request answers with the job it made instead of making another. */
function idempotencyKey(): string {
  const random = typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return `console-rerun-${random}`;
}

export function JobActions({ job, onChanged }: { job: StackJob; onChanged(): void }) {
  const { api, can } = useMe();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState<Action | undefined>();
  const [rerunKey, setRerunKey] = useState(idempotencyKey);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const id = job.metadata.id;
  if (!can(job.metadata.org, 'submit')) return null;

  const cancellable = isActive(job) && !job.status.cancelRequested;
  const rerunnable = job.status.phase === 'completed';
  const run = async (action: Action) => {
    setConfirming(undefined);
    setBusy(true);
    setError(undefined);
    try {
      if (action === 'cancel') {
        must(await api.POST('/v1/stack-jobs/{id}/cancel', { params: { path: { id } } }));
        onChanged();
      } else {
        const rerun = must(await api.POST('/v1/stack-jobs/{id}/rerun', { params: { path: { id }, header: { 'Idempotency-Key': rerunKey } } }));
        setRerunKey(idempotencyKey());
        void navigate(jobPath(rerun.metadata.id));
      }
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, (e as Error).message));
    } finally {
      setBusy(false);
    }
  };
  // A rerun that pre-flight refuses (422) says which checks failed.
  const checks = (error?.problem as Partial<Schemas['Problem']> | undefined)?.checks?.filter((c) => !c.passed);

  return (
    <div className="job-actions">
      {job.status.cancelRequested && (
        <p className="notice">
          Cancellation requested by {job.status.cancelRequested.by} at {when(job.status.cancelRequested.at)}.
        </p>
      )}
      {(cancellable || rerunnable) && (
        <div className="actions">
          {cancellable && (
            <button type="button" className="danger" disabled={busy} onClick={() => setConfirming('cancel')}>
              Cancel
            </button>
          )}
          {rerunnable && (
            <button type="button" disabled={busy} onClick={() => setConfirming('rerun')}>
              Rerun
            </button>
          )}
        </div>
      )}
      <ErrorNote error={error}>
        {checks && checks.length > 0 && (
          <ul>
            {checks.map((c) => (
              <li key={c.check}>
                {c.check}: {c.messages.join('; ')}
              </li>
            ))}
          </ul>
        )}
      </ErrorNote>
      {confirming && (
        <ConfirmDialog
          open
          title={confirming === 'cancel' ? 'Cancel this job?' : 'Rerun this job?'}
          confirmLabel={confirming === 'cancel' ? 'Cancel the job' : 'Yes, rerun'}
          dismissLabel={confirming === 'cancel' ? 'Keep the job' : 'Cancel'}
          onConfirm={() => void run(confirming)}
          onCancel={() => setConfirming(undefined)}
        >
          <p>
            {confirming === 'cancel'
              ? cancelEffect(job)
              : `A new job runs the same resource version (${job.metadata.version.id}) again, submitted by you; pre-flight runs again first.`}
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
