/**
 * Lambda entry for the approval task (`lambda:invoke.waitForTaskToken`). The approvals work adds the Slack message
 * around handleApprovalRequest; the execution resumes on SendTaskSuccess/SendTaskFailure from the decision.
 */
import { handleApprovalRequest } from './approval';
import { lazyDeps } from './deps';

const deps = lazyDeps();

export const handler = (event: unknown): Promise<void> => handleApprovalRequest(deps(), event);
