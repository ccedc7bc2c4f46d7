/**
 * Rerunning a job: a new job for the same resource version, through the whole submission again (pre-flight
 * included: credentials and policies may have changed), linked to the original by `metadata.rerunOf`.
 */
import { ConflictError } from '../domain/errors';
import type { ResourceChange, StackJob } from '../domain/schemas';
import { stackKeyOfJob, submittersOf } from '../domain/stack-job';
import { submitChange, type SubmissionDeps, type SubmitOutcome } from '../app/submit-change';
import type { JobRepository } from '../adapters/dynamodb/job-repository';

/** The change the original job was frozen from. */
export function changeOfJob(job: StackJob): ResourceChange {
  const info = job.spec.apiResourceInfo;
  return {
    resource: {
      id: info.id,
      name: info.name,
      org: job.metadata.org,
      env: job.metadata.env,
      version: { id: job.metadata.version.id, message: job.metadata.version.message },
    },
    kind: info.kind,
    spec: info.spec,
    triggerEvent: info.triggerEvent,
    createdBy: info.eventCreatedBy,
  };
}

/**
 * `rerunBy` (the authenticated principal) is recorded as the new job's submitter. Every call makes a new job, unless
 * `rerunKey` (the Idempotency-Key header) names the attempt: the same key for the same job answers with the same rerun.
 * Refuses a job that is still running (cancel it or let it end) and a job whose resource has moved on: the newest
 * job of the stack decides, since every version submitted is a job.
 */
export async function rerunJob(
  jobs: Pick<JobRepository, 'newestInStack' | 'get'>,
  submission: SubmissionDeps,
  job: StackJob,
  rerunBy: string,
  rerunKey?: string,
): Promise<SubmitOutcome> {
  if (job.status.phase !== 'completed')
    throw new ConflictError(`job ${job.metadata.id} has not ended (${job.status.phase}); cancel it or wait for it before rerunning`);
  const newest = await jobs.newestInStack(stackKeyOfJob(job));
  if (newest && newest.metadata.version.id !== job.metadata.version.id) {
    throw new ConflictError(
      `resource ${job.spec.apiResourceInfo.id} has a newer version ${newest.metadata.version.id} (job ${newest.metadata.id}); rerunning version ${job.metadata.version.id} would roll it back — submit a change instead`,
    );
  }
  // The rerunning principal submits the new job: they cannot approve it either (nobody approves their own change).
  // And neither can whoever submitted or reran the job before: the chain of submitters goes with the rerun.
  // A drift check carries the submitters of the change it checked (app/drift-check.ts): rerun, it is that change again.
  // A check made before it did is given them from that change (if it is still there).
  const basedOn = job.spec.driftCheck?.basedOn;
  const found = basedOn ? (await jobs.get(basedOn))?.job : undefined;
  // Only ever the same stack's job (the server sets basedOn; this keeps another org's names out whatever it says).
  const base = found && found.metadata.org === job.metadata.org && stackKeyOfJob(found) === stackKeyOfJob(job) ? found : undefined;
  return submitChange(changeOfJob(job), submission, {
    rerunOf: job.metadata.id,
    submittedBy: rerunBy,
    priorSubmitters: [...(base ? submittersOf(base) : []), ...submittersOf(job)],
    ...(rerunKey !== undefined ? { rerunKey } : {}),
  });
}
