/**
 * Reads a `terraform show -json <planfile>` document (also OpenTofu's, same format): the PlanSummary the job
 * records and the approval message shows, the drift a refresh-only plan found, and the copy people may download
 * with sensitive values masked. Pure: no I/O, no SDK.
 */
import { MAX_DRIFT_RESOURCES, type PlanSummary } from '../../../../lambdas/domain/schemas';
import type { DriftFound } from '../driver';

/** The parts of the plan JSON format the summary reads; everything else is ignored. */
export interface ShowJsonPlan {
  resource_changes?: Array<{
    address: string;
    /** Set when a `moved` block renames the resource: applying records the move even when nothing else changes. */
    previous_address?: string;
    change: { actions: string[]; importing?: unknown };
  }>;
  output_changes?: Record<string, { actions: string[] }>;
  /** What refreshing found changed outside Terraform (a refresh-only plan's subject; a normal plan lists it too). */
  resource_drift?: Array<{ address: string; change: { actions: string[] } }>;
}

export interface SummarisedPlan {
  summary: PlanSummary;
  /** True when applying would change anything, resources or outputs (what `plan -detailed-exitcode` exits 2 for). */
  hasChanges: boolean;
}

const isReplace = (a: string[]) => a.length === 2 && ((a[0] === 'delete' && a[1] === 'create') || (a[0] === 'create' && a[1] === 'delete'));

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
  const hasChanges = summary.add + summary.change + summary.destroy + summary.replace + summary.forget + summary.import + summary.outputChanges + movedOnly > 0;
  return { summary, hasChanges };
}

/** The drift a refresh-only plan found: every `resource_drift` entry that is not a no-op (addresses whole: boundDrift cuts them after redaction). */
export function readDrift(plan: ShowJsonPlan): DriftFound {
  const drifted = (plan.resource_drift ?? []).filter((d) => !(d.change.actions.length === 1 && d.change.actions[0] === 'no-op'));
  return {
    total: drifted.length,
    resources: drifted.slice(0, MAX_DRIFT_RESOURCES).map((d) => ({ address: d.address, actions: [...d.change.actions] })),
  };
}

export const SENSITIVE_MASK = '***';

/** Applies a Terraform sensitivity mask (`true`, or an object/array of masks mirroring the value) to a value. */
function maskValue(value: unknown, mask: unknown): unknown {
  if (mask === true) return value === null || value === undefined ? value : SENSITIVE_MASK;
  if (!mask || typeof mask !== 'object' || !value || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v, i) => maskValue(v, (mask as unknown[])[i]));
  const m = mask as Record<string, unknown>;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskValue(v, m[k])]));
}

type Json = Record<string, unknown>;
type Module = { resources?: Array<Json & { values?: unknown; sensitive_values?: unknown }>; child_modules?: Module[] };

function maskModule(mod: Module | undefined): Module | undefined {
  if (!mod) return mod;
  return {
    ...mod,
    ...(mod.resources ? { resources: mod.resources.map((r) => ({ ...r, values: maskValue(r.values, r.sensitive_values) })) } : {}),
    ...(mod.child_modules ? { child_modules: mod.child_modules.map((c) => maskModule(c)!) } : {}),
  };
}

const maskOutputsBlock = (outputs: unknown) =>
  outputs && typeof outputs === 'object'
    ? Object.fromEntries(Object.entries(outputs as Record<string, Json>).map(([k, o]) => [k, o.sensitive === true ? { ...o, value: SENSITIVE_MASK } : o]))
    : outputs;

const maskChange = (c: Json) => ({ ...c, before: maskValue(c.before, c.before_sensitive), after: maskValue(c.after, c.after_sensitive) });

/**
 * A copy of a `show -json` plan with every value Terraform marks sensitive replaced by "***", so the plan
 * people can download (and the approval link) shows the shape of a change without its secrets.
 */
export function maskSensitivePlanValues(plan: Json): Json {
  const out: Json = { ...plan };
  for (const key of ['resource_changes', 'resource_drift'] as const) {
    if (Array.isArray(plan[key])) out[key] = (plan[key] as Json[]).map((rc) => ({ ...rc, change: maskChange(rc.change as Json) }));
  }
  if (plan.output_changes)
    out.output_changes = Object.fromEntries(Object.entries(plan.output_changes as Record<string, Json>).map(([k, c]) => [k, maskChange(c)]));
  for (const key of ['planned_values'] as const) {
    const pv = plan[key] as { root_module?: Module; outputs?: unknown } | undefined;
    if (pv) out[key] = { ...pv, root_module: maskModule(pv.root_module), outputs: maskOutputsBlock(pv.outputs) };
  }
  // Variables declared `sensitive = true` in the root module.
  const declared = (plan.configuration as { root_module?: { variables?: Record<string, { sensitive?: boolean }> } } | undefined)?.root_module?.variables ?? {};
  if (plan.variables && typeof plan.variables === 'object') {
    out.variables = Object.fromEntries(
      Object.entries(plan.variables as Record<string, Json>).map(([k, v]) => [k, declared[k]?.sensitive ? { ...v, value: SENSITIVE_MASK } : v]),
    );
  }
  const prior = plan.prior_state as { values?: { root_module?: Module; outputs?: unknown } } | undefined;
  if (prior?.values)
    out.prior_state = {
      ...prior,
      values: { ...prior.values, root_module: maskModule(prior.values.root_module), outputs: maskOutputsBlock(prior.values.outputs) },
    };
  return out;
}
