/** Reading what the runner leaves behind (logs, plan, outputs) and a resource's latest status. */
import * as z from '../shared/zod';
import { NotFoundError } from '../domain/errors';
import { operationNameSchema } from '../domain/schemas';
import type { ResourceStatus, ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import type { JobRepository } from '../adapters/dynamodb/job-repository';
import type { LockRepository } from '../adapters/dynamodb/lock-repository';
import { stackKeyOf } from '../domain/resolution';
import type { ArtifactReader, OutputValues } from '../adapters/s3/artifact-store';
import { json } from '../http/problem';
import type { Route } from '../http/router';
import { JOB_READ_ERRORS, visibleJob } from './job-routes';
import { driftChangesSchema, jobOutputsSchema, logPageSchema, planChangesSchema, planViewSchema, resourceStatusSchema } from './response-schemas';
import { parseOr400 } from './validate';
import { planChangesOf } from '../domain/plan-changes';

/** What GET /v1/orgs/{org}/envs/{env}/resources/{resourceId} answers: the last job's record, outputs, and the lease. */
export type ResourceView = Partial<ResourceStatus> &
  Pick<ResourceStatus, 'org' | 'env' | 'resourceId'> & {
    outputs?: OutputValues;
    lease?: { holder: string; since?: string; expiresAt: string; fencingToken: number };
  };

export interface ArtifactRoutesDeps {
  jobs: JobRepository;
  artifacts: ArtifactReader;
  resources: ResourceStatusRepository;
  /** The stack's lease: who holds the stack now. */
  locks: Pick<LockRepository, 'read'>;
}

export const logsQuerySchema = z
  .object({ phase: z.enum(['preview', 'update']).optional(), operation: operationNameSchema.optional(), cursor: z.string().max(4096).optional() })
  .strict();

export function artifactRoutes(deps: ArtifactRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/logs',
      access: { kind: 'org-role', permission: 'read', org: 'job' },
      doc: {
        operationId: 'getStackJobLogs',
        summary: "Read a job's logs; follow a running job with the cursor",
        description: '`operation` needs `phase`.',
        tag: 'artifacts',
        query: logsQuerySchema,
        success: { 200: { description: 'the log text since the cursor', schema: logPageSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        const job = await visibleJob(deps.jobs, req, req.params.id);
        const q = parseOr400(logsQuerySchema, req.query, 'query', 'query');
        const page = await deps.artifacts.readLogs(job.metadata.id, q);
        return json(200, {
          jobId: job.metadata.id,
          phase: job.status.phase,
          text: page.text,
          chunks: page.chunks,
          ...(page.cursor ? { cursor: page.cursor } : {}),
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/plan',
      access: { kind: 'org-role', permission: 'read', org: 'job' },
      doc: {
        operationId: 'getStackJobPlan',
        summary: "Read a job's plan summary, digest and a short-lived link to the full plan",
        description: '404 until the plan operation has saved a plan.',
        tag: 'artifacts',
        success: { 200: { description: 'the plan', schema: planViewSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        const job = await visibleJob(deps.jobs, req, req.params.id);
        const plan = await deps.artifacts.getPlan(job.metadata.id);
        if (!plan) throw new NotFoundError(`stack job ${job.metadata.id} has no plan yet`);
        return json(200, plan);
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/plan/changes',
      access: { kind: 'org-role', permission: 'read', org: 'job' },
      doc: {
        operationId: 'getStackJobPlanChanges',
        summary: 'Read the plan as an approver reads it: each resource, its action and the attributes that change',
        description:
          'From the masked plan the runner stored: per resource the action and each changed attribute before → after (sensitive values as ' +
          '`(sensitive)`, unknown ones as `(known after apply)`), output changes and the drift the refresh found. At most 200 resources and ' +
          "100 attributes each (`totalResources`, `attributesTruncated` say when more changed), and the plan policies' results once they were " +
          'evaluated (`policy`). 404 until the plan operation has saved a plan.',
        tag: 'artifacts',
        success: { 200: { description: 'the plan changes', schema: planChangesSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        const job = await visibleJob(deps.jobs, req, req.params.id);
        const document = job.status.plan ? await deps.artifacts.getPlanDocument(job.metadata.id) : undefined;
        if (!document) throw new NotFoundError(`stack job ${job.metadata.id} has no plan yet`);
        return json(200, {
          jobId: job.metadata.id,
          digest: job.status.plan!.digest,
          summary: job.status.plan!.summary,
          ...planChangesOf(job.spec.essentials.provisioner, document),
          ...(job.status.policy ? { policy: job.status.policy } : {}),
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/drift/changes',
      access: { kind: 'org-role', permission: 'read', org: 'job' },
      doc: {
        operationId: 'getStackJobDriftChanges',
        summary: "Read what the job's refresh found changed outside Stack Jobs, attribute by attribute",
        description:
          "From the masked document the runner stored (Terraform and OpenTofu): the refresh operation's, or for a job that has none the plan's, " +
          'whose own refresh lists what it found. Each drifted resource with its attributes before → after, sensitive values as `(sensitive)`. ' +
          'The resource status names the job of its latest drift (`drift.jobId`). 404 until the refresh (or the plan) has run, ' +
          'and for Pulumi (whose refresh keeps no document).',
        tag: 'artifacts',
        success: { 200: { description: 'the drift, attribute by attribute', schema: driftChangesSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        const job = await visibleJob(deps.jobs, req, req.params.id);
        // A job without a refresh operation recorded the drift its plan's refresh found (planner.ts, planReportsDrift).
        const fromPlan = !job.spec.operations.includes('refresh');
        const document = !job.status.drift
          ? undefined
          : fromPlan
            ? await deps.artifacts.getPlanDocument(job.metadata.id)
            : await deps.artifacts.getRefreshDocument(job.metadata.id);
        if (!document || !job.status.drift) throw new NotFoundError(`stack job ${job.metadata.id} has no refresh document`);
        return json(200, {
          jobId: job.metadata.id,
          checkedAt: job.status.drift.checkedAt,
          total: job.status.drift.total,
          drift: planChangesOf(job.spec.essentials.provisioner, document).drift,
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/outputs',
      access: { kind: 'org-role', permission: 'read', org: 'job' },
      doc: {
        operationId: 'getStackJobOutputs',
        summary: "Read a job's outputs, sensitive values masked",
        description: '404 until the job has produced outputs.',
        tag: 'artifacts',
        success: { 200: { description: 'the outputs', schema: jobOutputsSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        const job = await visibleJob(deps.jobs, req, req.params.id);
        const outputs = await deps.artifacts.getOutputs(job.metadata.id);
        if (!outputs) throw new NotFoundError(`stack job ${job.metadata.id} has no outputs`);
        return json(200, { jobId: job.metadata.id, outputs });
      },
    },
    {
      method: 'GET',
      path: '/v1/orgs/{org}/envs/{env}/resources/{resourceId}',
      access: { kind: 'org-role', permission: 'read', org: 'path' },
      doc: {
        operationId: 'getResourceStatus',
        summary: "Read a resource's latest stack-job status and live outputs",
        description: '404 until a job for the resource has finished.',
        tag: 'artifacts',
        success: { 200: { description: 'the resource status', schema: resourceStatusSchema } },
        errors: JOB_READ_ERRORS,
      },
      async handle(req) {
        const { org, env, resourceId } = req.params;
        const [status, lease] = await Promise.all([deps.resources.get(org, env, resourceId), deps.locks.read(stackKeyOf({ org, env, resourceId }))]);
        // A lease counts while it has a holder and has not expired: who an operator must cancel to free the stack.
        const held =
          lease?.ownerJobId && lease.expiresAt && Date.parse(lease.expiresAt) > Date.now()
            ? {
                holder: lease.ownerJobId,
                ...(lease.acquiredAt ? { since: lease.acquiredAt } : {}),
                expiresAt: lease.expiresAt,
                fencingToken: lease.fencingToken,
              }
            : undefined;
        if (!status && !held) throw new NotFoundError(`resource ${resourceId} has no stack job yet`);
        // getOutputs masks sensitive values; the stored object keeps them for the runner's consumers only.
        const outputs = status?.lastAppliedJobId ? await deps.artifacts.getOutputs(status.lastAppliedJobId) : undefined;
        return json(200, { ...(status ?? { org, env, resourceId }), ...(outputs ? { outputs } : {}), ...(held ? { lease: held } : {}) });
      },
    },
  ];
}
