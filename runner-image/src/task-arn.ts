/**
 * The runner records which ECS task it is on the job, so a cancel can stop a running preview (ECS StopTask).
 * Locally the task ARN comes in STACKJOBS_TASK_ARN; on Fargate from the task metadata endpoint v4.
 */
import { isTerminal } from '../../lambdas/domain/status';
import type { StackJob } from '../../lambdas/domain/schemas';
import { CancelledError } from './errors';

/** The metadata endpoint answers in milliseconds; a runner never waits long on it. */
const METADATA_TIMEOUT_MS = 2000;

export async function resolveTaskArn(env: NodeJS.ProcessEnv, fetchFn: typeof fetch = fetch): Promise<string | undefined> {
  if (env.STACKJOBS_TASK_ARN) return env.STACKJOBS_TASK_ARN;
  const base = env.ECS_CONTAINER_METADATA_URI_V4;
  if (!base) return undefined;
  const res = await fetchFn(`${base}/task`, { signal: AbortSignal.timeout(METADATA_TIMEOUT_MS) });
  if (!res.ok) return undefined;
  const body = (await res.json()) as { TaskARN?: unknown };
  return typeof body.TaskARN === 'string' ? body.TaskARN : undefined;
}

interface JobWriter {
  update(id: string, mutate: (job: StackJob) => StackJob): Promise<StackJob>;
}

/**
 * Records the task on the job, and refuses to start a phase for a job that was cancelled before it began
 * (a cancel that arrived before the task could be stopped, or before the update started). `also` changes the job in
 * the same write when the phase may start: one job write fewer than recording its first operation apart.
 */
export async function claimPhase(
  jobs: JobWriter,
  jobId: string,
  phase: 'preview' | 'update',
  taskArn: string | undefined,
  also: (job: StackJob) => StackJob = (j) => j,
): Promise<void> {
  const job = await jobs.update(jobId, (j) => {
    if (isTerminal(j)) return j;
    const claimed = (): StackJob => {
      if (taskArn) return { ...j, status: { ...j.status, runnerTask: { arn: taskArn, phase } } };
      // This task's ARN is unknown: the preview's task must not stand for it. A cancel would "stop" that finished task
      // and end the job, and the lock would be released, while this task went on to apply.
      if (!j.status.runnerTask || j.status.runnerTask.phase === phase) return j;
      const { runnerTask: _stale, ...status } = j.status;
      return { ...j, status };
    };
    // What the phase does first (a preview's init starting) rides on the claim, unless the claim refuses.
    return j.status.cancelRequested ? claimed() : also(claimed());
  });
  const refused = refusedStart(job, phase);
  if (refused) throw refused;
}

/** The refusal of a phase whose job ended or was asked to cancel before the phase started, or undefined. */
export function refusedStart(job: StackJob, phase: 'preview' | 'update'): CancelledError | undefined {
  return isTerminal(job) || job.status.cancelRequested
    ? new CancelledError('runner', null, `the job was cancelled before the ${phase} phase started; nothing was run`)
    : undefined;
}
