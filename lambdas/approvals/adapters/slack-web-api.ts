/**
 * Slack behind the SlackPoster port: chat.postMessage through @slack/web-api with the bot token read from
 * Secrets Manager on first use. The token goes to Slack's Authorization header only, never to a log.
 */
import { LogLevel, WebClient } from '@slack/web-api';
import type { SlackMessage, SlackPoster } from '../ports';

/**
 * The approval Lambda has 30 s and the workflow must not wait on Slack: 2 retries, 0.5 s then 1 s apart
 * (plus up to 3 s per attempt), rate-limited calls rejected rather than slept through; a message that still
 * fails is logged and counted, and the approval stays decidable through the API.
 */
export const SLACK_RETRY = { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 1000 } as const;
export const SLACK_TIMEOUT_MS = 3000;

export class SlackWebApiPoster implements SlackPoster {
  private client: WebClient | undefined;

  constructor(
    private readonly botToken: () => Promise<string>,
    /** Overrides https://slack.com/api/ (tests, local mode). */
    private readonly slackApiUrl?: string,
  ) {}

  private async web(): Promise<WebClient> {
    this.client ??= new WebClient(await this.botToken(), {
      retryConfig: SLACK_RETRY,
      timeout: SLACK_TIMEOUT_MS,
      rejectRateLimitedCalls: true,
      logLevel: LogLevel.ERROR,
      ...(this.slackApiUrl ? { slackApiUrl: this.slackApiUrl } : {}),
    });
    return this.client;
  }

  async post(message: SlackMessage): Promise<{ ts?: string }> {
    const out = await (await this.web()).chat.postMessage({ channel: message.channel, text: message.text, blocks: message.blocks as never, unfurl_links: false, unfurl_media: false });
    return { ts: out.ts };
  }
}
