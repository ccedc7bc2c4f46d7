/**
 * Conditional GETs (RFC 9110 §8.8.3, §13.1.2): every GET answered 200 with a body carries a strong ETag, the hash of
 * the body, and a request whose If-None-Match names it gets 304 with no body. A console polling a job it shows pays
 * for the unchanged answer with a few bytes; the read behind it still runs, so the ETag is always current.
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** Reuse only after asking (If-None-Match), and never from a shared cache: every answer depends on who asks. */
export const REVALIDATE = 'private, no-cache';

/** A strong entity tag for the body: the same body always gives the same tag, whichever process answers. */
function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url')}"`;
}

/** Entity tags in an If-None-Match value: a list of (possibly weak) quoted tags, or `*`. */
const ENTITY_TAG = /\*|(?:W\/)?"[^"]*"/g;

/** Weak comparison, as If-None-Match uses: `W/"x"` matches `"x"`; `*` matches any current representation. */
function ifNoneMatchHolds(ifNoneMatch: string, etag: string): boolean {
  const opaque = (tag: string) => tag.replace(/^W\//, '');
  return (ifNoneMatch.match(ENTITY_TAG) ?? []).some((tag) => tag === '*' || opaque(tag) === opaque(etag));
}

/**
 * Tags a GET's 200 answer and turns it into a 304 when the client already holds it. Anything else (errors, other
 * statuses, empty bodies) passes through untouched. A route's own Cache-Control (the public OpenAPI document) is kept.
 */
export function conditionalGet(response: APIGatewayProxyStructuredResultV2, ifNoneMatch: string | undefined): APIGatewayProxyStructuredResultV2 {
  if ((response.statusCode ?? 200) !== 200 || typeof response.body !== 'string' || response.body === '') return response;
  const etag = etagOf(response.body);
  const headers = { 'cache-control': REVALIDATE, ...response.headers, etag };
  if (ifNoneMatch !== undefined && ifNoneMatchHolds(ifNoneMatch, etag))
    return { statusCode: 304, headers: { etag, 'cache-control': headers['cache-control'] } };
  return { ...response, headers };
}
