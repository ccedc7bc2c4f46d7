/**
 * A small router for API Gateway HTTP API (payload v2) events: path templates, 404 for unknown paths,
 * 405 with Allow for known paths and other methods, 413 for oversized bodies, JSON or YAML bodies.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { parse as parseYaml } from 'yaml';
import type { Principal } from '../domain/schemas';
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
}

export interface Route {
  method: Method;
  /** e.g. `/v1/stack-jobs/{id}` */
  path: string;
  /** false only for routes API Gateway serves without the JWT authorizer. */
  authenticated: boolean;
  handle(req: ApiRequest): Promise<APIGatewayProxyStructuredResultV2>;
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
    const principal = route.authenticated ? authenticate(event) : { subject: 'anonymous', orgs: [], roles: [] };
    const query = Object.fromEntries(Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, v ?? '']));
    const body =
      route.method === 'GET' || route.method === 'DELETE' ? undefined : route.authenticated ? parseBody(rawBody, headers['content-type']) : undefined;
    return route.handle({ params, query, headers, rawBody, body, principal });
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'Invalid request', 'the path is not valid percent-encoding');
  }
}
