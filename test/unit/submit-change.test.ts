/**
 * How a submission writes its job and starts its execution: side by side when the execution input carries the
 * snapshot (3 round trips), in order when it cannot, or when a failed write must not leave an execution behind.
 */
import { submitChange, type JobStore, type SubmissionDeps } from '../../lambdas/app/submit-change';
import { ulidIds } from '../../lambdas/domain/ids';
import type { StackJob } from '../../lambdas/domain/schemas';
import { EXECUTION_SNAPSHOT_MAX_BYTES, snapshotTravelsWithExecution } from '../../lambdas/domain/stack-job';
import { change, NOW, preflightDeps } from '../support/domain-fixtures';

/** Records the order of the job write and the start; the write takes a moment, so side by side shows as start first. */
function recordingDeps(): { deps: SubmissionDeps; steps: string[] } {
  const steps: string[] = [];
  const stored = new Map<string, StackJob>();
  const claims = new Map<string, StackJob>();
  const jobs: JobStore = {
    create: async (job) => {
      await new Promise((r) => setTimeout(r, 20));
      steps.push('job written');
      if (stored.has(job.metadata.id)) return false;
      stored.set(job.metadata.id, job);
      return true;
    },
    get: async (id) => (stored.has(id) ? { job: stored.get(id)!, rev: 1 } : undefined),
  };
  const idempotency: SubmissionDeps['idempotency'] = {
    claim: async (key, job) => {
      if (claims.has(key)) return { claimed: false, job: claims.get(key)! };
      claims.set(key, job);
      return { claimed: true, job };
    },
    find: async (key) => claims.get(key),
  };
  const clock = { now: () => NOW };
  return {
    steps,
    deps: { jobs, idempotency, preflight: preflightDeps(), starter: { start: async () => void steps.push('execution started') }, ids: ulidIds(clock), clock },
  };
}

it('writes the job and starts its execution side by side when the snapshot travels in the execution input', async () => {
  const { deps, steps } = recordingDeps();
  const outcome = await submitChange(change(), deps);
  expect(outcome.kind).toBe('created');
  expect(steps).toEqual(['execution started', 'job written']);
});

it('writes a snapshot too heavy for the execution input before it starts the execution', async () => {
  const { deps, steps } = recordingDeps();
  const heavy = change({ spec: { blob: 'x'.repeat(EXECUTION_SNAPSHOT_MAX_BYTES) } });
  const outcome = await submitChange(heavy, deps);
  expect(outcome.kind === 'created' && snapshotTravelsWithExecution(outcome.job)).toBe(false);
  expect(steps).toEqual(['job written', 'execution started']);
});

it('writes a rerun without a caller key before it starts it, so a failed write never leaves an execution behind', async () => {
  const { deps, steps } = recordingDeps();
  await submitChange(change(), deps, { rerunOf: 'sj_01jsrnmwpnnc6n62h06xafcgxv' });
  expect(steps).toEqual(['job written', 'execution started']);
});
