/** Which operations a job runs, and whether it must pause for approval, computed from the trigger and the policy. */
import type { OperationName, PlanSummary, Provisioner, TriggerEvent } from './schemas';

export interface FlowFlags {
  previewBeforeUpdate: boolean;
  pauseBetweenPreviewAndUpdate: boolean;
  skipRefresh: boolean;
}

/**
 * Whether the plan itself reports drift. A Terraform or OpenTofu plan refreshes in memory and lists what the refresh
 * found as `resource_drift` (Terraform's own show-json test data has both in one plan), so a separate refresh-only
 * plan before it would read every resource from the provider twice. A separate refresh still runs where nothing else
 * reports: before a direct apply (no plan), before a destroy plan (kept: whether a destroy plan lists its drift is not
 * shown by a real run here), and for Pulumi, whose preview does not list what its refresh found.
 */
export function planReportsDrift(trigger: TriggerEvent, policy: Pick<FlowFlags, 'previewBeforeUpdate'>, provisioner: Provisioner): boolean {
  return provisioner !== 'pulumi' && policy.previewBeforeUpdate && trigger !== 'deleted';
}

export function planOperations(trigger: TriggerEvent, policy: FlowFlags, provisioner: Provisioner): OperationName[] {
  const ops: OperationName[] = ['init'];
  if (!policy.skipRefresh && !planReportsDrift(trigger, policy, provisioner)) ops.push('refresh');
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
