import { planOperations, needsApproval } from '../../lambdas/domain/planner';
import { PLATFORM_DEFAULT_POLICY, PLATFORM_DEFAULT_RUNNER, resolveModule, resolvePolicy, resolveRunner } from '../../lambdas/domain/resolution';
import { platformEksModule, policy } from '../support/domain-fixtures';

const target = { org: 'acmecorp', env: 'production', resourceId: 'eks_1' };

describe('module resolution', () => {
  const platformTf = platformEksModule({ id: 'plat_tf', provisioner: 'terraform', isDefault: true });
  const platformTofu = platformEksModule({ id: 'plat_tofu', provisioner: 'tofu', isDefault: false });
  const orgCustom = platformEksModule({ id: 'org_custom', scope: 'org', org: 'acmecorp', provisioner: 'pulumi', isDefault: false });

  it('prefers the org custom module for the kind over everything else', () => {
    expect(
      resolveModule('aws_eks_cluster', [orgCustom], [platformTf, platformTofu], {
        org: 'acmecorp',
        preferredProvisioner: 'tofu',
        requireLiveCredentialValidation: false,
        approvalChannels: {},
      }),
    ).toEqual({ module: orgCustom, rule: 'org-custom-module' });
  });

  it('ignores org modules for other kinds', () => {
    const other = { ...orgCustom, resourceKind: 'aws_s3_bucket' };
    expect(resolveModule('aws_eks_cluster', [other], [platformTf], undefined)?.module.id).toBe('plat_tf');
  });

  it('uses the platform module of the preferred provisioner when the org has no custom module', () => {
    expect(
      resolveModule('aws_eks_cluster', [], [platformTf, platformTofu], {
        org: 'acmecorp',
        preferredProvisioner: 'tofu',
        requireLiveCredentialValidation: false,
        approvalChannels: {},
      }),
    ).toEqual({ module: platformTofu, rule: 'preferred-provisioner' });
  });

  it('falls back to the platform default when the preferred provisioner has no module', () => {
    expect(
      resolveModule('aws_eks_cluster', [], [platformTf], {
        org: 'acmecorp',
        preferredProvisioner: 'pulumi',
        requireLiveCredentialValidation: false,
        approvalChannels: {},
      }),
    ).toEqual({ module: platformTf, rule: 'platform-default' });
  });

  it('falls back to the platform default with no preference', () => {
    expect(resolveModule('aws_eks_cluster', [], [platformTofu, platformTf], undefined)).toEqual({ module: platformTf, rule: 'platform-default' });
  });

  it('resolves nothing when no module is default and nothing else matches', () => {
    expect(resolveModule('aws_eks_cluster', [], [platformTofu], undefined)).toBeUndefined();
  });
});

describe('flow control policy resolution', () => {
  const resource = policy({ id: 'p_res', selector: { level: 'resource', org: 'acmecorp', env: 'production', resourceId: 'eks_1' } });
  const otherResource = policy({ id: 'p_res2', selector: { level: 'resource', org: 'acmecorp', env: 'production', resourceId: 'eks_2' } });
  const env = policy({ id: 'p_env', selector: { level: 'environment', org: 'acmecorp', env: 'production' } });
  const otherEnv = policy({ id: 'p_env2', selector: { level: 'environment', org: 'acmecorp', env: 'staging' } });
  const org = policy({ id: 'p_org', selector: { level: 'organization', org: 'acmecorp' } });
  const otherOrg = policy({ id: 'p_org2', selector: { level: 'organization', org: 'globex' } });
  const platform = policy({ id: 'p_platform', selector: { level: 'platform' } });

  it('takes the resource policy first', () => {
    expect(resolvePolicy(target, [platform, org, env, resource])).toEqual({ policy: resource, level: 'resource' });
  });
  it('then the environment policy', () => {
    expect(resolvePolicy(target, [platform, org, env, otherResource])).toEqual({ policy: env, level: 'environment' });
  });
  it('then the organization policy', () => {
    expect(resolvePolicy(target, [platform, org, otherEnv])).toEqual({ policy: org, level: 'organization' });
  });
  it('then a platform policy from the catalog', () => {
    expect(resolvePolicy(target, [platform, otherOrg])).toEqual({ policy: platform, level: 'platform' });
  });
  it('then the built-in platform default: preview, pause, refresh, 24 hours', () => {
    const r = resolvePolicy(target, [otherOrg]);
    expect(r).toEqual({ policy: PLATFORM_DEFAULT_POLICY, level: 'platform' });
    expect(r.policy).toMatchObject({ previewBeforeUpdate: true, pauseBetweenPreviewAndUpdate: true, skipRefresh: false, approvalTimeoutMinutes: 1440 });
  });
});

describe('runner resolution', () => {
  it("uses the org's registered runner, else the platform default", () => {
    const orgRunner = { id: 'sjr_acme', scope: 'org' as const, org: 'acmecorp', subnets: [], securityGroups: [], isDefault: false };
    const platformRunner = { id: 'sjr_platform', scope: 'platform' as const, subnets: [], securityGroups: [], isDefault: true };
    expect(resolveRunner([orgRunner], [platformRunner]).id).toBe('sjr_acme');
    expect(resolveRunner([], [platformRunner]).id).toBe('sjr_platform');
    expect(resolveRunner([], [])).toBe(PLATFORM_DEFAULT_RUNNER);
  });
});

describe('operations planner', () => {
  const flags = (o: Partial<{ previewBeforeUpdate: boolean; pauseBetweenPreviewAndUpdate: boolean; skipRefresh: boolean }> = {}) => ({
    previewBeforeUpdate: true,
    pauseBetweenPreviewAndUpdate: true,
    skipRefresh: false,
    ...o,
  });
  // Terraform and OpenTofu read the drift from the plan's own refresh; a separate refresh runs where nothing else reports.
  it.each([
    ['created', flags(), 'terraform', ['init', 'plan', 'apply']],
    ['updated', flags(), 'tofu', ['init', 'plan', 'apply']],
    ['updated', flags(), 'pulumi', ['init', 'refresh', 'plan', 'apply']],
    ['updated', flags({ skipRefresh: true }), 'terraform', ['init', 'plan', 'apply']],
    ['updated', flags({ skipRefresh: true }), 'pulumi', ['init', 'plan', 'apply']],
    ['updated', flags({ previewBeforeUpdate: false }), 'terraform', ['init', 'refresh', 'apply']],
    ['created', flags({ previewBeforeUpdate: false, skipRefresh: true }), 'terraform', ['init', 'apply']],
    ['deleted', flags(), 'terraform', ['init', 'refresh', 'plan', 'destroy']],
    ['deleted', flags({ skipRefresh: true }), 'terraform', ['init', 'plan', 'destroy']],
    ['deleted', flags({ previewBeforeUpdate: false }), 'pulumi', ['init', 'refresh', 'destroy']],
  ] as const)('%s with %j on %s plans %j', (trigger, f, provisioner, ops) => {
    expect(planOperations(trigger, f, provisioner)).toEqual(ops);
  });

  const summary = { add: 0, change: 0, destroy: 0, replace: 0, outputChanges: 0 };
  it('asks for approval only when the policy pauses and the plan changes something', () => {
    expect(needsApproval(flags(), { ...summary, add: 1 }, true)).toBe(true);
    expect(needsApproval(flags(), { ...summary, outputChanges: 1 }, true)).toBe(true);
    expect(needsApproval(flags(), summary, false)).toBe(false);
    expect(needsApproval(flags({ pauseBetweenPreviewAndUpdate: false }), { ...summary, add: 1 }, true)).toBe(false);
    expect(needsApproval(flags({ previewBeforeUpdate: false }), { ...summary, add: 1 }, true)).toBe(false);
  });
});
