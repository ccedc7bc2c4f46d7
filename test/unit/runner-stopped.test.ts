/**
 * A runner task that stops without reporting: the ECS "Task State Change" (STOPPED) event fails its Step Functions
 * task with StackJob.RunnerLost at once. The handler runs with the real SFN adapter against aws-sdk-client-mock, on a
 * realistic event (test/fixtures/aws-events/ecs-task-state-change-stopped.json, see PROVENANCE.md there).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidToken, SendTaskFailureCommand, SFNClient, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { SfnTaskResponder } from '../../lambdas/approvals/adapters/sfn-task-responder';
import type { LogSink } from '../../lambdas/approvals/ports';
import { describeError } from '../../lambdas/workflow/lifecycle';
import { handleRunnerStopped, runnerStoppedPattern } from '../../lambdas/workflow/runner-stopped';

const sfn = mockClient(SFNClient);
beforeEach(() => sfn.reset());

type Env = Array<{ name: string; value?: string }>;
interface StoppedEvent {
  'detail-type': string;
  source: string;
  detail: {
    lastStatus: string;
    stopCode?: string;
    stoppedReason?: string;
    containers: Array<{ name: string; exitCode?: number; reason?: string }>;
    overrides: { containerOverrides: Array<{ name: string; environment?: Env }> };
  } & Record<string, unknown>;
}

/** A fresh copy of the fixture: an OOM-killed runner in the update phase of sj_01jsrnmwpnnc6n62h06xafcgxv. */
const fixture = (): StoppedEvent =>
  JSON.parse(readFileSync(join(__dirname, '../fixtures/aws-events/ecs-task-state-change-stopped.json'), 'utf8')) as StoppedEvent;
const envOf = (e: StoppedEvent) => e.detail.overrides.containerOverrides[0].environment!;
const TOKEN = envOf(fixture()).find((v) => v.name === 'STACKJOBS_TASK_TOKEN')!.value!;
const JOB_ID = 'sj_01jsrnmwpnnc6n62h06xafcgxv';

/** Every call to the logger, kept whole, so a test can look for the token anywhere in what was logged. */
function capturingLog(): LogSink & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  const keep = (...args: unknown[]) => void calls.push(args);
  return { calls, info: keep, warn: keep, error: keep } as unknown as LogSink & { calls: unknown[][] };
}

const deps = (log = capturingLog()) => ({ tasks: new SfnTaskResponder(new SFNClient({})), log });
const failures = () => sfn.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input);
const sdkError = <E>(Cls: new (o: { message: string; $metadata: object }) => E, message = 'Task Timed Out') => new Cls({ message, $metadata: {} });

describe('a runner that stopped without reporting', () => {
  it("fails its waiting task with StackJob.RunnerLost, and the job's failure names how the container ended and why ECS stopped the task", async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    await expect(handleRunnerStopped(deps(), fixture())).resolves.toEqual({ outcome: 'failed', jobId: JOB_ID });

    expect(failures()).toHaveLength(1);
    const { taskToken, error, cause } = failures()[0];
    expect(taskToken).toBe(TOKEN);
    expect(error).toBe('StackJob.RunnerLost');
    const message =
      'the runner stopped without reporting (SIGKILL); container: OutOfMemoryError: Container killed due to memory usage; task: EssentialContainerExited, Essential container in task exited';
    expect(JSON.parse(cause!)).toEqual({ message, errorMessage: message, stopCode: 'EssentialContainerExited', containerExitCode: 137 });
    // What the workflow records on the job from this failure (the operation it was in is added by the workflow).
    const failure = describeError({ Error: error, Cause: cause });
    expect(failure.message).toContain('the runner stopped without reporting (SIGKILL)');
    expect(failure.message).toContain('OutOfMemoryError: Container killed due to memory usage');
    expect(failure.operation).toBeUndefined();
  });

  it('names an image that could not be pulled once, and no exit for a container that never ran', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    const event = fixture();
    const pull =
      'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 111122223333.dkr.ecr.us-west-2.amazonaws.com/runner:missing: not found';
    Object.assign(event.detail, { stopCode: 'TaskFailedToStart', stoppedReason: pull, containers: [{ name: 'runner', lastStatus: 'STOPPED', reason: pull }] });
    await handleRunnerStopped(deps(), event);
    expect(JSON.parse(failures()[0].cause!).message).toBe(`the runner stopped without reporting; container: ${pull}; task: TaskFailedToStart`);
  });

  it("says a plain exit code when the runner exited rather than being killed (a Spot interruption's SIGTERM shows as SIGTERM)", async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    const exited = fixture();
    Object.assign(exited.detail, { containers: [{ name: 'runner', lastStatus: 'STOPPED', exitCode: 2 }] });
    const spot = fixture();
    Object.assign(spot.detail, {
      stopCode: 'SpotInterruption',
      stoppedReason: 'Your Spot Task was interrupted.',
      containers: [{ name: 'runner', lastStatus: 'STOPPED', exitCode: 143 }],
    });
    await handleRunnerStopped(deps(), exited);
    await handleRunnerStopped(deps(), spot);
    expect(failures().map((f) => JSON.parse(f.cause!).message)).toEqual([
      'the runner stopped without reporting (exit 2); task: EssentialContainerExited, Essential container in task exited',
      'the runner stopped without reporting (SIGTERM); task: SpotInterruption, Your Spot Task was interrupted.',
    ]);
  });
});

describe('a stop that needs nothing', () => {
  it.each([
    ['TaskTimedOut', sdkError(TaskTimedOut)],
    ['InvalidToken', sdkError(InvalidToken, 'Invalid Token')],
    ['TaskDoesNotExist', sdkError(TaskDoesNotExist, 'Task Does Not Exist')],
  ])('treats a task Step Functions already closed (%s: the runner reported before it stopped) as done', async (_name, answer) => {
    sfn.on(SendTaskFailureCommand).rejects(answer);
    await expect(handleRunnerStopped(deps(), fixture())).resolves.toEqual({ outcome: 'already_closed', jobId: JOB_ID });
  });

  it('ignores tasks that are not a stack job runner: another container, no token, no job id, not stopped', async () => {
    const foreign = fixture();
    foreign.detail.overrides = { containerOverrides: [{ name: 'FargateApp' }] };
    const renamed = fixture();
    renamed.detail.overrides.containerOverrides[0].name = 'app';
    const noToken = fixture();
    noToken.detail.overrides.containerOverrides[0].environment = envOf(noToken).filter((v) => v.name !== 'STACKJOBS_TASK_TOKEN');
    const noJob = fixture();
    noJob.detail.overrides.containerOverrides[0].environment = envOf(noJob).filter((v) => v.name !== 'STACKJOBS_JOB_ID');
    const running = fixture();
    running.detail.lastStatus = 'RUNNING';
    for (const event of [foreign, renamed, noToken, noJob, running]) await expect(handleRunnerStopped(deps(), event)).resolves.toEqual({ outcome: 'ignored' });
    expect(failures()).toEqual([]);
  });
});

describe('failures that are retried', () => {
  it('throws when Step Functions fails for another reason (the event is retried), naming the error', async () => {
    sfn.on(SendTaskFailureCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(handleRunnerStopped(deps(), fixture())).rejects.toMatchObject({ name: 'ThrottlingException', message: 'Rate exceeded' });
  });

  it('throws on an event that is not an ECS Task State Change, naming the field', async () => {
    const event = fixture();
    delete event.detail.taskArn;
    await expect(handleRunnerStopped(deps(), event)).rejects.toThrow('not an ECS Task State Change event: detail.taskArn');
    expect(failures()).toEqual([]);
  });
});

describe('the task token', () => {
  it('never appears in the cause, in anything logged or in an error thrown, even where a stop reason or the SDK quotes it', async () => {
    const planted = fixture();
    planted.detail.stoppedReason = `stopped by an operator who pasted ${TOKEN}`;
    planted.detail.containers[0].reason = `OutOfMemoryError ${TOKEN}`;
    const log = capturingLog();
    sfn
      .on(SendTaskFailureCommand)
      .resolvesOnce({})
      .rejectsOnce(sdkError(TaskTimedOut, `Task Timed Out: '${TOKEN}'`))
      .rejects(Object.assign(new Error(`Internal error for ${TOKEN}`), { name: 'InternalFailure' }));

    await expect(handleRunnerStopped(deps(log), planted)).resolves.toMatchObject({ outcome: 'failed' });
    await expect(handleRunnerStopped(deps(log), planted)).resolves.toMatchObject({ outcome: 'already_closed' });
    const thrown = await handleRunnerStopped(deps(log), planted).catch((e: Error) => e);
    const broken = fixture();
    delete broken.detail.taskArn;
    const rejected = await handleRunnerStopped(deps(log), broken).catch((e: Error) => e);

    expect(failures()[0].cause).toContain('stopped by an operator who pasted ***');
    expect(
      failures()
        .map((f) => f.cause)
        .join('\n'),
    ).not.toContain(TOKEN);
    expect(log.calls.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(log.calls)).not.toContain(TOKEN);
    expect(thrown).toBeInstanceOf(Error);
    expect(`${(thrown as Error).name} ${(thrown as Error).message} ${(thrown as Error).stack}`).not.toContain(TOKEN);
    expect(`${(rejected as Error).message} ${(rejected as Error).stack}`).not.toContain(TOKEN);
  });

  it('leaves no piece of a long token (real ones run to 600+ characters) where a stop reason longer than the cut quotes it', async () => {
    // A token as Step Functions issues them: base64, far longer than the 300 characters a reason is cut to.
    const long = Array.from({ length: 22 }, (_, i) => createHash('sha256').update(`token-${i}`).digest('base64'))
      .join('')
      .slice(0, 700);
    const planted = fixture();
    envOf(planted).find((v) => v.name === 'STACKJOBS_TASK_TOKEN')!.value = long;
    planted.detail.stoppedReason = `stopped by an operator who pasted ${long}`;
    planted.detail.containers[0].reason = `OutOfMemoryError ${long}`;
    // A copy cut before it got here (ECS keeps 255 characters of a StopTask reason) carries only the token's start.
    const cutCopy = fixture();
    envOf(cutCopy).find((v) => v.name === 'STACKJOBS_TASK_TOKEN')!.value = long;
    cutCopy.detail.stoppedReason = `stopped by an operator who pasted ${long}`.slice(0, 255);
    const log = capturingLog();
    sfn
      .on(SendTaskFailureCommand)
      .resolvesOnce({})
      .resolvesOnce({})
      .rejects(Object.assign(new Error(`Internal error for ${long.slice(0, 120)}`), { name: 'InternalFailure' }));

    await expect(handleRunnerStopped(deps(log), planted)).resolves.toMatchObject({ outcome: 'failed' });
    await expect(handleRunnerStopped(deps(log), cutCopy)).resolves.toMatchObject({ outcome: 'failed' });
    const thrown = (await handleRunnerStopped(deps(log), planted).catch((e: Error) => e)) as Error;

    const causes = failures().map((f) => f.cause!);
    expect(JSON.parse(causes[0]).message).toContain('task: EssentialContainerExited, stopped by an operator who pasted ***');
    expect(JSON.parse(causes[1]).message).toContain('stopped by an operator who pasted ***');
    // The job's failure message is what the workflow's describeError reads from the cause.
    const jobMessages = causes.map((cause) => describeError({ Error: 'StackJob.RunnerLost', Cause: cause }).message);
    const everything = [...causes, ...jobMessages, JSON.stringify(log.calls), thrown.message, String(thrown.stack)].join('\n');
    const leaked = Array.from({ length: long.length - 39 }, (_, i) => long.slice(i, i + 40)).filter((piece) => everything.includes(piece));
    expect(leaked).toEqual([]);
  });

  it('stays out of what the deployed entry logs through Powertools', async () => {
    const written: string[] = [];
    const keep = (chunk: unknown) => (written.push(String(chunk)), true);
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(keep);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(keep);
    const level = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    try {
      sfn
        .on(SendTaskFailureCommand)
        .resolvesOnce({})
        .rejects(sdkError(TaskTimedOut, `Task Timed Out: '${TOKEN}'`));
      const { handler } = await import('../../lambdas/workflow/runner-stopped.handler');
      await expect(handler(fixture())).resolves.toMatchObject({ outcome: 'failed' });
      await expect(handler(fixture())).resolves.toMatchObject({ outcome: 'already_closed' });
    } finally {
      process.env.POWERTOOLS_LOG_LEVEL = level;
      out.mockRestore();
      err.mockRestore();
    }
    const logged = written.join('');
    expect(logged).toContain(JOB_ID);
    expect(logged).toContain('StackJob.RunnerLost');
    expect(logged).not.toContain(TOKEN);
  });
});

describe("the rule's pattern", () => {
  /** EventBridge's exact-value matching: a field in an array matches when one element does, fields of one element together. */
  function matches(pattern: unknown, value: unknown): boolean {
    if (Array.isArray(pattern)) return [value].flat().some((v) => pattern.includes(v));
    return [value]
      .flat()
      .some(
        (item) =>
          item !== null &&
          typeof item === 'object' &&
          Object.entries(pattern as object).every(([k, p]) => k in item && matches(p, (item as Record<string, unknown>)[k])),
      );
  }
  const eventPattern = (deploymentId: string) => {
    const { detailType, ...rest } = runnerStoppedPattern(deploymentId);
    return { ...rest, 'detail-type': detailType };
  };

  it('matches a stopped runner of this deployment, on any cluster, and nothing else', () => {
    const ours = eventPattern('111122223333:us-west-2:StackJobs');
    expect(matches(ours, fixture())).toBe(true);
    const orgCluster = fixture();
    orgCluster.detail.clusterArn = 'arn:aws:ecs:us-west-2:111122223333:cluster/acmecorp-runners';
    expect(matches(ours, orgCluster)).toBe(true);

    expect(matches(eventPattern('111122223333:us-west-2:StackJobsStaging'), fixture())).toBe(false);
    const running = fixture();
    running.detail.lastStatus = 'RUNNING';
    expect(matches(ours, running)).toBe(false);
    const otherContainer = fixture();
    otherContainer.detail.overrides.containerOverrides[0].name = 'app';
    expect(matches(ours, otherContainer)).toBe(false);
    // The deployment id must be the value of STACKJOBS_DEPLOYMENT_ID, not of any variable.
    const elsewhere = fixture();
    elsewhere.detail.overrides.containerOverrides[0].environment = envOf(elsewhere).map((v) =>
      v.name === 'STACKJOBS_DEPLOYMENT_ID' ? { ...v, value: 'other' } : v.name === 'STACKJOBS_PHASE' ? { ...v, value: '111122223333:us-west-2:StackJobs' } : v,
    );
    expect(matches(ours, elsewhere)).toBe(false);
  });
});
