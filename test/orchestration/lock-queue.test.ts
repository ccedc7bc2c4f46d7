/**
 * The stack lock's waiting room: a job that finds its stack held parks on a task token instead of polling, and
 * whoever frees the stack wakes it (lifecycle.ts parkForLock / releaseAndWakeNext, state `Wait For Stack Lock`).
 * The synthesized state machine parks for lockWaitSeconds (300 s by default) before looking on its own, far beyond
 * this file's test timeout: a job that finishes here was woken.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { extractStateMachine, type ExtractedStateMachine } from '../../infra/asl';
import { lockWaitTokenKey } from '../../lambdas/adapters/dynamodb/keys';
import { cancelJob, type CancelDeps } from '../../lambdas/approvals/cancel';
import type { StackJob } from '../../lambdas/domain/schemas';
import { stackKeyOfJob } from '../../lambdas/domain/stack-job';
import { acquireLock, cleanupExecution, finishJob, parkForLock, releaseLock, wakeNextWaiter, type WorkflowDeps } from '../../lambdas/workflow/lifecycle';
import { transitionJob } from '../../lambdas/domain/status';
import { noMetrics } from '../../lambdas/workflow/metrics';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';
import { eventually, LocalExecutor, makeDeps, recordingPublisher, RecordingStopper } from './support/executor';
import { makeJob } from './support/jobs';

let dynamo: TestDynamo;
let extracted: ExtractedStateMachine;
let executor: LocalExecutor;
let deps: WorkflowDeps;
let seq = 0;

/** SendTaskSuccess as recorded: `gone` tokens answer TaskDoesNotExist (timed out, execution over). */
function recordingTasks(gone: string[] = []) {
  const woken: string[] = [];
  return {
    woken,
    succeed: async (token: string) => {
      if (gone.includes(token)) throw Object.assign(new Error('no task waits for that token'), { name: 'TaskDoesNotExist' });
      woken.push(token);
    },
    fail: async () => undefined,
  };
}

beforeAll(async () => {
  extracted = extractStateMachine();
  dynamo = await startDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});
beforeEach(() => {
  executor = new LocalExecutor(extracted);
  deps = makeDeps(dynamo, recordingPublisher());
});
afterEach(() => {
  executor.broker.releaseAll();
});

async function submit(resourceId: string, pause = false): Promise<StackJob> {
  const job = makeJob({ resourceId, pauseBetweenPreviewAndUpdate: pause });
  expect(await deps.jobs.create(job)).toBe(true);
  return job;
}
const load = async (id: string) => (await deps.jobs.require(id)).job;
const parkedToken = async (jobId: string) =>
  (await dynamo.db.send(new GetCommand({ TableName: JOBS, Key: lockWaitTokenKey(jobId), ConsistentRead: true }))).Item?.taskToken as string | undefined;
const newStack = () => `res-park-${process.pid}-${++seq}`;

it('parks a job behind a held stack without polling, and runs it as soon as the holder releases', async () => {
  const resourceId = newStack();
  const holder = await submit(resourceId, true);
  const waiter = await submit(resourceId);
  const runHolder = executor.start(holder.metadata.id, deps);
  await eventually(async () => ((await load(holder.metadata.id)).status.phase === 'awaiting_approval' ? true : undefined));

  const runWaiter = executor.start(waiter.metadata.id, deps);
  await eventually(parkedToken.bind(null, waiter.metadata.id));
  const parked = await load(waiter.metadata.id);
  expect(parked.status).toEqual(expect.objectContaining({ phase: 'queued', queuePosition: 1 }));
  // Parked, not polling: no further attempt at the lock (each attempt stamps lockAttemptAt) while the holder waits.
  await new Promise((r) => setTimeout(r, 700));
  expect((await load(waiter.metadata.id)).status.lockAttemptAt).toBe(parked.status.lockAttemptAt);
  // The token lives in its own item, never in the job document.
  expect(JSON.stringify(parked)).not.toContain((await parkedToken(waiter.metadata.id))!);

  const token = await deps.approvalItems.getTaskToken(holder.metadata.id);
  await deps.jobs.update(holder.metadata.id, (j) => ({
    ...j,
    status: {
      ...j.status,
      approval: {
        ...j.status.approval!,
        decision: { decision: 'approved', by: 'approver@company.com', at: new Date().toISOString(), channel: 'api', planDigest: j.status.plan?.digest },
      },
    },
  }));
  executor.broker.succeed(token!, { decision: 'approved' });
  await Promise.all([runHolder.result, runWaiter.result]);

  for (const j of [holder, waiter]) expect((await load(j.metadata.id)).status).toEqual(expect.objectContaining({ phase: 'completed', result: 'succeeded' }));
  expect(executor.runnerCalls.map((c) => `${c.jobId === holder.metadata.id ? 'holder' : 'waiter'}:${c.phase}`)).toEqual([
    'holder:preview',
    'holder:update',
    'waiter:preview', // the waiter does not pause: preview and update in one task
  ]);
  expect(await parkedToken(waiter.metadata.id)).toBeUndefined();
  expect(await deps.locks.getLease(stackKeyOfJob(waiter))).toBeUndefined();
});

describe('parkForLock', () => {
  it('wakes the job itself when the stack was freed before it parked (nobody else would)', async () => {
    const job = await submit(newStack());
    const tasks = recordingTasks();
    await parkForLock({ ...deps, tasks }, job.metadata.id, 'token-free-stack');
    expect(tasks.woken).toEqual(['token-free-stack']);
    expect(await parkedToken(job.metadata.id)).toBeUndefined();
  });

  it('stays parked while another job holds the stack', async () => {
    const resourceId = newStack();
    const holder = await submit(resourceId);
    const job = await submit(resourceId);
    expect((await deps.locks.tryAcquire(stackKeyOfJob(holder), holder.metadata.id, new Date(Date.now() + 3_600_000))).acquired).toBe(true);
    const tasks = recordingTasks();
    await parkForLock({ ...deps, tasks }, job.metadata.id, 'token-held-stack');
    expect(tasks.woken).toEqual([]);
    expect(await parkedToken(job.metadata.id)).toBe('token-held-stack');
  });

  it('stays parked on a free stack while an older job is still on its way to the lock', async () => {
    const resourceId = newStack();
    await submit(resourceId);
    const newer = await submit(resourceId);
    const tasks = recordingTasks();
    await parkForLock({ ...deps, tasks }, newer.metadata.id, 'token-behind-older');
    expect(tasks.woken).toEqual([]);
  });

  it('wakes the job itself when it was cancelled, so its execution ends now', async () => {
    const resourceId = newStack();
    const holder = await submit(resourceId);
    const job = await submit(resourceId);
    await deps.locks.tryAcquire(stackKeyOfJob(holder), holder.metadata.id, new Date(Date.now() + 3_600_000));
    await deps.jobs.update(job.metadata.id, (j) => ({
      ...j,
      status: { ...j.status, cancelRequested: { by: 'ops@company.com', at: new Date().toISOString() } },
    }));
    const tasks = recordingTasks();
    await parkForLock({ ...deps, tasks }, job.metadata.id, 'token-cancelled');
    expect(tasks.woken).toEqual(['token-cancelled']);
  });

  it('wakes the job itself when the cancel landed while it was parking (the cancel found no token to wake)', async () => {
    const resourceId = newStack();
    const holder = await submit(resourceId);
    const job = await submit(resourceId);
    await deps.locks.tryAcquire(stackKeyOfJob(holder), holder.metadata.id, new Date(Date.now() + 3_600_000));
    // The cancel is recorded after the park read the job and before its token is stored.
    const cancelFirst = Object.assign(Object.create(deps.locks) as typeof deps.locks, {
      parkWaiter: async (...args: Parameters<typeof deps.locks.parkWaiter>) => {
        await deps.jobs.update(job.metadata.id, (j) => ({
          ...j,
          status: { ...j.status, cancelRequested: { by: 'ops@company.com', at: new Date().toISOString() } },
        }));
        return deps.locks.parkWaiter(...args);
      },
    });
    const tasks = recordingTasks();
    await parkForLock({ ...deps, locks: cancelFirst, tasks }, job.metadata.id, 'token-cancel-race');
    expect(tasks.woken).toEqual(['token-cancel-race']);
  });
});

describe('waking the next job', () => {
  it('wakes the oldest parked job only, passing over a token that is no longer valid', async () => {
    const resourceId = newStack();
    const [timedOut, oldest, newer] = [await submit(resourceId), await submit(resourceId), await submit(resourceId)];
    await deps.locks.parkWaiter(stackKeyOfJob(timedOut), timedOut.metadata.id, 'token-spent');
    await deps.locks.parkWaiter(stackKeyOfJob(oldest), oldest.metadata.id, 'token-oldest');
    await deps.locks.parkWaiter(stackKeyOfJob(newer), newer.metadata.id, 'token-newer');
    const tasks = recordingTasks(['token-spent']);
    expect(await wakeNextWaiter({ ...deps, tasks }, stackKeyOfJob(oldest))).toBe(oldest.metadata.id);
    expect(tasks.woken).toEqual(['token-oldest']);
    expect(await parkedToken(newer.metadata.id)).toBe('token-newer');
    expect(await parkedToken(timedOut.metadata.id)).toBeUndefined();
  });

  it("is done by a cancel through the API: the cancelled job's parked execution and the next parked job are woken", async () => {
    const resourceId = newStack();
    const [holder, cancelled, next] = [await submit(resourceId), await submit(resourceId), await submit(resourceId)];
    // The holder awaits approval; the other two are parked behind it.
    await deps.locks.tryAcquire(stackKeyOfJob(holder), holder.metadata.id, new Date(Date.now() + 3_600_000));
    await deps.jobs.update(holder.metadata.id, (j) => ({ ...j, status: { ...j.status, phase: 'awaiting_approval' } }));
    await deps.locks.parkWaiter(stackKeyOfJob(cancelled), cancelled.metadata.id, 'token-cancelled-job');
    await deps.locks.parkWaiter(stackKeyOfJob(next), next.metadata.id, 'token-next-job');
    const tasks = { ...recordingTasks(), fail: async () => undefined };
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const cancelDeps = { ...deps, tasks, log, runnerTasks: new RecordingStopper(), metrics: noMetrics } as unknown as CancelDeps;

    await cancelJob(cancelDeps, cancelled.metadata.id, 'ops@company.com');
    expect(tasks.woken).toEqual(['token-cancelled-job']);
    await cancelJob(cancelDeps, holder.metadata.id, 'ops@company.com');
    expect(tasks.woken).toEqual(['token-cancelled-job', 'token-next-job']);
    expect(await deps.locks.getLease(stackKeyOfJob(holder))).toBeUndefined();
  });
});

describe('after review', () => {
  it('does not let a job the stack index still shows running hold back the next one (read again, consistently)', async () => {
    const resourceId = newStack();
    const [older, job] = [await submit(resourceId), await submit(resourceId)];
    const staleCopy = await load(older.metadata.id);
    await deps.jobs.update(older.metadata.id, (j) => transitionJob(transitionJob(j, 'running', 'tbd', new Date()), 'completed', 'succeeded', new Date()));
    // The index lags: it still lists the older job as running.
    const stale = {
      ...deps,
      jobs: Object.assign(Object.create(deps.jobs) as typeof deps.jobs, {
        listOpenInStack: async () => [{ ...staleCopy, status: { ...staleCopy.status, phase: 'running' as const } }, await load(job.metadata.id)],
      }),
    };
    expect((await acquireLock(stale, job.metadata.id, 1)).outcome).toBe('acquired');
  });

  it('puts a parked token back when the wake fails for another reason than the task being gone', async () => {
    const job = await submit(newStack());
    await deps.locks.parkWaiter(stackKeyOfJob(job), job.metadata.id, 'token-throttled');
    const throttled = {
      succeed: async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      },
    };
    await expect(wakeNextWaiter({ ...deps, tasks: throttled }, stackKeyOfJob(job))).rejects.toThrow('Rate exceeded');
    expect(await parkedToken(job.metadata.id)).toBe('token-throttled');
  });

  it('keeps the token out of the step error when a wake fails (it reaches the execution history and the job)', async () => {
    const resourceId = newStack();
    const [holder, job] = [await submit(resourceId), await submit(resourceId)];
    await deps.locks.tryAcquire(stackKeyOfJob(holder), holder.metadata.id, new Date(Date.now() + 3_600_000));
    const token = 'planted-task-token-0123456789abcdef';
    await deps.locks.parkWaiter(stackKeyOfJob(job), job.metadata.id, token);
    const leaky = {
      succeed: async (t: string) => {
        throw Object.assign(new Error(`Provided task token ${t} is throttled`), { name: 'ThrottlingException' });
      },
      fail: async () => undefined,
    };
    const failure = await releaseLock({ ...deps, tasks: leaky }, holder.metadata.id).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(failure?.name).toBe('StackJob.Transient');
    expect(`${failure?.message} ${String(failure?.stack)} ${JSON.stringify(failure)}`).not.toContain(token);
    expect(await parkedToken(job.metadata.id)).toBe(token);
  });

  it('wakes nobody while another job holds the stack (a wake would only spend an attempt)', async () => {
    const resourceId = newStack();
    const [holder, job] = [await submit(resourceId), await submit(resourceId)];
    await deps.locks.tryAcquire(stackKeyOfJob(holder), holder.metadata.id, new Date(Date.now() + 3_600_000));
    await deps.locks.parkWaiter(stackKeyOfJob(job), job.metadata.id, 'token-still-held');
    const tasks = recordingTasks();
    expect(await wakeNextWaiter({ ...deps, tasks }, stackKeyOfJob(job))).toBeUndefined();
    expect(tasks.woken).toEqual([]);
    expect(await parkedToken(job.metadata.id)).toBe('token-still-held');
  });

  it("ignores the execution input's snapshot when the job is stored (no validation, no write)", async () => {
    const job = await submit(newStack());
    expect((await acquireLock(deps, job.metadata.id, 0, { not: 'a stack job' })).outcome).toBe('acquired');
  });

  it('removes the token of an execution that ended while parked', async () => {
    const job = await submit(newStack());
    await deps.locks.parkWaiter(stackKeyOfJob(job), job.metadata.id, 'token-aborted');
    await cleanupExecution(deps, job.metadata.id, 'ABORTED');
    expect(await parkedToken(job.metadata.id)).toBeUndefined();
  });
});

describe('the queue reads only unfinished jobs (sparse open-by-stack index)', () => {
  const finish = (id: string) =>
    deps.jobs.update(id, (j) => transitionJob(transitionJob(j, 'running', 'tbd', new Date()), 'completed', 'succeeded', new Date()));

  it("lists a stack's unfinished jobs only, oldest first, while the full listing keeps its history", async () => {
    const resourceId = newStack();
    const history = [];
    for (let i = 0; i < 12; i++) history.push(await submit(resourceId));
    for (const j of history) await finish(j.metadata.id);
    const running = await submit(resourceId);
    await deps.jobs.update(running.metadata.id, (j) => transitionJob(j, 'running', 'tbd', new Date()));
    const queued = await submit(resourceId);
    const stack = stackKeyOfJob(queued);

    expect((await deps.jobs.listOpenInStack(stack)).map((j) => [j.metadata.id, j.status.phase])).toEqual([
      [running.metadata.id, 'running'],
      [queued.metadata.id, 'queued'],
    ]);
    expect((await deps.jobs.listStack(stack)).map((j) => j.metadata.id)).toEqual([...history, running, queued].map((j) => j.metadata.id));
    // Completing leaves the index; the job document and the full listing keep it.
    await finish(running.metadata.id);
    expect((await deps.jobs.listOpenInStack(stack)).map((j) => j.metadata.id)).toEqual([queued.metadata.id]);
    expect((await load(running.metadata.id)).status.phase).toBe('completed');
  });

  it("takes, queues and wakes without reading the stack's history", async () => {
    const resourceId = newStack();
    for (let i = 0; i < 5; i++) await finish((await submit(resourceId)).metadata.id);
    const [first, second] = [await submit(resourceId), await submit(resourceId)];
    const tasks = recordingTasks();
    const noHistory: WorkflowDeps = {
      ...deps,
      tasks,
      jobs: Object.assign(Object.create(deps.jobs) as typeof deps.jobs, { listStack: () => Promise.reject(new Error('the lock read the whole history')) }),
    };

    expect((await acquireLock(noHistory, first.metadata.id, 1)).outcome).toBe('acquired');
    expect((await acquireLock(noHistory, second.metadata.id, 1)).outcome).toBe('queued');
    await deps.locks.parkWaiter(stackKeyOfJob(second), second.metadata.id, 'token-second');
    await releaseLock(noHistory, first.metadata.id);
    expect(tasks.woken).toEqual(['token-second']);
  });
});

describe('what a lock attempt reads', () => {
  it('confirms the queue with one consistent read however many jobs are ahead (the oldest open one)', async () => {
    const resourceId = newStack();
    const ahead = [];
    for (let i = 0; i < 6; i++) ahead.push(await submit(resourceId));
    const job = await submit(resourceId);
    // Every job ahead has tried the lock, so none is passed over as never started.
    for (const j of ahead) await deps.jobs.update(j.metadata.id, (x) => ({ ...x, status: { ...x.status, lockAttemptAt: new Date().toISOString() } }));
    const reads: string[] = [];
    const counting = Object.assign(Object.create(deps.jobs) as typeof deps.jobs, {
      get: (id: string) => {
        reads.push(id);
        return deps.jobs.get(id);
      },
    });
    const result = await acquireLock({ ...deps, jobs: counting }, job.metadata.id, 1);
    expect(result.outcome).toBe('queued');
    expect(reads.filter((id) => id !== job.metadata.id)).toEqual([ahead[0].metadata.id]);
    expect((await load(job.metadata.id)).status.queuePosition).toBe(6);
  });
});

describe('a runner that timed out', () => {
  const TASK = 'arn:aws:ecs:us-east-1:123456789012:task/stackjobs/abc123';
  const running = async () => {
    const job = await submit(newStack());
    await deps.jobs.update(job.metadata.id, (j) => {
      const moved = transitionJob(j, 'running', 'tbd', new Date());
      return { ...moved, status: { ...moved.status, runnerTask: { arn: TASK, phase: 'update' } } };
    });
    return job;
  };

  it.each(['States.Timeout', 'States.HeartbeatTimeout'])('is stopped (%s) before the job ends, so the lease is released only after', async (error) => {
    const stopper = new RecordingStopper();
    const d = { ...deps, runnerTasks: stopper };
    const job = await running();
    const ended = await finishJob(d, job.metadata.id, { kind: 'operation_failed', phase: 'update', error: { Error: error, Cause: '' } });
    expect(stopper.stopped.map((s) => s.arn)).toEqual([TASK]);
    expect(ended.status).toMatchObject({ phase: 'completed', result: 'failed' });
  });

  it('keeps the job running (the step retries) while ECS will not stop the task, and does not stop a runner that reported', async () => {
    const stopper = new RecordingStopper();
    stopper.failWith = { name: 'AccessDeniedException', message: 'not allowed' };
    const job = await running();
    await expect(
      finishJob({ ...deps, runnerTasks: stopper }, job.metadata.id, {
        kind: 'operation_failed',
        phase: 'update',
        error: { Error: 'States.Timeout', Cause: '' },
      }),
    ).rejects.toThrow(/could not be stopped/);
    expect((await load(job.metadata.id)).status.phase).toBe('running');
    // A runner that failed by itself (it reported) is not stopped again.
    const reporting = new RecordingStopper();
    await finishJob({ ...deps, runnerTasks: reporting }, job.metadata.id, {
      kind: 'operation_failed',
      phase: 'update',
      error: { Error: 'StackJob.OperationFailed', Cause: '{}' },
    });
    expect(reporting.stopped).toEqual([]);
  });
});
