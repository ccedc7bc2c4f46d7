/**
 * Terraform's own lock on a resource's state, beside the resource's status (artifact-routes.ts): any role in the org
 * reads it; an org admin force-unlocks one a killed tool left behind, and the release is published as an event.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import * as z from '../shared/zod';
import { forceUnlockStateLock, readStateLock, type StateLockDeps } from '../domain/state-lock';
import { json } from '../http/problem';
import type { ApiRequest, Route } from '../http/router';
import { JOB_READ_ERRORS } from './job-routes';
import { stateLockViewSchema } from './response-schemas';
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

/** The stack the path names (the router has checked the caller's org and role: another org's resource is a 404). */
function stackOf(req: ApiRequest) {
  const { org, env, resourceId } = req.params;
  return { org, env, resourceId };
}

export function stateLockRoutes(deps: StateLockRoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: STATE_LOCK_PATH,
      access: { kind: 'org-role', permission: 'read', org: 'path' },
      doc: {
        operationId: 'getStateLock',
        summary: "Read Terraform's own lock on a resource's state, and the stack job it was left by",
        description:
          "Where the stack's newest job keeps its state: the S3 `<key>.tflock` object or the lock table's `<bucket>/<key>` item, or a local backend's " +
          '`.terraform.tfstate.lock.info` (local mode). 404 when there is no lock, or when no job of the resource was ever submitted.',
        tag: 'artifacts',
        success: { 200: { description: 'the lock', schema: stateLockViewSchema } },
        errors: [...JOB_READ_ERRORS, 502],
      },
      async handle(req) {
        return json(200, await readStateLock(deps, stackOf(req)));
      },
    },
    {
      method: 'POST',
      path: `${STATE_LOCK_PATH}/force-unlock`,
      access: { kind: 'org-role', permission: 'admin', org: 'path' },
      doc: {
        operationId: 'forceUnlockStateLock',
        summary: 'Release a Terraform state lock a killed tool left behind (terraform force-unlock)',
        description:
          'Deletes the lock only while its id is `lockId` (a conditional delete). 409 while a stack job holds the stack (its run owns the lock: cancel ' +
          "that job instead), when `lockId` is not the lock's id, or when a live process holds a local lock; 404 when there is no lock. The release is " +
          'published as a `Stack Terraform Lock Released` event with who and why.',
        tag: 'artifacts',
        body: { schema: forceUnlockBodySchema },
        success: { 200: { description: 'released: the lock as it was, with who released it, when and why', schema: stateLockViewSchema } },
        errors: [400, 401, 403, 404, 409, 413, 500, 502],
      },
      async handle(req) {
        const stack = stackOf(req);
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
