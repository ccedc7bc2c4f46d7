/**
 * The job and operation status model (README, The StackJob), as explicit transition tables.
 * Every status change goes through here; an illegal one throws IllegalTransitionError.
 */
import { IllegalTransitionError } from './errors';
import type { EndingReason } from './endings';
import type { JobPhase, JobResult, OperationName, OperationState, OperationStatus, StackJob } from './schemas';

export type JobState = `${JobPhase}/${JobResult}`;

const TERMINAL: JobResult[] = ['succeeded', 'failed', 'cancelled', 'skipped'];
const completed = TERMINAL.map((r) => `completed/${r}` as JobState);

/** Allowed job transitions: from -> the states it may move to. `completed/*` is final. */
export const JOB_TRANSITIONS: Readonly<Record<string, readonly JobState[]>> = {
  'queued/tbd': ['queued/tbd', 'running/tbd', 'completed/cancelled', 'completed/failed'],
  'running/tbd': ['running/tbd', 'awaiting_approval/tbd', ...completed],
  'awaiting_approval/tbd': ['awaiting_approval/tbd', 'running/tbd', 'completed/cancelled', 'completed/failed'],
};

export function canTransitionJob(from: JobState, to: JobState): boolean {
  return (JOB_TRANSITIONS[from] ?? []).includes(to);
}

/** Returns the job with its phase/result moved, or throws when the table forbids it. */
export function transitionJob(job: StackJob, phase: JobPhase, result: JobResult, at: Date, reason?: EndingReason): StackJob {
  const from = `${job.status.phase}/${job.status.result}` as JobState;
  const to = `${phase}/${result}` as JobState;
  if (!canTransitionJob(from, to)) throw new IllegalTransitionError(from, to);
  const now = at.toISOString();
  const status = { ...job.status, phase, result, updatedAt: now };
  if (phase === 'running' && !status.startedAt) status.startedAt = now;
  if (phase !== 'queued') delete status.queuePosition;
  if (phase === 'completed') {
    status.finishedAt = now;
    // Whatever never ran is closed with the job, so no operation is left pending or running.
    status.operations = status.operations.map((op) =>
      op.status === 'completed'
        ? op
        : { ...op, status: 'completed', result: op.status === 'running' ? result : 'skipped', finishedAt: op.status === 'running' ? now : op.finishedAt },
    );
  }
  if (reason !== undefined) status.reason = reason;
  return { ...job, status };
}

export function isTerminal(job: StackJob): boolean {
  return job.status.phase === 'completed';
}

type OpState = `${OperationStatus}/${JobResult}`;
const OPERATION_TRANSITIONS: Readonly<Record<string, readonly OpState[]>> = {
  'pending/tbd': ['running/tbd', 'completed/skipped', 'completed/cancelled'],
  'running/tbd': ['completed/succeeded', 'completed/failed', 'completed/cancelled'],
};

/** Moves one operation of the job; the job itself must not be completed. */
export function transitionOperation(
  job: StackJob,
  name: OperationName,
  status: OperationStatus,
  result: JobResult,
  at: Date,
  extra: Partial<Pick<OperationState, 'errors' | 'summary'>> = {},
): StackJob {
  if (isTerminal(job))
    throw new IllegalTransitionError(`${job.status.phase}/${job.status.result}`, `${name}:${status}/${result}`, 'operation of a completed job');
  const index = job.status.operations.findIndex((op) => op.name === name);
  if (index < 0) throw new IllegalTransitionError('absent', `${name}:${status}`, 'operation');
  const op = job.status.operations[index];
  const from = `${op.status}/${op.result}`;
  const to = `${status}/${result}` as OpState;
  if (!(OPERATION_TRANSITIONS[from] ?? []).includes(to)) throw new IllegalTransitionError(from, to, `operation ${name}`);
  const now = at.toISOString();
  const next: OperationState = {
    ...op,
    status,
    result,
    errors: extra.errors ?? op.errors,
    ...(extra.summary ? { summary: extra.summary } : {}),
    ...(status === 'running' ? { startedAt: now } : {}),
    ...(status === 'completed' ? { finishedAt: now } : {}),
  };
  const operations = [...job.status.operations];
  operations[index] = next;
  return { ...job, status: { ...job.status, operations, updatedAt: now } };
}
