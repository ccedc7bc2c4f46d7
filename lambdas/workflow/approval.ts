/** The approval task's input, as the state machine passes it (with `.waitForTaskToken`). */
import { z } from 'zod';
import { asStepError } from './errors';
import { requestApproval, type WorkflowDeps } from './lifecycle';

export const approvalRequestSchema = z.object({
  jobId: z.string().regex(/^sj_[0-9a-hjkmnp-tv-z]{26}$/),
  taskToken: z.string().min(1),
  planDigest: z.string(),
});
export type ApprovalRequest = z.infer<typeof approvalRequestSchema>;

/** Stores the token beside the job and opens the approval; the execution then waits for a decision. */
export async function handleApprovalRequest(d: WorkflowDeps, event: unknown): Promise<void> {
  try {
    const input = approvalRequestSchema.parse(event);
    await requestApproval(d, input.jobId, input.taskToken, input.planDigest);
  } catch (e) {
    // Never echo the input: it carries the task token.
    throw asStepError(e);
  }
}
