/** Posts to an interaction's response_url with a deadline, so a slow Slack cannot push us past its 3-second window. */
import type { ResponseUrlPoster } from '../ports';

/** What is left of Slack's 3 s after verifying, deciding and resuming (typically well under 0.5 s). */
export const RESPONSE_URL_TIMEOUT_MS = 1500;

export class FetchResponseUrlPoster implements ResponseUrlPoster {
  constructor(private readonly timeoutMs = RESPONSE_URL_TIMEOUT_MS) {}

  async post(url: string, body: Record<string, unknown>): Promise<void> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw Object.assign(new Error(`response_url answered ${res.status}`), { name: 'ResponseUrlRejected' });
  }
}
