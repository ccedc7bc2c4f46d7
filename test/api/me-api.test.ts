/**
 * GET /v1/me through the API handler, from the claims as API Gateway hands them over: who the caller is, and in each of
 * their orgs the roles and permissions the router enforces, every response checked against docs/openapi.json.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { z } from 'zod';
import { createApi } from '../../lambdas/api/api-app';
import { meRoutes } from '../../lambdas/api/me-routes';
import type { meSchema } from '../../lambdas/api/response-schemas';
import type { Principal } from '../../lambdas/domain/schemas';
import { PERMISSIONS, type CallerAccess } from '../../lambdas/http/principal';
import { authorizeFor } from '../../lambdas/http/router';
import { CLAIMS, httpEvent, principals } from '../support/api-harness';
import { openApiValidator } from '../support/openapi-validator';

// The handler's answer is pinned to the documented schema: `tsc` fails here when either side changes alone.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const typePin: Same<CallerAccess, z.infer<typeof meSchema>> = true;

const api = createApi({
  routes: meRoutes(),
  claimNames: CLAIMS,
  logger: new Logger({ logLevel: 'SILENT' }),
  metrics: new Metrics({ namespace: 'StackJobsTest' }),
});

async function me(principal: Principal | null) {
  const res = await api(httpEvent('GET', '/v1/me', { principal }));
  openApiValidator().assert({ method: 'GET', path: '/v1/me', response: res });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

const memberWithoutRole = { subject: 'new@acmecorp.example', orgs: ['acmecorp'], roles: [] } satisfies Principal;

describe('GET /v1/me', () => {
  it('answers a single-org operator with their roles and what those let them do there', async () => {
    expect(await me(principals.operator)).toEqual({
      status: 200,
      body: { subject: 'ops@acmecorp.example', platformAdmin: false, orgs: [{ org: 'acmecorp', roles: ['operator'], permissions: ['read', 'submit'] }] },
    });
  });

  it('answers org by org for roles granted per org (org:role claims)', async () => {
    expect((await me(principals.mixedOrgRoles)).body.orgs).toEqual([
      { org: 'acmecorp', roles: ['viewer'], permissions: ['read'] },
      { org: 'globex', roles: ['approver', 'operator'], permissions: ['read', 'submit', 'approve'] },
    ]);
  });

  it('gives roles without an org nothing in a member of several orgs, as the router does', async () => {
    expect((await me(principals.unscopedInTwoOrgs)).body.orgs).toEqual([
      { org: 'acmecorp', roles: [], permissions: [] },
      { org: 'globex', roles: [], permissions: [] },
    ]);
  });

  it('shows a platform admin as one, with no permission in any org', async () => {
    expect((await me(principals.platformAdmin)).body).toEqual({ subject: 'root@platform.example', platformAdmin: true, orgs: [] });
    const adminOfGlobex = { subject: 'root@globex.example', orgs: ['globex'], roles: ['platform-admin', 'viewer'] } satisfies Principal;
    expect((await me(adminOfGlobex)).body).toEqual({
      subject: 'root@globex.example',
      platformAdmin: true,
      orgs: [{ org: 'globex', roles: ['viewer'], permissions: ['read'] }],
    });
  });

  it('lists an org the caller belongs to without a role, with no permission there', async () => {
    expect((await me(memberWithoutRole)).body.orgs).toEqual([{ org: 'acmecorp', roles: [], permissions: [] }]);
  });

  it('grants exactly the permissions the router lets each caller use, org by org', async () => {
    for (const caller of [...Object.values(principals), memberWithoutRole]) {
      const { body } = await me(caller);
      for (const org of ['acmecorp', 'globex']) {
        const granted = (body.orgs as Array<{ org: string; permissions: string[] }>).find((o) => o.org === org)?.permissions ?? [];
        const enforced = PERMISSIONS.filter((permission) => {
          try {
            authorizeFor({ kind: 'org-role', permission, org: 'path' }, caller, org, `org ${org}`);
            return true;
          } catch {
            return false;
          }
        });
        expect({ caller: caller.subject, org, granted }).toEqual({ caller: caller.subject, org, granted: enforced });
      }
    }
  });

  it('answers 401 without a principal', async () => {
    expect((await me(null)).status).toBe(401);
  });
});
