/**
 * A small router for API Gateway HTTP API (payload v2) events: path templates, 404 for unknown paths,
 * 405 with Allow for known paths and other methods, 413 for oversized bodies, JSON or YAML bodies, and conditional
 * GETs (an ETag on every GET's 200, 304 for a matching If-None-Match: conditional.ts).
 *
 * Each route is defined once: method, path, who may call it (`access`), its OpenAPI documentation with the zod schemas
 * it parses and answers with (`doc`), and its handler. The router enforces `access` (see `authorizeFor`) and
 * lambdas/api/openapi.ts builds the OpenAPI document from the same definitions.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ForbiddenError } from '../domain/errors';
import type { Principal } from '../domain/schemas';
import { conditionalGet } from './conditional';
import { requireAnyRole, requireOrg, requirePermission, requirePlatformAdmin, type Permission } from './principal';
import { HttpError, problem } from './problem';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ApiRequest {
  params: Record<string, string>;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** The body exactly as received (base64 decoded), for signature checks. */
  rawBody: string;
  /** The parsed JSON/YAML body, or undefined when there is none. */
  body: unknown;
  principal: Principal;
  /**
   * For routes whose org is known only from the request's data (`access.org` is `query`, `job` or `change`): checks the caller against the
   * route's declared access in that org. The handler must call it before acting; the router refuses to answer a
   * success from such a route that did not.
   */
  authorize(org: string, what: string): void;
}

/**
 * Who may call a route. `org-role`: one of the roles `permission` needs (principal.ts ROLE_GRANTS) in the org the route
 * concerns: the `{org}` path parameter (checked by the router before the handler runs), the org the query names, the
 * job the path names, or the change in the body (checked by the handler through `req.authorize`). Another org's things are a 404, except that
 * submitting a change for an org the caller is not in is a 403 (the caller names that org themselves).
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'slack-signature' }
  | { kind: 'signed-in' }
  | { kind: 'platform-admin' }
  | { kind: 'any-role' }
  | { kind: 'org-role'; permission: Permission; org: 'path' | 'query' | 'job' | 'change' };

/** Error statuses an operation documents; each maps to a shared response in the document. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 422 | 500 | 502;

type Json = Record<string, unknown>;

/** A schema in the document: a zod schema (a named component when the generator registers it) or plain JSON Schema. */
export type DocSchema = z.ZodType | Json;

/** The OpenAPI side of a route; the method, path and who may call it come from the route itself. */
export interface RouteDoc {
  operationId: string;
  summary: string;
  description?: string;
  tag: 'stack-jobs' | 'artifacts' | 'approvals' | 'catalog' | 'identity' | 'meta';
  /** Path parameters this route describes itself; the others come from the shared set (org, env, resourceId, id). */
  params?: Record<string, Json>;
  /** The zod schema the handler parses the query string with. */
  query?: z.ZodObject;
  /** Optional request headers the operation reads, by name: `{description, schema}`. */
  headers?: Record<string, Json>;
  /**
   * The schema the handler parses the body with and the name of its example; `optional` when an empty body is accepted;
   * `contentTypes` when the body is not JSON/YAML (the Slack form post).
   */
  body?: { schema: DocSchema; example?: string; optional?: boolean; contentTypes?: string[] };
  success: Record<number, { description: string; schema?: DocSchema; location?: boolean }>;
  errors: ErrorStatus[];
}

export interface Route {
  method: Method;
  /** e.g. `/v1/stack-jobs/{id}` */
  path: string;
  access: Access;
  doc: RouteDoc;
  handle(req: ApiRequest): Promise<APIGatewayProxyStructuredResultV2>;
}

/** false only for routes API Gateway serves without the JWT authorizer. */
export const isAuthenticated = (route: Pick<Route, 'access'>): boolean => route.access.kind !== 'public' && route.access.kind !== 'slack-signature';

/** The check `access` makes in `org` (for org-role access), as `req.authorize` and the router apply it. */
export function authorizeFor(access: Access, principal: Principal, org: string, what: string): void {
  if (access.kind !== 'org-role') return;
  if (access.org === 'change') {
    if (!principal.orgs.includes(org)) throw new ForbiddenError(`you are not a member of org ${org}`);
  } else requireOrg(principal, org, what);
  requirePermission(principal, access.permission, org);
}

/** What the router checks before the handler runs: everything `access` says that needs no data. */
function admit(access: Access, principal: Principal, params: Record<string, string>): void {
  if (access.kind === 'platform-admin') requirePlatformAdmin(principal);
  else if (access.kind === 'any-role') requireAnyRole(principal);
  else if (access.kind === 'org-role' && access.org === 'path')
    authorizeFor(access, principal, params.org, params.resourceId !== undefined ? `resource ${params.resourceId}` : `org ${params.org}`);
}

/** Large enough for any resource spec a module takes; small enough that nobody stores a state file in a job. */
export const MAX_BODY_BYTES = 256 * 1024;

/** No id is longer (names are at most 128 characters); longer ones would only reach DynamoDB's key-size limit as a 500. */
export const MAX_PATH_PARAM_LENGTH = 256;

interface Compiled extends Route {
  regex: RegExp;
  names: string[];
}

function compile(route: Route): Compiled {
  const names: string[] = [];
  const pattern = route.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{(\w+)\\\}/g, (_m, n: string) => {
    names.push(n);
    return '([^/]+)';
  });
  return { ...route, regex: new RegExp(`^${pattern}/?$`), names };
}

export function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw.trim() === '') return undefined;
  const yaml = /yaml/i.test(contentType ?? '');
  try {
    return yaml ? parseYaml(raw, { maxAliasCount: 50 }) : JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'Invalid request', `the body is not valid ${yaml ? 'YAML' : 'JSON'}`);
  }
}

export class Router {
  private readonly routes: Compiled[];

  constructor(routes: Route[]) {
    this.routes = routes.map(compile);
  }

  get table(): readonly Route[] {
    return this.routes;
  }

  match(method: string, path: string): { route?: Compiled; params: Record<string, string>; allowed: Method[] } {
    const allowed: Method[] = [];
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      if (route.method === method) {
        const params: Record<string, string> = {};
        route.names.forEach((n, i) => {
          params[n] = safeDecode(m[i + 1]);
        });
        return { route, params, allowed };
      }
      allowed.push(route.method);
    }
    return { params: {}, allowed };
  }

  /** Resolves the route and the request; `authenticate` turns the event into a principal (or throws 401). */
  async dispatch(event: APIGatewayProxyEventV2, authenticate: (event: APIGatewayProxyEventV2) => Principal): Promise<APIGatewayProxyStructuredResultV2> {
    const method = event.requestContext.http.method.toUpperCase();
    const stage = event.requestContext.stage;
    let path = event.rawPath;
    if (stage && stage !== '$default' && path.startsWith(`/${stage}/`)) path = path.slice(stage.length + 1);
    const { route, params, allowed } = this.match(method, path);
    if (route && Object.values(params).some((v) => v.length > MAX_PATH_PARAM_LENGTH)) return problem(404, 'Not found', `no resource at ${path.slice(0, 120)}…`);
    if (!route) {
      if (allowed.length > 0)
        return problem(405, 'Method not allowed', `${method} is not allowed on ${path}`, {}, { allow: [...new Set(allowed)].sort().join(', ') });
      return problem(404, 'Not found', `no route ${method} ${path}`);
    }
    const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v ?? '']));
    const rawBuffer = event.body === undefined ? Buffer.alloc(0) : event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
    if (rawBuffer.length > MAX_BODY_BYTES) return problem(413, 'Payload too large', `the body is ${rawBuffer.length} bytes; the limit is ${MAX_BODY_BYTES}`);
    const rawBody = rawBuffer.toString('utf8');
    const authenticated = isAuthenticated(route);
    const principal = authenticated ? authenticate(event) : { subject: 'anonymous', orgs: [], roles: [] };
    admit(route.access, principal, params);
    const query = Object.fromEntries(Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, v ?? '']));
    const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : authenticated ? parseBody(rawBody, headers['content-type']) : undefined;
    let authorized = false;
    const authorize = (org: string, what: string) => {
      authorizeFor(route.access, principal, org, what);
      authorized = true;
    };
    const response = await route.handle({ params, query, headers, rawBody, body, principal, authorize });
    const needsData = route.access.kind === 'org-role' && route.access.org !== 'path';
    if (needsData && !authorized && (response.statusCode ?? 200) < 400)
      throw new Error(`route ${route.method} ${route.path} answered without checking the caller's access (req.authorize)`);
    return route.method === 'GET' ? conditionalGet(response, headers['if-none-match']) : response;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'Invalid request', 'the path is not valid percent-encoding');
  }
}
