/** Routes for submitting, dry-running and reading stack jobs. */
import * as z from '../shared/zod';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { NotFoundError, PreflightFailedError } from '../domain/errors';
import { countPreflightFailures } from '../app/submission-metrics';
import { runPreflight } from '../domain/preflight';
import { jobPhaseSchema, jobResultSchema, resourceChangeSchema, stackJobSchema, type StackJob } from '../domain/schemas';
import { submitChange, type SubmissionDeps } from '../app/submit-change';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import { json, problem } from '../http/problem';
import type { ApiRequest, ErrorStatus, Route } from '../http/router';
import { jobPageSchema, preflightResultSchema } from './response-schemas';
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
    kind: orgName.optional().describe('the resource kind (spec.apiResourceInfo.kind), e.g. aws_eks_cluster'),
    phase: jobPhaseSchema.optional(),
    result: jobResultSchema.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(2048).optional(),
  })
  .strict();

/**
 * Reads the job the path names and checks the caller against the route's access in the job's org; another org's job
 * is reported as absent, whatever the caller's roles elsewhere (platform-admin included).
 */
export async function visibleJob(jobs: JobRepository, req: ApiRequest, id: string): Promise<StackJob> {
  const found = await jobs.get(id);
  if (!found) throw new NotFoundError(`stack job ${id} not found`);
  req.authorize(found.job.metadata.org, `stack job ${id}`);
  return found.job;
}

/** The errors every route that reads one job may answer. */
export const JOB_READ_ERRORS: ErrorStatus[] = [400, 401, 403, 404, 500];
const SUBMIT_ERRORS: ErrorStatus[] = [400, 401, 403, 413, 500];
const changeBody = { schema: resourceChangeSchema, example: 'ResourceChange' };

export function jobRoutes(deps: JobRoutesDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/preflight',
      access: { kind: 'org-role', permission: 'submit', org: 'change' },
      doc: {
        operationId: 'runPreflight',
        summary: 'Dry-run the pre-flight checks for a change',
        description: 'Runs all four checks and returns every result, pass or fail; creates nothing.',
        tag: 'stack-jobs',
        body: changeBody,
        success: { 200: { description: 'every check, pass or fail', schema: preflightResultSchema } },
        errors: SUBMIT_ERRORS,
      },
      async handle(req) {
        const change = parseOr400(resourceChangeSchema, req.body, 'resource change');
        req.authorize(change.resource.org, `org ${change.resource.org}`);
        const outcome = await runPreflight(change, deps.submission.preflight);
        return json(200, { passed: outcome.passed, checks: outcome.checks });
      },
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs',
      access: { kind: 'org-role', permission: 'submit', org: 'change' },
      doc: {
        operationId: 'submitChange',
        summary: 'Submit a resource change: pre-flight, freeze the StackJob and start it',
        description:
          'Idempotent on (org, env, resource id, version id, trigger): a repeat answers 200 with the job the first submission created; a ' +
          'different change (kind, name, version message, createdBy or spec) under a version already submitted is a 409 naming what differs. ' +
          'If any pre-flight check fails, no job is created and the 422 lists every check.',
        tag: 'stack-jobs',
        body: changeBody,
        success: {
          200: { description: 'a duplicate submission: the job the first one created', schema: stackJobSchema, location: true },
          201: { description: 'the job was created and its execution started', schema: stackJobSchema, location: true },
        },
        errors: [400, 401, 403, 409, 413, 422, 500],
      },
      async handle(req) {
        const change = parseOr400(resourceChangeSchema, req.body, 'resource change');
        req.authorize(change.resource.org, `org ${change.resource.org}`);
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
      access: { kind: 'org-role', permission: 'read', org: 'job' },
      doc: {
        operationId: 'getStackJob',
        summary: 'Read a stack job: the frozen snapshot and its live status',
        tag: 'stack-jobs',
        success: { 200: { description: 'the job', schema: stackJobSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        return json(200, await visibleJob(deps.jobs, req, req.params.id));
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs',
      access: { kind: 'org-role', permission: 'read', org: 'query' },
      doc: {
        operationId: 'listStackJobs',
        summary: "List an org's stack jobs, newest first",
        description: '`org` may be left out by a caller who belongs to exactly one org. Unknown query parameters are a 400.',
        tag: 'stack-jobs',
        query: listJobsQuerySchema,
        success: { 200: { description: 'one page', schema: jobPageSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        const q = parseOr400(listJobsQuerySchema, req.query, 'query', 'query');
        const org = q.org ?? (req.principal.orgs.length === 1 ? req.principal.orgs[0] : undefined);
        if (!org)
          return problem(400, 'Invalid request', 'name the org to list', {
            errors: [{ path: 'query.org', message: 'required when you belong to several orgs' }],
          });
        req.authorize(org, `org ${org}`);
        const page = await deps.jobs.list({ ...q, org });
        return json(200, { items: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) });
      },
    },
  ];
}
