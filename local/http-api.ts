/**
 * The local stand-in for API Gateway: a loopback HTTP server that turns each request into an HTTP API (payload v2)
 * event for the very same API handler. `Authorization: Bearer <token>` is looked up in the configured principals
 * and handed over as JWT authorizer claims, as API Gateway would after validating a real JWT.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ClaimNames } from '../lambdas/http/principal';
import type { Principal } from '../lambdas/domain/schemas';
import { CONSOLE_CORS } from '../infra/console-headers';
import { consoleFile } from './console-site';

export interface LocalPrincipal extends Principal {
  token: string;
}

export interface HttpApiOptions {
  handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
  principals: LocalPrincipal[];
  claimNames: ClaimNames;
  port?: number;
  /** Routes served only in local mode (e.g. GET /v1/events), tried before the API handler. */
  extraRoutes?: Record<string, (caller: LocalPrincipal | undefined) => APIGatewayProxyStructuredResultV2>;
  /** The built web console, served at `/` (every GET outside /v1/), as CloudFront serves it on AWS. */
  consoleDir?: string;
  /**
   * Browser origins allowed to call the API from elsewhere (a console served from another origin, as CloudFront's is
   * on AWS): CORS as API Gateway applies it from the API's CORS configuration (infra/console-headers.ts CONSOLE_CORS).
   */
  corsOrigins?: string[];
}

export interface HttpApi {
  url: string;
  stop(): Promise<void>;
}

/** API Gateway's payload limit; bigger bodies never reach the Lambda. */
const API_GATEWAY_MAX_BODY = 10 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > API_GATEWAY_MAX_BODY) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export function toEvent(req: IncomingMessage, body: Buffer, principal: LocalPrincipal | undefined, claimNames: ClaimNames): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
  const query = url.searchParams.size > 0 ? Object.fromEntries(url.searchParams) : undefined;
  const now = new Date();
  const event = {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: url.host,
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      ...(principal
        ? {
            authorizer: {
              jwt: {
                claims: {
                  [claimNames.subject]: principal.subject,
                  [claimNames.orgs]: `[${principal.orgs.join(' ')}]`,
                  [claimNames.roles]: `[${principal.roles.join(' ')}]`,
                },
                scopes: null,
              },
            },
          }
        : {}),
    },
    // Like API Gateway: text bodies as they are, anything else base64-encoded.
    ...(body.length > 0
      ? /^(application\/(json|x-www-form-urlencoded|yaml|x-yaml)|text\/)/.test(headers['content-type'] ?? 'application/json')
        ? { body: body.toString('utf8'), isBase64Encoded: false }
        : { body: body.toString('base64'), isBase64Encoded: true }
      : { isBase64Encoded: false }),
  };
  return event as APIGatewayProxyEventV2;
}

export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const byToken = new Map(options.principals.map((p) => [p.token, p]));
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        const pathname = new URL(req.url ?? '/', 'http://x').pathname;
        const extra = options.extraRoutes?.[`${req.method} ${pathname}`];
        const body = await readBody(req);
        let result: APIGatewayProxyStructuredResultV2;
        const origin = req.headers.origin;
        const corsAllowed = origin !== undefined && (options.corsOrigins ?? []).includes(origin);
        if (options.corsOrigins && req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
          // API Gateway answers a preflight itself, before any authorizer; an origin it does not allow gets no CORS headers.
          result = {
            statusCode: 204,
            headers: corsAllowed
              ? {
                  'access-control-allow-origin': origin,
                  'access-control-allow-methods': CONSOLE_CORS.allowMethods.join(','),
                  'access-control-allow-headers': CONSOLE_CORS.allowHeaders.join(','),
                  'access-control-max-age': String(CONSOLE_CORS.maxAgeSeconds),
                  vary: 'origin',
                }
              : {},
          };
        } else if (options.consoleDir && (req.method === 'GET' || req.method === 'HEAD') && !pathname.startsWith('/v1/') && pathname !== '/v1') {
          result = await consoleFile(options.consoleDir, pathname);
        } else if (body === undefined) {
          result = { statusCode: 413, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Request Entity Too Large' }) };
        } else if (extra) {
          // Local-only routes are authenticated like the API: the caller's principal, or undefined (a 401 to give).
          const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
          result = extra(token ? byToken.get(token) : undefined);
        } else {
          const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
          result = await options.handler(toEvent(req, body, token ? byToken.get(token) : undefined, options.claimNames));
        }
        const headers = { ...(result.headers ?? {}) } as Record<string, string>;
        if (corsAllowed && req.method !== 'OPTIONS') {
          headers['access-control-allow-origin'] = origin;
          headers['access-control-expose-headers'] = CONSOLE_CORS.exposeHeaders.join(',');
          headers.vary = 'origin';
        }
        res.writeHead(result.statusCode ?? 200, headers);
        res.end(req.method === 'HEAD' ? undefined : result.isBase64Encoded && result.body ? Buffer.from(result.body, 'base64') : (result.body ?? ''));
      } catch {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Internal Server Error' }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
