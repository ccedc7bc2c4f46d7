/**
 * Terraform's own lock on a resource's state, beside the resource's status (artifact-routes.ts): any role in the org
 * reads it; an org admin force-unlocks one a killed tool left behind, and the release is published as an event.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import * as z from '../shared/zod';
import { forceUnlockStateLock, readStateLock, type StateLockDeps } from '../domain/state-lock';
import { json } from '../http/problem';
import { requireOrg, requirePermission } from '../http/principal';
import type { ApiRequest, Route } from '../http/router';
import { parseOr400 } from './validate';

export const STATE_LOCK_PATH = '/v1/orgs/{org}/envs/{env}/resources/{resourceId}/state-lock';

export const forceUnlockBodySchema = z
  .object({
    lockId: z.string().min(1).max(128).describe("the lock's id, as GET …/state-lock and pre-flight show it (Terraform's lock ID)"),
    reason: z.string().trim().min(1).max(1000).describe('why releasing it is safe; recorded in the Stack Terraform Lock Released event'),
  })
  .strict();

export interface StateLockRoutesDeps extends StateLockDeps {
  logger: Pick<Logger, 'error'>;
}

/** The stack the path names, after the caller's org and role are checked (another org's resource is a 404). */
function stackOf(req: ApiRequest, permission: 'read' | 'admin') {
  const { org, env, resourceId } = req.params;
  requireOrg(req.principal, org, `resource ${resourceId}`);
  requirePermission(req.principal, permission, org);
  return { org, env, resourceId };
}

export function stateLockRoutes(deps: StateLockRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: STATE_LOCK_PATH,
      authenticated: true,
      async handle(req) {
        return json(200, await readStateLock(deps, stackOf(req, 'read')));
      },
    },
    {
      method: 'POST',
      path: `${STATE_LOCK_PATH}/force-unlock`,
      authenticated: true,
      async handle(req) {
        const stack = stackOf(req, 'admin');
        const body = parseOr400(forceUnlockBodySchema, req.body, 'force-unlock request');
        const { view, unrecorded } = await forceUnlockStateLock(deps, stack, { ...body, by: req.principal.subject });
        // The log line is then the only record of who released it and why.
        if (unrecorded)
          deps.logger.error('Terraform state lock released, but its event could not be published', {
            detail: unrecorded.detail,
            error: unrecorded.error as Error,
          });
        return json(200, view);
      },
    },
  ];
}
