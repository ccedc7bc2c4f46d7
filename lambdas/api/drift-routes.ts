/** Drift checks on demand: a check of one resource, started now (the drift schedules start the same checks). */
import type { Logger } from '@aws-lambda-powertools/logger';
import { startDriftCheck, type DriftCheckDeps } from '../app/drift-check';
import { countPreflightFailures } from '../app/submission-metrics';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { PreflightFailedError } from '../domain/errors';
import { stackJobSchema } from '../domain/schemas';
import { json } from '../http/problem';
import type { Route } from '../http/router';

export const DRIFT_CHECKS_PATH = '/v1/orgs/{org}/envs/{env}/resources/{resourceId}/drift-checks';

export interface DriftRoutesDeps extends DriftCheckDeps {
  logger: Pick<Logger, 'info'>;
  metrics: Metrics;
}

export function driftRoutes(deps: DriftRoutesDeps): Route[] {
  return [
    {
      method: 'POST',
      path: DRIFT_CHECKS_PATH,
      access: { kind: 'org-role', permission: 'submit', org: 'path' },
      doc: {
        operationId: 'startDriftCheck',
        summary: 'Check a resource for drift now: a stack job that looks (init, refresh-only plan) and never applies',
        description:
          "The check is made from the resource's last applied version (pre-flight runs again), queues for the stack like any job (never ahead of a " +
          'change submitted before it), asks for no approval and writes no state. When it ends, the resource status has `drift` and, if anything ' +
          'drifted, a `Stack Drift Detected` event is published. 404 when the resource has no applied version; 409 when its last job deleted it; ' +
          '422 when pre-flight fails now.',
        tag: 'stack-jobs',
        success: { 202: { description: 'the check was created and started', schema: stackJobSchema, location: true } },
        errors: [401, 403, 404, 409, 413, 422, 500],
      },
      async handle(req) {
        const { org, env, resourceId } = req.params;
        const outcome = await startDriftCheck(deps, { org, env, resourceId }, { by: req.principal.subject });
        if (outcome.kind === 'rejected') {
          countPreflightFailures(deps.metrics, outcome.checks);
          throw new PreflightFailedError(outcome.checks);
        }
        deps.logger.info('drift check started', { jobId: outcome.job.metadata.id, org, env, resourceId });
        return json(202, outcome.job, { location: `/v1/stack-jobs/${outcome.job.metadata.id}` });
      },
    },
  ];
}
