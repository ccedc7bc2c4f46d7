/** The approvals work's ports: what it needs from Step Functions, ECS, Slack and HTTP, behind small interfaces tests can fake. */
import type { Logger } from '@aws-lambda-powertools/logger';

/** Resumes (or fails) the execution waiting on a task token. Errors whose `name` is in TASK_GONE mean nobody waits any more. */
export interface TaskResponder {
  succeed(taskToken: string, output: Record<string, unknown>): Promise<void>;
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}

/** Step Functions answers these when the token's task is over (timed out, already answered, execution stopped). */
export const TASK_GONE = new Set(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken']);

/** Stops a runner task (ECS StopTask); the runner interrupts its tool gracefully on SIGTERM. */
export interface RunnerTaskStopper {
  stop(taskArn: string, reason: string): Promise<void>;
}

/** A Block Kit message for Slack's chat.postMessage. */
export interface SlackMessage {
  channel: string;
  text: string;
  blocks: unknown[];
}

/** Where an approval's Slack message was posted: the channel and the message's `ts` (neither is a secret). */
export interface SlackNotice {
  channel: string;
  ts: string;
}

/** Posts approval requests to Slack and replaces them once closed (chat.postMessage / chat.update with the bot token). */
export interface SlackPoster {
  /** `channel`: the conversation id Slack posted to (chat.update needs it; the request may have named a user). */
  post(message: SlackMessage): Promise<{ ts?: string; channel?: string }>;
  update(notice: SlackNotice, message: Omit<SlackMessage, 'channel'>): Promise<void>;
}

/** Posts a message to an interaction's response_url (replacing the original, or ephemeral to the clicker). */
export interface ResponseUrlPoster {
  post(url: string, body: Record<string, unknown>): Promise<void>;
}

/** What the approvals work counts. */
export interface ApprovalMetrics {
  slackPostFailed(): void;
  /** Replacing the message of an approval closed through the API (decided or cancelled) failed. */
  slackUpdateFailed(): void;
  decided(decision: 'approved' | 'rejected', channel: 'slack' | 'api'): void;
}

export const noApprovalMetrics: ApprovalMetrics = { slackPostFailed: () => undefined, slackUpdateFailed: () => undefined, decided: () => undefined };

/** Structured logging (Powertools' Logger); never handed a token or a secret. */
export type LogSink = Pick<Logger, 'info' | 'warn' | 'error'>;
