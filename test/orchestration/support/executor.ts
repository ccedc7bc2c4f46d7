/**
 * Runs the synthesized state machine (extracted by infra/asl.ts, never a hand-written copy) in aws-local-stepfunctions
 * with the real workflow logic bound to its Lambda tasks and a fake runner that writes what a runner would.
 */
import '../../../local/promise-with-resolvers';
import { randomUUID, createHash } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { timeoutFromStateInput, withoutTimeout } from '../../../local/step-functions';
import { JobRepository } from '../../../lambdas/adapters/dynamodb/job-repository';
import { LockRepository } from '../../../lambdas/adapters/dynamodb/lock-repository';
import { ResourceStatusRepository } from '../../../lambdas/adapters/dynamodb/resource-status-repository';
import { ulidIds, type Clock } from '../../../lambdas/domain/ids';
import type { EventPublisher } from '../../../lambdas/domain/ports';
import type { RunnerTaskStopper } from '../../../lambdas/approvals/ports';
import type { OperationName, PlanSummary, RunnerResult, StackJob } from '../../../lambdas/domain/schemas';
import { transitionOperation } from '../../../lambdas/domain/status';
import { handleApprovalRequest } from '../../../lambdas/workflow/approval';
import type { WorkflowDeps } from '../../../lambdas/workflow/lifecycle';
import { noMetrics } from '../../../lambdas/workflow/metrics';
import { runStep } from '../../../lambdas/workflow/steps';
import { extractStateMachine, type ExtractedStateMachine } from '../../../infra/asl';
import { JOBS, type TestDynamo } from './dynamo';
import { ApprovalItemRepository } from '../../../lambdas/adapters/dynamodb/approval-item-repository';

export interface PublishedEvent {
  detailType: string;
  detail: Record<string, unknown>;
}

export function recordingPublisher(): EventPublisher & { events: PublishedEvent[] } {
  const events: PublishedEvent[] = [];
  return {
    events,
    publish: async (detailType, detail) => void events.push({ detailType, detail: JSON.parse(JSON.stringify(detail)) as Record<string, unknown> }),
  };
}

/** Stands in for ECS StopTask: records each stop, or fails with `failWith` (an ECS error name and message). */
export class RecordingStopper implements RunnerTaskStopper {
  readonly stopped: { arn: string; reason: string }[] = [];
  failWith?: { name: string; message: string };
  async stop(arn: string, reason: string): Promise<void> {
    if (this.failWith) throw Object.assign(new Error(this.failWith.message), { name: this.failWith.name });
    this.stopped.push({ arn, reason });
  }
}

/** What SendTaskSuccess answers for a token no task waits on (any token, outside an executor's run). */
const noParkedTasks: WorkflowDeps['tasks'] = {
  succeed: async () => {
    throw Object.assign(new Error('no task waits for that token'), { name: 'TaskDoesNotExist' });
  },
  fail: async () => {
    throw Object.assign(new Error('no task waits for that token'), { name: 'TaskDoesNotExist' });
  },
};

export function makeDeps(
  dynamo: TestDynamo,
  publisher: EventPublisher,
  clock: Clock = { now: () => new Date() },
  runnerTasks: RunnerTaskStopper = new RecordingStopper(),
): WorkflowDeps {
  return {
    jobs: new JobRepository(dynamo.db, JOBS),
    approvalItems: new ApprovalItemRepository(dynamo.db, JOBS),
    locks: new LockRepository(dynamo.db, JOBS, () => clock.now()),
    resources: new ResourceStatusRepository(dynamo.db, JOBS),
    events: publisher,
    clock,
    ids: ulidIds(clock),
    metrics: noMetrics,
    leaseMarginSeconds: 7 * 3600,
    runnerTasks,
    tasks: noParkedTasks,
  };
}

/** Stands in for SendTaskSuccess / SendTaskFailure: a pending promise per minted token. */
export class TokenBroker {
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Every token minted, so tests can look for leaks. */
  readonly minted: string[] = [];

  mint(): string {
    const token = `tok-${randomUUID()}`;
    this.minted.push(token);
    return token;
  }

  wait(token: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.set(token, { resolve, reject }));
  }

  succeed(token: string, output: unknown): void {
    this.take(token).resolve(output);
  }

  /** SendTaskSuccess as the service answers it: TaskDoesNotExist for a token no task waits on. */
  async respond(token: string, output: unknown): Promise<void> {
    if (!this.pending.has(token)) throw Object.assign(new Error('no task waits for that token'), { name: 'TaskDoesNotExist' });
    this.succeed(token, output);
  }

  fail(token: string, error: string, cause: string): void {
    const e = new Error(cause);
    e.name = error;
    this.take(token).reject(e);
  }

  /**
   * Settles every pending task. The interpreter clears a task's timeout timer only when the task settles, so an
   * aborted execution would otherwise keep an hours-long timer (the approval window) alive after the tests.
   */
  releaseAll(): void {
    for (const [token, p] of this.pending) {
      this.pending.delete(token);
      p.reject(new Error('execution ended'));
    }
  }

  private take(token: string) {
    const p = this.pending.get(token);
    if (!p) throw new Error('no task waits for that token');
    this.pending.delete(token);
    return p;
  }
}

export interface PhaseScript {
  hasChanges?: boolean;
  /** Fail this operation the way the runner does (SendTaskFailure StackJob.OperationFailed). */
  fail?: { operation: OperationName; exitCode: number; message: string };
  /** A one-task job: runs after the hand-over to the update and before its operations (to observe or to hold the runner). */
  beforeUpdate?: () => Promise<void>;
  /** Runs after the phase started and before it reports (to observe or to hold the runner). */
  during?: () => Promise<void>;
}

export interface RunnerScript {
  preview?: PhaseScript;
  update?: PhaseScript;
}

export interface RunnerCall {
  jobId: string;
  phase: 'preview' | 'update';
  env: Record<string, string>;
  /** The Task state that started it (platform or org runner task). */
  state: string;
  /** What ecs:RunTask was asked to start, from the task's effective parameters. */
  placement: { cluster?: unknown; taskDefinition?: unknown; subnets?: unknown; securityGroups?: unknown; launchType?: unknown; container?: string };
}

interface RunTaskInput {
  Cluster?: unknown;
  TaskDefinition?: unknown;
  LaunchType?: unknown;
  NetworkConfiguration?: { AwsvpcConfiguration?: { Subnets?: unknown; SecurityGroups?: unknown } };
  Overrides: { ContainerOverrides: Array<{ Name?: string; Environment: Array<{ Name: string; Value: string }> }> };
}

const SUMMARY: PlanSummary = {
  add: 0,
  change: 1,
  destroy: 0,
  replace: 0,
  unchanged: 12,
  read: 0,
  forget: 0,
  import: 0,
  outputChanges: 0,
  resources: [{ address: 'aws_eks_node_group.main', actions: ['update'] }],
};
const NO_CHANGES: PlanSummary = { ...SUMMARY, change: 0, resources: [] };

export const digestOf = (jobId: string) => createHash('sha256').update(`plan of ${jobId}`).digest('hex');

export interface Run {
  result: Promise<unknown>;
  abort(): void;
}

export class LocalExecutor {
  readonly broker = new TokenBroker();
  readonly runnerCalls: RunnerCall[] = [];
  private readonly extracted: ExtractedStateMachine;
  private readonly machine: StateMachine;

  constructor(extracted: ExtractedStateMachine = extractStateMachine()) {
    this.extracted = extracted;
    // As local mode runs it: a TimeoutSecondsPath read from the state input, as AWS reads it.
    const definition = JSON.parse(JSON.stringify(extracted.definition)) as Record<string, unknown>;
    timeoutFromStateInput(definition);
    this.machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  }

  /** Starts an execution named after the job, as SfnExecutionStarter does; `approval` decides what the approval task sees. */
  start(jobId: string, runDeps: WorkflowDeps, script: RunnerScript = {}, snapshot?: StackJob): Run {
    // Wakes go to this executor's tokens (SendTaskSuccess), like the step Lambda's SFN client.
    const deps: WorkflowDeps = {
      ...runDeps,
      tasks: { succeed: (token, output) => this.broker.respond(token, output), fail: async (token, error, cause) => this.broker.fail(token, error, cause) },
    };
    const handlers: Record<string, (input: never) => Promise<unknown>> = {};
    for (const [state, binding] of Object.entries(this.extracted.tasks)) {
      if (binding.kind === 'runner') handlers[state] = (input) => this.runner(deps, state, binding.phase, input, script[binding.phase] ?? {});
      else if (binding.entry === 'lambdas/workflow/step.handler.ts' && binding.waitForTaskToken) handlers[state] = (input) => this.parked(deps, input);
      else if (binding.entry === 'lambdas/workflow/step.handler.ts') handlers[state] = (input) => runStep(deps, input);
      else if (binding.entry === 'lambdas/workflow/request-approval.handler.ts') handlers[state] = (input) => this.approval(deps, input);
      else throw new Error(`no local binding for ${binding.entry}`);
      const handle = handlers[state];
      handlers[state] = (input) => handle(withoutTimeout(input as Parameters<typeof withoutTimeout>[0]).input as never);
    }
    const retryIntervalOverrides = Object.fromEntries(Object.keys(this.extracted.tasks).map((s) => [s, 0]));
    // The input SfnExecutionStarter sends: the job id and the submitted snapshot (omitted by tests that wrote the job).
    const input = JSON.parse(JSON.stringify(snapshot ? { jobId, snapshot } : { jobId })) as { jobId: string };
    const { result, abort } = this.machine.run(input, {
      // $$.Task.Token is one static value per run in this interpreter; each task binding mints its own instead.
      context: {
        Execution: { Id: `arn:aws:states:us-east-1:123456789012:execution:StackJobs:${jobId}`, Name: jobId, Input: input },
        Task: { Token: 'replaced-per-task' },
      },
      overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides },
      noThrowOnAbort: true,
    });
    return {
      result,
      abort: () => {
        abort();
        this.broker.releaseAll();
      },
    };
  }

  /**
   * A `.waitForTaskToken` Lambda task: mints a token, waits on it before `start` runs (a test may answer as soon as
   * `start` has stored it), then returns whatever answers the token.
   */
  private async withTaskToken(start: (taskToken: string) => Promise<unknown>): Promise<unknown> {
    const token = this.broker.mint();
    const answered = this.broker.wait(token);
    answered.catch(() => undefined); // returned below; if `start` throws, releaseAll settles it unobserved
    await start(token);
    return answered;
  }

  /** Wait For Stack Lock: the real park step, then wait until someone (or the job itself) wakes it. */
  private parked(deps: WorkflowDeps, input: { Payload: Record<string, unknown> }): Promise<unknown> {
    return this.withTaskToken((taskToken) => runStep(deps, { ...input.Payload, taskToken }));
  }

  /** The approval task: the real request-approval logic, then wait for a decision. */
  private approval(deps: WorkflowDeps, input: { Payload: Record<string, unknown> }): Promise<unknown> {
    return this.withTaskToken((taskToken) => handleApprovalRequest(deps, { ...input.Payload, taskToken }));
  }

  /** A runner: moves its operations like the real one, then reports through the (minted) task token. */
  private async runner(deps: WorkflowDeps, state: string, phase: 'preview' | 'update', input: RunTaskInput, script: PhaseScript): Promise<RunnerResult> {
    const envList = input.Overrides.ContainerOverrides[0].Environment;
    const token = this.broker.mint();
    envList.find((e) => e.Name === 'STACKJOBS_TASK_TOKEN')!.Value = token;
    const env = Object.fromEntries(envList.map((e) => [e.Name, e.Value]));
    const jobId = env.STACKJOBS_JOB_ID;
    const network = input.NetworkConfiguration?.AwsvpcConfiguration;
    this.runnerCalls.push({
      jobId,
      phase,
      env,
      state,
      placement: {
        cluster: input.Cluster,
        taskDefinition: input.TaskDefinition,
        subnets: network?.Subnets,
        securityGroups: network?.SecurityGroups,
        launchType: input.LaunchType,
        container: input.Overrides.ContainerOverrides[0].Name,
      },
    });
    const reported = this.broker.wait(token) as Promise<RunnerResult>;
    reported.catch(() => undefined); // returned below; an execution aborted while `during` holds the runner settles it unobserved

    const { job } = await deps.jobs.require(jobId);
    const previews = job.spec.essentials.flowControlPolicy.previewBeforeUpdate;
    const previewOps = job.spec.operations.filter((o) => o !== 'apply' && o !== 'destroy');
    const updateOps = job.spec.operations.filter((o) => o === 'apply' || o === 'destroy' || (o !== 'plan' && !previews));
    const move = (name: OperationName, status: 'running' | 'completed', result: 'tbd' | 'succeeded' | 'failed', errors?: string[]) =>
      deps.jobs.update(jobId, (j) => transitionOperation(j, name, status, result, new Date(), errors ? { errors } : {}));
    /** Runs the operations; false when the script failed one (the task has then reported its failure). */
    const runOps = async (ops: OperationName[]) => {
      for (const op of ops) {
        await move(op, 'running', 'tbd');
        if (script.fail?.operation === op) {
          await move(op, 'completed', 'failed', [script.fail.message]);
          this.broker.fail(token, 'StackJob.OperationFailed', JSON.stringify(script.fail));
          return false;
        }
        await move(op, 'completed', 'succeeded');
      }
      return true;
    };
    const resultOf = (p: 'preview' | 'update', ops: OperationName[], hasChanges: boolean) => {
      const base = { logPrefix: `jobs/${jobId}/logs/${p}/`, durations: Object.fromEntries(ops.map((o, i) => [o, i + 1])) };
      return p === 'preview'
        ? { phase: p, hasChanges, summary: hasChanges ? SUMMARY : NO_CHANGES, planDigest: digestOf(jobId), planKey: `jobs/${jobId}/plan/plan.bin`, ...base }
        : { phase: p, hasChanges: true, outputsKey: `jobs/${jobId}/outputs.json`, ...base };
    };
    await script.during?.();
    if (!(await runOps(phase === 'preview' ? previewOps : updateOps))) return reported;
    const hasChanges = script.hasChanges ?? true;
    if (phase === 'update') {
      this.broker.succeed(token, resultOf('update', updateOps, true));
      return reported;
    }
    const preview = resultOf('preview', previewOps, hasChanges);
    if (env.STACKJOBS_THEN_UPDATE !== 'true' || !hasChanges) {
      this.broker.succeed(token, preview);
      return reported;
    }
    // One task (runner-image/src/phases.ts claimUpdate): the hand-over is refused if a cancel was recorded first.
    let refused = false;
    await deps.jobs.update(jobId, (j) => {
      refused = j.status.phase === 'completed' || j.status.cancelRequested !== undefined;
      return refused || !j.status.runnerTask ? j : { ...j, status: { ...j.status, runnerTask: { ...j.status.runnerTask, phase: 'update' } } };
    });
    if (refused) {
      this.broker.fail(token, 'StackJob.Cancelled', JSON.stringify({ operation: 'runner', message: 'cancelled before the update began; nothing was applied' }));
      return reported;
    }
    await script.beforeUpdate?.();
    if (!(await runOps(updateOps))) return reported;
    this.broker.succeed(token, { ...preview, then: resultOf('update', updateOps, true) });
    return reported;
  }
}

/** Polls until `check` returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
