/** Parses the aws.states "Step Functions Execution Status Change" event and cleans up after the execution. */
import * as z from '../shared/zod';
import { asStepError } from './errors';
import { cleanupExecution, type CleanupResult, type WorkflowDeps } from './lifecycle';

export const executionEndedSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string(),
    stateMachineArn: z.string(),
    /** The execution name is the job id (sfn-execution-starter.ts). */
    name: z.string(),
    status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
  }),
});

export async function handleExecutionEnded(d: WorkflowDeps, event: unknown): Promise<CleanupResult> {
  const parsed = executionEndedSchema.parse(event);
  // Executions not named after a job are none of ours.
  if (!/^sj_[0-9a-hjkmnp-tv-z]{26}$/.test(parsed.detail.name)) return { marked: false, released: false };
  try {
    return await cleanupExecution(d, parsed.detail.name, parsed.detail.status);
  } catch (e) {
    throw asStepError(e);
  }
}
