/** Resolution rules (README, Pre-flight checks): which module, which flow-control policy, which runner. */
import { planOperations } from './planner';
import type { FlowControlPolicy, IacModule, OrgSettings, PolicyLevel, PolicySelector, Runner } from './schemas';

export interface ResolvedModule {
  module: IacModule;
  rule: 'org-custom-module' | 'preferred-provisioner' | 'platform-default';
}

const byDefaultThenId = <T extends { id: string; isDefault?: boolean }>(a: T, b: T) =>
  Number(Boolean(b.isDefault)) - Number(Boolean(a.isDefault)) || a.id.localeCompare(b.id);

/** Org custom module for the kind, else the platform module for the org's preferred provisioner, else the platform default. */
export function resolveModule(kind: string, orgModules: IacModule[], platformModules: IacModule[], settings?: OrgSettings): ResolvedModule | undefined {
  const custom = orgModules.filter((m) => m.resourceKind === kind).sort(byDefaultThenId)[0];
  if (custom) return { module: custom, rule: 'org-custom-module' };
  const forKind = platformModules.filter((m) => m.resourceKind === kind);
  if (settings?.preferredProvisioner) {
    const preferred = forKind.filter((m) => m.provisioner === settings.preferredProvisioner).sort(byDefaultThenId)[0];
    if (preferred) return { module: preferred, rule: 'preferred-provisioner' };
  }
  const fallback = forKind.filter((m) => m.isDefault).sort(byDefaultThenId)[0];
  return fallback ? { module: fallback, rule: 'platform-default' } : undefined;
}

/** Built in, so a fresh install has a policy: preview, pause for approval, refresh, 24 hours to approve. */
export const PLATFORM_DEFAULT_POLICY: FlowControlPolicy = {
  id: 'platform-default',
  selector: { level: 'platform' },
  previewBeforeUpdate: true,
  pauseBetweenPreviewAndUpdate: true,
  skipRefresh: false,
  approvers: [],
  requireDistinctApprover: true,
  approvalTimeoutMinutes: 24 * 60,
};

export interface ResolvedPolicy {
  policy: FlowControlPolicy;
  level: PolicyLevel;
}

/** Whether a policy selector (flow control's, a plan policy's) selects the target resource. */
export function selectorMatches(s: PolicySelector, target: { org: string; env: string; resourceId: string }): boolean {
  switch (s.level) {
    case 'resource':
      return s.org === target.org && s.env === target.env && s.resourceId === target.resourceId;
    case 'environment':
      return s.org === target.org && s.env === target.env;
    case 'organization':
      return s.org === target.org;
    case 'platform':
      return true;
  }
}

/** Resource, then environment, then organization, then platform; the first match wins. */
export function resolvePolicy(target: { org: string; env: string; resourceId: string }, policies: FlowControlPolicy[]): ResolvedPolicy {
  const matches = (p: FlowControlPolicy, level: PolicyLevel) => p.selector.level === level && selectorMatches(p.selector, target);
  for (const level of ['resource', 'environment', 'organization', 'platform'] as const) {
    const found = policies.filter((p) => matches(p, level)).sort((a, b) => a.id.localeCompare(b.id))[0];
    if (found) return { policy: found, level };
  }
  return { policy: PLATFORM_DEFAULT_POLICY, level: 'platform' };
}

export const PLATFORM_DEFAULT_RUNNER: Runner = { id: 'sjr_platform_default', scope: 'platform', subnets: [], securityGroups: [], isDefault: true };

/** The org's registered runner if it has one, else the platform default. */
export function resolveRunner(orgRunners: Runner[], platformRunners: Runner[]): Runner {
  return [...orgRunners].sort(byDefaultThenId)[0] ?? platformRunners.filter((r) => r.isDefault).sort(byDefaultThenId)[0] ?? PLATFORM_DEFAULT_RUNNER;
}

/** The key that identifies one stack: what locks and queues are per. */
export function stackKeyOf(target: { org: string; env: string; resourceId: string }): string {
  return `${target.org}/${target.env}/${target.resourceId}`;
}

export { planOperations };
