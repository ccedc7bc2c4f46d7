/**
 * Starting a drift check of one resource: a stack job made from the resource's last applied change (its version, kind
 * and spec), pre-flighted and frozen like any change, then turned into a check (domain/stack-job.ts asDriftCheck:
 * init and a refresh-only plan, no approval, nothing applied). The API's on-demand route and the drift schedules both
 * start checks here.
 */
import { ConflictError, NotFoundError } from '../domain/errors';
import { runPreflight } from '../domain/preflight';
import type { CheckResult, ResourceChange, StackJob } from '../domain/schemas';
import { asDriftCheck, freezeStackJob, submittersOf } from '../domain/stack-job';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { startNewJob, type SubmissionDeps } from './submit-change';

export interface DriftCheckDeps {
  resources: Pick<ResourceStatusRepository, 'get'>;
  jobs: Pick<JobRepository, 'get'>;
  submission: SubmissionDeps;
}

export interface DriftCheckTarget {
  org: string;
  env: string;
  resourceId: string;
}

export interface DriftCheckOptions {
  /** Who starts it: the API principal's subject, or `drift-schedule:<id>`. */
  by: string;
  remediate?: 'none' | 'plan';
  scheduleId?: string;
}

export type DriftCheckOutcome = { kind: 'created'; job: StackJob } | { kind: 'rejected'; checks: CheckResult[] };

/** The change a check of this resource looks with: its last applied version, as that job froze it. */
export async function lastAppliedChange(
  d: Pick<DriftCheckDeps, 'resources' | 'jobs'>,
  t: DriftCheckTarget,
): Promise<{ base: StackJob; change: ResourceChange }> {
  const status = await d.resources.get(t.org, t.env, t.resourceId);
  if (!status?.lastAppliedJobId) throw new NotFoundError(`resource ${t.resourceId} has no applied version to check for drift`);
  const base = (await d.jobs.get(status.lastAppliedJobId))?.job;
  if (!base) throw new NotFoundError(`the job that last applied resource ${t.resourceId} (${status.lastAppliedJobId}) is gone`);
  const info = base.spec.apiResourceInfo;
  if (info.triggerEvent === 'deleted') throw new ConflictError(`resource ${t.resourceId} was deleted by ${base.metadata.id}: there is nothing to check`);
  const change: ResourceChange = {
    resource: { id: info.id, name: info.name, org: t.org, env: t.env, version: { id: info.versionId, message: base.metadata.version.message } },
    kind: info.kind,
    spec: info.spec,
    triggerEvent: 'updated',
    createdBy: info.eventCreatedBy,
  };
  return { base, change };
}

export async function startDriftCheck(d: DriftCheckDeps, t: DriftCheckTarget, o: DriftCheckOptions): Promise<DriftCheckOutcome> {
  const { base, change } = await lastAppliedChange(d, t);
  const outcome = await runPreflight(change, d.submission.preflight);
  if (!outcome.passed) return { kind: 'rejected', checks: outcome.checks };
  // The check is that change looked at again: it carries the change's submitters, so that a rerun of the check (the
  // change applied again) cannot be approved by whoever submitted the change (nobody approves their own change).
  const frozen = freezeStackJob(change, outcome, d.submission.ids.next('sj'), d.submission.clock.now(), undefined, o.by, submittersOf(base));
  const job = asDriftCheck(frozen, { remediate: o.remediate ?? 'none', basedOn: base.metadata.id, ...(o.scheduleId ? { scheduleId: o.scheduleId } : {}) });
  // Every check is a new job (no idempotency key): written and started side by side.
  await startNewJob(job, d.submission);
  return { kind: 'created', job };
}
