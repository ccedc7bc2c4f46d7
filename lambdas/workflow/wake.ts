/**
 * Freeing a stack and waking who waits for it: the lease as a waiter sees it, waking a parked execution, and releasing
 * with its fencing token. Shared by the lock loop (lifecycle.ts) and by every ending (endings.ts).
 */
import { withoutTokenError } from '../shared/task-token';
import type { Clock } from '../domain/ids';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { LeaseRecord, LockRepository } from '../adapters/dynamodb/lock-repository';
import { TASK_GONE, type TaskResponder } from '../approvals/ports';
import { TransientStepError } from './errors';

/** The stack's lease as a waiter sees it: held by someone else (live), or takeable by `jobId` (free, expired, or its own). */
export function leaseView(lease: LeaseRecord | undefined, jobId: string, now: Date): { heldByOther: boolean; expiredOwner?: string } {
  if (!lease?.ownerJobId || lease.ownerJobId === jobId) return { heldByOther: false };
  if (lease.expiresAt && Date.parse(lease.expiresAt) <= now.getTime()) return { heldByOther: false, expiredOwner: lease.ownerJobId };
  return { heldByOther: true };
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
    throw withoutTokenError(e, parked.taskToken);
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
export async function releaseAndWakeNext(
  d: WakeDeps & { locks: Pick<LockRepository, 'release'> },
  stackKey: string,
  jobId: string,
  fencingToken?: number,
): Promise<boolean> {
  const released = await d.locks.release(stackKey, jobId, fencingToken);
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
export function wakeFailed(what: string, e: unknown): TransientStepError {
  return new TransientStepError(`${what} failed: ${e instanceof Error ? e.name : 'unknown error'}`);
}
