/** Routes for submitting, dry-running and reading stack jobs. */
import * as z from '../shared/zod';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ForbiddenError, NotFoundError, PreflightFailedError } from '../domain/errors';
import { countPreflightFailures } from '../app/submission-metrics';
import { runPreflight } from '../domain/preflight';
import { jobPhaseSchema, jobResultSchema, resourceChangeSchema, type Principal, type StackJob } from '../domain/schemas';
import { submitChange, type SubmissionDeps } from '../app/submit-change';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import { json, problem } from '../http/problem';
import { requireOrg, requirePermission, type Permission } from '../http/principal';
import type { Route } from '../http/router';
import { parseOr400 } from './validate';

export interface JobRoutesDeps {
  jobs: JobRepository;
  submission: SubmissionDeps;
  logger: Logger;
  metrics: Metrics;
}

const orgName = z.string().min(1).max(128);
export const listJobsQuerySchema = z
  .object({
    org: orgName.optional(),
    env: orgName.optional(),
    resourceId: orgName.optional(),
    phase: jobPhaseSchema.optional(),
    result: jobResultSchema.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(2048).optional(),
  })
  .strict();

function requireSubmitter(principal: Principal, org: string): void {
  if (!principal.orgs.includes(org)) throw new ForbiddenError(`you are not a member of org ${org}`);
  requirePermission(principal, 'submit', org);
}

/**
 * Reads a job the caller may act on with `permission` in the job's org (read by default); another org's job is
 * reported as absent, whatever the caller's roles elsewhere (platform-admin included).
 */
export async function visibleJob(jobs: JobRepository, principal: Principal, id: string, permission: Permission = 'read'): Promise<StackJob> {
  const found = await jobs.get(id);
  if (!found) throw new NotFoundError(`stack job ${id} not found`);
  requireOrg(principal, found.job.metadata.org, `stack job ${id}`);
  requirePermission(principal, 'read', found.job.metadata.org);
  if (permission !== 'read') requirePermission(principal, permission, found.job.metadata.org);
  return found.job;
}

export function jobRoutes(deps: JobRoutesDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/preflight',
      authenticated: true,
      async handle(req) {
        const change = parseOr400(resourceChangeSchema, req.body, 'resource change');
        requireSubmitter(req.principal, change.resource.org);
        const outcome = await runPreflight(change, deps.submission.preflight);
        return json(200, { passed: outcome.passed, checks: outcome.checks });
      },
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs',
      authenticated: true,
      async handle(req) {
        const change = parseOr400(resourceChangeSchema, req.body, 'resource change');
        requireSubmitter(req.principal, change.resource.org);
        const outcome = await submitChange(change, deps.submission, { submittedBy: req.principal.subject });
        if (outcome.kind === 'rejected') {
          countPreflightFailures(deps.metrics, outcome.checks);
          deps.logger.info('pre-flight failed', {
            org: change.resource.org,
            resourceId: change.resource.id,
            failed: outcome.checks.filter((c) => !c.passed).map((c) => c.check),
          });
          throw new PreflightFailedError(outcome.checks);
        }
        deps.logger.appendKeys({ jobId: outcome.job.metadata.id, org: outcome.job.metadata.org });
        if (outcome.kind === 'created') {
          deps.metrics.addMetric('JobsSubmitted', MetricUnit.Count, 1);
          deps.logger.info('stack job submitted', { resourceId: change.resource.id, versionId: change.resource.version.id });
          return json(201, outcome.job, { location: `/v1/stack-jobs/${outcome.job.metadata.id}` });
        }
        deps.logger.info('duplicate submission answered with the existing job');
        return json(200, outcome.job, { location: `/v1/stack-jobs/${outcome.job.metadata.id}` });
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}',
      authenticated: true,
      async handle(req) {
        return json(200, await visibleJob(deps.jobs, req.principal, req.params.id));
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs',
      authenticated: true,
      async handle(req) {
        const q = parseOr400(listJobsQuerySchema, req.query, 'query', 'query');
        const org = q.org ?? (req.principal.orgs.length === 1 ? req.principal.orgs[0] : undefined);
        if (!org)
          return problem(400, 'Invalid request', 'name the org to list', {
            errors: [{ path: 'query.org', message: 'required when you belong to several orgs' }],
          });
        requireOrg(req.principal, org, `org ${org}`);
        requirePermission(req.principal, 'read', org);
        const page = await deps.jobs.list({ ...q, org });
        return json(200, { items: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) });
      },
    },
  ];
}
