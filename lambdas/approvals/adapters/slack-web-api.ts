/**
 * Slack behind the SlackPoster port: chat.postMessage and chat.update through @slack/web-api with the bot token read
 * from Secrets Manager on first use. The token goes to Slack's Authorization header only, never to a log.
 * The package is loaded on first use too: the API function carries this adapter (it closes messages of approvals
 * decided or cancelled through it) and must not pay for Slack on requests that never reach it.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a deferred load is the point */
import type { WebClient } from '@slack/web-api';
import { lazy } from '../../shared/lazy';
import type { SlackMessage, SlackNotice, SlackPoster } from '../ports';

const slackSdk = /* @__PURE__ */ lazy(() => require('@slack/web-api') as typeof import('@slack/web-api'));

/**
 * The approval Lambda has 30 s and the workflow must not wait on Slack: 2 retries, 0.5 s then 1 s apart
 * (plus up to 3 s per attempt), rate-limited calls rejected rather than slept through; a message that still
 * fails is logged and counted, and the approval stays decidable through the API.
 */
export const SLACK_RETRY = { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 1000 } as const;
export const SLACK_TIMEOUT_MS = 3000;

/** How long a caller lets Slack take: retries and per-attempt timeout. */
export interface SlackBudget {
  retryConfig: { retries: number; factor?: number; minTimeout?: number; maxTimeout?: number };
  timeoutMs: number;
}

/** The approval Lambda's budget (above). */
export const APPROVAL_REQUEST_BUDGET: SlackBudget = { retryConfig: SLACK_RETRY, timeoutMs: SLACK_TIMEOUT_MS };
/** The API's: it answers the person deciding only after replacing the message, so one attempt of at most 2 s. */
export const API_SLACK_BUDGET: SlackBudget = { retryConfig: { retries: 0 }, timeoutMs: 2000 };

export class SlackWebApiPoster implements SlackPoster {
  private client: { token: string; web: WebClient } | undefined;

  constructor(
    private readonly botToken: () => Promise<string>,
    /** Overrides https://slack.com/api/ (tests, local mode). */
    private readonly slackApiUrl?: string,
    private readonly budget: SlackBudget = APPROVAL_REQUEST_BUDGET,
  ) {}

  /** A client for the current token: the secret is re-read on its cache's schedule, so a rotated token is picked up. */
  private async web(): Promise<WebClient> {
    const token = await this.botToken();
    if (this.client?.token !== token) {
      const { LogLevel, WebClient } = slackSdk();
      const web = new WebClient(token, {
        retryConfig: this.budget.retryConfig,
        timeout: this.budget.timeoutMs,
        rejectRateLimitedCalls: true,
        logLevel: LogLevel.ERROR,
        ...(this.slackApiUrl ? { slackApiUrl: this.slackApiUrl } : {}),
      });
      this.client = { token, web };
    }
    return this.client.web;
  }

  /** `channel` in the answer is the conversation's id, which chat.update needs (the request may name a channel or a user). */
  async post(message: SlackMessage): Promise<{ ts?: string; channel?: string }> {
    const out = await (
      await this.web()
    ).chat.postMessage({ channel: message.channel, text: message.text, blocks: message.blocks as never, unfurl_links: false, unfurl_media: false });
    return { ts: out.ts, channel: out.channel };
  }

  async update(notice: SlackNotice, message: Omit<SlackMessage, 'channel'>): Promise<void> {
    await (await this.web()).chat.update({ channel: notice.channel, ts: notice.ts, text: message.text, blocks: message.blocks as never });
  }
}
