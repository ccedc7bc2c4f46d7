/**
 * The job lifecycle the state machine drives: the stack lock queue, recording what the runner reported, the approval
 * hand-off, and the outcome states mapped to endings (endings.ts ends the job: record, publish, release). Each function
 * is idempotent, because Step Functions retries a step whose Lambda failed half-way.
 * The workflow owns the job's phase, plan, failure and outputs; the runner owns per-operation status.
 */
import type { EndingReason } from '../domain/endings';
import type { Clock, IdGenerator } from '../domain/ids';
import type { RunnerPlacement } from '../domain/preflight';
import { needsApproval } from '../domain/planner';
import { evaluatePlanPolicies, policyJobOf, policyPlanOf, policyStopMessage } from '../domain/plan-policy';
import type { EventPublisher } from '../domain/ports';
import { runnerResultSchema, stackJobSchema, type OperationName, type RunnerResult, type StackJob } from '../domain/schemas';
import { stackKeyOfJob } from '../domain/stack-job';
import { transitionJob } from '../domain/status';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import type { LockRepository } from '../adapters/dynamodb/lock-repository';
import type { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import type { LogSink, RunnerTaskStopper, TaskResponder } from '../approvals/ports';
import { clip, endJob, interruptedOperation, prefixed, publishStatus, type Ending, type EndOptions, type Failure } from './endings';
import { TransientStepError, WorkflowInvariantError, WorkflowErrorName } from './errors';
import type { WorkflowMetrics } from './metrics';
import { leaseView, releaseAndWakeNext, wakeFailed, wakeParked } from './wake';

export { STATUS_CHANGED } from '../domain/events';
export { isTaskAlreadyStopped, statusEventDetail } from './endings';
export { releaseAndWakeNext, wakeNextWaiter, wakeParked, type WakeDeps } from './wake';

export interface WorkflowDeps {
  jobs: JobRepository;
  /** The approval task token's item (and approval refs). */
  approvalItems: ApprovalItemRepository;
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
  /** Stops a runner task (ECS StopTask) that timed out or whose execution ended without its own Catch path. */
  runnerTasks: RunnerTaskStopper;
  /** Wakes a job parked on its stack lock (SendTaskSuccess on the token it parked); fails an approval task an ending closes. */
  tasks: Pick<TaskResponder, 'succeed' | 'fail'>;
  log?: LogSink;
  /** The masked plan document the runner stored (artifacts bucket): what the plan policies read. */
  plans?: PlanDocumentReader;
}

export interface PlanDocumentReader {
  getPlanDocument(jobId: string): Promise<Record<string, unknown> | undefined>;
}

/** How the workflow's outcome states say a job ended (the definition's Outcome states; steps.ts parses them). */
export type Outcome =
  | { kind: 'updated'; result: unknown }
  | { kind: 'no_changes' }
  | { kind: 'operation_failed'; phase: 'preview' | 'update'; error?: StepError }
  | { kind: 'cancelled'; error?: StepError }
  | { kind: 'rejected'; error?: StepError }
  | { kind: 'approval_expired'; error?: StepError }
  | { kind: 'lock_wait_exceeded' }
  | { kind: 'policy_denied' }
  | { kind: 'policy_failed' }
  | { kind: 'step_failed'; step: string; error?: StepError };

/** What a Catch puts in the state: `{Error, Cause}`. */
export interface StepError {
  Error?: string;
  Cause?: string;
}

/** Applies a change to the job and publishes when its phase or result moved. */
async function moveJob(d: WorkflowDeps, jobId: string, mutate: (job: StackJob) => StackJob): Promise<StackJob> {
  let before: StackJob | undefined;
  const after = await d.jobs.update(jobId, (job) => {
    before = job;
    return mutate(job);
  });
  if (before && (before.status.phase !== after.status.phase || before.status.result !== after.status.result)) await publishStatus(d, after);
  return after;
}

// ---------------------------------------------------------------- acquire

/**
 * Where the state machine goes from Lock Acquired (one Choice on this field, present in every outcome): the runner
 * task to start, chosen here from the job's policy and placement, or back to waiting, or to the release.
 */
export type LockNext = 'preview' | 'preview_on_org' | 'one_task' | 'one_task_on_org' | 'update' | 'wait' | 'release';

export type AcquireResult =
  | {
      outcome: 'acquired';
      next: Exclude<LockNext, 'wait' | 'release'>;
      attempts: number;
      fencingToken: number;
      preview: boolean;
      /** Previews and never pauses: one runner task previews and applies (runsInOneTask). */
      oneTask: boolean;
      /** Which runner task the state machine starts: the org's (placement below) or the platform's. */
      runner: 'org' | 'platform';
      /** The org runner's placement frozen in the snapshot: the Cluster, TaskDefinition and network of ecs:RunTask. */
      orgRunner?: RunnerPlacement;
    }
  | { outcome: 'queued'; next: 'wait'; attempts: number; queuePosition: number }
  /** The job ended while it waited (cancelled through the API): nothing left to do but make sure no lock is held. */
  | { outcome: 'gone'; next: 'release'; attempts: number };

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

/**
 * The job's approval window, from its frozen policy: the approval task's timeout (TimeoutSecondsPath), the approval's
 * expiresAt, and the part of the lease that covers the wait all read it here.
 */
export function approvalWindowSeconds(job: StackJob): number {
  return job.spec.essentials.flowControlPolicy.approvalTimeoutMinutes * 60;
}

export function leaseExpiry(d: WorkflowDeps, job: StackJob, now: Date): Date {
  const approvalSeconds = approvalWindowSeconds(job);
  return new Date(now.getTime() + (approvalSeconds + d.leaseMarginSeconds) * 1000);
}

/**
 * A job that previews and never waits for a person runs its preview and its update in one runner task (one start,
 * one clone, one init): the runner applies the plan it just made unless the plan has no changes or the job was
 * cancelled before the update began. A job that pauses hands over to a second task after the approval.
 */
export function runsInOneTask(job: StackJob): boolean {
  const policy = job.spec.essentials.flowControlPolicy;
  // Plan policies are evaluated between the plan and the apply, by the workflow: such a job hands over to a second task.
  if (hasPlanPolicies(job)) return false;
  return policy.previewBeforeUpdate && !policy.pauseBetweenPreviewAndUpdate;
}

/** The job's plan is checked by plan policies (a drift check plans nothing to apply, so it never is). */
export const hasPlanPolicies = (job: StackJob): boolean => (job.spec.essentials.planPolicies?.length ?? 0) > 0 && !job.spec.driftCheck;

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
  if (job.status.phase === 'completed' || (job.status.phase === 'queued' && job.status.cancelRequested))
    return endWait({ outcome: 'gone', next: 'release', attempts });
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
    return { outcome: 'queued', next: 'wait', attempts: attempts + 1, queuePosition };
  }
  const moved = await moveJob(d, jobId, (j) => {
    if (j.status.phase !== 'queued' || j.status.cancelRequested) return j;
    const running = transitionJob(j, 'running', 'tbd', now);
    // The fencing token the job's ending releases the lease with: a lease that changed hands is never released by it.
    return {
      ...running,
      status: { ...running.status, lockAttemptAt: now.toISOString(), lease: { fencingToken: acquired.fencingToken, acquiredAt: now.toISOString() } },
    };
  });
  if (moved.status.phase !== 'running') {
    // Cancelled between our read and the lease: give the lease back rather than run a cancelled job.
    await releaseAndWakeNext(d, stackKey, jobId, acquired.fencingToken);
    return endWait({ outcome: 'gone', next: 'release', attempts });
  }
  const orgRunner = orgRunnerPlacement(job);
  const preview = job.spec.essentials.flowControlPolicy.previewBeforeUpdate;
  const oneTask = runsInOneTask(job);
  const first = preview ? (oneTask ? 'one_task' : 'preview') : undefined;
  return endWait({
    outcome: 'acquired',
    next: first ? (orgRunner ? `${first}_on_org` : first) : 'update',
    attempts,
    fencingToken: acquired.fencingToken,
    preview,
    oneTask,
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
  /**
   * `updated`: a one-task job's runner applied its own plan too (the result's `then`); `policy_denied`: a plan policy's
   * deny rule held; `policy_failed`: a rule could not be evaluated.
   */
  next: 'no_changes' | 'approval' | 'update' | 'updated' | 'cancelled' | 'gone' | 'policy_denied' | 'policy_failed';
  /** The digest the update phase must apply ('' when nothing was previewed). */
  planDigest: string;
  /** The approval task's timeout (TimeoutSecondsPath): the job's policy window. */
  approvalTimeoutSeconds: number;
}

/** Records the preview's plan, logs and durations on the job and decides where the workflow goes next. */
export async function recordPreview(d: WorkflowDeps, jobId: string, raw: unknown): Promise<PreviewGate> {
  const result: RunnerResult = runnerResultSchema.parse(raw);
  const now = d.clock.now();
  const job = await d.jobs.update(jobId, (j) => {
    if (j.status.phase === 'completed') return j;
    const status = {
      ...j.status,
      updatedAt: now.toISOString(),
      logPrefix: result.logPrefix,
      // A one-task job's update durations are recorded by its ending, like any update's.
      durations: { ...j.status.durations, ...prefixed('preview', result.durations) },
    };
    // The runner recorded this plan too, with its saved workspace when it saved one: that is kept for this digest only.
    if (result.planDigest && result.planKey && result.summary) {
      const workspace = j.status.plan?.digest === result.planDigest ? j.status.plan.workspace : undefined;
      status.plan = { digest: result.planDigest, key: result.planKey, summary: result.summary, ...(workspace ? { workspace } : {}) };
    }
    return { ...j, status };
  });
  const policy = job.spec.essentials.flowControlPolicy;
  const gate = { planDigest: result.planDigest ?? '', approvalTimeoutSeconds: approvalWindowSeconds(job) };
  if (job.status.phase === 'completed') return { next: 'gone', ...gate };
  // The update ran (a cancel during it was recorded and only changes the ending's reason).
  if (result.then) return { next: 'updated', ...gate };
  if (job.status.cancelRequested) return { next: 'cancelled', ...gate };
  if (!result.hasChanges) return { next: 'no_changes', ...gate };
  // Only ever apply a plan that was previewed: a preview with changes but no plan digest cannot go on.
  if (!result.planDigest) throw new WorkflowInvariantError('the preview reported changes but no plan digest');
  const checked = hasPlanPolicies(job) ? await checkPlanPolicies(d, job, result.planDigest) : undefined;
  if (checked?.status.phase === 'completed') return { next: 'gone', ...gate };
  const evaluation = checked?.status.policy;
  if (evaluation?.outcome === 'failed') return { next: 'policy_failed', ...gate };
  if (evaluation?.outcome === 'denied') return { next: 'policy_denied', ...gate };
  // A require_approvals rule that holds asks for approvers even under a policy that does not pause.
  const approval = needsApproval(policy, result.summary, result.hasChanges) || evaluation?.requiredApprovals !== undefined;
  return { next: approval ? 'approval' : 'update', ...gate };
}

/**
 * Evaluates the job's frozen plan policies on the plan the preview stored, once per plan digest (a retried step finds
 * its result recorded), and records every rule's result on the job (status.policy). A plan document that cannot be
 * read is a rule that cannot be evaluated: the job does not go on unchecked.
 */
async function checkPlanPolicies(d: WorkflowDeps, job: StackJob, planDigest: string): Promise<StackJob> {
  if (job.status.policy?.planDigest === planDigest) return job;
  let document: Record<string, unknown> | undefined;
  let unreadable: string | undefined;
  if (!d.plans) unreadable = 'this workflow cannot read plan documents (no artifacts bucket is configured for it)';
  else {
    try {
      document = await d.plans.getPlanDocument(job.metadata.id);
    } catch (e) {
      if (e instanceof SyntaxError) unreadable = `the stored plan document is not JSON (${e.message})`;
      else throw new TransientStepError(`reading the plan document failed: ${e instanceof Error ? e.name : String(e)}`, { cause: e });
    }
    if (!document && !unreadable) unreadable = 'the preview stored no plan document';
  }
  const policies = job.spec.essentials.planPolicies ?? [];
  const evaluation = document
    ? evaluatePlanPolicies(policies, policyPlanOf(job.spec.essentials.provisioner, document, job.status.plan?.summary), policyJobOf(job))
    : {
        outcome: 'failed' as const,
        results: policies.flatMap((p) =>
          p.rules.map((r) => ({
            policy: p.id,
            source: p.source,
            rule: r.name,
            effect: r.effect,
            ...(r.approvals !== undefined ? { approvals: r.approvals } : {}),
            passed: false,
            message: r.message,
            error: unreadable!,
          })),
        ),
      };
  const now = d.clock.now();
  return d.jobs.update(job.metadata.id, (j) =>
    j.status.phase === 'completed'
      ? j
      : { ...j, status: { ...j.status, updatedAt: now.toISOString(), policy: { evaluatedAt: now.toISOString(), planDigest, ...evaluation } } },
  );
}

/** A job cancelled after its preview: nobody will decide, so the approval task ends at once (Catch -> cancelled). */
const cancelledBeforeApproval = (j: StackJob) =>
  j.status.phase !== 'awaiting_approval' && (j.status.phase === 'completed' || j.status.cancelRequested !== undefined);

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
  await d.approvalItems.setTaskToken(jobId, taskToken);
  try {
    return await moveJob(d, jobId, (j) => {
      if (j.status.phase === 'awaiting_approval') return j;
      if (cancelledBeforeApproval(j)) throw cancelled();
      const moved = transitionJob(j, 'awaiting_approval', 'tbd', now);
      const windowMs = approvalWindowSeconds(j) * 1000;
      // A plan policy's require_approvals on this plan: that many distinct approvers (decide.ts counts them).
      const required = j.status.policy && (!planDigest || j.status.policy.planDigest === planDigest) ? j.status.policy.requiredApprovals : undefined;
      return {
        ...moved,
        status: {
          ...moved.status,
          approval: {
            id: d.ids.next('apr'),
            requestedAt: now.toISOString(),
            expiresAt: new Date(now.getTime() + windowMs).toISOString(),
            ...(planDigest ? { planDigest } : {}),
            ...(required !== undefined ? { required } : {}),
          },
        },
      };
    });
  } catch (e) {
    // Cancelled between the check and the move: the token will never be answered, so it goes now.
    if (e instanceof JobCancelledError) await d.approvalItems.clearTaskToken(jobId);
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
  if (decision.decision !== 'approved')
    return `the approval task was resumed, but the recorded decision is ${decision.decision} (by ${decision.by}); the update does not run`;
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
  await d.approvalItems.clearTaskToken(jobId);
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
    if (typeof c.message === 'string') return { message: clip(c.message) };
  }
  return { message: clip(typeof cause === 'string' && cause ? `${name}: ${cause}` : name) };
}

/** The operation a phase was on when it stopped: the one running, else the first one not done. */
function currentOperation(job: StackJob, phase: 'preview' | 'update'): OperationName | undefined {
  const ops = job.status.operations;
  const running = ops.find((o) => o.status === 'running');
  if (running) return running.name;
  const inPhase =
    phase === 'preview' ? ops.filter((o) => o.name !== 'apply' && o.name !== 'destroy') : ops.filter((o) => o.name === 'apply' || o.name === 'destroy');
  return inPhase.find((o) => o.status !== 'completed')?.name ?? inPhase.at(-1)?.name;
}

/** A runner that never reported, as Step Functions (timeouts) and the runner-lost paths (ECS Task State Change, local mode) say it. */
const RUNNER_NOT_REPORTING: Readonly<Record<string, EndingReason>> = {
  'States.Timeout': 'operation_timed_out',
  'States.HeartbeatTimeout': 'runner_lost',
  [WorkflowErrorName.runnerLost]: 'runner_lost',
};

/** The ending an outcome state means. */
export function endingOf(outcome: Outcome, job: StackJob): Ending {
  switch (outcome.kind) {
    case 'updated':
      // An apply is never interrupted: a cancel that arrived during it is recorded, and the reason says so.
      return { reason: job.status.cancelRequested ? 'cancel_requested_during_update' : 'succeeded', runner: runnerResultSchema.parse(outcome.result) };
    case 'no_changes':
      // A drift check never plans a change: looking was all it had to do.
      return { reason: job.spec.driftCheck ? 'drift_checked' : 'no_changes' };
    case 'operation_failed': {
      const e = describeError(outcome.error);
      const reason = RUNNER_NOT_REPORTING[outcome.error?.Error ?? ''] ?? 'operation_failed';
      return {
        reason,
        failure: {
          operation: e.operation ?? currentOperation(job, outcome.phase) ?? outcome.phase,
          message: e.message,
          ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
        },
      };
    }
    case 'cancelled':
      return { reason: 'cancelled' };
    case 'rejected':
      return { reason: 'rejected' };
    case 'approval_expired':
      return { reason: 'approval_expired' };
    case 'lock_wait_exceeded':
      return { reason: 'lock_wait_exceeded' };
    case 'policy_denied':
    case 'policy_failed': {
      const evaluation = job.status.policy;
      const message = evaluation ? policyStopMessage(evaluation) : 'the plan policies gave no result';
      return { reason: outcome.kind === 'policy_denied' ? 'policy_denied' : 'policy_check_failed', failure: { operation: 'policy', message: clip(message) } };
    }
    case 'step_failed': {
      // A workflow error is named after the step, with the error's name and message (never its input).
      const e = describeError(outcome.error);
      return { reason: 'workflow_step_failed', failure: { operation: `workflow:${outcome.step}`, message: e.message } };
    }
  }
}

/**
 * The Finish Job step: the outcome state's ending. A runner that never reported (task or heartbeat timeout, lost) is
 * not stopped by Step Functions and may still be applying: it is stopped before the job ends (retried until it is), and
 * the Release Stack Lock step after this one frees the stack. A job already completed (cancelled through the API
 * meanwhile, or a retry of this step) keeps its ending; its event is sent again.
 */
export async function finishJob(d: WorkflowDeps, jobId: string, outcome: Outcome): Promise<StackJob> {
  const errorName = outcome.kind === 'operation_failed' ? (outcome.error?.Error ?? '') : '';
  const stopRunner: EndOptions['stopRunner'] = RUNNER_NOT_REPORTING[errorName]
    ? { why: `stack job ${jobId}: runner ${errorName}`, ifNotStopped: 'retry' }
    : undefined;
  const ended = await endJob(d, jobId, (job) => endingOf(outcome, job), { release: false, wake: 'must', ...(stopRunner ? { stopRunner } : {}) });
  if (!ended) throw new WorkflowInvariantError(`stack job ${jobId} not found`);
  return ended.job;
}

/** Releases the job's stack lock if (and only if) the job still holds it, then wakes the next job. */
export async function releaseLock(d: WorkflowDeps, jobId: string): Promise<{ released: boolean }> {
  const { job } = await d.jobs.require(jobId);
  return { released: await releaseAndWakeNext(d, stackKeyOfJob(job), jobId, job.status.lease?.fencingToken) };
}

// ---------------------------------------------------------------- cleanup

/**
 * How an execution ended outside its own Catch path. INTERRUPTED: the execution is gone (local mode restarted: its
 * executions were in memory; or a cancel found none running), with where that was seen, for the job's failure message.
 */
export type ExecutionEnd = { status: 'FAILED' | 'TIMED_OUT' | 'ABORTED' } | { status: 'INTERRUPTED'; seen: string };
export type ExecutionEndStatus = ExecutionEnd['status'];

export interface CleanupResult {
  marked: boolean;
  released: boolean;
  /** Present when a runner task was recorded on a running job: whether it is stopped (or already was). */
  runnerStopped?: boolean;
}

const EXECUTION_ENDINGS: Readonly<Record<ExecutionEndStatus, EndingReason>> = {
  FAILED: 'execution_failed',
  TIMED_OUT: 'execution_timed_out',
  ABORTED: 'execution_aborted',
  INTERRUPTED: 'interrupted',
};

/** The ending of a job whose execution ended outside its own Catch path. */
export function executionEnding(job: StackJob, end: ExecutionEnd): Ending {
  const reason = EXECUTION_ENDINGS[end.status];
  if (end.status === 'ABORTED') return { reason };
  const phase = job.status.phase.replace('_', ' ');
  const operation =
    (end.status === 'INTERRUPTED' ? interruptedOperation(job) : job.status.operations.find((o) => o.status === 'running')?.name) ??
    `workflow:${job.status.phase}`;
  const message =
    end.status === 'INTERRUPTED'
      ? `${end.seen} while this job was ${phase}${operation.startsWith('workflow:') ? '' : ` (in ${operation})`}; it did not finish: rerun it (stackjobs rerun, POST /v1/stack-jobs/{id}/rerun)`
      : `the workflow execution ended ${end.status}`;
  return { reason, failure: { operation, message } };
}

/**
 * For an execution that ended without running its own Catch path: stops the runner task a running job recorded (an
 * aborted or timed-out execution does not stop the Fargate task it started, which may still be applying), ends the
 * job, and releases the lock only if no runner may still be working: when StopTask fails for another reason than the
 * task being gone, the lease is kept and expires on its own. Safe to run twice.
 */
export async function cleanupExecution(d: WorkflowDeps, jobId: string, end: ExecutionEnd | 'FAILED' | 'TIMED_OUT' | 'ABORTED'): Promise<CleanupResult> {
  const how: ExecutionEnd = typeof end === 'string' ? { status: end } : end;
  const ended = await endJob(d, jobId, (job) => executionEnding(job, how), {
    stopRunner: { why: `stack job ${jobId}: execution ended ${how.status}`, ifNotStopped: 'keep_lease' },
    release: true,
    wake: 'must',
  });
  if (!ended) return { marked: false, released: false };
  return { marked: ended.endedNow, released: ended.released, ...(ended.runnerStopped !== undefined ? { runnerStopped: ended.runnerStopped } : {}) };
}

/** Re-exported so handlers and tests share the error names with the definition. */
export { WorkflowErrorName };
