/** Builders for catalog entities and changes shaped like the README's StackJob example (acmecorp's production EKS cluster). */
import type { Clock, IdGenerator } from '../../lambdas/domain/ids';
import {
  PLATFORM_OWNER,
  type BackendProbe,
  type ModuleRefProbe,
  type CatalogReader,
  type CredentialValidator,
  type StackJobLister,
  type StackLease,
  type StackLockReader,
  type StateLockProbe,
  type TerraformStateLock,
} from '../../lambdas/domain/ports';
import type { PreflightDeps } from '../../lambdas/domain/preflight';
import {
  API_VERSION,
  type BackendCredential,
  type CatalogKind,
  type FlowControlPolicy,
  type IacModule,
  type OrgSettings,
  type ProviderCredential,
  type ResourceChange,
  type StackJob,
} from '../../lambdas/domain/schemas';

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

/** Terraform's lock on every state: `lock`, or none. Force-unlock releases it when the id matches. */
export const terraformLock = (lock?: TerraformStateLock): StateLockProbe & { current?: TerraformStateLock } => {
  const probe: StateLockProbe & { current?: TerraformStateLock } = {
    current: lock,
    read: async () => probe.current,
    async forceUnlock(_backend, _stateKey, lockId) {
      const held = probe.current;
      if (!held) return { status: 'none' };
      if (held.id !== lockId) return { status: 'mismatch', lock: held };
      probe.current = undefined;
      return { status: 'released', lock: held };
    },
  };
  return probe;
};

/** The stack's jobs, whatever the stack. */
export const stackJobs = (jobs: StackJob[] = []): StackJobLister => ({ listStack: async () => jobs });

/** Every module ref exists, except the ones named. */
export const existingRefs = (missing: string[] = []): ModuleRefProbe & { asked: string[] } => {
  const asked: string[] = [];
  return {
    asked,
    probe: async (m) => {
      asked.push(`${m.gitRepo}@${m.ref}`);
      return missing.includes(m.ref) ? { status: 'missing', detail: `${m.gitRepo} has no branch or tag ${m.ref}` } : { status: 'found' };
    },
  };
};

export function preflightDeps(o: Partial<PreflightDeps> = {}): PreflightDeps {
  return {
    catalog: standardCatalog(),
    validators: [acceptingValidator()],
    backendProbe: reachableBackend(),
    stateLocks: terraformLock(),
    jobs: stackJobs(),
    moduleRefs: existingRefs(),
    locks: noLocks(),
    clock: fixedClock(),
    ...o,
  };
}

/** A fetch that answers git's smart-HTTP ref discovery for the given repositories (URL without scheme -> refs). */
export function gitHttpFetch(repos: Record<string, string[]>): typeof fetch & { calls: Array<{ url: string; authorization?: string }> } {
  const calls: Array<{ url: string; authorization?: string }> = [];
  const pkt = (line: string) => `${(line.length + 4).toString(16).padStart(4, '0')}${line}`;
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const headers = (init?.headers ?? {}) as Record<string, string>;
    calls.push({ url, ...(headers.authorization ? { authorization: headers.authorization } : {}) });
    const repo = Object.keys(repos).find((r) => url === `https://${r}/info/refs?service=git-upload-pack`);
    if (!repo) return new Response('not found', { status: 404 });
    const sha = 'a'.repeat(40);
    const lines = repos[repo].map((ref, i) => pkt(`${sha} ${ref}${i === 0 ? '\0multi_ack side-band-64k' : ''}\n`));
    return new Response(`${pkt('# service=git-upload-pack\n')}0000${lines.join('')}0000`, {
      status: 200,
      headers: { 'content-type': 'application/x-git-upload-pack-advertisement' },
    });
  }) as typeof fetch & { calls: typeof calls };
  f.calls = calls;
  return f;
}

export type { OrgSettings };

let jobCount = 0;
/** A running job for acmecorp's production EKS cluster, with a fresh job id each call (same resource every time). */
export function makeJob(): StackJob {
  const id = `sj_01jsrnmwpnnc6n62h06xb${(jobCount++).toString(32).padStart(5, '0')}`;
  const at = NOW.toISOString();
  return {
    apiVersion: API_VERSION,
    kind: 'StackJob',
    metadata: {
      id,
      name: 'eks_01jq5xe4z7farkgenqsh47c1h0',
      org: 'acmecorp',
      env: 'production',
      version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group' },
    },
    spec: {
      apiResourceInfo: {
        kind: 'aws_eks_cluster',
        id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
        name: 'prod-api-cluster',
        versionId: 'ver-01jsrnmrwjn57drj0ekht8hb93',
        triggerEvent: 'updated',
        eventCreatedBy: 'user@company.com',
        spec: { nodeGroupSize: 5 },
      },
      essentials: {
        provisioner: 'terraform',
        iacModule: { id: 'iacmod_eks', gitRepo: 'github.com/project-planton/aws-eks', branch: 'v2.3.0', path: 'terraform', rule: 'platform-default' },
        backendCredential: {
          kind: 'terraform_backend_credential',
          id: 'tfcred_local',
          type: 'local',
          config: {},
          stateKey: 'stack-jobs/acmecorp/production/eks/terraform.tfstate',
        },
        stackJobRunner: { id: 'sjr_platform_runner' },
        flowControlPolicy: {
          previewBeforeUpdate: true,
          pauseBetweenPreviewAndUpdate: true,
          skipRefresh: false,
          approvers: [],
          requireDistinctApprover: false,
          approvalTimeoutMinutes: 60,
          source: { level: 'platform', id: 'default' },
        },
      },
      operations: ['init', 'refresh', 'plan', 'apply'],
    },
    status: { phase: 'running', result: 'tbd', createdAt: at, updatedAt: at, operations: [], preflight: [] },
  };
}
export const TEST_DEPLOYMENT_ID = '123456789012:us-east-1:StackJobs';
