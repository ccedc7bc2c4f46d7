/**
 * Fault injection in local mode: the runner killed, the execution stopped from outside, S3 refusing uploads,
 * DynamoDB throttling, a vanished lock holder. Each ends in a defined state, with the lock free and nothing
 * written before the fault lost.
 */
import { readFileSync } from 'node:fs';
import { DescribeExecutionCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { ulidIds } from '../../lambdas/domain/ids';
import type { StackJob } from '../../lambdas/domain/schemas';
import { dynamoOperation, dynamoThrottle, s3SlowDown, sdkAttempt } from '../../local/fault-proxy';
import { change, childPids, numberedLines, startFaultBench, type FaultBench } from './support';

const HEARTBEAT_SECONDS = 3;
let bench: FaultBench;
const orphans: number[] = [];

beforeAll(async () => {
  bench = await startFaultBench({ heartbeatSeconds: HEARTBEAT_SECONDS });
}, 60000);
afterAll(async () => {
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await bench?.stop();
});
beforeEach(() => bench.reset());

const stackKey = (resourceId: string) => `acmecorp/production/${resourceId}`;
const done = (j: StackJob) => j.status.phase === 'completed';
const executionArn = (jobId: string) => `${bench.local.names.stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
const runnerOf = (jobId: string, phase: string) => [...bench.local.runners.entries()].find(([arn]) => arn.includes(`/${jobId}-${phase}-`))?.[1];

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${bench.logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('fails a job whose runner is SIGKILLed mid-apply within seconds (not at the heartbeat timeout), naming apply, with its logs kept and its tool stopped', async () => {
  // apply prints 50 numbered lines, then hangs until killed.
  Object.assign(bench.runnerEnv, { STANDIN_LOG_BYTES: '5000', STANDIN_LOG_ON: 'apply', STANDIN_HANG: 'apply' });
  const { status, job } = await bench.post(change('kill_mid_apply'));
  expect(status).toBe(201);
  const id = job.metadata.id;
  await bench.waitFor(id, (j) => j.status.operations.find((o) => o.name === 'apply')?.status === 'running');
  await until('the apply log lines in S3', async () => numberedLines((await bench.logChunks(id, 'update', 'apply')).map(([, b]) => b).join('')).length === 50);

  // The bench's policies do not pause: the job previews and applies in one runner task (started as the preview).
  const runner = runnerOf(id, 'preview');
  expect(runner?.pid).toBeDefined();
  const tools = childPids(runner!.pid!);
  orphans.push(...tools);
  const killedAt = Date.now();
  runner!.kill('SIGKILL');

  const ended = await bench.waitFor(id, done, 10_000);
  expect(Date.now() - killedAt).toBeLessThan(10_000);
  expect(ended.status).toMatchObject({ phase: 'completed', result: 'failed', reason: 'runner_lost' });
  expect(ended.status.failure?.operation).toBe('apply');
  // Through the runner-stopped Lambda, from the event ECS would send: the container's end, then the task's stop.
  expect(ended.status.failure?.message).toContain('the runner stopped without reporting (SIGKILL); task: EssentialContainerExited');
  // The orphaned tool does not go on applying.
  const running = (pid: number) => {
    try {
      return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  await until('the orphaned tool to stop', () => tools.every((pid) => !running(pid)), 5000);
  await until('the lock release', async () => (await bench.locks.read(stackKey('kill_mid_apply')))?.ownerJobId === undefined);

  // Nothing written before the kill is lost: the preview's record and logs, and every apply line printed.
  expect(ended.status.plan?.digest).toMatch(/^[0-9a-f]{64}$/);
  expect(ended.status.operations.filter((o) => o.name !== 'apply').map((o) => [o.name, o.status, o.result])).toEqual([
    ['init', 'completed', 'succeeded'],
    ['plan', 'completed', 'succeeded'],
  ]);
  expect((await bench.logChunks(id, 'preview', 'plan')).length).toBeGreaterThan(0);
  const applyLog = (await bench.logChunks(id, 'update', 'apply')).map(([, b]) => b).join('');
  expect(numberedLines(applyLog)).toEqual(Array.from({ length: 50 }, (_, i) => i));
});

it('releases the lock and marks the job when the execution is stopped from outside while it holds the lock', async () => {
  Object.assign(bench.runnerEnv, { STANDIN_HANG: 'plan' });
  const { job } = await bench.post(change('stopped_outside'));
  const id = job.metadata.id;
  await bench.waitFor(id, (j) => j.status.operations.find((o) => o.name === 'plan')?.status === 'running');
  expect((await bench.locks.read(stackKey('stopped_outside')))?.ownerJobId).toBe(id);
  const initLog = (await bench.logChunks(id, 'preview', 'init')).map(([, b]) => b).join('');
  expect(initLog).toMatch(/successfully initialized/);

  const sfn = new SFNClient({ endpoint: bench.local.awsEndpoint, region: 'us-east-1', credentials: bench.local.credentials });
  try {
    await sfn.send(new StopExecutionCommand({ executionArn: executionArn(id), error: 'Operator', cause: 'stopped from the console' }));
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn: executionArn(id) }))).status).toBe('ABORTED');
  } finally {
    sfn.destroy();
  }

  const ended = await bench.waitFor(id, done);
  expect(ended.status).toMatchObject({ phase: 'completed', result: 'cancelled', reason: 'execution_aborted' });
  await until('the lock release', async () => (await bench.locks.read(stackKey('stopped_outside')))?.ownerJobId === undefined);
  // The runner learns from its next heartbeat that the task is gone, stops the tool and exits.
  await until('the runner to exit', () => runnerOf(id, 'preview') === undefined, HEARTBEAT_SECONDS * 3000);
  expect((await bench.logChunks(id, 'preview', 'init')).map(([, b]) => b).join('')).toBe(initLog);
  expect(ended.status.operations.slice(0, 1).map((o) => [o.name, o.status, o.result])).toEqual([['init', 'completed', 'succeeded']]);
});

it('retries log uploads S3 rejects for a while: no chunk lost or reordered', async () => {
  // 2,000 numbered lines in 16 KiB chunks (13 chunks); S3 answers 503 SlowDown to the first 12 plan log uploads:
  // four of the SDK's own three-attempt tries, so the uploader's own retries (after the SDK gave up) carry it through.
  // Counted, not timed: a loaded machine that sends fewer requests in a time window still meets the same outage.
  // The grace period stays above the outage: the supervisor stops draining a finished tool's output after it.
  Object.assign(bench.runnerEnv, { STANDIN_LOG_BYTES: '200000', STANDIN_LOG_ON: 'plan', STACKJOBS_LOG_CHUNK_BYTES: '16384', STACKJOBS_GRACE_SECONDS: '10' });
  const OUTAGE_REQUESTS = 12;
  let rejected = 0;
  bench.faults.s3 = (req) => {
    if (req.method !== 'PUT' || !req.url.includes('/logs/preview/plan/')) return undefined;
    if (rejected >= OUTAGE_REQUESTS) return undefined;
    rejected++;
    return s3SlowDown();
  };
  const { job } = await bench.post(change('s3_outage'));
  const ended = await bench.waitFor(job.metadata.id, done);
  expect(ended.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
  const chunks = await bench.logChunks(job.metadata.id, 'preview', 'plan');
  expect(rejected).toBe(OUTAGE_REQUESTS);
  expect(chunks.map(([k]) => Number(/(\d+)\.log$/.exec(k)![1]))).toEqual(Array.from({ length: chunks.length }, (_, i) => i + 1));
  expect(chunks.length).toBeGreaterThanOrEqual(13);
  expect(numberedLines(chunks.map(([, b]) => b).join(''))).toEqual(Array.from({ length: 2000 }, (_, i) => i));
});

it('survives DynamoDB throttling during submission and status updates: retried, one job, no lost transition', async () => {
  // Every third first attempt of a read or write is throttled; the SDK's retry then goes through.
  let seen = 0;
  let throttled = 0;
  bench.faults.dynamodb = (req) => {
    if (!['PutItem', 'UpdateItem', 'GetItem', 'Query'].includes(dynamoOperation(req)) || sdkAttempt(req) !== 1) return undefined;
    if (++seen % 3 !== 1) return undefined;
    throttled++;
    return dynamoThrottle();
  };
  const body = change('throttled_stack');
  const [a, b] = await Promise.all([bench.post(body), bench.post(body)]);
  const duringSubmission = throttled;
  expect([a.status, b.status].sort()).toEqual([200, 201]);
  expect(a.job.metadata.id).toBe(b.job.metadata.id);
  expect(duringSubmission).toBeGreaterThan(0);

  const id = a.job.metadata.id;
  const ended = await bench.waitFor(id, done);
  expect(throttled).toBeGreaterThan(duringSubmission);
  expect(ended.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
  expect(ended.status.operations.map((o) => [o.name, o.status, o.result])).toEqual([
    ['init', 'completed', 'succeeded'],
    ['plan', 'completed', 'succeeded'],
    ['apply', 'completed', 'succeeded'],
  ]);
  expect((await bench.jobs.listStack(stackKey('throttled_stack'))).map((j) => j.metadata.id)).toEqual([id]);
  // The ending publishes after the job write and releases after that: wait for both, then check nothing was doubled or lost.
  const phases = () => bench.local.events.filter((e) => (e.detail as { jobId?: string }).jobId === id).map((e) => (e.detail as { phase: string }).phase);
  await until('the completion event', () => phases().includes('completed'));
  await until('the lock release', async () => (await bench.locks.read(stackKey('throttled_stack')))?.ownerJobId === undefined);
  expect(phases()).toEqual(['running', 'completed']);
});

it('hands an expired lease to the next job and fences the old holder out', async () => {
  const key = stackKey('fenced_stack');
  // The vanished holder: a lease taken by a job whose execution is gone, left to expire.
  const ghost = ulidIds().next('sj');
  const taken = await bench.locks.tryAcquire(key, ghost, new Date(Date.now() + 300));
  if (!taken.acquired) throw new Error('the ghost could not take a free lease');
  await new Promise((r) => setTimeout(r, 400));

  Object.assign(bench.runnerEnv, { STANDIN_SLEEP_MS: '300' });
  const { job } = await bench.post(change('fenced_stack'));
  const id = job.metadata.id;
  await until('the next job to take the lease', async () => (await bench.locks.read(key))?.ownerJobId === id);
  const held = await bench.locks.read(key);
  expect(held?.fencingToken).toBe(taken.lease.fencingToken + 1);

  // The old holder comes back: it can neither release nor retake the lease, with or without its token.
  expect(await bench.locks.release(key, ghost, taken.lease.fencingToken)).toBe(false);
  expect(await bench.locks.release(key, ghost)).toBe(false);
  expect(await bench.locks.tryAcquire(key, ghost, new Date(Date.now() + 60000))).toMatchObject({ acquired: false, holder: { ownerJobId: id } });
  expect(await bench.locks.read(key)).toEqual(held);

  const ended = await bench.waitFor(id, done);
  expect(ended.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
  await until('the lock release', async () => (await bench.locks.read(key))?.ownerJobId === undefined);
  expect(await bench.locks.read(key)).toEqual({ stackKey: key, fencingToken: taken.lease.fencingToken + 1 });
});
