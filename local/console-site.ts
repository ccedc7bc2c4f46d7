/**
 * Local mode's stand-in for the console's CloudFront distribution: the built console (infra/console-build.ts) served
 * on the API's port at `/`, with the same security headers as on AWS (infra/console-headers.ts), `/config.json` saying
 * "local mode", and every path that is not a file answered with index.html (the console routes in the browser).
 */
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { consoleHeaders } from '../infra/console-headers';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** What the site's `/config.json` says, and the origins besides its own the console may connect to (its CSP). */
export interface ConsoleSite {
  config: Record<string, unknown>;
  connectOrigins: string[];
}

/** Local mode's: the API on the same origin, the Token sign-in. */
export const LOCAL_SITE: ConsoleSite = { config: { mode: 'local' }, connectOrigins: [] };

/** The answer for GET `pathname` (not under /v1/). */
export async function consoleFile(dir: string, pathname: string, site: ConsoleSite = LOCAL_SITE): Promise<APIGatewayProxyStructuredResultV2> {
  const headers = consoleHeaders(site.connectOrigins);
  if (pathname === '/config.json') {
    return {
      statusCode: 200,
      headers: { ...headers, 'content-type': 'application/json', 'cache-control': 'no-cache' },
      body: JSON.stringify(site.config),
    };
  }
  let relative: string;
  try {
    relative = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '');
  } catch {
    return { statusCode: 400, headers: { 'content-type': 'text/plain' }, body: 'bad path' };
  }
  const file = join(dir, relative);
  // Nothing outside the build: "..", absolute or encoded traversal lands on index.html, never on another file.
  const inside = file.startsWith(dir + sep) && relative !== '';
  if (inside) {
    try {
      const body = await readFile(file);
      const hashed = relative.startsWith(`assets${sep}`);
      return {
        statusCode: 200,
        headers: {
          ...headers,
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          // Vite names assets by content hash: they never change. index.html must be revalidated.
          'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
        },
        body: body.toString('base64'),
        isBase64Encoded: true,
      };
    } catch {
      // Not a file: a route of the single-page app, or a missing asset.
      if (relative.startsWith(`assets${sep}`)) return { statusCode: 404, headers: { ...headers, 'content-type': 'text/plain' }, body: 'not found' };
    }
  }
  const index = await readFile(join(dir, 'index.html'));
  return { statusCode: 200, headers: { ...headers, 'content-type': TYPES['.html']!, 'cache-control': 'no-cache' }, body: index.toString('utf8') };
}
