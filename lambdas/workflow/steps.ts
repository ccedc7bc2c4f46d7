/**
 * The workflow step Lambda's actions, one per Task state of the state machine (see infra/constructs/state-machine.ts).
 * One entry with an action switch keeps the bundle, the role and the log group single; each action is a thin
 * parse-then-call over lifecycle.ts.
 */
import * as z from '../shared/zod';
import { asStepError } from './errors';
import { acquireLock, finishJob, parkForLock, recordApproval, recordPreview, releaseLock, type Outcome, type WorkflowDeps } from './lifecycle';

const jobId = z.string().regex(/^sj_[0-9a-hjkmnp-tv-z]{26}$/);
const stepError = z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional();

const outcomeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('updated'), result: z.unknown() }),
  z.object({ kind: z.literal('no_changes') }),
  z.object({ kind: z.literal('operation_failed'), phase: z.enum(['preview', 'update']), error: stepError }),
  z.object({ kind: z.literal('cancelled'), error: stepError }),
  z.object({ kind: z.literal('rejected'), error: stepError }),
  z.object({ kind: z.literal('approval_expired'), error: stepError }),
  z.object({ kind: z.literal('lock_wait_exceeded') }),
  z.object({ kind: z.literal('policy_denied') }),
  z.object({ kind: z.literal('policy_failed') }),
  z.object({ kind: z.literal('step_failed'), step: z.string().max(64), error: stepError }),
]);

export const stepInputSchema = z.discriminatedUnion('action', [
  // `execution` is the execution's input: the submitted snapshot rides along until the job write is known to have landed.
  z.object({ action: z.literal('acquireLock'), jobId, attempts: z.number().int().min(0), execution: z.object({ snapshot: z.unknown() }).partial().optional() }),
  // The task token of `Wait For Stack Lock` (.waitForTaskToken): parked until the stack is free.
  z.object({ action: z.literal('parkForLock'), jobId, taskToken: z.string().min(1).max(4096) }),
  z.object({ action: z.literal('recordPreview'), jobId, result: z.unknown() }),
  z.object({ action: z.literal('recordApproval'), jobId }),
  z.object({ action: z.literal('finish'), jobId, outcome: outcomeSchema }),
  z.object({ action: z.literal('releaseLock'), jobId }),
]);
export type StepInput = z.infer<typeof stepInputSchema>;
export type StepAction = StepInput['action'];

/** Runs one step; errors come out named for the definition's Retry/Catch (transient ones as StackJob.Transient). */
export async function runStep(d: WorkflowDeps, event: unknown): Promise<unknown> {
  try {
    const input = stepInputSchema.parse(event);
    switch (input.action) {
      case 'acquireLock':
        return await acquireLock(d, input.jobId, input.attempts, input.execution?.snapshot);
      case 'parkForLock':
        return await parkForLock(d, input.jobId, input.taskToken);
      case 'recordPreview':
        return await recordPreview(d, input.jobId, input.result);
      case 'recordApproval':
        return await recordApproval(d, input.jobId);
      case 'finish':
        await finishJob(d, input.jobId, input.outcome as Outcome);
        return { finished: true };
      case 'releaseLock':
        return await releaseLock(d, input.jobId);
    }
  } catch (e) {
    throw asStepError(e);
  }
}
