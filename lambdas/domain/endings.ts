/**
 * Why a job ended: the closed set of reasons a completed job carries in `status.reason`, each with the result it gives
 * and what it means (README, How a job ends). lambdas/workflow/endings.ts is the only code that ends a job, and it
 * takes one of these; nothing else writes `status.reason`.
 */
import * as z from '../shared/zod';
import type { JobResult } from './schemas';

type TerminalResult = Exclude<JobResult, 'tbd' | 'skipped'>;

export const ENDINGS = {
  succeeded: { result: 'succeeded', meaning: 'the update (apply or destroy) ran to the end' },
  no_changes: { result: 'succeeded', meaning: 'the preview found nothing to change, so no update ran and nobody was asked to approve' },
  drift_checked: {
    result: 'succeeded',
    meaning:
      'a drift check looked (init and a refresh-only plan) and recorded what changed outside Stack Jobs on the job and the resource; nothing was applied',
  },
  cancel_requested_during_update: {
    result: 'succeeded',
    meaning: 'a cancel arrived while the update was applying; an update is never interrupted, so it finished (status.cancelRequested says who asked)',
  },
  rejected: { result: 'cancelled', meaning: 'an approver rejected the plan; nothing was applied' },
  approval_expired: { result: 'cancelled', meaning: "nobody decided within the policy's approval window; nothing was applied" },
  cancelled: { result: 'cancelled', meaning: 'cancelled through the API or the CLI before its update started (status.cancelRequested says who)' },
  force_cancelled: {
    result: 'cancelled',
    meaning: 'an org admin ended the job in whatever phase it was in, with a reason (status.forceCancelled); its runner was stopped and its stack freed',
  },
  lock_wait_exceeded: { result: 'cancelled', meaning: 'the stack stayed held by other jobs for longer than the job may wait' },
  policy_denied: {
    result: 'failed',
    meaning:
      "a plan policy's deny rule held on the plan (status.policy has every rule's result, status.failure the messages); nobody was asked to approve and nothing was applied",
  },
  policy_check_failed: {
    result: 'failed',
    meaning:
      'a plan policy rule could not be evaluated on the plan (an error in the expression, or it was stopped by the cost or time limit; status.failure says which); nothing was applied',
  },
  operation_failed: { result: 'failed', meaning: 'a runner operation failed (status.failure names it, with its exit code and message)' },
  operation_timed_out: { result: 'failed', meaning: 'the runner did not finish its phase within the phase timeout; its task was stopped' },
  runner_lost: {
    result: 'failed',
    meaning: 'the runner stopped without reporting (killed, out of memory, image pull failure, spot interruption, or no heartbeat); its task was stopped',
  },
  interrupted: {
    result: 'failed',
    meaning:
      "the job's execution is gone (local mode stopped, or the execution was lost) while it was in the operation status.failure names; logs up to then are kept",
  },
  workflow_step_failed: { result: 'failed', meaning: 'a workflow step failed after its retries (status.failure names it as workflow:<step>)' },
  execution_failed: { result: 'failed', meaning: 'the workflow execution failed outside its own error handling' },
  execution_timed_out: { result: 'failed', meaning: 'the workflow execution reached its own time limit' },
  execution_aborted: { result: 'cancelled', meaning: 'the workflow execution was stopped from outside (StopExecution)' },
} as const satisfies Record<string, { result: TerminalResult; meaning: string }>;

export type EndingReason = keyof typeof ENDINGS;

export const endingReasonSchema = z.enum(Object.keys(ENDINGS) as [EndingReason, ...EndingReason[]]);

/** The result a reason gives. */
export function resultOf(reason: EndingReason): TerminalResult {
  return ENDINGS[reason].result;
}
