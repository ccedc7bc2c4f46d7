/**
 * Slack request verification (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature` = "v0=" + hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}" under the signing
 * secret, compared in constant time, with the timestamp within five minutes of now in either direction.
 * Pure: the caller passes the raw body exactly as received (base64-decoded already) and the current time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's replay window: a request older (or newer) than this is refused even with a valid signature. */
export const SLACK_MAX_SKEW_SECONDS = 5 * 60;

export interface SlackRequest {
  /** Header names in lower case, as the router hands them over. */
  headers: Record<string, string | undefined>;
  /** The body bytes exactly as Slack sent them. */
  rawBody: string | Buffer;
}

export type SlackVerification = { ok: true } | { ok: false; reason: 'missing_headers' | 'bad_timestamp' | 'stale' | 'bad_signature' };

/** Computes the v0 signature of a body at a timestamp; exported for tests and tooling. */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: string | Buffer): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

/** The reason is for logs and metrics only; the caller answers every failure with the same bare 401. */
export function verifySlackRequest(req: SlackRequest, signingSecret: string, nowMs: number): SlackVerification {
  const signature = req.headers['x-slack-signature'];
  const timestamp = req.headers['x-slack-request-timestamp'];
  if (!signature || !timestamp || !signingSecret) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_MAX_SKEW_SECONDS) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(slackSignature(signingSecret, timestamp, req.rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual throws on different lengths: check first (the length of a valid signature is public anyway).
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad_signature' };
  return { ok: true };
}
