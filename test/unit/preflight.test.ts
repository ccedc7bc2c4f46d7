import { PLATFORM_OWNER } from '../../lambdas/domain/ports';
import { BackendUnavailableError } from '../../lambdas/domain/errors';
import type { TerraformStateLock } from '../../lambdas/domain/ports';
import { permissionCovers, runPreflight } from '../../lambdas/domain/preflight';
import type { StackJob } from '../../lambdas/domain/schemas';
import { freezeStackJob } from '../../lambdas/domain/stack-job';
import {
  acceptingValidator,
  awsCredential,
  change,
  fixedClock,
  MemoryCatalog,
  NOW,
  noLocks,
  platformEksModule,
  policy,
  preflightDeps,
  reachableBackend,
  s3Backend,
  stackJobs,
  standardCatalog,
  terraformLock,
} from '../support/domain-fixtures';

const byCheck = async (...args: Parameters<typeof runPreflight>) => {
  const outcome = await runPreflight(...args);
  return { outcome, ...Object.fromEntries(outcome.checks.map((c) => [c.check, c])) } as Awaited<ReturnType<typeof runPreflight>> extends infer O
    ? { outcome: O } & Record<'credential' | 'module' | 'backend' | 'flowControl', { passed: boolean; messages: string[]; resolved?: Record<string, unknown> }>
    : never;
};

describe('pre-flight', () => {
  it('passes all four checks for a fully configured org and reports each', async () => {
    const r = await byCheck(change(), preflightDeps());
    expect(r.outcome.passed).toBe(true);
    expect(r.outcome.checks.map((c) => c.check)).toEqual(['credential', 'module', 'backend', 'flowControl']);
    expect(r.credential.messages.join('\n')).toContain('STS GetCallerIdentity accepted');
    expect(r.module.resolved).toEqual({ id: 'iacmod_platform_eks_terraform', rule: 'platform-default' });
    expect(r.flowControl.resolved).toEqual({ id: 'platform-default', level: 'platform' });
  });

  it('runs every check and returns every failure at once', async () => {
    const r = await byCheck(change({ kind: 'gcp_gke_cluster' }), preflightDeps({ catalog: new MemoryCatalog() }));
    expect(r.outcome.passed).toBe(false);
    expect(r.outcome.checks.filter((c) => !c.passed).map((c) => c.check)).toEqual(['credential', 'module', 'backend']);
    expect(r.module.messages[0]).toBe(
      'no module for resource kind gcp_gke_cluster: org acmecorp has no custom module, and the platform has no default module for it',
    );
    expect(r.backend.messages[0]).toBe('no terraform backend is configured for org acmecorp');
  });

  describe('credential', () => {
    it('fails when no credential is mapped to the environment', async () => {
      const r = await byCheck(change({ resource: { env: 'staging' } }), preflightDeps());
      expect(r.credential.passed).toBe(false);
      expect(r.credential.messages).toEqual(['no aws credential is mapped to environment staging in org acmecorp']);
    });

    it('treats a credential expiring exactly now as expired, and one a millisecond later as valid', async () => {
      const at = (expiresAt: string) =>
        preflightDeps({
          clock: fixedClock(NOW),
          catalog: new MemoryCatalog()
            .add('provider-credentials', 'acmecorp', awsCredential({ expiresAt }))
            .add('backend-credentials', 'acmecorp', s3Backend())
            .add('modules', PLATFORM_OWNER, platformEksModule()),
        });
      const expired = await byCheck(change(), at(NOW.toISOString()));
      expect(expired.credential.passed).toBe(false);
      expect(expired.credential.messages).toContain(`credential awscred_prod_account expired at ${NOW.toISOString()}`);
      const valid = await byCheck(change(), at(new Date(NOW.getTime() + 1).toISOString()));
      expect(valid.credential.passed).toBe(true);
    });

    it('fails naming every permission the module declares and the credential lacks', async () => {
      const catalog = new MemoryCatalog()
        .add('provider-credentials', 'acmecorp', awsCredential({ permissions: ['ec2:Describe*'] }))
        .add('backend-credentials', 'acmecorp', s3Backend())
        .add('modules', PLATFORM_OWNER, platformEksModule({ permissions: ['eks:CreateCluster', 'ec2:DescribeSubnets', 'iam:PassRole'] }));
      const r = await byCheck(change(), preflightDeps({ catalog }));
      expect(r.credential.passed).toBe(false);
      expect(r.credential.messages).toContain(
        'credential awscred_prod_account lacks permissions module iacmod_platform_eks_terraform needs: eks:CreateCluster, iam:PassRole',
      );
    });

    it('fails when the provider rejects the credential', async () => {
      const validators = [
        { provider: 'aws', validate: async () => ({ accepted: false, detail: 'STS GetCallerIdentity rejected the credential: InvalidClientTokenId' }) },
      ];
      const r = await byCheck(change(), preflightDeps({ validators }));
      expect(r.credential.passed).toBe(false);
      expect(r.credential.messages).toContain('STS GetCallerIdentity rejected the credential: InvalidClientTokenId');
    });

    it('passes with a warning that says what was not verified when no live validator exists', async () => {
      const catalog = new MemoryCatalog()
        .add('provider-credentials', 'acmecorp', awsCredential({ id: 'gcpcred', provider: 'gcp', kind: 'gcp_credential', permissions: [] }))
        .add('backend-credentials', 'acmecorp', s3Backend())
        .add('modules', PLATFORM_OWNER, platformEksModule({ provider: 'gcp', permissions: [] }));
      const r = await byCheck(change(), preflightDeps({ catalog }));
      expect(r.credential.passed).toBe(true);
      expect(r.credential.messages).toContain(
        'warning: no live validator for provider gcp: verified mapping, expiry and declared permissions only; not verified that gcp accepts the credential',
      );
    });

    it('fails without a live validator when the org requires live validation', async () => {
      const catalog = new MemoryCatalog()
        .add('provider-credentials', 'acmecorp', awsCredential({ id: 'gcpcred', provider: 'gcp', kind: 'gcp_credential', permissions: [] }))
        .add('backend-credentials', 'acmecorp', s3Backend())
        .add('org-settings', 'acmecorp', { org: 'acmecorp', requireLiveCredentialValidation: true, approvalChannels: {} })
        .add('modules', PLATFORM_OWNER, platformEksModule({ provider: 'gcp', permissions: [] }));
      const r = await byCheck(change(), preflightDeps({ catalog }));
      expect(r.credential.passed).toBe(false);
      expect(r.credential.messages).toContain('org acmecorp requires live validation');
    });

    it('needs no credential for a module that declares no provider, and never calls a validator', async () => {
      const validator = acceptingValidator();
      const catalog = new MemoryCatalog()
        .add('backend-credentials', 'acmecorp', s3Backend())
        .add('modules', PLATFORM_OWNER, platformEksModule({ provider: undefined }));
      const r = await byCheck(change(), preflightDeps({ catalog, validators: [validator] }));
      expect(r.credential.passed).toBe(true);
      expect(r.credential.messages).toEqual(['module iacmod_platform_eks_terraform declares no provider; no provider credential is needed']);
      expect(validator.calls).toBe(0);
    });

    it('matches permission wildcards the way IAM does', () => {
      expect(permissionCovers('eks:*', 'eks:CreateCluster')).toBe(true);
      expect(permissionCovers('*', 'iam:PassRole')).toBe(true);
      expect(permissionCovers('ec2:Describe*', 'ec2:RunInstances')).toBe(false);
      expect(permissionCovers('s3:Get.Object', 's3:GetXObject')).toBe(false);
    });
  });

  describe('backend', () => {
    it('reports an unreachable backend as a failure', async () => {
      const r = await byCheck(
        change(),
        preflightDeps({ backendProbe: reachableBackend({ reachable: false, detail: 'bucket acmecorp-terraform-state does not exist' }) }),
      );
      expect(r.backend.passed).toBe(false);
      expect(r.backend.messages).toEqual(['backend tfcred_s3_backend_prod (s3): bucket acmecorp-terraform-state does not exist']);
    });

    it('reports whether the state exists without failing on a fresh stack', async () => {
      const r = await byCheck(change(), preflightDeps({ backendProbe: reachableBackend({ stateExists: false }) }));
      expect(r.backend.passed).toBe(true);
      expect(r.backend.messages).toContain(
        'no state yet at stack-jobs/acmecorp/production/eks_01jq5xe4z7farkgenqsh47c1h0/terraform.tfstate (a first apply creates it)',
      );
    });

    it('does not call a state it cannot see missing (a local backend: files on the runner)', async () => {
      const r = await byCheck(
        change(),
        preflightDeps({ backendProbe: reachableBackend({ stateExists: undefined, detail: 'local backend (files on the runner)' }) }),
      );
      expect(r.backend.passed).toBe(true);
      expect(r.backend.messages.some((m) => m.includes('no state yet') || m.includes('state exists'))).toBe(false);
      expect(r.backend.resolved).not.toHaveProperty('stateExists');
    });

    describe("Terraform's own state lock", () => {
      const STACK_PATH = '/v1/orgs/acmecorp/envs/production/resources/eks_01jq5xe4z7farkgenqsh47c1h0/state-lock';
      const s3Lock = (o: Partial<TerraformStateLock> = {}): TerraformStateLock => ({
        id: '6bd26e7e-67b0-f501-5a22-e81445f6d3c8',
        operation: 'OperationTypeApply',
        who: 'stackjobs-tool@ip-10-0-1-7',
        created: '2026-11-27T11:02:13.551Z',
        store: 's3-object',
        held: true,
        ...o,
      });
      /** A job of the stack that ran from `start` to `end` (unfinished without one). */
      const ranJob = async (id: string, start: string, end?: string): Promise<StackJob> => {
        const job = freezeStackJob(change(), await runPreflight(change(), preflightDeps()), id, new Date(start));
        return {
          ...job,
          status: {
            ...job.status,
            phase: end ? 'completed' : 'running',
            result: end ? 'failed' : 'tbd',
            startedAt: start,
            ...(end ? { finishedAt: end, reason: 'runner_lost' as const } : {}),
          },
        };
      };

      it('fails on a lock no stack job holds, naming the job whose run left it, who, when, the lock id and the call that releases it', async () => {
        const jobs = [
          await ranJob('sj_earlier', '2026-11-27T09:00:00.000Z', '2026-11-27T09:04:00.000Z'),
          await ranJob('sj_killed', '2026-11-27T11:01:58.000Z', '2026-11-27T11:09:30.000Z'),
        ];
        const r = await byCheck(change(), preflightDeps({ stateLocks: terraformLock(s3Lock()), jobs: stackJobs(jobs) }));
        expect(r.backend.passed).toBe(false);
        expect(r.backend.messages).toContain(
          'state is locked by Terraform: OperationTypeApply by stackjobs-tool@ip-10-0-1-7 since 2026-11-27T11:02:13.551Z (lock id 6bd26e7e-67b0-f501-5a22-e81445f6d3c8), ' +
            'left by stack job sj_killed (ended failed, runner_lost); no stack job holds the stack, so the next job would fail at plan with "Error acquiring the state lock"',
        );
        expect(r.backend.messages).toContain(
          `if nothing is using this state any more, release the lock: POST ${STACK_PATH}/force-unlock with {"lockId":"6bd26e7e-67b0-f501-5a22-e81445f6d3c8","reason":"<why>"} (org admin)`,
        );
        expect(r.outcome.passed).toBe(false);
      });

      it('says so when no stack job of the resource was running when the lock was taken', async () => {
        const jobs = [await ranJob('sj_earlier', '2026-11-27T09:00:00.000Z', '2026-11-27T09:04:00.000Z')];
        const r = await byCheck(
          change(),
          preflightDeps({ stateLocks: terraformLock(s3Lock({ who: 'alice@laptop', store: 'dynamodb-item' })), jobs: stackJobs(jobs) }),
        );
        expect(r.backend.passed).toBe(false);
        expect(r.backend.messages.join('\n')).toContain(
          'by alice@laptop since 2026-11-27T11:02:13.551Z (lock id 6bd26e7e-67b0-f501-5a22-e81445f6d3c8), which is not a stack job',
        );
      });

      it('does not fail while a stack job holds the stack: its run is expected to hold the lock', async () => {
        const lease = { stackKey: 'acmecorp/production/eks_01jq5xe4z7farkgenqsh47c1h0', ownerJobId: 'sj_other', fencingToken: 3, expiresAt: NOW.toISOString() };
        const r = await byCheck(change(), preflightDeps({ stateLocks: terraformLock(s3Lock()), locks: noLocks(lease) }));
        expect(r.backend.passed).toBe(true);
        expect(r.backend.messages).toContain('stack is held by stack job sj_other; this job will queue behind it');
      });

      it('passes with a warning on the info a killed run left of a local lock nobody holds (Terraform takes such a lock anyway)', async () => {
        const r = await byCheck(change(), preflightDeps({ stateLocks: terraformLock(s3Lock({ store: 'local-file', held: false })) }));
        expect(r.backend.passed).toBe(true);
        expect(r.backend.messages.join('\n')).toMatch(/^warning: Terraform's lock info OperationTypeApply by .*no process holds the lock/m);
      });

      it('fails the check with what the backend refused when the lock cannot be read, and throws what may pass on a retry', async () => {
        const denied = {
          read: async () => Promise.reject(new BackendUnavailableError("Terraform's lock could not be read or removed: access denied (AccessDeniedException)")),
          forceUnlock: async () => ({ status: 'none' as const }),
        };
        const r = await byCheck(change(), preflightDeps({ stateLocks: denied }));
        expect(r.backend.passed).toBe(false);
        expect(r.backend.messages).toContain("Terraform's lock could not be read or removed: access denied (AccessDeniedException)");
        const throttled = { ...denied, read: async () => Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })) };
        await expect(runPreflight(change(), preflightDeps({ stateLocks: throttled }))).rejects.toThrow('Rate exceeded');
      });
    });

    it('looks for the backend of the resolved provisioner', async () => {
      const catalog = standardCatalog().add('modules', 'acmecorp', platformEksModule({ id: 'org_tofu', scope: 'org', org: 'acmecorp', provisioner: 'tofu' }));
      const r = await byCheck(change(), preflightDeps({ catalog }));
      expect(r.backend.passed).toBe(false);
      expect(r.backend.messages).toEqual(['no tofu backend is configured for org acmecorp']);
    });
  });

  describe('runner', () => {
    const orgRunner = {
      id: 'sjr_acme',
      scope: 'org',
      org: 'acmecorp',
      cluster: 'arn:aws:ecs:us-east-1:111122223333:cluster/acme',
      taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/acme-runner-acmecorp:3',
      subnets: ['subnet-1'],
      securityGroups: ['sg-1'],
      isDefault: true,
    };

    it('warns when the org registered a runner this deployment does not permit, and runs on the platform runner', async () => {
      const r = await byCheck(change(), preflightDeps({ catalog: standardCatalog().add('runners', 'acmecorp', orgRunner) }));
      expect(r.module.passed).toBe(true);
      expect(r.module.messages.some((m) => m.startsWith('warning: org runner sjr_acme is not used'))).toBe(true);
      expect(r.outcome.resolved.runnerPlacement).toBeUndefined();
    });

    it('says nothing when the org runner is permitted', async () => {
      const r = await byCheck(
        change(),
        preflightDeps({
          catalog: standardCatalog().add('runners', 'acmecorp', orgRunner),
          orgRunnerTaskDefinitionArns: ['arn:aws:ecs:us-east-1:111122223333:task-definition/acme-runner-{org}:*'],
          orgRunnerNetworks: { acmecorp: { clusters: ['arn:aws:ecs:us-east-1:111122223333:cluster/acme'], subnets: ['subnet-1'], securityGroups: ['sg-1'] } },
        }),
      );
      expect(r.module.messages.some((m) => m.includes('org runner'))).toBe(false);
      expect(r.outcome.resolved.runnerPlacement).toBeDefined();
    });

    it("warns, naming them, when the org runner names a subnet or security group that is not its org's", async () => {
      const r = await byCheck(
        change(),
        preflightDeps({
          catalog: standardCatalog().add('runners', 'acmecorp', orgRunner),
          orgRunnerTaskDefinitionArns: ['arn:aws:ecs:us-east-1:111122223333:task-definition/acme-runner-{org}:*'],
          orgRunnerNetworks: {
            acmecorp: { clusters: ['arn:aws:ecs:us-east-1:111122223333:cluster/acme'], subnets: ['subnet-1'], securityGroups: ['sg-other'] },
            globex: { subnets: [], securityGroups: ['sg-1'] },
          },
        }),
      );
      expect(r.module.messages).toContain(
        "warning: org runner sjr_acme is not used: sg-1 is not among org acmecorp's runner networks (stackjobs:orgRunnerNetworks); the job runs on the platform runner",
      );
      expect(r.outcome.resolved.runnerPlacement).toBeUndefined();
    });
  });

  describe('flow control', () => {
    it('records the level the policy came from', async () => {
      const catalog = standardCatalog().add(
        'flow-control-policies',
        'acmecorp',
        policy({ id: 'prod-policy', selector: { level: 'environment', org: 'acmecorp', env: 'production' }, skipRefresh: true }),
      );
      const r = await byCheck(change(), preflightDeps({ catalog }));
      expect(r.flowControl.resolved).toEqual({ id: 'prod-policy', level: 'environment' });
      expect(r.outcome.resolved.policy.policy.skipRefresh).toBe(true);
    });

    const planPolicy = (id: string, rules: number, message = 'm', expression = 'true') => ({
      id,
      org: 'acmecorp',
      selector: { level: 'organization', org: 'acmecorp' },
      rules: Array.from({ length: rules }, (_, i) => ({ name: `r${i}`, effect: 'warn', expression, message })),
    });

    it('refuses more plan-policy rules than a job item can hold the results of, and passes at the bound', async () => {
      const atBound = standardCatalog().add('plan-policies', 'acmecorp', ...Array.from({ length: 5 }, (_, i) => planPolicy(`p${i}`, 20)));
      expect((await byCheck(change(), preflightDeps({ catalog: atBound }))).flowControl.passed).toBe(true);
      const over = standardCatalog().add('plan-policies', 'acmecorp', ...Array.from({ length: 6 }, (_, i) => planPolicy(`p${i}`, 20)));
      const r = await byCheck(change(), preflightDeps({ catalog: over }));
      expect(r.flowControl.passed).toBe(false);
      expect(r.flowControl.messages).toContain('the matching plan policies have 120 rules together, more than 100: fewer rules, please');
    });

    it('refuses matching plan policies heavier than 128 KB together, within the rule count (100 long rules)', async () => {
      const heavy = standardCatalog().add(
        'plan-policies',
        'acmecorp',
        ...Array.from({ length: 5 }, (_, i) => planPolicy(`p${i}`, 20, 'x'.repeat(512), `true${' && true'.repeat(150)}`)),
      );
      const r = await byCheck(change(), preflightDeps({ catalog: heavy }));
      expect(r.flowControl.passed).toBe(false);
      expect(r.flowControl.messages).toContain('the matching plan policies weigh more than 128 KB together: fewer or shorter rules, please');
    });
  });
});
