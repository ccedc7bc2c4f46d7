/**
 * One owner of endings (lambdas/workflow/endings.ts): every path that ends a job (workflow step, cleanup, cancel,
 * force-cancel, restart recovery) records the ending, releases the lease with the job's fencing token, wakes the next
 * job and publishes, idempotently; an admin can force-cancel a job in any phase; a cancel of a job whose execution is
 * gone ends it `interrupted`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ENDINGS } from '../../lambdas/domain/endings';
import { checkedDetail, EVENT_DETAILS, STATUS_CHANGED } from '../../lambdas/domain/events';
import type { StackJob } from '../../lambdas/domain/schemas';
import { stackKeyOfJob } from '../../lambdas/domain/stack-job';
import { closeExpiredApproval, isApprovalExpiry } from '../../lambdas/approvals/expired';
import { EVENT_SOURCE } from '../../lambdas/adapters/aws/event-publisher';
import { endJob } from '../../lambdas/workflow/endings';
import { acquireLock, cleanupExecution } from '../../lambdas/workflow/lifecycle';
import { NOW } from '../support/domain-fixtures';
import { changeFor, people, startHarness, type Harness } from './harness';

const REPO = join(__dirname, '..', '..');

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());
beforeEach(() => {
  h.clock.set(NOW);
  h.tasks.calls.length = 0;
  h.stopped.length = 0;
  h.slack.down = false;
});

let n = 0;
const token = (id: string) => `PLANTED-ENDINGS-TOKEN-${id}-9f86d081884c7d659a2feaa0c55ad015`;
const load = async (id: string) => (await h.jobs.require(id)).job;
const eventsOf = (jobId: string) => h.events.filter((e) => e.detail.jobId === jobId);

async function awaitingJob(): Promise<StackJob> {
  const submitted = await h.submit(changeFor(`end${++n}`));
  return h.toAwaitingApproval(submitted.metadata.id, token(String(n)));
}

/** A job running its update (lease held, runner task recorded, apply under way). */
async function applyingJob(): Promise<StackJob> {
  const submitted = await h.submit(changeFor(`end${++n}`));
  const lock = await acquireLock(h.workflow, submitted.metadata.id, 0);
  expect(lock.outcome).toBe('acquired');
  return h.jobs.update(submitted.metadata.id, (j) => ({
    ...j,
    status: {
      ...j.status,
      runnerTask: { arn: `arn:aws:ecs:us-east-1:123456789012:task/stackjobs/apply${n}`, phase: 'update' },
      operations: j.status.operations.map((o) =>
        o.name === 'apply'
          ? { ...o, status: 'running' as const, startedAt: NOW.toISOString() }
          : o.name === 'init' || o.name === 'refresh' || o.name === 'plan'
            ? { ...o, status: 'completed' as const, result: 'succeeded' as const }
            : o,
      ),
    },
  }));
}

const forceCancel = (id: string, principal: (typeof people)[keyof typeof people], body: unknown = { reason: 'the apply hangs on a provider timeout' }) =>
  h.call('POST', `/v1/stack-jobs/${id}/force-cancel`, { principal, body });

describe('force-cancel', () => {
  it('refuses a missing reason (400, each field named) and changes nothing', async () => {
    const job = await applyingJob();
    const before = await load(job.metadata.id);
    const eventsBefore = eventsOf(job.metadata.id).length;
    for (const body of [{}, { reason: '   ' }, { reason: 'x', extra: true }]) {
      const res = await forceCancel(job.metadata.id, people.admin, body);
      expect(res.statusCode).toBe(400);
      expect(res.headers?.['content-type']).toBe('application/problem+json');
      // Each problem names its field (an unknown key is named in the message of the body's problem).
      expect([JSON.stringify(body), JSON.stringify(res.json().errors)]).toEqual([JSON.stringify(body), expect.stringMatching(/reason|extra/)]);
    }
    expect(await load(job.metadata.id)).toEqual(before);
    expect(eventsOf(job.metadata.id)).toHaveLength(eventsBefore);
    expect(h.stopped).toEqual([]);
  });

  it("is for the admins of the job's org only: an operator gets 403, another org's admin 404", async () => {
    const job = await applyingJob();
    expect((await forceCancel(job.metadata.id, people.operator)).statusCode).toBe(403);
    expect((await forceCancel(job.metadata.id, people.approver)).statusCode).toBe(403);
    expect((await forceCancel(job.metadata.id, people.globexAdmin)).statusCode).toBe(404);
    expect((await load(job.metadata.id)).status.phase).toBe('running');
    expect(h.stopped).toEqual([]);
  });

  it('ends a job in the middle of its apply: runner stopped, who and why recorded, lease released, next job woken, event published', async () => {
    const job = await applyingJob();
    const stackKey = stackKeyOfJob(job);
    expect((await h.locks.read(stackKey))?.ownerJobId).toBe(job.metadata.id);
    const res = await forceCancel(job.metadata.id, people.admin);
    expect(res.statusCode).toBe(200);
    const ended = res.json() as StackJob;
    expect([ended.status.phase, ended.status.result, ended.status.reason]).toEqual(['completed', 'cancelled', 'force_cancelled']);
    expect(ended.status.forceCancelled).toEqual({ by: people.admin.subject, at: NOW.toISOString(), why: 'the apply hangs on a provider timeout' });
    expect(ended.status.operations.find((o) => o.name === 'apply')).toMatchObject({ status: 'completed', result: 'cancelled' });
    expect(h.stopped).toEqual([{ arn: job.status.runnerTask!.arn, reason: `force-cancelled by ${people.admin.subject}` }]);
    expect((await h.locks.read(stackKey))?.ownerJobId).toBeUndefined();
    expect(eventsOf(job.metadata.id).at(-1)).toEqual({
      detailType: STATUS_CHANGED,
      detail: expect.objectContaining({ phase: 'completed', result: 'cancelled', reason: 'force_cancelled' }),
    });
    // A second force-cancel has nothing to end.
    expect((await forceCancel(job.metadata.id, people.admin)).statusCode).toBe(409);
  });

  it("closes a waiting approval: the execution's task is failed, the token removed, the Slack message replaced", async () => {
    const job = await awaitingJob();
    const res = await forceCancel(job.metadata.id, people.admin);
    expect([res.statusCode, res.json().status.reason]).toEqual([200, 'force_cancelled']);
    expect(h.tasks.calls).toEqual([expect.objectContaining({ kind: 'fail', token: token(String(n)), error: 'StackJob.Cancelled' })]);
    expect(await h.approvalItems.getTaskToken(job.metadata.id)).toBeUndefined();
    expect(h.slack.updated.at(-1)?.message.text).toContain(`Cancelled by ${people.admin.subject}`);
    expect((await h.locks.read(stackKeyOfJob(job)))?.ownerJobId).toBeUndefined();
    // The task token went to the execution only.
    expect(h.observed()).not.toContain('PLANTED-ENDINGS-TOKEN');
  });

  it("frees the stack even when ECS will not confirm the runner stopped (Terraform's own lock still guards the state)", async () => {
    const job = await applyingJob();
    const refusing = {
      stop: async () => Promise.reject(Object.assign(new Error('User is not authorized to perform: ecs:StopTask'), { name: 'AccessDeniedException' })),
    };
    const ended = await endJob(
      { ...h.workflow, runnerTasks: refusing },
      job.metadata.id,
      () => ({ reason: 'force_cancelled', forceCancelled: { by: 'admin', at: NOW.toISOString(), why: 'test' } }),
      {
        stopRunner: { why: 'test', ifNotStopped: 'release_anyway' },
        release: true,
        wake: 'best_effort',
      },
    );
    expect([ended?.runnerStopped, ended?.released, ended?.job.status.reason]).toEqual([false, true, 'force_cancelled']);
  });
});

describe('a runner that takes the job over while it is being ended', () => {
  it("is stopped too before the ending is written: an update task whose claim lands after the preview's task was stopped does not go on applying on a freed stack", async () => {
    // Approved and between tasks: the job still names the finished preview task until the update task's claim.
    const job = await applyingJob();
    const id = job.metadata.id;
    const previewArn = `arn:aws:ecs:us-east-1:123456789012:task/stackjobs/preview${n}`;
    const updateArn = `arn:aws:ecs:us-east-1:123456789012:task/stackjobs/update${n}`;
    const pending = (j: StackJob) => j.status.operations.map((o) => (o.name === 'apply' ? { ...o, status: 'pending' as const, startedAt: undefined } : o));
    await h.jobs.update(id, (j) => ({ ...j, status: { ...j.status, runnerTask: { arn: previewArn, phase: 'preview' }, operations: pending(j) } }));
    const stopped: string[] = [];
    // While the stale task is being stopped, the update task claims its phase and starts the apply (one write).
    const racing = {
      stop: async (arn: string) => {
        stopped.push(arn);
        if (arn === previewArn)
          await h.jobs.update(id, (j) => ({
            ...j,
            status: {
              ...j.status,
              runnerTask: { arn: updateArn, phase: 'update' },
              operations: j.status.operations.map((o) => (o.name === 'apply' ? { ...o, status: 'running' as const, startedAt: NOW.toISOString() } : o)),
            },
          }));
      },
    };
    const ended = await endJob(
      { ...h.workflow, runnerTasks: racing },
      id,
      () => ({ reason: 'force_cancelled', forceCancelled: { by: 'admin', at: NOW.toISOString(), why: 'test' } }),
      { stopRunner: { why: 'test', ifNotStopped: 'release_anyway' }, release: true, wake: 'best_effort' },
    );
    expect(stopped).toEqual([previewArn, updateArn]);
    expect([ended?.runnerStopped, ended?.released, ended?.job.status.reason]).toEqual([true, true, 'force_cancelled']);
    expect((await load(id)).status.runnerTask).toEqual({ arn: updateArn, phase: 'update' });
  });

  it('is not stopped forever: past 3 takeovers the ending is written with the runner reported not stopped, so the lease is kept (or the step retried)', async () => {
    const job = await applyingJob();
    const id = job.metadata.id;
    let k = 0;
    // Every stop lets yet another task claim the job.
    const endless = {
      stop: async () => {
        await h.jobs.update(id, (j) => ({
          ...j,
          status: { ...j.status, runnerTask: { arn: `arn:aws:ecs:us-east-1:123456789012:task/stackjobs/t${++k}`, phase: 'update' } },
        }));
      },
    };
    const end = (ifNotStopped: 'keep_lease' | 'retry') =>
      endJob(
        { ...h.workflow, runnerTasks: endless },
        id,
        () => ({ reason: 'force_cancelled', forceCancelled: { by: 'admin', at: NOW.toISOString(), why: 'test' } }),
        {
          stopRunner: { why: 'test', ifNotStopped },
          release: true,
          wake: 'best_effort',
        },
      );
    await expect(end('retry')).rejects.toThrow(/keeps changing; not ended yet/);
    expect((await load(id)).status.phase).toBe('running');
    const ended = await end('keep_lease');
    expect([ended?.job.status.reason, ended?.runnerStopped, ended?.released]).toEqual(['force_cancelled', false, false]);
    expect((await h.locks.read(stackKeyOfJob(job)))?.ownerJobId).toBe(id);
  });
});

describe('the Slack message of an approval whose job ended unattended', () => {
  it("is closed through the status event when the job was interrupted while awaiting approval; an API cancel's event is not routed (the API closed it)", async () => {
    const job = await awaitingJob();
    await cleanupExecution(h.workflow, job.metadata.id, { status: 'INTERRUPTED', seen: 'local mode stopped' });
    const status = eventsOf(job.metadata.id).at(-1)!;
    expect(status.detail).toMatchObject({ phase: 'completed', reason: 'interrupted', approvalId: job.status.approval!.id });
    const routed = { source: EVENT_SOURCE, detailType: status.detailType, detail: status.detail };
    expect(isApprovalExpiry(routed)).toBe(true);
    const deps = { jobs: h.jobs, approvalItems: h.approvalItems, slack: h.slack, log: h.notifier.log, metrics: h.notifier.metrics };
    expect(await closeExpiredApproval(deps, { source: EVENT_SOURCE, 'detail-type': status.detailType, detail: status.detail })).toBe(true);
    expect(h.slack.updated.at(-1)?.message.text).toMatch(/^:heavy_multiplication_x: Closed: the job ended \(interrupted\) at \d\d:\d\d UTC without a decision/);

    const cancelled = await awaitingJob();
    expect((await h.call('POST', `/v1/stack-jobs/${cancelled.metadata.id}/cancel`, { principal: people.operator })).statusCode).toBe(200);
    const cancelEvent = eventsOf(cancelled.metadata.id).at(-1)!;
    expect(isApprovalExpiry({ source: EVENT_SOURCE, detailType: cancelEvent.detailType, detail: cancelEvent.detail })).toBe(false);
  });
});

describe('cancel of a job whose execution is gone', () => {
  it('ends it interrupted at once (200) instead of answering 202 forever, frees the stack and wakes the next job', async () => {
    const job = await applyingJob();
    const base = changeFor(`end${n}`);
    const next = await h.submit({ ...base, resource: { ...base.resource, version: { id: 'ver-next', message: 'the next change' } } });
    expect(stackKeyOfJob(next)).toBe(stackKeyOfJob(job));
    // The next job of the stack is parked on the lock.
    await h.locks.parkWaiter(stackKeyOfJob(next), next.metadata.id, 'PLANTED-PARK-TOKEN');
    h.goneExecutions.add(job.metadata.id);
    const res = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.operator });
    expect(res.statusCode).toBe(200);
    const ended = res.json() as StackJob;
    expect([ended.status.result, ended.status.reason]).toEqual(['failed', 'interrupted']);
    expect(ended.status.failure).toEqual({
      operation: 'apply',
      message: expect.stringContaining(`its workflow execution was gone when ${people.operator.subject} cancelled it`),
    });
    expect(ended.status.cancelRequested).toEqual({ by: people.operator.subject, at: NOW.toISOString() });
    expect(h.stopped.map((s) => s.arn)).toEqual([job.status.runnerTask!.arn]);
    expect((await h.locks.read(stackKeyOfJob(job)))?.ownerJobId).toBeUndefined();
    expect(h.tasks.calls).toContainEqual(expect.objectContaining({ kind: 'succeed', token: 'PLANTED-PARK-TOKEN' }));
  });

  it('still only records the cancel of an update whose execution runs (202): the update is never interrupted', async () => {
    const job = await applyingJob();
    const res = await h.call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`, { principal: people.operator });
    expect([res.statusCode, res.json().status.phase, res.json().status.cancelRequested?.by]).toEqual([202, 'running', people.operator.subject]);
    expect(h.stopped).toEqual([]);
  });
});

describe('endJob', () => {
  it('is idempotent: a second ending keeps the first, counts once, and sends the event again', async () => {
    const job = await applyingJob();
    const counted: string[] = [];
    const d = { ...h.workflow, metrics: { jobCompleted: (_r: string, reason: string | undefined) => void counted.push(String(reason)) } };
    const first = await endJob(d, job.metadata.id, () => ({ reason: 'operation_failed', failure: { operation: 'apply', message: 'boom' } }), {
      release: true,
      wake: 'must',
    });
    const second = await endJob(d, job.metadata.id, () => ({ reason: 'succeeded' }), { release: true, wake: 'must' });
    expect([first?.endedNow, second?.endedNow, second?.job.status.reason]).toEqual([true, false, 'operation_failed']);
    expect(counted).toEqual(['operation_failed']);
    expect(eventsOf(job.metadata.id).filter((e) => e.detail.phase === 'completed')).toHaveLength(2);
  });

  it('releases only the lease the job holds, by its fencing token: a lease that changed hands stays with its new holder', async () => {
    const job = await applyingJob();
    const stackKey = stackKeyOfJob(job);
    const held = (await load(job.metadata.id)).status.lease;
    expect(held?.fencingToken).toBe((await h.locks.read(stackKey))?.fencingToken);
    // The lease expired and the same job id holds a newer one (as after a takeover and re-acquire): the old token
    // must not release it.
    await h.jobs.update(job.metadata.id, (j) => ({
      ...j,
      status: { ...j.status, lease: { fencingToken: held!.fencingToken + 100, acquiredAt: NOW.toISOString() } },
    }));
    const ended = await endJob(h.workflow, job.metadata.id, () => ({ reason: 'operation_failed', failure: { operation: 'apply', message: 'x' } }), {
      release: true,
      wake: 'must',
    });
    expect(ended?.released).toBe(false);
    expect((await h.locks.read(stackKey))?.ownerJobId).toBe(job.metadata.id);
  });

  it('keeps the lease when the runner may still be working and ECS will not stop it (the lease expires on its own)', async () => {
    const job = await applyingJob();
    const refusing = { stop: async () => Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })) };
    const result = await cleanupExecution({ ...h.workflow, runnerTasks: refusing }, job.metadata.id, 'TIMED_OUT');
    expect(result).toEqual({ marked: true, released: false, runnerStopped: false });
    expect((await load(job.metadata.id)).status.reason).toBe('execution_timed_out');
    expect((await h.locks.read(stackKeyOfJob(job)))?.ownerJobId).toBe(job.metadata.id);
  });
});

describe('the one owner of endings', () => {
  function sources(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
    });
  }

  it('no other product code moves a job to completed or writes status.reason', () => {
    const offenders = [...sources(join(REPO, 'lambdas')), ...sources(join(REPO, 'local')), ...sources(join(REPO, 'runner-image', 'src'))]
      .filter((file) => !file.endsWith(join('lambdas', 'workflow', 'endings.ts')) && !file.endsWith(join('lambdas', 'domain', 'status.ts')))
      .filter((file) => /transitionJob\([^;]*'completed'|status\.reason\s*=(?!=)/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(REPO, file));
    expect(offenders).toEqual([]);
  });

  it('the README lists every ending reason with the result it gives, and no other', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `([a-z_]+)` \| (succeeded|failed|cancelled) \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(ENDINGS).map(([reason, e]) => [reason, e.result])));
  });

  it('the README documents every event with every field of its detail', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    for (const [type, schema] of Object.entries(EVENT_DETAILS)) {
      const row = readme.split('\n').find((line) => line.startsWith(`  | \`${type}\` |`));
      expect(row).toBeDefined();
      const documented = [...row!.split('|')[3].matchAll(/`([A-Za-z]+)`(\?)?/g)].map((m) => `${m[1]}${m[2] ?? ''}`);
      const declared = Object.entries(schema.shape).map(
        ([key, field]) => `${key}${(field as { safeParse: (v: unknown) => { success: boolean } }).safeParse(undefined).success ? '?' : ''}`,
      );
      expect(documented.filter((f) => declared.includes(f) || declared.includes(`${f}?`))).toEqual(declared);
    }
  });
});

describe('event details', () => {
  it('are checked against their declared shape before they are sent', () => {
    const detail = {
      jobId: 'sj_1',
      org: 'acmecorp',
      env: 'production',
      resourceId: 'r',
      phase: 'completed' as const,
      result: 'failed' as const,
      reason: 'interrupted' as const,
    };
    expect(checkedDetail(STATUS_CHANGED, detail)).toEqual(detail);
    expect(() => checkedDetail(STATUS_CHANGED, { ...detail, taskToken: 'PLANTED' } as never)).toThrow(/Stack Job Status Changed.*taskToken/);
    expect(() => checkedDetail(STATUS_CHANGED, { ...detail, reason: 'because' } as never)).toThrow(/reason/);
  });
});
