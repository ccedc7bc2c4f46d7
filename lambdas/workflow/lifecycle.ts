/**
 * The job lifecycle the state machine drives: the stack lock queue, recording what the runner reported, the
 * approval hand-off, and the one way every path ends (record, publish, release). Each function is idempotent,
 * because Step Functions retries a step whose Lambda failed half-way.
 * The workflow owns the job's phase, plan, failure and outputs; the runner owns per-operation status.
 */
import type { Clock, IdGenerator } from '../domain/ids';
import type { RunnerPlacement } from '../domain/preflight';
import { needsApproval } from '../domain/planner';
import type { EventPublisher } from '../domain/ports';
import { runnerResultSchema, stackJobSchema, type JobPhase, type JobResult, type OperationName, type RunnerResult, type StackJob } from '../domain/schemas';
import { stackKeyOfJob } from '../domain/stack-job';
import { transitionJob } from '../domain/status';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { LeaseRecord, LockRepository } from '../adapters/dynamodb/lock-repository';
import type { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { TASK_GONE, type RunnerTaskStopper, type TaskResponder } from '../approvals/ports';
import { TransientStepError, WorkflowInvariantError, WorkflowErrorName } from './errors';
import type { WorkflowMetrics } from './metrics';

export const STATUS_CHANGED = 'Stack Job Status Changed';

export interface WorkflowDeps {
  jobs: JobRepository;
  locks: LockRepository;
  resources: ResourceStatusRepository;
  events: EventPublisher;
  clock: Clock;
  ids: IdGenerator;
  metrics: WorkflowMetrics;
  /**
   * How long a lease outlives the approval window: both runner phases plus slack. The lease expiry is only the
   * last line of defence (the Catch paths and the cleanup Lambda release it first), so it errs long.
   */
  leaseMarginSeconds: number;
  /** Stops a runner task (ECS StopTask) whose execution ended without its own Catch path (cleanupExecution). */
  runnerTasks: RunnerTaskStopper;
  /** Wakes a job parked on its stack lock (SendTaskSuccess on the token it parked). */
  tasks: Pick<TaskResponder, 'succeed'>;
}

/** Why a job ended, as the state machine's outcome states say it. */
export type Outcome =
  | { kind: 'updated'; result: unknown }
  | { kind: 'no_changes' }
  | { kind: 'operation_failed'; phase: 'preview' | 'update'; error?: StepError }
  | { kind: 'cancelled'; error?: StepError }
  | { kind: 'rejected'; error?: StepError }
  | { kind: 'approval_expired'; error?: StepError }
  | { kind: 'lock_wait_exceeded' }
  | { kind: 'step_failed'; step: string; error?: StepError };

/** What a Catch puts in the state: `{Error, Cause}`. */
export interface StepError {
  Error?: string;
  Cause?: string;
}

/** The most a failure message carries into the job document and events. */
const MAX_MESSAGE = 2000;

// ---------------------------------------------------------------- publishing

export function statusEventDetail(job: StackJob): Record<string, unknown> {
  return {
    jobId: job.metadata.id,
    org: job.metadata.org,
    env: job.metadata.env,
    resourceId: job.spec.apiResourceInfo.id,
    phase: job.status.phase,
    result: job.status.result,
    ...(job.status.failure ? { failedOperation: job.status.failure.operation } : {}),
    ...(job.status.reason ? { reason: job.status.reason } : {}),
  };
}

async function publish(d: Pick<WorkflowDeps, 'events'>, job: StackJob): Promise<void> {
  try {
    await d.events.publish(STATUS_CHANGED, statusEventDetail(job));
  } catch (e) {
    // Retried by the state machine: the job write before it is idempotent, so the event is sent at least once.
    throw new TransientStepError(`publishing the status event failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Applies a change to the job and publishes when its phase or result moved. */
async function moveJob(d: WorkflowDeps, jobId: string, mutate: (job: StackJob) => StackJob): Promise<StackJob> {
  let before: StackJob | undefined;
  const after = await d.jobs.update(jobId, (job) => {
    before = job;
    return mutate(job);
  });
  if (before && (before.status.phase !== after.status.phase || before.status.result !== after.status.result)) await publish(d, after);
  return after;
}

// ---------------------------------------------------------------- acquire

export type AcquireResult =
  | {
      outcome: 'acquired';
      attempts: number;
      fencingToken: number;
      preview: boolean;
      /** Which runner task the state machine starts: the org's (placement below) or the platform's. */
      runner: 'org' | 'platform';
      /** The org runner's placement frozen in the snapshot: the Cluster, TaskDefinition and network of ecs:RunTask. */
      orgRunner?: RunnerPlacement;
    }
  | { outcome: 'queued'; attempts: number; queuePosition: number }
  /** The job ended while it waited (cancelled through the API): nothing left to do but make sure no lock is held. */
  | { outcome: 'gone'; attempts: number };

/**
 * How long an older queued job that has never attempted the stack lock still counts as ahead in the FIFO. A job is
 * written and its execution started in the same submission, and the first attempt follows within seconds
 * (StartExecution plus one Lambda step); a job older than this that never attempted has no execution (the submission
 * died after the write and nothing redelivered it), and must not block its stack forever. Should its execution start
 * later after all, it queues like any other job: it only loses its place.
 */
export const UNSTARTED_JOB_GRACE_MS = 5 * 60_000;

/** An older unfinished job the FIFO waits for: not the lease's expired owner, and not one that never got an execution. */
function isAhead(j: StackJob, jobId: string, expiredOwner: string | undefined, now: Date): boolean {
  if (j.metadata.id >= jobId || j.status.phase === 'completed' || j.metadata.id === expiredOwner) return false;
  const neverStarted = j.status.phase === 'queued' && !j.status.lockAttemptAt && now.getTime() - Date.parse(j.status.createdAt) > UNSTARTED_JOB_GRACE_MS;
  return !neverStarted;
}

/** The stack's lease as a waiter sees it: held by someone else (live), or takeable by `jobId` (free, expired, or its own). */
function leaseView(lease: LeaseRecord | undefined, jobId: string, now: Date): { heldByOther: boolean; expiredOwner?: string } {
  if (!lease?.ownerJobId || lease.ownerJobId === jobId) return { heldByOther: false };
  if (lease.expiresAt && Date.parse(lease.expiresAt) <= now.getTime()) return { heldByOther: false, expiredOwner: lease.ownerJobId };
  return { heldByOther: true };
}

/**
 * The older unfinished jobs of the stack this job waits for (FIFO). The stack index is eventually consistent: a job it
 * still shows unfinished may have just ended (and woken this one). So the oldest job it counts as ahead is read again,
 * consistently, and the next one only if that one has in fact ended: one read confirms a blocker, however long the
 * queue. The jobs from the confirmed blocker on are returned (their number is the queue position).
 */
async function jobsAhead(d: WorkflowDeps, stackKey: string, jobId: string, expiredOwner: string | undefined, now: Date): Promise<StackJob[]> {
  // Oldest first: the index's sort key is the job id (a ULID).
  const listed = (await d.jobs.listOpenInStack(stackKey)).filter((j) => isAhead(j, jobId, expiredOwner, now));
  for (let i = 0; i < listed.length; i++) {
    const current = (await d.jobs.get(listed[i].metadata.id))?.job;
    if (current && isAhead(current, jobId, expiredOwner, now)) return [current, ...listed.slice(i + 1)];
  }
  return [];
}

export function leaseExpiry(d: WorkflowDeps, job: StackJob, now: Date): Date {
  const approvalSeconds = job.spec.essentials.flowControlPolicy.approvalTimeoutMinutes * 60;
  return new Date(now.getTime() + (approvalSeconds + d.leaseMarginSeconds) * 1000);
}

/**
 * One attempt at the stack lock. FIFO: a job may take a free lease only when no older unfinished job of the
 * same stack is waiting (job ids sort by submission time), so the order of retries does not matter.
 * A holder whose lease expired no longer counts as ahead, so a dead execution cannot block the stack forever; nor
 * does an older job that never attempted the lock within UNSTARTED_JOB_GRACE_MS of its creation (no execution).
 */
export async function acquireLock(d: WorkflowDeps, jobId: string, attempts: number, submitted?: unknown): Promise<AcquireResult> {
  const job = await jobOrSubmitted(d, jobId, submitted);
  // A job that parked before (attempts > 0) may have left a token behind when its park timed out: drop it once the
  // wait is over, so no waker spends a wake on it.
  const endWait = async <T>(result: T): Promise<T> => {
    if (attempts > 0) await d.locks.takeWaiter(jobId);
    return result;
  };
  // A cancel through the API ends a queued job in one write; cancelRequested alone also means: do not start.
  if (job.status.phase === 'completed' || (job.status.phase === 'queued' && job.status.cancelRequested)) return endWait({ outcome: 'gone', attempts });
  const stackKey = stackKeyOfJob(job);
  const now = d.clock.now();
  const lease = await d.locks.read(stackKey);

  let acquired = lease?.ownerJobId === jobId ? { fencingToken: lease.fencingToken } : undefined;
  let queuePosition = 0;
  if (!acquired) {
    const ahead = await jobsAhead(d, stackKey, jobId, leaseView(lease, jobId, now).expiredOwner, now);
    if (ahead.length === 0) {
      const outcome = await d.locks.tryAcquire(stackKey, jobId, leaseExpiry(d, job, now));
      if (outcome.acquired) acquired = { fencingToken: outcome.lease.fencingToken };
    }
    // Position = how many jobs are ahead: the older ones waiting, or at least the one holding the lease.
    queuePosition = Math.max(ahead.length, 1);
  }

  if (!acquired) {
    // Every attempt is stamped (lockAttemptAt), so newer jobs know this one has an execution behind it.
    await d.jobs.update(jobId, (j) => {
      if (j.status.phase !== 'queued') return j;
      return { ...j, status: { ...j.status, queuePosition, lockAttemptAt: now.toISOString(), updatedAt: now.toISOString() } };
    });
    return { outcome: 'queued', attempts: attempts + 1, queuePosition };
  }
  const moved = await moveJob(d, jobId, (j) => {
    if (j.status.phase !== 'queued' || j.status.cancelRequested) return j;
    const running = transitionJob(j, 'running', 'tbd', now);
    return { ...running, status: { ...running.status, lockAttemptAt: now.toISOString() } };
  });
  if (moved.status.phase !== 'running') {
    // Cancelled between our read and the lease: give the lease back rather than run a cancelled job.
    await releaseAndWakeNext(d, stackKey, jobId);
    return endWait({ outcome: 'gone', attempts });
  }
  const orgRunner = orgRunnerPlacement(job);
  return endWait({
    outcome: 'acquired',
    attempts,
    fencingToken: acquired.fencingToken,
    preview: job.spec.essentials.flowControlPolicy.previewBeforeUpdate,
    ...(orgRunner ? { runner: 'org' as const, orgRunner } : { runner: 'platform' as const }),
  });
}

// ---------------------------------------------------------------- the waiting room

/**
 * A job that found its stack held parks its execution on a task token (state `Wait For Stack Lock`) instead of
 * polling: whoever frees the stack wakes the oldest parked job, which then tries the lock again. The park has a
 * timeout (lockWaitSeconds), after which the job looks again on its own: the bound for a holder that vanished
 * without releasing (its lease expires) and for a wake that got lost.
 * A stack freed between this job's last attempt and its park could not wake it, so after parking it looks once more
 * with acquireLock's own rule and wakes itself when it is first in line (or when it was cancelled meanwhile).
 */
export async function parkForLock(d: WorkflowDeps, jobId: string, taskToken: string): Promise<{ parked: true }> {
  const { job } = await d.jobs.require(jobId);
  const stackKey = stackKeyOfJob(job);
  await d.locks.parkWaiter(stackKey, jobId, taskToken);
  const now = d.clock.now();
  // Read again (consistently) now that the token is stored: a cancel that landed before it could not wake this park,
  // so it must be seen here.
  const current = (await d.jobs.require(jobId)).job;
  const ended = current.status.phase !== 'queued' || Boolean(current.status.cancelRequested);
  const lease = leaseView(await d.locks.read(stackKey), jobId, now);
  if (ended || (!lease.heldByOther && (await jobsAhead(d, stackKey, jobId, lease.expiredOwner, now)).length === 0)) {
    await wakeParked(d, jobId).catch((e: unknown) => {
      throw wakeFailed('waking the parked job itself', e);
    });
  }
  return { parked: true };
}

/** What waking parked jobs needs (the workflow steps, the cleanup Lambda and a cancel through the API all wake). */
export interface WakeDeps {
  jobs: Pick<JobRepository, 'listOpenInStack'>;
  locks: Pick<LockRepository, 'takeWaiter' | 'restoreWaiter' | 'read'>;
  tasks: Pick<TaskResponder, 'succeed'>;
  clock: Clock;
}

/** Wakes a job's parked execution; false when it is not parked, or its token is spent (timed out, execution gone). */
export async function wakeParked(d: Pick<WakeDeps, 'locks' | 'tasks'>, jobId: string): Promise<boolean> {
  const parked = await d.locks.takeWaiter(jobId);
  if (!parked) return false;
  try {
    await d.tasks.succeed(parked.taskToken, { woken: true });
    return true;
  } catch (e) {
    if (TASK_GONE.has((e as Error).name)) return false;
    // Throttled or failed: the job is still parked, so its token goes back (unless it has parked anew meanwhile),
    // and the retried step wakes it rather than passing over it.
    await d.locks.restoreWaiter(parked);
    throw e;
  }
}

/**
 * Wakes the oldest parked job of the stack, if any. Should an older job be on its way to parking, the woken one finds
 * it ahead and parks again, and the older one wakes itself when it parks (see parkForLock).
 */
export async function wakeNextWaiter(d: WakeDeps, stackKey: string): Promise<string | undefined> {
  // Only a free stack wakes anyone: each wake costs the woken job one of its attempts (lockWaitMaxAttempts).
  if (leaseView(await d.locks.read(stackKey), '', d.clock.now()).heldByOther) return undefined;
  const waiting = (await d.jobs.listOpenInStack(stackKey)).filter((j) => j.status.phase === 'queued');
  for (const j of waiting) if (await wakeParked(d, j.metadata.id)) return j.metadata.id;
  return undefined;
}

/**
 * Releases the stack if `jobId` holds it, then wakes the next parked job. The wake runs even when there was nothing
 * to release, so a retried step (whose first attempt released and then failed to wake) still wakes. A failed wake is
 * transient: the step is retried, and the parked job's own timeout is the last resort.
 */
export async function releaseAndWakeNext(d: WorkflowDeps, stackKey: string, jobId: string): Promise<boolean> {
  const released = await d.locks.release(stackKey, jobId);
  try {
    await wakeNextWaiter(d, stackKey);
  } catch (e) {
    throw wakeFailed('waking the next job of the stack', e);
  }
  return released;
}

/**
 * A failed wake as a transient step error carrying the error's name only: the message of a failed SendTaskSuccess may
 * quote the token, and this text reaches the execution's history and, should the retries run out, the job's failure.
 */
function wakeFailed(what: string, e: unknown): TransientStepError {
  return new TransientStepError(`${what} failed: ${e instanceof Error ? e.name : 'unknown error'}`);
}

/**
 * The job as stored, or, when the submission's job write has not landed yet, the snapshot the submission started the
 * execution with, written now (never overwriting). The submission writes the job and starts its execution side by side,
 * so the execution may look first; and should that write fail, the execution still has its job.
 */
async function jobOrSubmitted(d: WorkflowDeps, jobId: string, submitted: unknown): Promise<StackJob> {
  const found = await d.jobs.get(jobId);
  if (found) return found.job;
  // Validated only now, when it is needed: a stored job never depends on the input's snapshot passing today's schema.
  const snapshot = submitted === undefined ? undefined : stackJobSchema.parse(submitted);
  if (snapshot?.metadata.id !== jobId) return (await d.jobs.require(jobId)).job;
  if (await d.jobs.create(snapshot)) return snapshot;
  return (await d.jobs.require(jobId)).job;
}

/**
 * The org runner placement pre-flight froze into the job (only when the deployment permits its task definition), or
 * undefined: the platform runner. Fargate (awsvpc) needs the subnets and security groups with the task definition.
 */
export function orgRunnerPlacement(job: StackJob): RunnerPlacement | undefined {
  const { cluster, taskDefinition, subnets, securityGroups } = job.spec.essentials.stackJobRunner;
  if (!cluster || !taskDefinition || !subnets?.length || !securityGroups?.length) return undefined;
  return { cluster, taskDefinition, subnets, securityGroups };
}

// ---------------------------------------------------------------- preview and approval

export interface PreviewGate {
  next: 'no_changes' | 'approval' | 'update' | 'cancelled' | 'gone';
  /** The digest the update phase must apply ('' when nothing was previewed). */
  planDigest: string;
  /** The approval task's timeout (TimeoutSecondsPath): the job's policy window. */
  approvalTimeoutSeconds: number;
}

const prefixed = (phase: string, durations: Record<string, number>) => Object.fromEntries(Object.entries(durations).map(([k, v]) => [`${phase}.${k}`, v]));

/** Records the preview's plan, logs and durations on the job and decides where the workflow goes next. */
export async function recordPreview(d: WorkflowDeps, jobId: string, raw: unknown): Promise<PreviewGate> {
  const result: RunnerResult = runnerResultSchema.parse(raw);
  const now = d.clock.now();
  const job = await d.jobs.update(jobId, (j) => {
    if (j.status.phase === 'completed') return j;
    const status = { ...j.status, updatedAt: now.toISOString(), logPrefix: result.logPrefix, durations: { ...j.status.durations, ...prefixed('preview', result.durations) } };
    if (result.planDigest && result.planKey && result.summary) status.plan = { digest: result.planDigest, key: result.planKey, summary: result.summary };
    return { ...j, status };
  });
  const policy = job.spec.essentials.flowControlPolicy;
  const gate = { planDigest: result.planDigest ?? '', approvalTimeoutSeconds: policy.approvalTimeoutMinutes * 60 };
  if (job.status.phase === 'completed') return { next: 'gone', ...gate };
  if (job.status.cancelRequested) return { next: 'cancelled', ...gate };
  if (!result.hasChanges) return { next: 'no_changes', ...gate };
  // Only ever apply a plan that was previewed: a preview with changes but no plan digest cannot go on.
  if (!result.planDigest) throw new WorkflowInvariantError('the preview reported changes but no plan digest');
  return { next: needsApproval(policy, result.summary, result.hasChanges) ? 'approval' : 'update', ...gate };
}

/** A job cancelled after its preview: nobody will decide, so the approval task ends at once (Catch -> cancelled). */
const cancelledBeforeApproval = (j: StackJob) => j.status.phase !== 'awaiting_approval' && (j.status.phase === 'completed' || j.status.cancelRequested !== undefined);

/**
 * The approval task's Lambda (the approvals work posts the Slack message around this): keeps the task token in its
 * own item (never in the job), opens the approval request and moves the job to awaiting_approval.
 */
export async function requestApproval(d: WorkflowDeps, jobId: string, taskToken: string, planDigest: string): Promise<StackJob> {
  const now = d.clock.now();
  const cancelled = () => new JobCancelledError(`job ${jobId} was cancelled before its approval was requested`);
  // Checked before the token is stored, so a cancelled job is never left holding one.
  if (cancelledBeforeApproval((await d.jobs.require(jobId)).job)) throw cancelled();
  // Stored before the job shows awaiting_approval, so a cancel that sees that phase finds the token to fail the task with.
  await d.jobs.setTaskToken(jobId, taskToken);
  try {
    return await moveJob(d, jobId, (j) => {
      if (j.status.phase === 'awaiting_approval') return j;
      if (cancelledBeforeApproval(j)) throw cancelled();
      const moved = transitionJob(j, 'awaiting_approval', 'tbd', now);
      const windowMs = j.spec.essentials.flowControlPolicy.approvalTimeoutMinutes * 60_000;
      return {
        ...moved,
        status: {
          ...moved.status,
          approval: { id: d.ids.next('apr'), requestedAt: now.toISOString(), expiresAt: new Date(now.getTime() + windowMs).toISOString(), ...(planDigest ? { planDigest } : {}) },
        },
      };
    });
  } catch (e) {
    // Cancelled between the check and the move: the token will never be answered, so it goes now.
    if (e instanceof JobCancelledError) await d.jobs.clearTaskToken(jobId);
    throw e;
  }
}

/**
 * Why an approval task's success may not lead to the update: only an approval recorded on the job (by decide.ts,
 * before it resumes the execution) counts. Whoever holds the task token could send SendTaskSuccess; the token alone
 * proves nothing.
 */
function unapprovedReason(job: StackJob): string | undefined {
  const decision = job.status.approval?.decision;
  if (!decision) return 'the approval task was resumed, but no approval decision is recorded on the job; the update does not run';
  if (decision.decision !== 'approved') return `the approval task was resumed, but the recorded decision is ${decision.decision} (by ${decision.by}); the update does not run`;
  return undefined;
}

/** After an approval: back to running, the spent token removed, and the digest the update must apply. */
export async function recordApproval(d: WorkflowDeps, jobId: string): Promise<{ planDigest: string }> {
  const now = d.clock.now();
  const job = await moveJob(d, jobId, (j) => {
    if (j.status.phase !== 'awaiting_approval') return j;
    // Checked before the job moves, so an unapproved job goes from awaiting_approval straight to its failure path.
    const refused = unapprovedReason(j);
    if (refused) throw new WorkflowInvariantError(refused);
    return transitionJob(j, 'running', 'tbd', now);
  });
  // Also on a retry of this step (the job already running) and on a job that is no longer waiting.
  const refused = unapprovedReason(job);
  if (refused) throw new WorkflowInvariantError(refused);
  await d.jobs.clearTaskToken(jobId);
  const previewed = job.status.plan?.digest;
  const approved = job.status.approval?.decision?.planDigest;
  if (!previewed) throw new WorkflowInvariantError('approved job has no previewed plan');
  if (approved !== undefined && approved !== previewed) throw new WorkflowInvariantError('the approved plan digest is not the previewed one');
  return { planDigest: previewed };
}

// ---------------------------------------------------------------- finishing

/** Raised by a step when the job was cancelled meanwhile; its name is the definition's StackJob.Cancelled. */
export class JobCancelledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = WorkflowErrorName.cancelled;
  }
}

interface Failure {
  operation: string;
  message: string;
  exitCode?: number;
}

const clip = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s);

/** The runner's cause is JSON {operation, exitCode, message}; a Lambda's is JSON {errorType, errorMessage}; ECS's is text. */
export function describeError(error: StepError | undefined): Partial<Failure> & { message: string } {
  const name = error?.Error ?? 'unknown';
  if (name === 'States.Timeout') return { message: 'timed out: no result within the task timeout' };
  if (name === 'States.HeartbeatTimeout') return { message: 'the runner stopped sending heartbeats (task stopped or crashed)' };
  let cause: unknown = error?.Cause;
  try {
    cause = typeof cause === 'string' ? JSON.parse(cause) : cause;
  } catch {
    // plain text cause
  }
  if (cause && typeof cause === 'object') {
    const c = cause as Record<string, unknown>;
    if (typeof c.operation === 'string') {
      return { operation: c.operation, message: clip(String(c.message ?? name)), ...(Number.isInteger(c.exitCode) ? { exitCode: c.exitCode as number } : {}) };
    }
    if (typeof c.errorMessage === 'string') return { message: clip(`${name}: ${c.errorMessage}`) };
  }
  return { message: clip(typeof cause === 'string' && cause ? `${name}: ${cause}` : name) };
}

/** The operation a phase was on when it stopped: the one running, else the first one not done. */
function currentOperation(job: StackJob, phase: 'preview' | 'update'): OperationName | undefined {
  const ops = job.status.operations;
  const running = ops.find((o) => o.status === 'running');
  if (running) return running.name;
  const inPhase = phase === 'preview' ? ops.filter((o) => o.name !== 'apply' && o.name !== 'destroy') : ops.filter((o) => o.name === 'apply' || o.name === 'destroy');
  return inPhase.find((o) => o.status !== 'completed')?.name ?? inPhase.at(-1)?.name;
}

interface Ending {
  result: JobResult;
  reason?: string;
  failure?: Failure;
  runner?: RunnerResult;
}

function endingOf(outcome: Outcome, job: StackJob): Ending {
  switch (outcome.kind) {
    case 'updated':
      // An apply is never interrupted: a cancel that arrived during it is recorded, and the result says so.
      return { result: 'succeeded', runner: runnerResultSchema.parse(outcome.result), ...(job.status.cancelRequested ? { reason: 'cancel_requested_during_update' } : {}) };
    case 'no_changes':
      return { result: 'succeeded', reason: 'no_changes' };
    case 'operation_failed': {
      const e = describeError(outcome.error);
      return { result: 'failed', reason: 'operation_failed', failure: { operation: e.operation ?? currentOperation(job, outcome.phase) ?? outcome.phase, message: e.message, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) } };
    }
    case 'cancelled':
      return { result: 'cancelled', reason: 'cancelled' };
    case 'rejected':
      return { result: 'cancelled', reason: 'rejected' };
    case 'approval_expired':
      return { result: 'cancelled', reason: 'approval_expired' };
    case 'lock_wait_exceeded':
      return { result: 'cancelled', reason: 'lock_wait_exceeded' };
    case 'step_failed': {
      // A workflow error is named after the step, with the error's name and message (never its input).
      const e = describeError(outcome.error);
      return { result: 'failed', reason: 'workflow_step_failed', failure: { operation: `workflow:${outcome.step}`, message: e.message } };
    }
  }
}

/**
 * Ends the job: result, reason, failure, outputs and durations on the job; the resource's latest status; the event.
 * A job already completed (cancelled through the API meanwhile, or a retry of this step) is left as it is,
 * but the event is sent again, since a retry may be here precisely because the first send failed.
 */
export async function finishJob(d: WorkflowDeps, jobId: string, outcome: Outcome): Promise<StackJob> {
  const now = d.clock.now();
  const { job: current } = await d.jobs.require(jobId);
  if (current.status.phase === 'completed') {
    // Whoever completed it may have left a token (or died before removing it): a completed job holds none.
    await d.jobs.clearTaskToken(jobId);
    await publish(d, current);
    return current;
  }
  const ending = endingOf(outcome, current);
  // A runner task that timed out (task timeout or heartbeat timeout) is not stopped by Step Functions and may still be
  // applying: it is stopped before the job ends and the step after this one releases the lease. A StopTask that fails
  // for another reason than the task being gone is retried (transient), so the lease is never released under it.
  const timedOut = outcome.kind === 'operation_failed' && RUNNER_TIMEOUTS.has(outcome.error?.Error ?? '');
  const task = timedOut ? current.status.runnerTask : undefined;
  if (task && !(await stopRunnerTask(d, task.arn, `stack job ${jobId}: runner ${outcome.kind === 'operation_failed' ? outcome.error?.Error : ''}`))) {
    throw new TransientStepError(`the timed-out runner task of ${jobId} could not be stopped yet`);
  }
  const job = await d.jobs.update(jobId, (j) => {
    if (j.status.phase === 'completed') return j;
    const moved = transitionJob(j, 'completed', ending.result, now, ending.reason);
    const status = { ...moved.status };
    if (ending.failure) status.failure = ending.failure;
    if (ending.runner) {
      status.logPrefix = ending.runner.logPrefix;
      status.durations = { ...status.durations, ...prefixed('update', ending.runner.durations) };
      if (ending.runner.outputsKey) status.outputsKey = ending.runner.outputsKey;
    }
    return { ...moved, status };
  });
  return recordEnding(d, job, now);
}

/**
 * Everything that follows a job's move to completed, whoever made it (this step, or a cancel through the API):
 * the spent token removed, the resource's latest status, the event, the metric.
 */
export interface EndingDeps {
  jobs: Pick<JobRepository, 'clearTaskToken'>;
  resources: Pick<ResourceStatusRepository, 'record'>;
  events: EventPublisher;
  metrics: WorkflowMetrics;
}

export async function recordEnding(d: EndingDeps, job: StackJob, now: Date): Promise<StackJob> {
  const jobId = job.metadata.id;
  // A token left from an approval that expired or was rejected is spent: remove it with the job's end.
  await d.jobs.clearTaskToken(jobId);
  await d.resources.record({
    org: job.metadata.org,
    env: job.metadata.env,
    resourceId: job.spec.apiResourceInfo.id,
    kind: job.spec.apiResourceInfo.kind,
    jobId,
    result: job.status.result,
    finishedAt: job.status.finishedAt ?? now.toISOString(),
    ...(job.status.result === 'succeeded' ? { applied: { versionId: job.metadata.version.id, ...(job.status.outputsKey ? { outputsKey: job.status.outputsKey } : {}) } } : {}),
  });
  await publish(d, job);
  d.metrics.jobCompleted(job.status.result, job.status.reason);
  return job;
}

/** Releases the job's stack lock if (and only if) the job still holds it. */
export async function releaseLock(d: WorkflowDeps, jobId: string): Promise<{ released: boolean }> {
  const { job } = await d.jobs.require(jobId);
  return { released: await releaseAndWakeNext(d, stackKeyOfJob(job), jobId) };
}

// ---------------------------------------------------------------- cleanup

/** How an execution ended outside its own Catch path; INTERRUPTED: local mode restarted, and its executions are gone. */
export type ExecutionEndStatus = 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'INTERRUPTED';

export interface CleanupResult {
  marked: boolean;
  released: boolean;
  /** Present when a runner task was recorded on a running job: whether it is stopped (or already was). */
  runnerStopped?: boolean;
}

/** Step Functions' errors for a runner task that never reported: it may still be running. */
const RUNNER_TIMEOUTS = new Set(['States.Timeout', 'States.HeartbeatTimeout']);

/**
 * ECS's answers to StopTask for a task that is already gone: AWS forgets stopped tasks after a while ("The referenced
 * task was not found"; a recently stopped one is simply stopped again); local mode says "is not running".
 */
export function isTaskAlreadyStopped(e: unknown): boolean {
  const err = e as { name?: string; message?: string };
  return err.name === 'InvalidParameterException' && /not found|not running/i.test(err.message ?? '');
}

/** Best effort: true when the task is stopped or already was; false when ECS would not stop it (access, throttling, a bad ARN). */
async function stopRunnerTask(d: WorkflowDeps, taskArn: string, reason: string): Promise<boolean> {
  try {
    await d.runnerTasks.stop(taskArn, reason);
    return true;
  } catch (e) {
    return isTaskAlreadyStopped(e);
  }
}

/**
 * For an execution that ended without running its own Catch path: stops the runner task a running job recorded (an
 * aborted or timed-out execution does not stop the Fargate task it started, which may still be applying), marks the
 * job (failed, or cancelled when aborted), publishes, and releases the lock only if this job still holds it and no
 * runner may still be working: when StopTask fails for another reason than the task being gone, the lease is kept
 * and expires on its own. Safe to run twice.
 */
export async function cleanupExecution(d: WorkflowDeps, jobId: string, status: ExecutionEndStatus): Promise<CleanupResult> {
  const found = await d.jobs.get(jobId);
  if (!found) return { marked: false, released: false };
  const now = d.clock.now();
  const task = found.job.status.phase === 'running' ? found.job.status.runnerTask : undefined;
  const runnerStopped = task ? await stopRunnerTask(d, task.arn, `stack job ${jobId}: execution ended ${status}`) : undefined;
  let marked = false;
  if (found.job.status.phase !== 'completed') {
    const result: JobResult = status === 'ABORTED' ? 'cancelled' : 'failed';
    const reason = status === 'INTERRUPTED' ? 'interrupted' : `execution_${status.toLowerCase()}`;
    const job = await moveJob(d, jobId, (j) => {
      if (j.status.phase === 'completed') return j;
      const phase = j.status.phase as Exclude<JobPhase, 'completed'>;
      const moved = transitionJob(j, 'completed', result, now, reason);
      if (result !== 'failed') return moved;
      // The operation it was in: still running (the runner was killed), or the one its runner stopped (a graceful stop).
      const operation =
        j.status.operations.find((o) => o.status === 'running')?.name ??
        (status === 'INTERRUPTED' ? j.status.operations.find((o) => o.result === 'cancelled')?.name : undefined) ??
        `workflow:${phase}`;
      const message =
        status === 'INTERRUPTED'
          ? `local mode stopped while this job was ${phase.replace('_', ' ')}${operation.startsWith('workflow:') ? '' : ` (in ${operation})`}; it did not finish: submit it again or rerun it`
          : `the workflow execution ended ${status}`;
      return { ...moved, status: { ...moved.status, failure: { operation, message } } };
    });
    marked = job.status.phase === 'completed';
    await d.jobs.clearTaskToken(jobId);
    d.metrics.jobCompleted(job.status.result, job.status.reason);
  }
  // An execution that ended while parked on the stack lock leaves its (now spent) token behind.
  await d.locks.takeWaiter(jobId);
  const released = runnerStopped === false ? false : await releaseAndWakeNext(d, stackKeyOfJob(found.job), jobId);
  return { marked, released, ...(runnerStopped !== undefined ? { runnerStopped } : {}) };
}

/** Re-exported so handlers and tests share the error names with the definition. */
export { WorkflowErrorName };
