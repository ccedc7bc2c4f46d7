/** Which operations a job runs, and whether it must pause for approval, computed from the trigger and the policy. */
import type { OperationName, PlanSummary, TriggerEvent } from './schemas';

export interface FlowFlags {
  previewBeforeUpdate: boolean;
  pauseBetweenPreviewAndUpdate: boolean;
  skipRefresh: boolean;
}

export function planOperations(trigger: TriggerEvent, policy: FlowFlags): OperationName[] {
  const ops: OperationName[] = ['init'];
  if (!policy.skipRefresh) ops.push('refresh');
  if (policy.previewBeforeUpdate) ops.push('plan');
  ops.push(trigger === 'deleted' ? 'destroy' : 'apply');
  return ops;
}

/** Approval sits between plan and apply/destroy only when the policy pauses and the plan would change something. */
export function needsApproval(
  policy: FlowFlags,
  summary: Pick<PlanSummary, 'add' | 'change' | 'destroy' | 'replace' | 'outputChanges'> | undefined,
  hasChanges: boolean,
): boolean {
  if (!policy.previewBeforeUpdate || !policy.pauseBetweenPreviewAndUpdate) return false;
  return hasChanges || Boolean(summary && summary.add + summary.change + summary.destroy + summary.replace + summary.outputChanges > 0);
}
