/**
 * The deployed state machine (extracted from the synthesized template) executed in aws-local-stepfunctions, with
 * the real workflow logic against dynalite and a fake runner. One synth and one dynalite for the whole file.
 */
import { extractStateMachine, type ExtractedStateMachine } from '../../infra/asl';
import { STATE } from '../../infra/constructs/state-machine';
import { stackKeyOfJob } from '../../lambdas/domain/stack-job';
import type { StackJob } from '../../lambdas/domain/schemas';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { handleExecutionEnded } from '../../lambdas/workflow/cleanup';
import { cancelJob, type CancelDeps } from '../../lambdas/approvals/cancel';
import { noMetrics } from '../../lambdas/workflow/metrics';
import { acquireLock, finishJob, requestApproval, STATUS_CHANGED, UNSTARTED_JOB_GRACE_MS, type WorkflowDeps } from '../../lambdas/workflow/lifecycle';
import { WorkflowErrorName } from '../../lambdas/workflow/errors';
import { transitionJob } from '../../lambdas/domain/status';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';
import { digestOf, eventually, LocalExecutor, makeDeps, recordingPublisher, RecordingStopper, type PublishedEvent } from './support/executor';
import { makeJob, type JobOptions } from './support/jobs';

let dynamo: TestDynamo;
let extracted: ExtractedStateMachine;
let executor: LocalExecutor;
let publisher: ReturnType<typeof recordingPublisher>;
let deps: WorkflowDeps;
let resourceSeq = 0;

beforeAll(async () => {
  extracted = extractStateMachine();
  dynamo = await startDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});
afterEach(() => {
  executor.broker.releaseAll();
});
beforeEach(() => {
  executor = new LocalExecutor(extracted);
  publisher = recordingPublisher();
  deps = makeDeps(dynamo, publisher);
});

/** A queued job on its own stack (unless a resource is named), written as the submission would. */
async function submit(options: JobOptions = {}): Promise<StackJob> {
  const job = makeJob({ resourceId: `res-${process.pid}-${++resourceSeq}`, ...options });
  expect(await deps.jobs.create(job)).toBe(true);
  return job;
}
const load = async (id: string) => (await deps.jobs.require(id)).job;
const awaitingApproval = (id: string) => eventually(async () => ((await load(id)).status.phase === 'awaiting_approval' ? true : undefined));
const eventsOf = (id: string): PublishedEvent[] => publisher.events.filter((e) => e.detail.jobId === id);
const transitionsOf = (id: string) => eventsOf(id).map((e) => `${e.detail.phase}/${e.detail.result}`);

/** What issue 5's decision does before resuming the execution: record the decision on the job. */
async function decide(id: string, decision: 'approved' | 'rejected'): Promise<string> {
  const token = await deps.approvalItems.getTaskToken(id);
  if (!token) throw new Error('no task token stored');
  await deps.jobs.update(id, (j) => ({
    ...j,
    status: {
      ...j.status,
      approval: {
        ...j.status.approval!,
        decision: { decision, by: 'approver@company.com', at: new Date().toISOString(), channel: 'api', planDigest: j.status.plan?.digest },
      },
    },
  }));
  if (decision === 'approved') executor.broker.succeed(token, { decision });
  else executor.broker.fail(token, 'StackJob.Rejected', JSON.stringify({ by: 'approver@company.com' }));
  return token;
}

async function expectLockFree(job: StackJob): Promise<void> {
  expect(await deps.locks.getLease(stackKeyOfJob(job))).toBeUndefined();
}

describe('a stack job run by the synthesized state machine', () => {
  it('previews, waits for approval, applies exactly the approved plan and records the outcome', async () => {
    const job = await submit();
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    const waiting = await load(job.metadata.id);
    expect(waiting.status.plan).toEqual({
      digest: digestOf(job.metadata.id),
      key: `jobs/${job.metadata.id}/plan/plan.bin`,
      summary: expect.objectContaining({ change: 1 }),
    });
    expect(waiting.status.approval).toEqual(expect.objectContaining({ id: expect.stringMatching(/^apr_/), planDigest: digestOf(job.metadata.id) }));
    expect(await deps.locks.getLease(stackKeyOfJob(job))).toEqual(expect.objectContaining({ ownerJobId: job.metadata.id }));

    const token = await decide(job.metadata.id, 'approved');
    await run.result;

    const done = await load(job.metadata.id);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded', outputsKey: `jobs/${job.metadata.id}/outputs.json` }));
    expect(done.status.durations).toEqual({ 'preview.init': 1, 'preview.plan': 2, 'update.apply': 1 });
    expect(done.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'plan:succeeded', 'apply:succeeded']);
    const update = executor.runnerCalls.find((c) => c.phase === 'update')!;
    expect(update.env).toEqual(
      expect.objectContaining({ STACKJOBS_JOB_ID: job.metadata.id, STACKJOBS_PHASE: 'update', STACKJOBS_PLAN_DIGEST: digestOf(job.metadata.id) }),
    );
    expect(executor.runnerCalls.find((c) => c.phase === 'preview')!.env).not.toHaveProperty('STACKJOBS_PLAN_DIGEST');
    expect(await deps.resources.get('acmecorp', 'production', job.spec.apiResourceInfo.id)).toEqual(
      expect.objectContaining({
        lastJobId: job.metadata.id,
        lastResult: 'succeeded',
        versionApplied: job.metadata.version.id,
        outputsKey: `jobs/${job.metadata.id}/outputs.json`,
      }),
    );
    expect(transitionsOf(job.metadata.id)).toEqual(['running/tbd', 'awaiting_approval/tbd', 'running/tbd', 'completed/succeeded']);
    expect(eventsOf(job.metadata.id).every((e) => e.detailType === STATUS_CHANGED)).toBe(true);
    expect(await deps.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    // The token travelled only through the task: never into the job, an event or the execution's output.
    const visible = JSON.stringify([done, publisher.events, await run.result]);
    for (const t of [token, ...executor.broker.minted]) expect(visible).not.toContain(t);
    await expectLockFree(job);
  });

  it('ends succeeded with the apply skipped when the preview finds no changes', async () => {
    const job = await submit();
    await executor.start(job.metadata.id, deps, { preview: { hasChanges: false } }).result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded', reason: 'no_changes' }));
    expect(done.status.operations.find((o) => o.name === 'apply')).toEqual(expect.objectContaining({ status: 'completed', result: 'skipped' }));
    expect(executor.runnerCalls.map((c) => c.phase)).toEqual(['preview']);
    expect(transitionsOf(job.metadata.id)).toEqual(['running/tbd', 'completed/succeeded']);
    await expectLockFree(job);
  });

  it("writes the job from the execution input when the submission's job write has not landed, and runs it", async () => {
    // The submission writes the job and starts the execution side by side; here the execution looks first.
    const job = makeJob({ resourceId: `res-${process.pid}-${++resourceSeq}` });
    expect(await deps.jobs.get(job.metadata.id)).toBeUndefined();
    await executor.start(job.metadata.id, deps, { preview: { hasChanges: false } }, job).result;
    const done = await load(job.metadata.id);
    expect(done.metadata).toEqual(job.metadata);
    expect(done.spec).toEqual(job.spec);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded', reason: 'no_changes' }));
    // The submission's own write, landing late, changes nothing.
    expect(await deps.jobs.create(job)).toBe(false);
    expect((await load(job.metadata.id)).status.phase).toBe('completed');
    await expectLockFree(job);
  });

  it('never overwrites a stored job with the snapshot in the execution input', async () => {
    const job = await submit();
    // Cancelled through the API after the write, before the first step: the input's queued snapshot must not revive it.
    await deps.jobs.update(job.metadata.id, (j) => ({
      ...j,
      status: { ...j.status, cancelRequested: { by: 'ops@company.com', at: new Date().toISOString() } },
    }));
    await executor.start(job.metadata.id, deps, {}, job).result;
    expect(executor.runnerCalls).toEqual([]);
    expect((await load(job.metadata.id)).status.cancelRequested).toEqual(expect.objectContaining({ by: 'ops@company.com' }));
    await expectLockFree(job);
  });

  it('ends cancelled when the approver rejects, without running the update', async () => {
    const job = await submit();
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    await decide(job.metadata.id, 'rejected');
    await run.result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'cancelled', reason: 'rejected' }));
    expect(executor.runnerCalls.map((c) => c.phase)).toEqual(['preview']);
    expect(transitionsOf(job.metadata.id).at(-1)).toBe('completed/cancelled');
    await expectLockFree(job);
  });

  it('does not run the update when the approval token is resumed without a recorded decision', async () => {
    const job = await submit();
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    // Anyone holding the token can call SendTaskSuccess; nobody approved through decide.ts.
    const token = (await deps.approvalItems.getTaskToken(job.metadata.id))!;
    executor.broker.succeed(token, { decision: 'approved' });
    await run.result;
    const done = await load(job.metadata.id);
    expect(executor.runnerCalls.map((c) => c.phase)).toEqual(['preview']);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'failed', reason: 'workflow_step_failed' }));
    expect(done.status.failure).toEqual({
      operation: 'workflow:record-approval',
      message: expect.stringContaining('no approval decision is recorded on the job'),
    });
    expect(done.status.operations.find((o) => o.name === 'apply')).toEqual(expect.objectContaining({ status: 'completed', result: 'skipped' }));
    expect(transitionsOf(job.metadata.id)).toEqual(['running/tbd', 'awaiting_approval/tbd', 'completed/failed']);
    expect(await deps.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    await expectLockFree(job);
  });

  it('does not run the update when the approval token is resumed with success but the recorded decision is a rejection', async () => {
    const job = await submit();
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    const token = (await deps.approvalItems.getTaskToken(job.metadata.id))!;
    await deps.jobs.update(job.metadata.id, (j) => ({
      ...j,
      status: {
        ...j.status,
        approval: { ...j.status.approval!, decision: { decision: 'rejected', by: 'approver@company.com', at: new Date().toISOString(), channel: 'api' } },
      },
    }));
    executor.broker.succeed(token, { decision: 'approved' });
    await run.result;
    const done = await load(job.metadata.id);
    expect(executor.runnerCalls.map((c) => c.phase)).toEqual(['preview']);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'failed', reason: 'workflow_step_failed' }));
    expect(done.status.failure?.message).toContain('the recorded decision is rejected');
    await expectLockFree(job);
  });

  it('ends cancelled with reason approval_expired when the approval task times out', async () => {
    const job = await submit({ approvalTimeoutMinutes: 90 });
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    // The window comes from the job's policy (TimeoutSecondsPath); 90 minutes is too long to sit through, so the
    // test delivers what Step Functions raises when it passes: States.Timeout on the approval task.
    const token = (await deps.approvalItems.getTaskToken(job.metadata.id))!;
    executor.broker.fail(token, 'States.Timeout', 'approval window passed');
    await run.result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'cancelled', reason: 'approval_expired' }));
    expect(await deps.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    await expectLockFree(job);
  });

  it('names the failed operation and releases the lock when the plan fails', async () => {
    const job = await submit();
    await executor.start(job.metadata.id, deps, { preview: { fail: { operation: 'plan', exitCode: 1, message: 'Error: Invalid provider configuration' } } })
      .result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(
      expect.objectContaining({
        phase: 'completed',
        result: 'failed',
        failure: { operation: 'plan', exitCode: 1, message: 'Error: Invalid provider configuration' },
      }),
    );
    expect(done.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'plan:failed', 'apply:skipped']);
    expect(eventsOf(job.metadata.id).at(-1)!.detail).toEqual(expect.objectContaining({ phase: 'completed', result: 'failed', failedOperation: 'plan' }));
    expect((await deps.resources.get('acmecorp', 'production', job.spec.apiResourceInfo.id))?.versionApplied).toBeUndefined();
    await expectLockFree(job);
  });

  it('names the failed operation and releases the lock when the apply fails', async () => {
    const job = await submit({ pauseBetweenPreviewAndUpdate: false });
    // A job that does not pause runs both phases in one task: the apply's failure is that task's.
    await executor.start(job.metadata.id, deps, {
      preview: { fail: { operation: 'apply', exitCode: 1, message: 'Error: creating EKS Node Group: AccessDenied' } },
    }).result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(
      expect.objectContaining({ phase: 'completed', result: 'failed', failure: expect.objectContaining({ operation: 'apply', exitCode: 1 }) }),
    );
    expect(executor.runnerCalls.map((c) => `${c.phase}@${c.state}`)).toEqual([`preview@${STATE.runPreviewAndUpdate}`]);
    expect(eventsOf(job.metadata.id).at(-1)!.detail).toEqual(expect.objectContaining({ result: 'failed', failedOperation: 'apply' }));
    await expectLockFree(job);
  });

  describe('on the runner pre-flight froze into the job', () => {
    const ORG_RUNNER = {
      id: 'sjr_acmecorp_private',
      cluster: 'arn:aws:ecs:us-east-1:111122223333:cluster/acmecorp-runners',
      taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-acmecorp:3',
      subnets: ['subnet-0a1', 'subnet-0b2'],
      securityGroups: ['sg-0c3'],
    };
    const calls = (id: string) => executor.runnerCalls.filter((c) => c.jobId === id);

    it('runs preview and update of an org runner job through the org runner states, with the org placement in the task input', async () => {
      const job = await submit({ runner: ORG_RUNNER });
      const run = executor.start(job.metadata.id, deps);
      await awaitingApproval(job.metadata.id);
      await decide(job.metadata.id, 'approved');
      await run.result;

      expect((await load(job.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded' }));
      expect(calls(job.metadata.id).map((c) => `${c.phase}@${c.state}`)).toEqual([
        `preview@${STATE.runPreviewOnOrgRunner}`,
        `update@${STATE.runUpdateOnOrgRunner}`,
      ]);
      for (const c of calls(job.metadata.id)) {
        expect(c.placement).toEqual({
          cluster: ORG_RUNNER.cluster,
          taskDefinition: ORG_RUNNER.taskDefinition,
          subnets: ORG_RUNNER.subnets,
          securityGroups: ORG_RUNNER.securityGroups,
          launchType: 'FARGATE',
          container: 'runner',
        });
        // The same environment contract as the platform runner.
        expect(Object.keys(c.env).sort()).toEqual(
          [
            'STACKJOBS_ARTIFACTS_BUCKET',
            'STACKJOBS_DEPLOYMENT_ID',
            'STACKJOBS_GRACE_SECONDS',
            'STACKJOBS_JOBS_TABLE',
            'STACKJOBS_JOB_ID',
            'STACKJOBS_OPERATION_TIMEOUT_SECONDS',
            'STACKJOBS_PHASE',
            'STACKJOBS_STATE_ROLE_ARN',
            'STACKJOBS_TASK_TOKEN',
            ...(c.phase === 'update' ? ['STACKJOBS_PLAN_DIGEST'] : []),
          ].sort(),
        );
      }
      expect(calls(job.metadata.id)[1].env.STACKJOBS_PLAN_DIGEST).toBe(digestOf(job.metadata.id));
      await expectLockFree(job);
    });

    it('runs an org runner job without preview straight to the org runner update', async () => {
      const job = await submit({ runner: ORG_RUNNER, previewBeforeUpdate: false, pauseBetweenPreviewAndUpdate: false });
      await executor.start(job.metadata.id, deps).result;
      expect((await load(job.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded' }));
      expect(calls(job.metadata.id).map((c) => c.state)).toEqual([STATE.runUpdateOnOrgRunner]);
      expect(calls(job.metadata.id)[0].env.STACKJOBS_PLAN_DIGEST).toBe('');
    });

    it('runs an org runner job that never pauses in one task on the org runner, started from Lock Acquired', async () => {
      const job = await submit({ runner: ORG_RUNNER, pauseBetweenPreviewAndUpdate: false });
      await executor.start(job.metadata.id, deps).result;
      expect((await load(job.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded' }));
      expect(calls(job.metadata.id).map((c) => `${c.phase}@${c.state}`)).toEqual([`preview@${STATE.runPreviewAndUpdateOnOrgRunner}`]);
      expect(calls(job.metadata.id)[0].placement.cluster).toBe(ORG_RUNNER.cluster);
      await expectLockFree(job);
    });

    it('fails an org runner preview through the same Catch as the platform one, naming the operation and releasing the lock', async () => {
      const job = await submit({ runner: ORG_RUNNER });
      await executor.start(job.metadata.id, deps, { preview: { fail: { operation: 'plan', exitCode: 1, message: 'Error: boom' } } }).result;
      expect((await load(job.metadata.id)).status).toEqual(
        expect.objectContaining({ phase: 'completed', result: 'failed', failure: { operation: 'plan', exitCode: 1, message: 'Error: boom' } }),
      );
      expect(calls(job.metadata.id).map((c) => c.state)).toEqual([STATE.runPreviewOnOrgRunner]);
      await expectLockFree(job);
    });

    it('runs a platform job (and a registered runner without a permitted placement) on the platform runner task', async () => {
      const platform = await submit({ pauseBetweenPreviewAndUpdate: false });
      const unplaced = await submit({ runner: { id: 'sjr_acmecorp_private' }, pauseBetweenPreviewAndUpdate: false });
      await executor.start(platform.metadata.id, deps).result;
      await executor.start(unplaced.metadata.id, deps).result;
      for (const job of [platform, unplaced]) {
        expect((await load(job.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded' }));
        expect(calls(job.metadata.id).map((c) => `${c.phase}@${c.state}`)).toEqual([`preview@${STATE.runPreviewAndUpdate}`]);
        for (const c of calls(job.metadata.id)) {
          expect(c.placement.cluster).toBe(`arn:aws:ecs:us-east-1:123456789012:cluster/${String(c.placement.cluster).split('/')[1]}`);
          expect(c.placement.cluster).not.toBe(ORG_RUNNER.cluster);
          expect(String(c.placement.taskDefinition)).toMatch(/RunnerTaskDefinition/);
        }
      }
    });
  });

  it('runs two jobs of one stack one after the other in submission order, whatever order they start in', async () => {
    const resourceId = `res-fifo-${process.pid}`;
    const first = await submit({ resourceId, pauseBetweenPreviewAndUpdate: false });
    const second = await submit({ resourceId, pauseBetweenPreviewAndUpdate: false });
    let secondWhileFirstRan: StackJob['status'] | undefined;
    // The newer job's execution starts first; it must still queue behind the older one.
    const runSecond = executor.start(second.metadata.id, deps);
    await eventually(async () => ((await load(second.metadata.id)).status.queuePosition === 1 ? true : undefined));
    const runFirst = executor.start(first.metadata.id, deps, {
      preview: {
        during: async () => {
          secondWhileFirstRan = (await load(second.metadata.id)).status;
        },
      },
    });
    await Promise.all([runFirst.result, runSecond.result]);

    expect(secondWhileFirstRan).toEqual(expect.objectContaining({ phase: 'queued', queuePosition: 1 }));
    // Neither pauses: each runs preview and update in one task.
    expect(executor.runnerCalls.map((c) => `${c.jobId === first.metadata.id ? 'first' : 'second'}:${c.state}`)).toEqual([
      `first:${STATE.runPreviewAndUpdate}`,
      `second:${STATE.runPreviewAndUpdate}`,
    ]);
    for (const j of [first, second]) expect((await load(j.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded' }));
    const lease = await deps.locks.read(stackKeyOfJob(first));
    expect(lease).toEqual({ stackKey: stackKeyOfJob(first), fencingToken: 2 }); // two holders, both released
  });
});

describe('a job whose policy does not pause', () => {
  const TASK = 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs-runner/11112222333344445555666677778888';
  /** As the runner does when its task starts (claimPhase): the task and phase are on the job. */
  const claimPreview = (id: string) => deps.jobs.update(id, (j) => ({ ...j, status: { ...j.status, runnerTask: { arn: TASK, phase: 'preview' } } }));
  const cancelThroughApi = async (id: string, stopper: RecordingStopper) => {
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const tasks = { sendSuccess: async () => undefined, fail: async () => undefined };
    const executions = { isRunning: async () => true };
    await cancelJob({ ...deps, tasks, log, executions, runnerTasks: stopper, metrics: noMetrics } as unknown as CancelDeps, id, 'ops@company.com');
  };

  it('previews and applies in one runner task (one start, clone and init), and records both phases', async () => {
    const job = await submit({ pauseBetweenPreviewAndUpdate: false });
    await executor.start(job.metadata.id, deps).result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded', reason: 'succeeded' }));
    expect(executor.runnerCalls.map((c) => `${c.phase}@${c.state}`)).toEqual([`preview@${STATE.runPreviewAndUpdate}`]);
    expect(executor.runnerCalls[0].env).toEqual(expect.objectContaining({ STACKJOBS_PHASE: 'preview', STACKJOBS_THEN_UPDATE: 'true' }));
    expect(done.status.plan?.digest).toBe(digestOf(job.metadata.id));
    expect(Object.keys(done.status.durations ?? {}).sort()).toEqual(['preview.init', 'preview.plan', 'update.apply']);
    expect(done.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'plan:succeeded', 'apply:succeeded']);
    await expectLockFree(job);
  });

  it('ends no_changes after the preview alone when the plan has no changes', async () => {
    const job = await submit({ pauseBetweenPreviewAndUpdate: false });
    await executor.start(job.metadata.id, deps, { preview: { hasChanges: false } }).result;
    expect((await load(job.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded', reason: 'no_changes' }));
    expect(executor.runnerCalls).toHaveLength(1);
  });

  it('still hands over to a second task when the policy pauses for approval', async () => {
    const job = await submit();
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    await decide(job.metadata.id, 'approved');
    await run.result;
    expect(executor.runnerCalls.map((c) => `${c.phase}@${c.state}`)).toEqual([`preview@${STATE.runPreview}`, `update@${STATE.runUpdate}`]);
    expect(executor.runnerCalls[0].env.STACKJOBS_THEN_UPDATE).toBeUndefined();
  });

  it('applies nothing when a cancel lands before the hand-over to the update: the runner is stopped and the job ends cancelled', async () => {
    const stopper = new RecordingStopper();
    const job = await submit({ pauseBetweenPreviewAndUpdate: false });
    await executor.start(job.metadata.id, deps, {
      preview: {
        during: async () => {
          await claimPreview(job.metadata.id);
          await cancelThroughApi(job.metadata.id, stopper);
        },
      },
    }).result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'cancelled', reason: 'cancelled' }));
    expect(done.status.operations.find((o) => o.name === 'apply')?.status).not.toBe('running');
    expect(done.status.durations?.['update.apply']).toBeUndefined();
    expect(stopper.stopped).toEqual([{ arn: TASK, reason: expect.stringContaining('cancelled by ops@company.com') }]);
    await expectLockFree(job);
  });

  it('never interrupts the update once it began: a cancel then is recorded and the job ends cancel_requested_during_update', async () => {
    const stopper = new RecordingStopper();
    const job = await submit({ pauseBetweenPreviewAndUpdate: false });
    await executor.start(job.metadata.id, deps, {
      preview: {
        during: () => claimPreview(job.metadata.id).then(() => undefined),
        beforeUpdate: () => cancelThroughApi(job.metadata.id, stopper),
      },
    }).result;
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(
      expect.objectContaining({
        phase: 'completed',
        result: 'succeeded',
        reason: 'cancel_requested_during_update',
        runnerTask: { arn: TASK, phase: 'update' },
      }),
    );
    expect(done.status.operations.find((o) => o.name === 'apply')).toEqual(expect.objectContaining({ status: 'completed', result: 'succeeded' }));
    expect(stopper.stopped).toEqual([]);
  });
});

describe('an execution that ends without its own cleanup path', () => {
  const endedEvent = (jobId: string, status: 'FAILED' | 'TIMED_OUT' | 'ABORTED') => ({
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:states:us-east-1:123456789012:execution:StackJobs:${jobId}`],
    detail: {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:StackJobs:${jobId}`,
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:StackJobs',
      name: jobId,
      status,
      startDate: Date.now(),
      stopDate: Date.now(),
    },
  });

  it('is marked and its lock released by the cleanup Lambda when aborted', async () => {
    const job = await submit();
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    run.abort();
    await run.result;
    expect((await load(job.metadata.id)).status.phase).toBe('awaiting_approval'); // no Catch ran
    expect(await deps.locks.getLease(stackKeyOfJob(job))).toEqual(expect.objectContaining({ ownerJobId: job.metadata.id }));

    expect(await handleExecutionEnded(deps, endedEvent(job.metadata.id, 'ABORTED'))).toEqual({ marked: true, released: true });
    const done = await load(job.metadata.id);
    expect(done.status).toEqual(expect.objectContaining({ phase: 'completed', result: 'cancelled', reason: 'execution_aborted' }));
    expect(eventsOf(job.metadata.id).at(-1)!.detail).toEqual(expect.objectContaining({ phase: 'completed', result: 'cancelled' }));
    expect(await deps.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    await expectLockFree(job);
    // A redelivered event changes nothing.
    expect(await handleExecutionEnded(deps, endedEvent(job.metadata.id, 'ABORTED'))).toEqual({ marked: false, released: false });
  });

  const TASK_ARN = 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs-runner/0123456789abcdef0123456789abcdef';
  const recordRunnerTask = (id: string, phase: 'preview' | 'update') =>
    deps.jobs.update(id, (j) => ({ ...j, status: { ...j.status, runnerTask: { arn: TASK_ARN, phase } } }));

  it('stops the runner task a running job recorded before it releases the lock (aborted while applying)', async () => {
    const stopper = new RecordingStopper();
    deps = makeDeps(dynamo, publisher, undefined, stopper);
    const job = await submit({ pauseBetweenPreviewAndUpdate: false });
    let applying!: () => void;
    let killed!: (e: Error) => void;
    const started = new Promise<void>((r) => (applying = r));
    // The runner keeps applying until StopTask; then its task settles (so the interpreter drops its timeout timer).
    const held = new Promise<void>((_r, reject) => (killed = reject));
    const run = executor.start(job.metadata.id, deps, { preview: { beforeUpdate: () => (applying(), held) } });
    try {
      await started;
      await recordRunnerTask(job.metadata.id, 'update'); // as the runner does when it starts
      run.abort();
      await run.result;
      expect(await deps.locks.getLease(stackKeyOfJob(job))).toEqual(expect.objectContaining({ ownerJobId: job.metadata.id }));

      expect(await handleExecutionEnded(deps, endedEvent(job.metadata.id, 'ABORTED'))).toEqual({ marked: true, released: true, runnerStopped: true });
      expect(stopper.stopped).toEqual([{ arn: TASK_ARN, reason: expect.stringContaining('execution ended ABORTED') }]);
    } finally {
      killed(new Error('SIGTERM'));
    }
    expect((await load(job.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'cancelled', reason: 'execution_aborted' }));
    await expectLockFree(job);
  });

  it('keeps the lock (to expire) when the runner task cannot be stopped, but still marks the job', async () => {
    const stopper = new RecordingStopper();
    stopper.failWith = { name: 'AccessDeniedException', message: 'not authorized to perform: ecs:StopTask' };
    deps = makeDeps(dynamo, publisher, undefined, stopper);
    const job = await submit();
    expect((await acquireLock(deps, job.metadata.id, 0)).outcome).toBe('acquired');
    await recordRunnerTask(job.metadata.id, 'preview');

    expect(await handleExecutionEnded(deps, endedEvent(job.metadata.id, 'TIMED_OUT'))).toEqual({ marked: true, released: false, runnerStopped: false });
    expect((await load(job.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'failed', reason: 'execution_timed_out' }));
    expect(await deps.locks.getLease(stackKeyOfJob(job))).toEqual(expect.objectContaining({ ownerJobId: job.metadata.id }));
    await deps.locks.release(stackKeyOfJob(job), job.metadata.id);
  });

  it('releases the lock when the runner task is already gone (ECS: the referenced task was not found)', async () => {
    const stopper = new RecordingStopper();
    stopper.failWith = { name: 'InvalidParameterException', message: 'The referenced task was not found.' };
    deps = makeDeps(dynamo, publisher, undefined, stopper);
    const job = await submit();
    expect((await acquireLock(deps, job.metadata.id, 0)).outcome).toBe('acquired');
    await recordRunnerTask(job.metadata.id, 'update');
    expect(await handleExecutionEnded(deps, endedEvent(job.metadata.id, 'FAILED'))).toEqual({ marked: true, released: true, runnerStopped: true });
    await expectLockFree(job);
  });

  it('never releases a lease that a newer job took over after the old one expired (fencing)', async () => {
    const resourceId = `res-fence-${process.pid}`;
    const old = await submit({ resourceId });
    const runOld = executor.start(old.metadata.id, deps);
    await awaitingApproval(old.metadata.id);
    runOld.abort();
    await runOld.result;

    // Ten days on, the old lease has expired; the newer job takes the stack and holds it while its preview runs.
    const later = makeDeps(dynamo, publisher, { now: () => new Date(Date.now() + 10 * 24 * 3600_000) });
    const newer = await submit({ resourceId, pauseBetweenPreviewAndUpdate: false });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const runNewer = executor.start(newer.metadata.id, later, { preview: { during: () => held } });
    await eventually(async () => ((await deps.locks.read(stackKeyOfJob(newer)))?.ownerJobId === newer.metadata.id ? true : undefined));

    // Only now does the old execution's cleanup arrive: it marks the old job but must leave the newer lease alone.
    expect(await handleExecutionEnded(later, endedEvent(old.metadata.id, 'FAILED'))).toEqual({ marked: true, released: false });
    expect((await load(old.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'failed', reason: 'execution_failed' }));
    expect(await deps.locks.read(stackKeyOfJob(newer))).toEqual(expect.objectContaining({ ownerJobId: newer.metadata.id, fencingToken: 2 }));

    release();
    await runNewer.result;
    expect((await load(newer.metadata.id)).status.result).toBe('succeeded');
    expect((await deps.locks.read(stackKeyOfJob(newer)))?.ownerJobId).toBeUndefined();
  });
});

describe('the approval task token', () => {
  const rawItem = async (pk: string, sk: string) => (await dynamo.db.send(new GetCommand({ TableName: JOBS, Key: { pk, sk }, ConsistentRead: true }))).Item;

  it("is kept in its own TOKEN# item, not on the job's JOB# item (which the runner's task role can read)", async () => {
    const job = await submit();
    const run = executor.start(job.metadata.id, deps);
    await awaitingApproval(job.metadata.id);
    const token = (await deps.approvalItems.getTaskToken(job.metadata.id))!;
    expect(token).toMatch(/^tok-/);
    const jobItem = await rawItem(`JOB#${job.metadata.id}`, 'JOB');
    expect(jobItem).toBeDefined();
    expect(JSON.stringify(jobItem)).not.toContain(token);
    expect(await rawItem(`TOKEN#${job.metadata.id}`, 'TOKEN')).toEqual(expect.objectContaining({ taskToken: token }));

    await decide(job.metadata.id, 'approved');
    await run.result;
    expect(await rawItem(`TOKEN#${job.metadata.id}`, 'TOKEN')).toBeUndefined();
  });

  it('is not stored for a job cancelled before its approval was requested', async () => {
    const job = await submit();
    await deps.jobs.update(job.metadata.id, (j) => {
      const running = transitionJob(j, 'running', 'tbd', new Date());
      return { ...running, status: { ...running.status, cancelRequested: { by: 'ops@company.com', at: new Date().toISOString() } } };
    });
    await expect(requestApproval(deps, job.metadata.id, 'tok-cancelled', 'digest')).rejects.toMatchObject({ name: WorkflowErrorName.cancelled });
    expect(await deps.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    expect((await load(job.metadata.id)).status.phase).toBe('running');
  });

  it('is removed when the finish step finds the job already completed', async () => {
    const job = await submit();
    await deps.jobs.update(job.metadata.id, (j) => transitionJob(j, 'completed', 'cancelled', new Date(), 'cancelled'));
    await deps.approvalItems.setTaskToken(job.metadata.id, 'tok-left-behind');
    await finishJob(deps, job.metadata.id, { kind: 'cancelled' });
    expect(await deps.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
  });
});

describe('the stack lock FIFO and jobs whose execution never started', () => {
  const at = (job: StackJob, ms: number) => makeDeps(dynamo, publisher, { now: () => new Date(Date.parse(job.status.createdAt) + ms) });

  it('an older queued job that never attempted the lock blocks a newer one within the grace period, and not after it', async () => {
    const resourceId = `res-orphan-${process.pid}`;
    const orphan = await submit({ resourceId }); // written, but its execution never started
    const newer = await submit({ resourceId });

    const within = await acquireLock(at(orphan, UNSTARTED_JOB_GRACE_MS - 60_000), newer.metadata.id, 0);
    expect(within).toEqual({ outcome: 'queued', next: 'wait', attempts: 1, queuePosition: 1 });
    expect((await load(newer.metadata.id)).status.lockAttemptAt).toBeDefined();

    const after = await acquireLock(at(orphan, UNSTARTED_JOB_GRACE_MS + 60_000), newer.metadata.id, 1);
    expect(after).toEqual(expect.objectContaining({ outcome: 'acquired', attempts: 1 }));
    expect((await deps.locks.read(stackKeyOfJob(newer)))?.ownerJobId).toBe(newer.metadata.id);
    expect((await load(orphan.metadata.id)).status.phase).toBe('queued');
    await deps.locks.release(stackKeyOfJob(newer), newer.metadata.id);
  });

  it('an older queued job that has attempted the lock keeps its place however old it is', async () => {
    const resourceId = `res-waiting-${process.pid}`;
    const older = await submit({ resourceId });
    const newer = await submit({ resourceId });
    await deps.jobs.update(older.metadata.id, (j) => ({ ...j, status: { ...j.status, lockAttemptAt: j.status.createdAt } }));
    expect(await acquireLock(at(older, 10 * UNSTARTED_JOB_GRACE_MS), newer.metadata.id, 0)).toEqual({
      outcome: 'queued',
      next: 'wait',
      attempts: 1,
      queuePosition: 1,
    });
  });
});
