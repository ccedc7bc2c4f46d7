/**
 * Terraform's own lock on a stack's state — not the stack lease. A tool killed mid-run (a runner out of memory, a
 * stopped task) leaves it behind on S3 backends, and every later job then fails at `terraform plan` with "Error
 * acquiring the state lock". Pre-flight reports such a lock with the job that left it; an org admin reads and
 * force-unlocks it through the API, and the release is published as an event (who, why).
 */
import { ConflictError, NotFoundError } from './errors';
import { STATE_LOCK_RELEASED, type EventDetail } from './events';
import type { Clock } from './ids';
import type { EventPublisher, StackJobLister, StackLockReader, StateLockProbe, TerraformStateLock } from './ports';
import { stackKeyOf } from './resolution';
import { backendCredentialSchema, type BackendCredential, type StackJob } from './schemas';

/** A stack, as the API names it. */
export interface StackRef {
  org: string;
  env: string;
  resourceId: string;
}

/**
 * How far the lock's `Created` (the runner's clock) may lie outside a job's run as the workflow stamped it (the
 * Lambdas' clocks): both are NTP-synced, so seconds cover skew and the runner's start-up.
 */
const RUN_SKEW_MS = 5_000;

/** The detail of the event an admin's force-unlock publishes (its shape is declared in events.ts). */
export type StateLockReleasedDetail = EventDetail<typeof STATE_LOCK_RELEASED>;

export const stateLockPath = (ref: StackRef) =>
  `/v1/orgs/${encodeURIComponent(ref.org)}/envs/${encodeURIComponent(ref.env)}/resources/${encodeURIComponent(ref.resourceId)}/state-lock`;

/** "OperationTypeApply by root@ip-10-0-1-7 since 2026-12-07T02:53:50Z (lock id 6bd26e7e-…)" */
export function describeLock(lock: TerraformStateLock): string {
  return `${lock.operation ?? 'an operation'} by ${lock.who}${lock.created ? ` since ${lock.created}` : ''} (lock id ${lock.id || 'unreadable'})`;
}

/** The exact call that releases the lock. */
export function forceUnlockCall(ref: StackRef, lockId: string): string {
  return `POST ${stateLockPath(ref)}/force-unlock with {"lockId":"${lockId}","reason":"<why>"} (org admin)`;
}

/** The stack job whose run covered the moment the lock was taken (the newest, should runs overlap), if any. */
export function jobThatLeft(lock: TerraformStateLock, jobs: StackJob[], now: Date): StackJob | undefined {
  const at = Date.parse(lock.created ?? '');
  if (Number.isNaN(at)) return undefined;
  return jobs.findLast((job) => {
    const start = Date.parse(job.status.startedAt ?? '');
    const end = job.status.finishedAt ? Date.parse(job.status.finishedAt) : now.getTime();
    return !Number.isNaN(start) && start - RUN_SKEW_MS <= at && at <= end + RUN_SKEW_MS;
  });
}

/** "sj_… (ended failed, runner_lost)", or "sj_… (running)" for a job that has not ended. */
export function jobOutcome(job: StackJob): string {
  const { phase, result, reason } = job.status;
  return `${job.metadata.id} (${phase === 'completed' ? `ended ${result}${reason ? `, ${reason}` : ''}` : phase})`;
}

/** The backend and state key the stack's newest job was frozen with: where its runs, and so their locks, are. */
export function stackBackendOf(job: StackJob): { backend: BackendCredential; stateKey: string } | undefined {
  const { backendCredential: frozen, provisioner } = job.spec.essentials;
  if (provisioner === 'pulumi') return undefined;
  const parsed = backendCredentialSchema.safeParse({
    id: frozen.id,
    org: job.metadata.org,
    provisioner,
    kind: frozen.kind,
    type: frozen.type,
    config: frozen.config,
    ...(frozen.secretRef ? { secretRef: frozen.secretRef } : {}),
  });
  return parsed.success ? { backend: parsed.data, stateKey: frozen.stateKey } : undefined;
}

export interface StateLockDeps {
  jobs: StackJobLister;
  locks: StackLockReader;
  stateLocks: StateLockProbe;
  publisher: EventPublisher;
  clock: Clock;
}

/** What GET …/state-lock answers (and force-unlock, with `released`). */
export interface StateLockView {
  org: string;
  env: string;
  resourceId: string;
  stateKey: string;
  backend: { id: string; type: 's3' | 'local' };
  lock: TerraformStateLock;
  /** The stack job whose run the lock was taken in. */
  leftBy?: { jobId: string; phase: StackJob['status']['phase']; result: StackJob['status']['result'] };
  /** The stack job holding the stack lease now: its run is expected to hold the lock. */
  stackHeldBy?: string;
  released?: { by: string; at: string; reason: string };
}

async function stackState(deps: Pick<StateLockDeps, 'jobs' | 'locks'>, ref: StackRef) {
  const stackKey = stackKeyOf(ref);
  const [jobs, lease] = await Promise.all([deps.jobs.listStack(stackKey), deps.locks.getLease(stackKey)]);
  const newest = jobs.at(-1);
  if (!newest) throw new NotFoundError(`resource ${ref.resourceId} has no stack job, so its state backend is not known`);
  const where = stackBackendOf(newest);
  if (!where)
    throw new NotFoundError(
      `resource ${ref.resourceId} has no Terraform state backend (stack job ${newest.metadata.id} runs ${newest.spec.essentials.provisioner})`,
    );
  return { jobs, lease, ...where };
}

function viewOf(ref: StackRef, state: Awaited<ReturnType<typeof stackState>>, lock: TerraformStateLock, now: Date): StateLockView {
  const left = jobThatLeft(lock, state.jobs, now);
  return {
    ...ref,
    stateKey: state.stateKey,
    backend: { id: state.backend.id, type: state.backend.type },
    lock,
    ...(left ? { leftBy: { jobId: left.metadata.id, phase: left.status.phase, result: left.status.result } } : {}),
    ...(state.lease ? { stackHeldBy: state.lease.ownerJobId } : {}),
  };
}

/** Terraform's lock on the stack's state, with the job that left it; NotFound when there is none. */
export async function readStateLock(deps: Omit<StateLockDeps, 'publisher'>, ref: StackRef): Promise<StateLockView> {
  const state = await stackState(deps, ref);
  const lock = await deps.stateLocks.read(state.backend, state.stateKey);
  if (!lock) throw new NotFoundError(`no Terraform lock on the state of resource ${ref.resourceId} (${state.stateKey})`);
  return viewOf(ref, state, lock, deps.clock.now());
}

export interface ForceUnlockRequest {
  lockId: string;
  reason: string;
  /** The admin's subject. */
  by: string;
}

/**
 * Releases the lock if its id is `lockId` and no stack job holds the stack (a running job's tool owns the lock).
 * Returns the released lock; `unrecorded` when the event could not be published (the caller must log the detail).
 */
export async function forceUnlockStateLock(
  deps: StateLockDeps,
  ref: StackRef,
  request: ForceUnlockRequest,
): Promise<{ view: StateLockView; unrecorded?: { detail: StateLockReleasedDetail; error: unknown } }> {
  const state = await stackState(deps, ref);
  if (state.lease) {
    throw new ConflictError(
      `stack job ${state.lease.ownerJobId} holds the stack: its run owns Terraform's lock, which it releases when it ends; cancel it (POST /v1/stack-jobs/${state.lease.ownerJobId}/cancel) instead`,
    );
  }
  const outcome = await deps.stateLocks.forceUnlock(state.backend, state.stateKey, request.lockId);
  switch (outcome.status) {
    case 'none':
      throw new NotFoundError(`no Terraform lock on the state of resource ${ref.resourceId} (${state.stateKey})`);
    case 'mismatch':
      throw new ConflictError(`lock id ${request.lockId} does not match the lock on the state: ${describeLock(outcome.lock)}; nothing was released`);
    case 'held':
      throw new ConflictError(
        `${describeLock(outcome.lock)} is held by a running process; Terraform releases a local lock when that process ends, and removing its info file would not`,
      );
    case 'released':
      break;
  }
  const now = deps.clock.now();
  const view: StateLockView = { ...viewOf(ref, state, outcome.lock, now), released: { by: request.by, at: now.toISOString(), reason: request.reason } };
  const detail: StateLockReleasedDetail = {
    ...ref,
    stateKey: state.stateKey,
    lockId: outcome.lock.id,
    lockWho: outcome.lock.who,
    ...(outcome.lock.operation ? { lockOperation: outcome.lock.operation } : {}),
    ...(outcome.lock.created ? { lockCreated: outcome.lock.created } : {}),
    ...(view.leftBy ? { leftByJobId: view.leftBy.jobId } : {}),
    by: request.by,
    reason: request.reason,
  };
  try {
    await deps.publisher.publish(STATE_LOCK_RELEASED, detail);
    return { view };
  } catch (error) {
    // The lock is gone either way: answering an error would send the admin to retry into a 404.
    return { view, unrecorded: { detail, error } };
  }
}
