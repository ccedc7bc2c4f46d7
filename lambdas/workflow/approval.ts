/** The approval task's input, as the state machine passes it (with `.waitForTaskToken`). */
import * as z from '../shared/zod';
import { openApproval, type ApprovalNotifier } from '../approvals/request';
import { asStepError } from './errors';
import type { WorkflowDeps } from './lifecycle';

export const approvalRequestSchema = z.object({
  jobId: z.string().regex(/^sj_[0-9a-hjkmnp-tv-z]{26}$/),
  taskToken: z.string().min(1),
  planDigest: z.string(),
});
export type ApprovalRequest = z.infer<typeof approvalRequestSchema>;

/**
 * Stores the token in its own item, opens the approval and (given a notifier) posts it to Slack; the execution
 * then waits for a decision.
 */
export async function handleApprovalRequest(d: WorkflowDeps, event: unknown, notifier?: ApprovalNotifier): Promise<void> {
  try {
    const input = approvalRequestSchema.parse(event);
    await openApproval({ workflow: d, ...(notifier ? { notifier } : {}) }, input);
  } catch (e) {
    // Never echo the input: it carries the task token.
    throw asStepError(e);
  }
}
