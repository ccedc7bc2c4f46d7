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
import { requireOrg, requirePermission } from '../http/principal';
import type { Route } from '../http/router';
import { visibleJob } from './job-routes';
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
      authenticated: true,
      async handle(req) {
        const job = await visibleJob(deps.jobs, req.principal, req.params.id);
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
      authenticated: true,
      async handle(req) {
        const job = await visibleJob(deps.jobs, req.principal, req.params.id);
        const plan = await deps.artifacts.getPlan(job.metadata.id);
        if (!plan) throw new NotFoundError(`stack job ${job.metadata.id} has no plan yet`);
        return json(200, plan);
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/plan/changes',
      authenticated: true,
      async handle(req) {
        const job = await visibleJob(deps.jobs, req.principal, req.params.id);
        const document = job.status.plan ? await deps.artifacts.getPlanDocument(job.metadata.id) : undefined;
        if (!document) throw new NotFoundError(`stack job ${job.metadata.id} has no plan yet`);
        return json(200, {
          jobId: job.metadata.id,
          digest: job.status.plan!.digest,
          summary: job.status.plan!.summary,
          ...planChangesOf(job.spec.essentials.provisioner, document),
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/outputs',
      authenticated: true,
      async handle(req) {
        const job = await visibleJob(deps.jobs, req.principal, req.params.id);
        const outputs = await deps.artifacts.getOutputs(job.metadata.id);
        if (!outputs) throw new NotFoundError(`stack job ${job.metadata.id} has no outputs`);
        return json(200, { jobId: job.metadata.id, outputs });
      },
    },
    {
      method: 'GET',
      path: '/v1/orgs/{org}/envs/{env}/resources/{resourceId}',
      authenticated: true,
      async handle(req) {
        requireOrg(req.principal, req.params.org, `resource ${req.params.resourceId}`);
        requirePermission(req.principal, 'read', req.params.org);
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
