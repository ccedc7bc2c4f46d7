/** Builders for catalog entities and changes shaped like design.md's example (acmecorp's production EKS cluster). */
import type { Clock, IdGenerator } from '../../lambdas/domain/ids';
import { PLATFORM_OWNER, type BackendProbe, type CatalogReader, type CredentialValidator, type StackLease, type StackLockReader } from '../../lambdas/domain/ports';
import type { PreflightDeps } from '../../lambdas/domain/preflight';
import type { BackendCredential, CatalogKind, FlowControlPolicy, IacModule, OrgSettings, ProviderCredential, ResourceChange } from '../../lambdas/domain/schemas';

export const NOW = new Date('2026-11-27T12:00:00.000Z');
export const fixedClock = (at: Date = NOW): Clock & { set(d: Date): void } => {
  let now = at;
  return { now: () => now, set: (d) => (now = d) };
};

export function sequentialIds(): IdGenerator {
  let n = 0;
  return { next: (prefix) => `${prefix}_01jsrnmwpnnc6n62h06xaf${(n++).toString(32).padStart(4, '0')}` };
}

export function change(overrides: Partial<Omit<ResourceChange, 'resource'>> & { resource?: Partial<ResourceChange['resource']> } = {}): ResourceChange {
  const { resource, ...rest } = overrides;
  return {
    resource: {
      id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
      name: 'prod-api-cluster',
      org: 'acmecorp',
      env: 'production',
      version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
      ...resource,
    },
    kind: 'aws_eks_cluster',
    spec: { nodeGroup: { desiredSize: 5 } },
    triggerEvent: 'updated',
    createdBy: 'user@company.com',
    ...rest,
  };
}

export const awsCredential = (o: Partial<ProviderCredential> = {}): ProviderCredential => ({
  id: 'awscred_prod_account',
  org: 'acmecorp',
  provider: 'aws',
  kind: 'aws_credential',
  environments: ['production'],
  permissions: ['eks:*', 'ec2:DescribeSubnets'],
  secretRef: 'stackjobs/acmecorp/awscred_prod_account',
  ...o,
});

export const s3Backend = (o: Partial<BackendCredential> = {}): BackendCredential => ({
  id: 'tfcred_s3_backend_prod',
  org: 'acmecorp',
  provisioner: 'terraform',
  kind: 'terraform_backend_credential',
  type: 's3',
  config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs' },
  ...o,
});

export const platformEksModule = (o: Partial<IacModule> = {}): IacModule => ({
  id: 'iacmod_platform_eks_terraform',
  scope: 'platform',
  resourceKind: 'aws_eks_cluster',
  provisioner: 'terraform',
  provider: 'aws',
  gitRepo: 'github.com/project-planton/aws-eks',
  branch: 'v2.3.0',
  path: 'terraform',
  permissions: ['eks:CreateCluster', 'ec2:DescribeSubnets'],
  isDefault: true,
  ...o,
});

export const policy = (o: Partial<FlowControlPolicy> & Pick<FlowControlPolicy, 'id' | 'selector'>): FlowControlPolicy => ({
  previewBeforeUpdate: true,
  pauseBetweenPreviewAndUpdate: true,
  skipRefresh: false,
  approvers: [],
  requireDistinctApprover: false,
  approvalTimeoutMinutes: 60,
  ...o,
});

/** An in-memory catalog: entries keyed `<owner>#<kind>`. */
export class MemoryCatalog implements CatalogReader {
  readonly entries = new Map<string, unknown[]>();
  add(kind: CatalogKind, owner: string, ...items: unknown[]): this {
    this.entries.set(`${owner}#${kind}`, [...(this.entries.get(`${owner}#${kind}`) ?? []), ...items]);
    return this;
  }
  async list(kind: CatalogKind, owner: string): Promise<unknown[]> {
    return this.entries.get(`${owner}#${kind}`) ?? [];
  }
}

export function standardCatalog(): MemoryCatalog {
  return new MemoryCatalog()
    .add('provider-credentials', 'acmecorp', awsCredential())
    .add('backend-credentials', 'acmecorp', s3Backend())
    .add('modules', PLATFORM_OWNER, platformEksModule());
}

export const acceptingValidator = (provider = 'aws'): CredentialValidator & { calls: number } => {
  const v = {
    provider,
    calls: 0,
    async validate() {
      v.calls++;
      return { accepted: true, detail: 'STS GetCallerIdentity accepted: arn:aws:iam::123456789012:user/deployer' };
    },
  };
  return v;
};

export const reachableBackend = (o: Partial<Awaited<ReturnType<BackendProbe['probe']>>> = {}): BackendProbe => ({
  async probe() {
    return { reachable: true, stateExists: true, detail: 'bucket acmecorp-terraform-state reachable', ...o };
  },
});

export const noLocks = (lease?: StackLease): StackLockReader => ({ getLease: async () => lease });

export function preflightDeps(o: Partial<PreflightDeps> = {}): PreflightDeps {
  return { catalog: standardCatalog(), validators: [acceptingValidator()], backendProbe: reachableBackend(), locks: noLocks(), clock: fixedClock(), ...o };
}

export type { OrgSettings };
