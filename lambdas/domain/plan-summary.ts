/**
 * Summarises a `terraform show -json <planfile>` document (also OpenTofu's, same format) into the PlanSummary
 * the job records and the approval message shows. Pure: no I/O, no SDK.
 */
import type { PlanSummary } from './schemas';

/** The parts of the plan JSON format the summary reads; everything else is ignored. */
export interface ShowJsonPlan {
  resource_changes?: Array<{
    address: string;
    /** Set when a `moved` block renames the resource: applying records the move even when nothing else changes. */
    previous_address?: string;
    change: { actions: string[]; importing?: unknown };
  }>;
  output_changes?: Record<string, { actions: string[] }>;
}

export interface SummarisedPlan {
  summary: PlanSummary;
  /** True when applying would change anything, resources or outputs (what `plan -detailed-exitcode` exits 2 for). */
  hasChanges: boolean;
}

const isReplace = (a: string[]) =>
  a.length === 2 && ((a[0] === 'delete' && a[1] === 'create') || (a[0] === 'create' && a[1] === 'delete'));

export function summarisePlan(plan: ShowJsonPlan): SummarisedPlan {
  const summary: PlanSummary = {
    add: 0,
    change: 0,
    destroy: 0,
    replace: 0,
    unchanged: 0,
    read: 0,
    forget: 0,
    import: 0,
    outputChanges: 0,
    resources: [],
  };
  let movedOnly = 0;
  for (const rc of plan.resource_changes ?? []) {
    const actions = rc.change.actions;
    // An import is reported alongside its action (usually no-op or update), so it counts on its own axis.
    if (rc.change.importing) summary.import++;
    if (isReplace(actions)) summary.replace++;
    else if (actions.length === 1) {
      switch (actions[0]) {
        case 'create':
          summary.add++;
          break;
        case 'update':
          summary.change++;
          break;
        case 'delete':
          summary.destroy++;
          break;
        case 'read':
          summary.read++;
          break;
        case 'forget':
          summary.forget++;
          break;
        case 'no-op':
          summary.unchanged++;
          break;
      }
    }
    const noOp = actions.length === 1 && actions[0] === 'no-op';
    const moved = rc.previous_address !== undefined && rc.previous_address !== rc.address;
    if (moved && noOp) movedOnly++;
    if (!noOp || moved || rc.change.importing) summary.resources.push({ address: rc.address, actions: [...actions] });
  }
  for (const out of Object.values(plan.output_changes ?? {})) {
    if (!(out.actions.length === 1 && out.actions[0] === 'no-op')) summary.outputChanges++;
  }
  // `read` alone (a data source read at apply time) changes nothing that apply must be approved for.
  const hasChanges =
    summary.add + summary.change + summary.destroy + summary.replace + summary.forget + summary.import + summary.outputChanges + movedOnly > 0;
  return { summary, hasChanges };
}
