/**
 * Lambda entry for the approval task (`lambda:invoke.waitForTaskToken`): opens the approval and posts it to Slack;
 * the execution resumes on SendTaskSuccess/SendTaskFailure from the decision (Slack or the API).
 */
import { approvalNotifierFromEnv } from '../approvals/deps';
import { handleApprovalRequest } from './approval';
import { lazyDeps } from './deps';

const deps = lazyDeps();
let notifier: ReturnType<typeof approvalNotifierFromEnv> | undefined;

export const handler = (event: unknown): Promise<void> => handleApprovalRequest(deps(), event, (notifier ??= approvalNotifierFromEnv()));
