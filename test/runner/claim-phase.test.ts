/** The runner records which task runs a phase, so that a cancel stops the right task (runner-image/src/task-arn.ts). */
import { cancelCaseOf } from '../../lambdas/approvals/approval-rules';
import type { StackJob } from '../../lambdas/domain/schemas';
import { transitionOperation } from '../../lambdas/domain/status';
import { claimPhase } from '../../runner-image/src/task-arn';
import { makeJob } from '../support/domain-fixtures';

const PREVIEW_TASK = 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs/preview0000000000000000000';

/** A job whose preview ran (its task recorded) and whose approved update is starting. */
function approvedJob(): StackJob {
  const job = makeJob();
  return { ...job, status: { ...job.status, phase: 'running', runnerTask: { arn: PREVIEW_TASK, phase: 'preview' } } };
}

/** A job whose preview task is starting: its operations pending. */
function previewingJob(): StackJob {
  const job = makeJob();
  return {
    ...job,
    status: { ...job.status, operations: job.spec.operations.map((name) => ({ name, status: 'pending' as const, result: 'tbd' as const, errors: [] })) },
  };
}

function store(job: StackJob) {
  let current = job;
  return {
    get: () => current,
    update: async (_id: string, mutate: (j: StackJob) => StackJob) => (current = mutate(current)),
  };
}

it("records the update's task, so a cancel during the update only records itself", async () => {
  const jobs = store(approvedJob());
  await claimPhase(jobs, 'sj', 'update', 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs/update');
  expect(jobs.get().status.runnerTask).toEqual({ arn: 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs/update', phase: 'update' });
  expect(cancelCaseOf(jobs.get())).toBe('record_only');
});

it("drops the preview's task when the update's own ARN is unknown: a cancel must not stop that finished task and end a job whose update goes on", async () => {
  const jobs = store(approvedJob());
  expect(cancelCaseOf(jobs.get())).toBe('stop_runner');
  await claimPhase(jobs, 'sj', 'update', undefined);
  expect(jobs.get().status.runnerTask).toBeUndefined();
  expect(cancelCaseOf(jobs.get())).toBe('record_only');
});

it("stops nothing for a cancel of an approved job whose update task has not claimed it yet: the task it names is the finished preview's", () => {
  const job = approvedJob();
  const decision = {
    decision: 'approved' as const,
    by: 'approver@acmecorp.example',
    at: '2026-12-07T00:00:00.000Z',
    channel: 'api' as const,
    planDigest: 'a'.repeat(64),
  };
  const approval = { id: 'apr_1', requestedAt: decision.at, expiresAt: '2026-12-07T01:00:00.000Z', planDigest: decision.planDigest };
  expect(cancelCaseOf({ ...job, status: { ...job.status, approval } })).toBe('stop_runner');
  expect(cancelCaseOf({ ...job, status: { ...job.status, approval: { ...approval, decision } } })).toBe('record_only');
});

it("keeps a preview's own record when its ARN is unknown (nothing stale to drop)", async () => {
  const job = approvedJob();
  const jobs = store(job);
  await claimPhase(jobs, 'sj', 'preview', undefined);
  expect(jobs.get().status.runnerTask).toEqual({ arn: PREVIEW_TASK, phase: 'preview' });
});

describe("what rides on the claim (a preview's init starting: one write instead of two)", () => {
  const started = (j: StackJob): StackJob => transitionOperation(j, 'init', 'running', 'tbd', new Date('2026-12-07T00:00:00.000Z'));
  const init = (j: StackJob) => j.status.operations.find((o) => o.name === 'init')?.status;
  let writes = 0;
  const counted = (job: StackJob) => {
    const s = store(job);
    return { ...s, update: (id: string, mutate: (j: StackJob) => StackJob) => (writes++, s.update(id, mutate)) };
  };
  beforeEach(() => (writes = 0));

  it('is written with the task, in the same write', async () => {
    const jobs = counted(previewingJob());
    await claimPhase(jobs, 'sj', 'preview', PREVIEW_TASK, started);
    expect(writes).toBe(1);
    expect(init(jobs.get())).toBe('running');
    expect(jobs.get().status.runnerTask).toEqual({ arn: PREVIEW_TASK, phase: 'preview' });
  });

  it('is not written when a cancel came first: the claim refuses and nothing starts', async () => {
    const job = previewingJob();
    const jobs = counted({ ...job, status: { ...job.status, cancelRequested: { by: 'user:ana', at: '2026-12-07T00:00:00.000Z' } } });
    await expect(claimPhase(jobs, 'sj', 'preview', PREVIEW_TASK, started)).rejects.toThrow(/cancelled before the preview phase started/);
    expect(init(jobs.get())).toBe('pending');
  });
});
