/**
 * The one submission use case behind both entry points (API and EventBridge):
 * pre-flight -> freeze the snapshot -> claim the idempotency key -> write the job (never overwrite) and start the execution,
 * side by side.
 */
import { createHash } from 'node:crypto';
import { ConflictError } from '../domain/errors';
import type { Clock, IdGenerator } from '../domain/ids';
import type { ExecutionStarter } from '../domain/ports';
import { runPreflight, type PreflightDeps } from '../domain/preflight';
import type { CheckResult, ResourceChange, StackJob } from '../domain/schemas';
import { freezeStackJob, idempotencyKeyOf, snapshotTravelsWithExecution } from '../domain/stack-job';
import type { IdempotencyRepository } from '../adapters/dynamodb/idempotency-repository';
import type { JobRepository } from '../adapters/dynamodb/job-repository';

export type JobStore = Pick<JobRepository, 'create' | 'get'>;

export interface SubmissionDeps {
  jobs: JobStore;
  idempotency: Pick<IdempotencyRepository, 'claim' | 'find'>;
  preflight: PreflightDeps;
  starter: ExecutionStarter;
  ids: IdGenerator;
  clock: Clock;
}

export type SubmitOutcome = { kind: 'created'; job: StackJob } | { kind: 'duplicate'; job: StackJob } | { kind: 'rejected'; checks: CheckResult[] };

export interface SubmitOptions {
  /**
   * A rerun is a new job for the same version, linked to the original: a new job on every call, unless the caller
   * names the attempt with `rerunKey` (the Idempotency-Key header), so that a retried request finds its job.
   */
  rerunOf?: string;
  rerunKey?: string;
  /**
   * Who is submitting, as authenticated: the API principal's subject, `eventbridge:<event source>`, or the principal
   * rerunning a job. Recorded as `metadata.submittedBy`; the approval rules refuse it as an approver when the policy
   * requires a distinct approver.
   */
  submittedBy?: string;
  /** For a rerun: who submitted or reran the job being rerun (kept on the new job, see metadata.submitters). */
  priorSubmitters?: string[];
}

/** The submission's idempotency key; none for a rerun without a caller's key (every such rerun is a new job). */
export function submissionKeyOf(change: ResourceChange, options: SubmitOptions = {}): string | undefined {
  const base = idempotencyKeyOf(change);
  if (!options.rerunOf) return base;
  if (options.rerunKey === undefined) return undefined;
  // Hashed: the caller's key is arbitrary text, the record's key stays bounded.
  return `${base}:rerun:${options.rerunOf}:${createHash('sha256').update(options.rerunKey).digest('hex')}`;
}

/** JSON with object keys in order: two specs that differ only in key order are the same spec. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );

/**
 * The fields in which `change` differs from the change `job` was made from, under the same idempotency key (the same
 * resource version and trigger). A retry sends the same change and gets the same job; a different one under a version
 * already submitted would be silently answered with the old job, so it is refused instead.
 */
export function changeDifferences(job: StackJob, change: ResourceChange): string[] {
  const info = job.spec.apiResourceInfo;
  return [
    info.kind !== change.kind ? 'kind' : '',
    info.name !== change.resource.name ? 'resource.name' : '',
    job.metadata.version.message !== change.resource.version.message ? 'resource.version.message' : '',
    info.eventCreatedBy !== change.createdBy ? 'createdBy' : '',
    canonical(info.spec) !== canonical(change.spec) ? 'spec' : '',
  ].filter(Boolean);
}

function sameChangeOr409(job: StackJob, change: ResourceChange): StackJob {
  const differs = changeDifferences(job, change);
  if (differs.length > 0)
    throw new ConflictError(
      `version ${change.resource.version.id} of ${change.resource.org}/${change.resource.env}/${change.resource.id} was already submitted ` +
        `(stack job ${job.metadata.id}) with a different ${differs.join(', ')}: a changed resource needs a new version id`,
    );
  return job;
}

export async function submitChange(change: ResourceChange, deps: SubmissionDeps, options: SubmitOptions = {}): Promise<SubmitOutcome> {
  const key = submissionKeyOf(change, options);

  // The duplicate check and the pre-flight reads go out together: one round trip instead of two on the success
  // path (a duplicate pays for reads it then ignores, and a pre-flight error does not fail a duplicate).
  const preflight = runPreflight(change, deps.preflight);
  preflight.catch(() => undefined);
  const earlier = key === undefined ? undefined : await deps.idempotency.find(key);
  if (earlier) return { kind: 'duplicate', job: await completeSubmission(sameChangeOr409(earlier, change), deps) };

  const outcome = await preflight;
  if (!outcome.passed) return { kind: 'rejected', checks: outcome.checks };

  const job = freezeStackJob(change, outcome, deps.ids.next('sj'), deps.clock.now(), options.rerunOf, options.submittedBy, options.priorSubmitters);
  // Without a key the job id is new, so there is nothing to deduplicate.
  if (key !== undefined) {
    const claim = await deps.idempotency.claim(key, job);
    if (!claim.claimed) return { kind: 'duplicate', job: await completeSubmission(sameChangeOr409(claim.job, change), deps) };
  }
  // A rerun without a key writes first: were the write to fail after its execution started, the caller's retry
  // would make a second rerun. A snapshot too heavy for the execution input must be stored before anything reads it.
  if (key !== undefined && snapshotTravelsWithExecution(job)) await startNewJob(job, deps);
  else await completeSubmission(job, deps);
  return { kind: 'created', job };
}

/**
 * A job nobody else can be submitting (its idempotency key is ours): the job write and the start go out side by
 * side, one round trip. The execution carries the snapshot and writes the job itself if it looks first; both writes
 * are conditional, so whichever lands second changes nothing. Both are awaited, so a caller that has the answer finds
 * the job stored, and an error names what failed (a retry finishes the work through the idempotency claim).
 */
export async function startNewJob(job: StackJob, deps: SubmissionDeps): Promise<void> {
  const [written, started] = await Promise.allSettled([deps.jobs.create(job), deps.starter.start(job)]);
  if (written.status === 'rejected') throw written.reason;
  if (started.status === 'rejected') throw started.reason;
}

/**
 * Writes the job if it is not there yet and starts its execution; both steps are idempotent, so whichever
 * delivery of a change gets here (the first, a concurrent duplicate, a retry after a crash) finishes the work.
 */
async function completeSubmission(snapshot: StackJob, deps: SubmissionDeps): Promise<StackJob> {
  const created = await deps.jobs.create(snapshot);
  const current = created ? snapshot : ((await deps.jobs.get(snapshot.metadata.id))?.job ?? snapshot);
  // A job that has left the queue was started long ago; starting it again could replay a finished job.
  if (current.status.phase === 'queued') await deps.starter.start(current);
  return current;
}
