/**
 * Each route declares who may call it once (`access`), and that declaration is what is enforced: the router checks it
 * for every route, role by role, and refuses a success from a route whose org comes from data when the handler never
 * checked the caller in that org.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { routeDefinitions } from '../../lambdas/api/routes';
import { HttpError, errorResponse, json } from '../../lambdas/http/problem';
import { ROLE_GRANTS } from '../../lambdas/http/principal';
import { isAuthenticated, Router, type Route } from '../../lambdas/http/router';
import type { Principal, Role } from '../../lambdas/domain/schemas';

const ORG = 'acmecorp';
const member = (roles: Role[]): Principal => ({ subject: `${roles.join('-') || 'none'}@acmecorp.example`, orgs: [ORG], roles });
const callers: Record<string, Principal> = {
  viewer: member(['viewer']),
  operator: member(['operator']),
  approver: member(['approver']),
  admin: member(['admin']),
  'member without a role': member([]),
  'platform-admin': { subject: 'root@platform.example', orgs: [], roles: ['platform-admin'] },
  'admin of another org': { subject: 'admin@globex.example', orgs: ['globex'], roles: ['admin'] },
};

/** The route with its handler replaced by one that acts on `acmecorp` data: it checks the caller there as the real handlers do. */
const standIn = (route: Route): Route => ({
  ...route,
  async handle(req) {
    if (route.access.kind === 'org-role' && route.access.org !== 'path') req.authorize(ORG, 'the thing');
    return json(200, { ok: true });
  },
});

function event(route: Route, principal: Principal, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'org' ? ORG : `sample-${name}`));
  return {
    rawPath: path,
    headers: { 'content-type': 'application/json', ...headers },
    body: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}',
    isBase64Encoded: false,
    requestContext: { http: { method: route.method }, stage: '$default' },
    principal,
  } as unknown as APIGatewayProxyEventV2;
}

async function status(router: Router, route: Route, principal: Principal, headers?: Record<string, string>): Promise<number> {
  try {
    const res = await router.dispatch(event(route, principal, headers), (e) => (e as unknown as { principal: Principal }).principal);
    return res.statusCode ?? 200;
  } catch (error) {
    return errorResponse(error).response.statusCode ?? 500;
  }
}

/** Whether the declaration lets `caller` in (the oracle, written from the access kinds' documented meaning). */
function allowed(route: Route, name: string, caller: Principal): boolean {
  const a = route.access;
  switch (a.kind) {
    case 'public':
    case 'slack-signature':
    case 'signed-in':
      return true;
    case 'platform-admin':
      return name === 'platform-admin';
    case 'any-role':
      return caller.roles.length > 0 && name !== 'member without a role';
    case 'org-role':
      return caller.orgs.includes(ORG) && (ROLE_GRANTS[a.permission] as readonly string[]).some((r) => caller.roles.includes(r as Role));
  }
}

describe('route access', () => {
  const routes = routeDefinitions();
  const router = new Router(routes.map(standIn));

  it('lets in exactly the callers each route declares, for every route and role', async () => {
    const wrong: string[] = [];
    for (const route of routes) {
      for (const [name, caller] of Object.entries(callers)) {
        const got = await status(router, route, caller);
        const expectIn = allowed(route, name, caller);
        // Refused: 403, or 404 where the thing belongs to an org the caller is not in (nothing leaks about it).
        const ok = expectIn ? got === 200 : got === 403 || (got === 404 && !caller.orgs.includes(ORG) && route.access.kind === 'org-role');
        if (!ok) wrong.push(`${route.method} ${route.path} as ${name}: ${got} (declared ${JSON.stringify(route.access)})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('answers a conditional GET (If-None-Match: *) with 304 only to the callers the route lets in; the others are refused as before', async () => {
    const wrong: string[] = [];
    for (const route of routes.filter((r) => r.method === 'GET')) {
      for (const [name, caller] of Object.entries(callers)) {
        const plain = await status(router, route, caller);
        const conditional = await status(router, route, caller, { 'if-none-match': '*' });
        const expected = plain === 200 ? 304 : plain;
        if (conditional !== expected) wrong.push(`${route.method} ${route.path} as ${name}: ${conditional}, expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("hides another org's things (404) on every org route, and refuses a change for another org (403)", async () => {
    const outsider = callers['admin of another org'];
    for (const route of routes.filter((r) => r.access.kind === 'org-role')) {
      const expected = route.access.kind === 'org-role' && route.access.org === 'change' ? 403 : 404;
      expect({ route: `${route.method} ${route.path}`, status: await status(router, route, outsider) }).toEqual({
        route: `${route.method} ${route.path}`,
        status: expected,
      });
    }
  });

  it('asks for a JWT on every route except the document and the Slack endpoint', () => {
    expect(
      routes
        .filter((r) => !isAuthenticated(r))
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    ).toEqual(['GET /v1/openapi.json', 'POST /v1/slack/interactions']);
  });

  it('refuses to answer a success from a route whose org comes from data when its handler never checked the caller', async () => {
    const job = routes.find((r) => r.method === 'GET' && r.path === '/v1/stack-jobs/{id}')!;
    const careless = new Router([{ ...job, handle: async () => json(200, { leaked: true }) }]);
    const res = await careless
      .dispatch(event(job, callers['admin of another org']), (e) => (e as unknown as { principal: Principal }).principal)
      .catch((error: unknown) => errorResponse(error).response);
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('leaked');
    // A handler that refuses on its own (a 404 before any check) is fine.
    const refusing = new Router([
      {
        ...job,
        handle: async () => {
          throw new HttpError(404, 'Not found', 'stack job x not found');
        },
      },
    ]);
    const notFound = await refusing.dispatch(event(job, callers.viewer), () => callers.viewer).catch((error: unknown) => errorResponse(error).response);
    expect(notFound.statusCode).toBe(404);
  });
});
