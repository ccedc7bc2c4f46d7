/** The runner records which task runs a phase, so that a cancel stops the right task (runner-image/src/task-arn.ts). */
import { cancelCaseOf } from '../../lambdas/approvals/approval-rules';
import type { StackJob } from '../../lambdas/domain/schemas';
import { claimPhase } from '../../runner-image/src/task-arn';
import { makeJob } from '../support/domain-fixtures';

const PREVIEW_TASK = 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs/preview0000000000000000000';

/** A job whose preview ran (its task recorded) and whose approved update is starting. */
function approvedJob(): StackJob {
  const job = makeJob();
  return { ...job, status: { ...job.status, phase: 'running', runnerTask: { arn: PREVIEW_TASK, phase: 'preview' } } };
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

it("keeps a preview's own record when its ARN is unknown (nothing stale to drop)", async () => {
  const job = approvedJob();
  const jobs = store(job);
  await claimPhase(jobs, 'sj', 'preview', undefined);
  expect(jobs.get().status.runnerTask).toEqual({ arn: PREVIEW_TASK, phase: 'preview' });
});
