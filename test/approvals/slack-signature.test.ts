/** Slack request verification: vectors computed here with node:crypto, independent of the module under test. */
import { createHmac } from 'node:crypto';
import { SLACK_MAX_SKEW_SECONDS, verifySlackRequest } from '../../lambdas/approvals/slack-signature';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW_S = 1_798_000_000;
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

/** The v0 signature, written out from Slack's documentation rather than imported. */
const sign = (secret: string, ts: number | string, body: string) => `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
const headers = (ts: number | string, signature: string) => ({ 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature });
const verify = (h: Record<string, string | undefined>, body: string | Buffer = BODY, nowS = NOW_S) =>
  verifySlackRequest({ headers: h, rawBody: body }, SECRET, nowS * 1000);

describe('Slack signature verification', () => {
  it('accepts a request signed with the signing secret over v0:{timestamp}:{raw body}', () => {
    expect(verify(headers(NOW_S, sign(SECRET, NOW_S, BODY)))).toEqual({ ok: true });
  });

  it("accepts Slack's documented example (signature from api.slack.com/authentication/verifying-requests-from-slack)", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const ok = verifySlackRequest(
      {
        headers: { 'x-slack-request-timestamp': '1531420618', 'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503' },
        rawBody: body,
      },
      '8f742231b10e8888abcd99yyyzzz85a5',
      1531420618 * 1000,
    );
    expect(ok).toEqual({ ok: true });
  });

  it('refuses a signature made with another secret', () => {
    expect(verify(headers(NOW_S, sign('another-secret', NOW_S, BODY)))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a body altered after signing (one character)', () => {
    expect(verify(headers(NOW_S, sign(SECRET, NOW_S, BODY)), `${BODY.slice(0, -1)}C`)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a timestamp re-used with another signed timestamp', () => {
    expect(verify(headers(NOW_S - 1, sign(SECRET, NOW_S, BODY)))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a request signed more than five minutes ago (6 minutes old), even correctly signed', () => {
    const ts = NOW_S - 6 * 60;
    expect(verify(headers(ts, sign(SECRET, ts, BODY)))).toEqual({ ok: false, reason: 'stale' });
  });

  it('refuses a request dated six minutes in the future, even correctly signed', () => {
    const ts = NOW_S + 6 * 60;
    expect(verify(headers(ts, sign(SECRET, ts, BODY)))).toEqual({ ok: false, reason: 'stale' });
  });

  it('accepts the edge of the window (exactly five minutes) in both directions', () => {
    for (const ts of [NOW_S - SLACK_MAX_SKEW_SECONDS, NOW_S + SLACK_MAX_SKEW_SECONDS])
      expect(verify(headers(ts, sign(SECRET, ts, BODY)))).toEqual({ ok: true });
  });

  it('refuses missing headers, an empty secret and a non-numeric timestamp', () => {
    expect(verify({ 'x-slack-signature': sign(SECRET, NOW_S, BODY) })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ 'x-slack-request-timestamp': String(NOW_S) })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({})).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifySlackRequest({ headers: headers(NOW_S, sign('', NOW_S, BODY)), rawBody: BODY }, '', NOW_S * 1000)).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
    expect(verify(headers(`${NOW_S}.5`, sign(SECRET, `${NOW_S}.5`, BODY)))).toEqual({ ok: false, reason: 'bad_timestamp' });
  });

  it('refuses a signature of the wrong length without throwing (lengths are compared before timingSafeEqual)', () => {
    const good = sign(SECRET, NOW_S, BODY);
    expect(verify(headers(NOW_S, good.slice(0, -1)))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify(headers(NOW_S, `${good}0`))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify(headers(NOW_S, 'v0='))).toEqual({ ok: false, reason: 'bad_signature' });
    // Same length in UTF-16 code units, different in bytes: still refused, never a RangeError.
    expect(verify(headers(NOW_S, `v0=${'é'.repeat(64)}`))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('verifies over the bytes as given: a Buffer body signs the same as its string', () => {
    expect(verify(headers(NOW_S, sign(SECRET, NOW_S, BODY)), Buffer.from(BODY, 'utf8'))).toEqual({ ok: true });
  });
});
