/** Stopping the runner: SIGTERM (ECS stop / cancellation), a tool that ignores SIGINT, and a task that is gone. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startFaultProxy } from '../../local/fault-proxy';
import { createJob, readCalls, runRunner, startRunner, startRunnerEnv, waitFor, type RunnerEnv } from './support/harness';

let env: RunnerEnv;
beforeAll(async () => {
  env = await startRunnerEnv();
});
afterAll(async () => {
  await env?.stop();
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function startHanging(token: string, extra: Record<string, string>) {
  const job = await createJob(env);
  const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
  const run = startRunner(env, { jobId: job.metadata.id, phase: 'preview', token, env: { STANDIN_HANG: 'plan', STANDIN_CALLS: calls, ...extra } });
  await waitFor(() => readCalls(calls).some((c) => c.command === 'plan'), 15000, 'the plan to start');
  // Give the stand-in a moment to print its "hanging" line and the sink a flush interval to ship it.
  await new Promise((r) => setTimeout(r, 300));
  const toolPid = readCalls(calls).find((c) => c.command === 'plan')!.pid;
  return { job, run, toolPid };
}

const failureOf = (token: string) => {
  const calls = env.fake.reportsFor(token);
  expect(calls.map((c) => c.action)).toEqual(['SendTaskFailure']);
  return { error: calls[0].body.error, cause: JSON.parse(calls[0].body.cause!) as { operation: string; exitCode: number | null; message: string } };
};

describe('SIGTERM during a hanging operation', () => {
  it('interrupts the tool, flushes its logs, reports StackJob.Cancelled within the grace period and removes the workspace', async () => {
    const { job, run, toolPid } = await startHanging('tok-sigterm', { STACKJOBS_GRACE_SECONDS: '3' });
    const sent = Date.now();
    run.child.kill('SIGTERM');
    const done = await run.done;
    const elapsed = Date.now() - sent;
    expect(done.code).toBe(1);
    // The stand-in honours SIGINT at once: well inside the 3 s grace.
    expect(elapsed).toBeLessThan(3000);
    expect(alive(toolPid)).toBe(false);
    const { error, cause } = failureOf('tok-sigterm');
    expect(error).toBe('StackJob.Cancelled');
    expect(cause.operation).toBe('plan');
    const logs = (await env.store.readLogs(job.metadata.id, { phase: 'preview', operation: 'plan' })).text;
    expect(logs).toContain('standin: plan is hanging');
    // Printed by the tool after SIGINT: the log was flushed after the stop, not before.
    expect(logs).toContain('Interrupt received. Gracefully shutting down...');
    expect(logs).toContain('[stack-jobs] plan cancelled');
    expect(existsSync(join(run.workDir, 'stack-jobs', job.metadata.id))).toBe(false);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(after.status.operations.find((o) => o.name === 'plan')).toMatchObject({ status: 'completed', result: 'cancelled' });
  });

  it('kills a tool that ignores SIGINT once the grace period is over', async () => {
    const { job, run, toolPid } = await startHanging('tok-ignore', { STANDIN_IGNORE_SIGINT: '1', STACKJOBS_GRACE_SECONDS: '1' });
    const sent = Date.now();
    run.child.kill('SIGTERM');
    const done = await run.done;
    const elapsed = Date.now() - sent;
    expect(done.code).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(4000);
    expect(alive(toolPid)).toBe(false);
    expect(failureOf('tok-ignore').error).toBe('StackJob.Cancelled');
    const logs = (await env.store.readLogs(job.metadata.id, { phase: 'preview', operation: 'plan' })).text;
    expect(logs).toContain('standin: ignoring SIGINT');
    expect(logs).toContain('was killed after ignoring SIGINT for the grace period');
    expect(existsSync(join(run.workDir, 'stack-jobs', job.metadata.id))).toBe(false);
  });
});

describe('heartbeats', () => {
  afterEach(() => {
    env.fake.heartbeatError = undefined;
    env.fake.successError = undefined;
  });

  it('end the task with a failure report, not at the heartbeat timeout, when Step Functions refuses the result', async () => {
    const job = await createJob(env);
    const token = 'tok-refused-result';
    env.fake.successError = 'ValidationException';
    const run = startRunner(env, { jobId: job.metadata.id, phase: 'preview', token });
    expect((await run.done).code).toBe(1);
    const reports = env.fake.sfnCalls.filter((c) => c.body.taskToken === token && c.action !== 'SendTaskHeartbeat');
    expect(reports.map((c) => c.action)).toEqual(['SendTaskSuccess', 'SendTaskFailure']);
    expect(reports[1].body.cause).toContain("Step Functions refused the phase's result (ValidationException)");
  });

  it('are sent while an operation runs, and a TaskTimedOut answer stops the tool with no report', async () => {
    const job = await createJob(env);
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    const token = 'tok-heartbeat';
    const run = startRunner(env, {
      jobId: job.metadata.id,
      phase: 'preview',
      token,
      env: { STANDIN_HANG: 'plan', STANDIN_CALLS: calls, STACKJOBS_HEARTBEAT_SECONDS: '0.2', STACKJOBS_GRACE_SECONDS: '2' },
    });
    await waitFor(() => readCalls(calls).some((c) => c.command === 'plan'), 15000, 'the plan to start');
    const beats = () => env.fake.sfnCalls.filter((c) => c.body.taskToken === token && c.action === 'SendTaskHeartbeat').length;
    await waitFor(() => beats() >= 2, 5000, 'two heartbeats');
    env.fake.heartbeatError = 'TaskTimedOut';
    const done = await run.done;
    expect(done.code).toBe(1);
    expect(done.stderr).toContain('task is over (TaskTimedOut)');
    expect(alive(readCalls(calls).find((c) => c.command === 'plan')!.pid)).toBe(false);
    // Nobody waits for the task any more: no SendTaskSuccess/Failure.
    expect(env.fake.reportsFor(token)).toEqual([]);
    expect(existsSync(join(run.workDir, 'stack-jobs', job.metadata.id))).toBe(false);
  });

  it("wait for the phase's claim: nothing is asked of Step Functions while a preview or an approved update reads and claims its job", async () => {
    const job = await createJob(env);
    const beats = (token: string) => env.fake.sfnCalls.filter((c) => c.body.taskToken === token && c.action === 'SendTaskHeartbeat').length;
    // The beats each phase had sent when its claim (the first UpdateItem of its task) reached DynamoDB.
    const atClaim: Record<string, number> = {};
    let phaseToken = '';
    const proxy = await startFaultProxy(env.dynamo.endpoint, (req) => {
      if (String(req.headers['x-amz-target']).endsWith('.UpdateItem') && !(phaseToken in atClaim)) atClaim[phaseToken] = beats(phaseToken);
      return undefined;
    });
    const run = async (token: string, o: { phase: 'preview' | 'update'; planDigest?: string }) => {
      phaseToken = token;
      const done = await runRunner(env, { jobId: job.metadata.id, token, ...o, env: { AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint } });
      expect({ token, code: done.code }).toEqual({ token, code: 0 });
    };
    try {
      await run('tok-beat-claim-p', { phase: 'preview' });
      const output = env.fake.reportsFor('tok-beat-claim-p').find((c) => c.action === 'SendTaskSuccess')!.body.output!;
      // The update restores the preview's workspace: its claim is the write that starts its apply, its first tool.
      await run('tok-beat-claim-u', { phase: 'update', planDigest: (JSON.parse(output) as { planDigest: string }).planDigest });
    } finally {
      await proxy.stop();
    }
    expect(atClaim).toEqual({ 'tok-beat-claim-p': 0, 'tok-beat-claim-u': 0 });
  });

  it('beat once at start, long before the first interval ends', async () => {
    const job = await createJob(env);
    const token = 'tok-heartbeat-start';
    const beats = () => env.fake.sfnCalls.filter((c) => c.body.taskToken === token && c.action === 'SendTaskHeartbeat').length;
    // A one-hour interval: any beat seen during the phase is the one at start.
    const run = startRunner(env, { jobId: job.metadata.id, phase: 'preview', token, env: { STACKJOBS_HEARTBEAT_SECONDS: '3600' } });
    await waitFor(() => beats() >= 1, 10000, 'the heartbeat at start');
    expect((await run.done).code).toBe(0);
    expect(beats()).toBe(1);
  });
});
