/**
 * The web console's security headers, one definition for both places that serve it: CloudFront's response headers
 * policy on AWS, and local mode's server. Only `connect-src` differs (the API's and the identity provider's origins on
 * AWS; the console's own origin in local mode, where the API is on the same port).
 */
export const CONSOLE_FRAME_OPTIONS = 'DENY';

/**
 * The API's CORS for the console's origin, the same on API Gateway (infra/constructs/api.ts) and in local mode
 * (local/http-api.ts): what the console sends besides the CORS-safelisted headers (the token, JSON bodies, conditional
 * polls), what it must read (the ETag it sends back), the methods of the API's routes, and how long a browser may
 * reuse a preflight answer.
 */
export const CONSOLE_CORS = {
  allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
  allowHeaders: ['authorization', 'content-type', 'if-none-match', 'idempotency-key'],
  exposeHeaders: ['etag'],
  maxAgeSeconds: 3600,
} as const;
export const CONSOLE_REFERRER_POLICY = 'no-referrer';

/** A strict Content-Security-Policy: the console's own scripts and styles only, nothing inline, no framing. */
export function consoleContentSecurityPolicy(connectOrigins: string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${["'self'", ...connectOrigins].join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

/** The headers local mode sends with every console file (CloudFront sends the same through its policy). */
export function consoleHeaders(connectOrigins: string[] = []): Record<string, string> {
  return {
    'content-security-policy': consoleContentSecurityPolicy(connectOrigins),
    'x-content-type-options': 'nosniff',
    'x-frame-options': CONSOLE_FRAME_OPTIONS,
    'referrer-policy': CONSOLE_REFERRER_POLICY,
  };
}
