/**
 * Cancel in each phase, and rerun, through local mode: real requests to the API, the synthesized state machine
 * executed locally, the runner bundle as a child process driving the stand-in Terraform CLI. The stand-in's
 * STANDIN_HANG / STANDIN_SLEEP_MS hold a phase; the runner environment is read at each spawn, so each test sets its own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import type { StackJob } from '../../lambdas/domain/schemas';
import { localConfigSchema } from '../../local/config';
import { REPO_ROOT, startLocalMode, type LocalMode } from '../../local/local-mode';
import { buildStandin } from '../support/standin-iac/build';
import { ApprovalItemRepository } from '../../lambdas/adapters/dynamodb/approval-item-repository';

const OPERATOR = 'local-operator-token';
const APPROVER = 'local-approver-token';

let local: LocalMode;
const logs: string[] = [];
const runnerEnv: Record<string, string> = {};
const bodies: string[] = [];

beforeAll(async () => {
  const config = localConfigSchema.parse(parse(readFileSync(join(REPO_ROOT, 'examples/local/stackjobs.yaml'), 'utf8')));
  Object.assign(runnerEnv, { STACKJOBS_TERRAFORM_BIN: buildStandin(), STACKJOBS_GRACE_SECONDS: '3', STACKJOBS_LOG_FLUSH_SECONDS: '1' });
  local = await startLocalMode({ config, inMemory: true, runnerEnv, timeoutSecondsOverrides: { 'Wait For Stack Lock': 1 }, log: (l) => logs.push(l) });
}, 90000);
afterAll(() => local?.stop());
beforeEach(() => {
  delete runnerEnv.STANDIN_HANG;
  delete runnerEnv.STANDIN_SLEEP_MS;
});

async function call<T = StackJob>(
  method: string,
  path: string,
  token = OPERATOR,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${local.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  bodies.push(text);
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function submit(resourceId: string, version: string): Promise<StackJob> {
  const change = {
    resource: { id: resourceId, name: `${resourceId}-name`, org: 'acmecorp', env: 'production', version: { id: version, message: `change ${version}` } },
    kind: 'demo_bucket',
    spec: { tier: 'standard', version },
    triggerEvent: 'created',
    createdBy: 'dev@acmecorp.example',
  };
  const res = await call('POST', '/v1/stack-jobs', OPERATOR, change);
  expect(res.status).toBe(201);
  return res.body;
}

async function waitFor(id: string, until: (job: StackJob) => boolean, what: string, timeoutMs = 45000): Promise<StackJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call('GET', `/v1/stack-jobs/${id}`);
    if (until(body)) return body;
    if (Date.now() > deadline) throw new Error(`job ${id} never became ${what}; last ${JSON.stringify(body.status)}\n${logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const executionArn = (jobId: string) => `${local.names.stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
async function executionEnds(jobId: string): Promise<string> {
  await local.sfn.waitFor(executionArn(jobId));
  return local.sfn.describeExecution({ executionArn: executionArn(jobId) }).status;
}
const leaseOwner = async (resourceId: string) =>
  (await new LockRepository(documentClient(), local.names.jobsTable).read(`acmecorp/production/${resourceId}`))?.ownerJobId;
const statusEvents = (jobId: string) =>
  local.events
    .filter((e) => e.detailType === 'Stack Job Status Changed' && (e.detail as { jobId?: string }).jobId === jobId)
    .map((e) => (e.detail as { result: string }).result);
const isCancelled = (j: StackJob) => j.status.phase === 'completed' && j.status.result === 'cancelled';

describe('cancel', () => {
  it('awaiting approval and queued: both end cancelled at once, the waiting execution is failed, the lock is released; rerun refuses an old version and reruns the newest', async () => {
    const first = await submit('bucket_cancel_q', 'v1');
    await waitFor(first.metadata.id, (j) => j.status.phase === 'awaiting_approval', 'awaiting approval');
    expect(await leaseOwner('bucket_cancel_q')).toBe(first.metadata.id);
    // The real token the local Step Functions minted for the approval task: it must surface nowhere.
    const token = await new ApprovalItemRepository(documentClient(), local.names.jobsTable).getTaskToken(first.metadata.id);
    expect(token).toMatch(/^[0-9a-f]{64}$/);

    const second = await submit('bucket_cancel_q', 'v2');
    await waitFor(second.metadata.id, (j) => j.status.queuePosition === 1, 'queued behind the first');

    // queued -> leaves the queue
    const q = await call('POST', `/v1/stack-jobs/${second.metadata.id}/cancel`);
    expect([q.status, q.body.status.phase, q.body.status.result, q.body.status.cancelRequested?.by]).toEqual([
      200,
      'completed',
      'cancelled',
      'dev@acmecorp.example',
    ]);
    expect(await executionEnds(second.metadata.id)).toBe('SUCCEEDED');
    expect(statusEvents(second.metadata.id)).toContain('cancelled');
    expect((await call('GET', `/v1/stack-jobs/${first.metadata.id}`)).body.status.phase).toBe('awaiting_approval');

    // awaiting approval -> the approval closes, the execution is failed with StackJob.Cancelled
    const a = await call('POST', `/v1/stack-jobs/${first.metadata.id}/cancel`);
    expect([a.status, a.body.status.phase, a.body.status.result, a.body.status.reason]).toEqual([200, 'completed', 'cancelled', 'cancelled']);
    expect(await executionEnds(first.metadata.id)).toBe('SUCCEEDED');
    expect(local.sfn.history(executionArn(first.metadata.id)).some((e) => e.state === 'Approval Cancelled')).toBe(true);
    expect(await leaseOwner('bucket_cancel_q')).toBeUndefined();
    expect(statusEvents(first.metadata.id)).toContain('cancelled');
    const late = await call<{ detail: string }>('POST', `/v1/stack-jobs/${first.metadata.id}/approve`, APPROVER, {});
    expect([late.status, late.body.detail]).toEqual([409, expect.stringContaining('the job has ended')]);
    expect((await call('POST', `/v1/stack-jobs/${first.metadata.id}/cancel`)).status).toBe(409);

    // rerun: the first job's version is older than the resource's newest job
    const old = await call<{ detail: string }>('POST', `/v1/stack-jobs/${first.metadata.id}/rerun`);
    expect([old.status, old.body.detail]).toEqual([409, expect.stringContaining('newer version v2')]);
    const attempt = { 'Idempotency-Key': `rerun-${second.metadata.id}-1` };
    const rerun = await call('POST', `/v1/stack-jobs/${second.metadata.id}/rerun`, OPERATOR, undefined, attempt);
    expect(rerun.status).toBe(201);
    expect(rerun.body.metadata).toMatchObject({ rerunOf: second.metadata.id, version: { id: 'v2' } });
    expect(rerun.body.metadata.id).not.toBe(second.metadata.id);
    expect(rerun.body.status.preflight.map((c) => c.check)).toEqual(['credential', 'module', 'backend', 'flowControl']);
    // A retried request (same Idempotency-Key) answers with the rerun it made; reruns without a key are in decisions.test.ts.
    const again = await call('POST', `/v1/stack-jobs/${second.metadata.id}/rerun`, OPERATOR, undefined, attempt);
    expect([again.status, again.body.metadata.id]).toEqual([200, rerun.body.metadata.id]);
    await waitFor(rerun.body.metadata.id, (j) => j.status.phase === 'awaiting_approval', 'awaiting approval');
    expect((await call('POST', `/v1/stack-jobs/${rerun.body.metadata.id}/cancel`)).status).toBe(200);
    expect(await executionEnds(rerun.body.metadata.id)).toBe('SUCCEEDED');
    const seen = [...bodies, JSON.stringify(local.events), logs.join('\n')].join('\n');
    expect(seen).toContain(first.metadata.id);
    expect(seen.includes(token!)).toBe(false);
  }, 120000);

  it('during the plan: the runner task is stopped (ECS StopTask -> SIGTERM), the job ends cancelled, the lock is released', async () => {
    runnerEnv.STANDIN_HANG = 'plan';
    const job = await submit('bucket_cancel_plan', 'v1');
    const planning = await waitFor(
      job.metadata.id,
      (j) => j.status.operations.find((o) => o.name === 'plan')?.status === 'running' && Boolean(j.status.runnerTask),
      'planning',
    );
    expect(planning.status.runnerTask).toEqual({ arn: expect.stringMatching(/^arn:aws:ecs:.*:task\/local\//), phase: 'preview' });
    expect(local.runners.has(planning.status.runnerTask!.arn)).toBe(true);

    const res = await call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`);
    expect([res.status, res.body.status.cancelRequested?.by]).toEqual([202, 'dev@acmecorp.example']);
    const ended = await waitFor(job.metadata.id, isCancelled, 'cancelled');
    expect(ended.status.operations.find((o) => o.name === 'plan')).toMatchObject({ status: 'completed', result: 'cancelled' });
    expect(ended.status.operations.find((o) => o.name === 'apply')).toMatchObject({ status: 'completed', result: 'skipped' });
    expect(await executionEnds(job.metadata.id)).toBe('SUCCEEDED');
    expect(local.runners.has(planning.status.runnerTask!.arn)).toBe(false);
    expect(await leaseOwner('bucket_cancel_plan')).toBeUndefined();
    expect(local.events.some((e) => e.detailType === 'Stack Job Cancel Requested' && (e.detail as { jobId: string }).jobId === job.metadata.id)).toBe(true);
    expect(statusEvents(job.metadata.id)).toContain('cancelled');
  }, 90000);

  it('during the apply: never interrupted; the request is recorded, the apply finishes, and the result says what happened', async () => {
    const job = await submit('bucket_cancel_apply', 'v1');
    await waitFor(job.metadata.id, (j) => j.status.phase === 'awaiting_approval', 'awaiting approval');
    // Only the update runner, spawned after the approval, is slowed down.
    runnerEnv.STANDIN_SLEEP_MS = '2500';
    expect((await call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, APPROVER, { comment: 'go' })).status).toBe(200);
    await waitFor(job.metadata.id, (j) => j.status.operations.find((o) => o.name === 'apply')?.status === 'running', 'applying');

    const res = await call('POST', `/v1/stack-jobs/${job.metadata.id}/cancel`);
    expect([res.status, res.body.status.phase, res.body.status.cancelRequested?.by]).toEqual([202, 'running', 'dev@acmecorp.example']);
    const ended = await waitFor(job.metadata.id, (j) => j.status.phase === 'completed', 'completed');
    expect([ended.status.result, ended.status.reason]).toEqual(['succeeded', 'cancel_requested_during_update']);
    expect(ended.status.operations.find((o) => o.name === 'apply')).toMatchObject({ status: 'completed', result: 'succeeded' });
    expect(ended.status.approval?.decision).toMatchObject({ decision: 'approved', by: 'approver@acmecorp.example', channel: 'api', comment: 'go' });
    expect(await executionEnds(job.metadata.id)).toBe('SUCCEEDED');
    expect(await leaseOwner('bucket_cancel_apply')).toBeUndefined();
    expect(statusEvents(job.metadata.id)).toContain('succeeded');
  }, 90000);
});
