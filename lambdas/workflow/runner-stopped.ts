/**
 * A runner task that stops without reporting fails its Step Functions task at once, not at the heartbeat timeout.
 * ECS emits "ECS Task State Change" for every task; an EventBridge rule on the default bus sends the STOPPED events of
 * this deployment's runners here (infra/constructs/events.ts), and local mode builds the same event when a runner
 * process dies (local/local-mode.ts). The token comes from the container overrides the state machine set. A runner
 * that did report left a token Step Functions has already closed, so its stop changes nothing.
 */
import { withoutToken, withoutTokenError } from '../shared/task-token';
import { constants } from 'node:os';
import * as z from '../shared/zod';
import { TASK_GONE, type LogSink, type TaskResponder } from '../approvals/ports';
import { WorkflowErrorName } from './errors';

/** The runner's container: the state machine's overrides address it by this name, so org runners must use it too. */
export const RUNNER_CONTAINER_NAME = 'runner';

export const ECS_TASK_STATE_CHANGE = 'ECS Task State Change';

/** What the state machine puts in every runner's environment (runner-image/README.md) and this reads back. */
const RUNNER_ENV = { token: 'STACKJOBS_TASK_TOKEN', jobId: 'STACKJOBS_JOB_ID', phase: 'STACKJOBS_PHASE', deploymentId: 'STACKJOBS_DEPLOYMENT_ID' } as const;

/**
 * The EventBridge pattern of the rule: stopped tasks whose runner container carries this deployment's id, which covers
 * the platform runner and org runners (any cluster of the account) and leaves out another deployment's runners, whose
 * tokens this one may not answer. Fields of one array element match together (EventBridge's array consistency).
 */
export function runnerStoppedPattern(deploymentId: string) {
  return {
    source: ['aws.ecs'],
    detailType: [ECS_TASK_STATE_CHANGE],
    detail: {
      lastStatus: ['STOPPED'],
      overrides: { containerOverrides: { name: [RUNNER_CONTAINER_NAME], environment: { name: [RUNNER_ENV.deploymentId], value: [deploymentId] } } },
    },
  };
}

/** The part of the event this reads. The detail is ECS's Task object (DescribeTasks), timestamps as ISO strings. */
export const runnerStoppedEventSchema = z.object({
  source: z.literal('aws.ecs'),
  'detail-type': z.literal(ECS_TASK_STATE_CHANGE),
  detail: z.object({
    taskArn: z.string(),
    lastStatus: z.string(),
    stopCode: z.string().optional(),
    stoppedReason: z.string().optional(),
    containers: z.array(z.object({ name: z.string(), exitCode: z.number().int().nullish(), reason: z.string().optional() })).default([]),
    overrides: z
      .object({
        containerOverrides: z
          .array(z.object({ name: z.string(), environment: z.array(z.object({ name: z.string(), value: z.string().optional() })).default([]) }))
          .default([]),
      })
      .default({ containerOverrides: [] }),
  }),
});

/** How a runner task ended, as ECS reports it: the task's stop code and reason, the runner container's exit. */
export interface RunnerStop {
  stopCode?: string;
  stoppedReason?: string;
  exitCode?: number;
  containerReason?: string;
}

/** ECS reports reasons of up to 255 characters; anything longer is not ECS's and is cut. */
const MAX_REASON = 300;
const clip = (s: string) => (s.length > MAX_REASON ? `${s.slice(0, MAX_REASON)}…` : s);

const SIGNALS = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** A container killed by a signal exits 128 + its number (137: SIGKILL, what the kernel's OOM killer sends). */
function exitOf(code: number): string {
  return (code > 128 && SIGNALS.get(code - 128)) || `exit ${code}`;
}

/** The failure message of a lost runner: how its container ended, then why ECS stopped the task. */
export function lostRunnerMessage(stop: RunnerStop): string {
  const parts = [`the runner stopped without reporting${stop.exitCode === undefined ? '' : ` (${exitOf(stop.exitCode)})`}`];
  if (stop.containerReason) parts.push(`container: ${clip(stop.containerReason)}`);
  const task = [stop.stopCode, stop.stoppedReason === stop.containerReason ? undefined : stop.stoppedReason].filter(Boolean).map((s) => clip(s!));
  if (task.length > 0) parts.push(`task: ${task.join(', ')}`);
  return parts.join('; ');
}

/**
 * The SendTaskFailure cause: JSON with the message under `message`, and under `errorMessage` too, which is the key
 * the workflow's describeError reads from a cause without an operation (the workflow names the operation itself).
 */
export function lostRunnerFailure(stop: RunnerStop, taskToken: string): { message: string; cause: string } {
  // ECS copies a StopTask reason verbatim: nothing a caller wrote may carry the token on. The reasons are masked
  // before lostRunnerMessage cuts them, since a cut through the token would leave its first part unrecognised.
  const masked: RunnerStop = {
    ...stop,
    ...(stop.stoppedReason ? { stoppedReason: withoutToken(stop.stoppedReason, taskToken) } : {}),
    ...(stop.containerReason ? { containerReason: withoutToken(stop.containerReason, taskToken) } : {}),
  };
  const message = withoutToken(lostRunnerMessage(masked), taskToken);
  const cause = JSON.stringify({
    message,
    errorMessage: message,
    ...(stop.stopCode ? { stopCode: stop.stopCode } : {}),
    ...(stop.exitCode === undefined ? {} : { containerExitCode: stop.exitCode }),
  });
  return { message, cause };
}

export interface RunnerStoppedDeps {
  tasks: Pick<TaskResponder, 'fail'>;
  /** Never handed the token. */
  log: LogSink;
}

/** `failed`: the task was waiting and now fails; `already_closed`: it was not waiting any more; `ignored`: not a runner's stop. */
export type RunnerStoppedOutcome = { outcome: 'failed' | 'already_closed'; jobId: string } | { outcome: 'ignored' };

export async function handleRunnerStopped(d: RunnerStoppedDeps, event: unknown): Promise<RunnerStoppedOutcome> {
  const parsed = runnerStoppedEventSchema.safeParse(event);
  // Paths and messages only: an issue never quotes the event, which carries the token.
  if (!parsed.success) throw new Error(`not an ECS Task State Change event: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { detail } = parsed.data;
  const env = new Map((detail.overrides.containerOverrides.find((c) => c.name === RUNNER_CONTAINER_NAME)?.environment ?? []).map((e) => [e.name, e.value]));
  const token = env.get(RUNNER_ENV.token);
  const jobId = env.get(RUNNER_ENV.jobId);
  if (detail.lastStatus !== 'STOPPED' || !token || !jobId) {
    d.log.info('ignored a task state change that is not a stopped stack job runner', { taskArn: detail.taskArn, lastStatus: detail.lastStatus });
    return { outcome: 'ignored' };
  }

  const container = detail.containers.find((c) => c.name === RUNNER_CONTAINER_NAME);
  const stop: RunnerStop = {
    ...(detail.stopCode ? { stopCode: detail.stopCode } : {}),
    ...(detail.stoppedReason ? { stoppedReason: detail.stoppedReason } : {}),
    ...(typeof container?.exitCode === 'number' ? { exitCode: container.exitCode } : {}),
    ...(container?.reason ? { containerReason: container.reason } : {}),
  };
  const logged = { jobId, phase: env.get(RUNNER_ENV.phase), taskArn: detail.taskArn, stopCode: stop.stopCode, exitCode: stop.exitCode };
  const { message, cause } = lostRunnerFailure(stop, token);
  try {
    await d.tasks.fail(token, WorkflowErrorName.runnerLost, cause);
  } catch (e) {
    const name = (e as Error).name;
    if (TASK_GONE.has(name)) {
      // The usual case: every runner stops once it has reported.
      d.log.info('a runner task stopped after its task had closed (reported, timed out or its execution ended)', { ...logged, answer: name });
      return { outcome: 'already_closed', jobId };
    }
    d.log.error('failing the task of a lost runner failed; the event will be retried', { ...logged, error: name });
    // The SDK's message is kept for the retry's log, never the token.
    throw withoutTokenError(e, token);
  }
  d.log.warn(`a runner stopped without reporting: its task failed with ${WorkflowErrorName.runnerLost}`, { ...logged, message });
  return { outcome: 'failed', jobId };
}
