/**
 * A task token never travels on in an error: every call made with one rethrows the SDK's error without it (same name
 * and metadata, so retries still decide on them), since the callers log those errors or record them on the job.
 */
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { decideApproval, type DecisionDeps } from '../../lambdas/approvals/decide';
import { withoutTokenError } from '../../lambdas/shared/task-token';
import { wakeParked } from '../../lambdas/workflow/wake';
import type { StackJob } from '../../lambdas/domain/schemas';
import { TaskReporter } from '../../runner-image/src/task-reporter';
import { makeJob, NOW } from '../support/domain-fixtures';

const TOKEN = `AQB4AAAAKgAAAAMAAAAAAAAAAfake${'Tk9UQVJFQUxUT0tFTg'.repeat(30)}`;
/** An SDK error as a service might word it, quoting the token (throttled, so a caller would retry it). */
const quoting = () =>
  Object.assign(new Error(`Rate exceeded for taskToken=${TOKEN} (retry later)`), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
const pieces = (s: string) => Array.from({ length: s.length - 39 }, (_, i) => s.slice(i, i + 40));
const expectNoToken = (e: unknown) => {
  const text = `${(e as Error).message} ${(e as Error).stack ?? ''}`;
  expect(pieces(TOKEN).filter((p) => text.includes(p))).toEqual([]);
};

it('keeps the name and SDK metadata of the error it scrubs', () => {
  const e = withoutTokenError(quoting(), TOKEN);
  expect(e).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded for taskToken=*** (retry later)' });
});

it("the runner's reports (success, failure, heartbeat) rethrow without the token", async () => {
  const sfn = mockClient(SFNClient);
  sfn.onAnyCommand().rejects(quoting());
  const reporter = new TaskReporter(new SFNClient({ region: 'us-east-1' }), TOKEN);
  for (const call of [() => reporter.success({ phase: 'update' } as never), () => reporter.heartbeat()]) {
    const e = await call().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as Error).name).toBe('ThrottlingException');
    expectNoToken(e);
  }
  expect(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.taskToken).toBe(TOKEN);
  sfn.restore();
});

it('waking a parked job rethrows without the token', async () => {
  const e = await wakeParked(
    {
      locks: { takeWaiter: async () => ({ jobId: 'sj', taskToken: TOKEN }), restoreWaiter: async () => undefined } as never,
      tasks: { succeed: async () => Promise.reject(quoting()) },
    },
    'sj',
  ).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect((e as Error).name).toBe('ThrottlingException');
  expectNoToken(e);
});

it('a decision whose resume failed rethrows without the token (the API logs it)', async () => {
  const job: StackJob = makeJob();
  const awaiting: StackJob = {
    ...job,
    status: {
      ...job.status,
      phase: 'awaiting_approval',
      approval: { id: 'apr_1', requestedAt: NOW.toISOString(), expiresAt: new Date(NOW.getTime() + 3600_000).toISOString() } as never,
    },
  };
  const d: DecisionDeps = {
    jobs: { update: async (_id, mutate) => mutate(awaiting) },
    approvalItems: { getTaskToken: async () => TOKEN, clearTaskToken: async () => undefined },
    tasks: { succeed: async () => Promise.reject(quoting()), fail: async () => Promise.reject(quoting()) },
    events: { publish: async () => undefined },
    clock: { now: () => NOW },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    metrics: { decided: () => undefined } as never,
    sleep: async () => undefined,
  };
  const e = await decideApproval(d, { jobId: job.metadata.id, decision: 'approved', decider: { subject: 'approver@acmecorp.example', channel: 'api' } }).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect((e as Error).name).toBe('ThrottlingException');
  expectNoToken(e);
});
