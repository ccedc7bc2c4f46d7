/**
 * Lambda entry for the EventBridge rule on the app's bus that matches the status events of jobs whose approval expired
 * (completed, reason approval_expired): replaces the approval's Slack message. Best effort: it never throws for Slack.
 */
import { closeExpiredApproval } from '../approvals/expired';
import { approvalExpiredDepsFromEnv } from '../approvals/deps';
import { lazy } from '../shared/lazy';

const deps = lazy(() => approvalExpiredDepsFromEnv());

export const handler = async (event: unknown): Promise<void> => {
  await closeExpiredApproval(deps(), event);
};
