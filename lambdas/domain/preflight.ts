/**
 * The four pre-flight checks (README, Pre-flight checks). All four always run and all results are returned;
 * the catalog is read once, concurrently, and the checks that need the resolved module run side by side.
 */
import { BackendUnavailableError } from './errors';
import type { Clock } from './ids';
import {
  PLATFORM_OWNER,
  type BackendProbe,
  type CatalogReader,
  type CredentialValidator,
  type ModuleRefProbe,
  type ModuleRefResult,
  type StackJobLister,
  type StackLockReader,
  type StateLockProbe,
  type TerraformStateLock,
} from './ports';
import { matchingPlanPolicies } from './plan-policy';
import { resolveModule, resolvePolicy, resolveRunner, stackKeyOf, type ResolvedModule, type ResolvedPolicy } from './resolution';
import { describeLock, forceUnlockCall, jobOutcome, jobThatLeft, type StackRef } from './state-lock';
import {
  backendCredentialSchema,
  flowControlPolicySchema,
  iacModuleSchema,
  orgSettingsSchema,
  planPolicySchema,
  providerCredentialSchema,
  runnerSchema,
  type BackendCredential,
  type CheckResult,
  type FrozenPlanPolicy,
  type IacModule,
  type OrgSettings,
  type ProviderCredential,
  type ResourceChange,
  type Runner,
} from './schemas';
import * as z from '../shared/zod';

export interface PreflightDeps {
  catalog: CatalogReader;
  validators: CredentialValidator[];
  backendProbe: BackendProbe;
  /** Terraform's own lock on the state. */
  stateLocks: StateLockProbe;
  /** The stack's jobs: which of them left a Terraform lock. */
  jobs: StackJobLister;
  /** Checks that the module's branch or tag exists in its repository. */
  moduleRefs: ModuleRefProbe;
  locks: StackLockReader;
  clock: Clock;
  /**
   * Task-definition ARN patterns an org runner may be placed on, each with the org's place in its family
   * (`…:task-definition/stackjobs-org-{org}:*`, orgRunnerPatternProblem); the deployment grants the state machine
   * ecs:RunTask on them with `*` for `{org}`. Unset or empty: org runners are recorded by id only and jobs run on the
   * platform runner.
   */
  orgRunnerTaskDefinitionArns?: string[];
  /**
   * The clusters, subnets and security groups each org's runners may use (stackjobs:orgRunnerNetworks). An org runner
   * is placed only when its cluster and every subnet and security group it names are its org's: otherwise an org admin
   * could put module code, with the org's credentials, into a network that reaches another org's databases, or its
   * tasks into a cluster another org's people list and describe (a task's description carries its task token).
   * Unset or no entry: not placed.
   */
  orgRunnerNetworks?: OrgRunnerNetworks;
}

/**
 * Per org, the clusters (as its runners name them: name or ARN), subnets and security groups its registered runners may
 * name (stackjobs:orgRunnerNetworks). An entry without `clusters` permits no cluster (an entry from before clusters
 * were bound): its org's runners are not placed until the deployment names their clusters.
 */
export const orgRunnerNetworksSchema = z.record(
  z.string().min(1),
  z.object({ clusters: z.array(z.string().min(1)).optional(), subnets: z.array(z.string().min(1)), securityGroups: z.array(z.string().min(1)) }).strict(),
);
export type OrgRunnerNetworks = z.infer<typeof orgRunnerNetworksSchema>;

/** Where an org runner's tasks run, as frozen into the snapshot and passed to ecs:RunTask. */
export interface RunnerPlacement {
  cluster: string;
  taskDefinition: string;
  subnets: string[];
  securityGroups: string[];
}

/** Where the job's org goes in a permitted org-runner task-definition pattern (stackjobs:orgRunnerTaskDefinitionArns). */
export const ORG_PLACEHOLDER = '{org}';

/**
 * Why a permitted org-runner pattern cannot keep each org to its own task definitions, or undefined when it can: the
 * family must be a fixed prefix, then `{org}`, then the revision (`…:task-definition/stackjobs-org-{org}:*`). Without
 * `{org}` every org could name any permitted task definition, another org's (its task role, its credentials); with a
 * `*` before it, or anything after it, org `corp` would match the family of org `acme-corp`.
 */
export function orgRunnerPatternProblem(pattern: string): string | undefined {
  const m = /:task-definition\/([^:]*):(\*|\d+)$/.exec(pattern);
  if (!m) return `${pattern} is not a task-definition ARN pattern ending in :<revision> or :*`;
  const family = m[1];
  if (!family.endsWith(ORG_PLACEHOLDER) || family.indexOf(ORG_PLACEHOLDER) !== family.length - ORG_PLACEHOLDER.length)
    return `${pattern} must end its family with ${ORG_PLACEHOLDER}, once (e.g. …:task-definition/stackjobs-org-${ORG_PLACEHOLDER}:*), so an org may start only its own task definitions`;
  if (family.includes('*'))
    return `${pattern} must have no * in its family before ${ORG_PLACEHOLDER}: org corp would match the task definitions of org acme-corp`;
  return undefined;
}

/**
 * The org runner's placement when it has a cluster, a task definition, subnets and security groups, its task
 * definition matches one of the permitted patterns with `{org}` read as the job's org, and its cluster and every subnet
 * and security group it names are ones the deployment gives that org (stackjobs:orgRunnerNetworks); otherwise undefined (the platform
 * runner runs the job). A pattern that could match another org's task definitions permits nothing.
 */
export function runnerPlacementOf(
  runner: Runner,
  org: string,
  permitted: readonly string[] = [],
  networks: OrgRunnerNetworks = {},
): RunnerPlacement | undefined {
  return runnerPlacementProblem(runner, org, permitted, networks) === undefined
    ? { cluster: runner.cluster!, taskDefinition: runner.taskDefinition!, subnets: [...runner.subnets], securityGroups: [...runner.securityGroups] }
    : undefined;
}

/** Why an org runner is not placed (runnerPlacementOf), or undefined when it is. */
export function runnerPlacementProblem(runner: Runner, org: string, permitted: readonly string[] = [], networks: OrgRunnerNetworks = {}): string | undefined {
  const { cluster, taskDefinition, subnets, securityGroups } = runner;
  if (runner.scope !== 'org') return 'it is not an org runner';
  // Both lists are passed to ECS as they are, so an org runner names its subnets and security groups explicitly.
  if (!cluster || !taskDefinition || subnets.length === 0 || securityGroups.length === 0) return 'it needs cluster, taskDefinition, subnets and securityGroups';
  const own = permitted.filter((p) => !orgRunnerPatternProblem(p)).map((p) => p.replace(ORG_PLACEHOLDER, org));
  if (!own.some((pattern) => permissionCovers(pattern, taskDefinition)))
    return `its task definition is not one this deployment permits org ${org} (stackjobs:orgRunnerTaskDefinitionArns)`;
  const network = Object.prototype.hasOwnProperty.call(networks, org) ? networks[org] : undefined;
  const foreign = [
    ...(network?.clusters?.includes(cluster) ? [] : [cluster]),
    ...subnets.filter((x) => !network?.subnets.includes(x)),
    ...securityGroups.filter((x) => !network?.securityGroups.includes(x)),
  ];
  if (foreign.length > 0)
    return `${foreign.join(', ')} ${foreign.length === 1 ? 'is' : 'are'} not among org ${org}'s runner networks (stackjobs:orgRunnerNetworks)`;
  return undefined;
}

export interface PreflightOutcome {
  passed: boolean;
  checks: CheckResult[];
  /** Present for every check that passed; the snapshot is frozen from these. */
  resolved: {
    module?: ResolvedModule;
    policy: ResolvedPolicy;
    credential?: ProviderCredential;
    backend?: BackendCredential;
    stateKey: string;
    runner: Runner;
    /** The org runner's placement, when it has one the deployment permits. */
    runnerPlacement?: RunnerPlacement;
    /** Every plan policy that matches, the platform's and the org's (README, Plan policies). */
    planPolicies?: FrozenPlanPolicy[];
  };
}

/** The most the matching plan policies may weigh in a job's snapshot (JSON bytes): a job item stays far below 400 KB. */
export const MAX_FROZEN_PLAN_POLICY_BYTES = 128 * 1024;
/**
 * The most rules the matching plan policies may have together. Each rule leaves a result in the job's status (policy
 * and rule names, message, an error of up to 512 characters), so the count bounds that part of the item too: many
 * tiny rules weigh little frozen but several times more as results.
 */
export const MAX_MATCHING_PLAN_POLICY_RULES = 100;

async function listAs<S extends z.ZodType>(
  catalog: CatalogReader,
  kind: Parameters<CatalogReader['list']>[0],
  owner: string,
  schema: S,
): Promise<z.infer<S>[]> {
  // Items were validated on write; parsing again keeps a hand-edited table from feeding bad shapes into a job.
  return (await catalog.list(kind, owner)).flatMap((item) => {
    const parsed = schema.safeParse(item);
    return parsed.success ? [parsed.data] : [];
  });
}

/** `ec2:*` covers `ec2:RunInstances`; `*` covers everything. */
export function permissionCovers(held: string, needed: string): boolean {
  if (held === needed || held === '*') return true;
  if (!held.includes('*')) return false;
  const pattern = new RegExp(
    `^${held
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return pattern.test(needed);
}

export function stateKeyFor(backend: BackendCredential | undefined, change: ResourceChange): string {
  const prefix = backend?.config.keyPrefix ?? 'stack-jobs';
  return `${prefix}/${change.resource.org}/${change.resource.env}/${change.resource.id}/terraform.tfstate`;
}

export async function checkCredential(
  change: ResourceChange,
  resolved: ResolvedModule | undefined,
  credentials: ProviderCredential[],
  settings: OrgSettings | undefined,
  deps: Pick<PreflightDeps, 'validators' | 'clock'>,
): Promise<{ result: CheckResult; credential?: ProviderCredential }> {
  const fail = (...messages: string[]) => ({ result: { check: 'credential' as const, passed: false, messages } });
  if (!resolved) return fail(`cannot choose a provider credential: no module resolved for kind ${change.kind}`);
  const provider = resolved.module.provider;
  if (!provider) {
    return { result: { check: 'credential', passed: true, messages: [`module ${resolved.module.id} declares no provider; no provider credential is needed`] } };
  }
  const { org, env } = change.resource;
  const mapped = credentials.filter((c) => c.org === org && c.provider === provider && c.environments.includes(env)).sort((a, b) => a.id.localeCompare(b.id));
  const credential = mapped[0];
  if (!credential) return fail(`no ${provider} credential is mapped to environment ${env} in org ${org}`);

  const messages: string[] = [`using ${credential.kind} ${credential.id}` + (mapped.length > 1 ? ` (first of ${mapped.length} mapped to ${env})` : '')];
  const problems: string[] = [];
  if (credential.expiresAt && Date.parse(credential.expiresAt) <= deps.clock.now().getTime()) {
    problems.push(`credential ${credential.id} expired at ${credential.expiresAt}`);
  }
  const missing = resolved.module.permissions.filter((p) => !credential.permissions.some((held) => permissionCovers(held, p)));
  if (missing.length > 0) problems.push(`credential ${credential.id} lacks permissions module ${resolved.module.id} needs: ${missing.join(', ')}`);
  if (problems.length > 0) return { result: { check: 'credential', passed: false, messages: [...messages, ...problems] }, credential };

  const validator = deps.validators.find((v) => v.provider === provider);
  if (!validator) {
    const note = `no live validator for provider ${provider}: verified mapping, expiry and declared permissions only; not verified that ${provider} accepts the credential`;
    if (settings?.requireLiveCredentialValidation)
      return { result: { check: 'credential', passed: false, messages: [...messages, note, `org ${org} requires live validation`] }, credential };
    return { result: { check: 'credential', passed: true, messages: [...messages, `warning: ${note}`] }, credential };
  }
  const live = await validator.validate(credential);
  if (live.unreachable) {
    // Nothing learned either way: the org's setting decides whether that is a failure or a warning.
    if (settings?.requireLiveCredentialValidation)
      return { result: { check: 'credential', passed: false, messages: [...messages, live.detail, `org ${org} requires live validation`] }, credential };
    return {
      result: { check: 'credential', passed: true, messages: [...messages, `warning: ${live.detail}; not verified that ${provider} accepts the credential`] },
      credential,
    };
  }
  return { result: { check: 'credential', passed: live.accepted, messages: [...messages, live.detail] }, credential };
}

export async function checkBackend(
  change: ResourceChange,
  provisioner: string,
  backends: BackendCredential[],
  deps: Pick<PreflightDeps, 'backendProbe' | 'locks' | 'stateLocks' | 'jobs' | 'clock'>,
  /** The stack's lease, when the caller already started reading it (it depends on the change alone). */
  leaseRead?: ReturnType<StackLockReader['getLease']>,
): Promise<{ result: CheckResult; backend?: BackendCredential; stateKey: string }> {
  const { org } = change.resource;
  const backend = backends.filter((b) => b.org === org && b.provisioner === provisioner).sort((a, b) => a.id.localeCompare(b.id))[0];
  const stateKey = stateKeyFor(backend, change);
  if (!backend) return { result: { check: 'backend', passed: false, messages: [`no ${provisioner} backend is configured for org ${org}`] }, stateKey };

  const ref: StackRef = { org, env: change.resource.env, resourceId: change.resource.id };
  const stackKey = stackKeyOf(ref);
  // The lock read's failure matters only for a backend that is reachable, so it is held until then.
  const lockRead = deps.stateLocks.read(backend, stateKey).then(
    (lock) => ({ lock }),
    (error: unknown) => ({ error }),
  );
  const [probe, lease, lockOutcome] = await Promise.all([deps.backendProbe.probe(backend, stateKey), leaseRead ?? deps.locks.getLease(stackKey), lockRead]);
  const messages = [`backend ${backend.id} (${backend.type}): ${probe.detail}`];
  const failed = () => ({ result: { check: 'backend' as const, passed: false, messages }, backend, stateKey });
  if (!probe.reachable) return failed();
  if ('error' in lockOutcome) {
    if (!(lockOutcome.error instanceof BackendUnavailableError)) throw lockOutcome.error;
    messages.push(lockOutcome.error.message);
    return failed();
  }
  // A state that cannot be seen from here (a local backend) is not called missing: the run finds it.
  if (probe.stateExists !== undefined)
    messages.push(probe.stateExists ? `state exists at ${stateKey}` : `no state yet at ${stateKey} (a first apply creates it)`);
  if (lease) messages.push(`stack is held by stack job ${lease.ownerJobId}; this job will queue behind it`);
  // Under a lease the lock is the holder's own run's; without one, nobody will release it.
  if (lockOutcome.lock && !lease && !(await reportLeftLock(lockOutcome.lock, ref, deps, messages))) return failed();
  return {
    result: {
      check: 'backend',
      passed: true,
      messages,
      resolved: { id: backend.id, stateKey, ...(probe.stateExists !== undefined ? { stateExists: probe.stateExists } : {}) },
    },
    backend,
    stateKey,
  };
}

/**
 * Says whose Terraform lock is on the state while no stack job holds the stack, and whether the next job would fail
 * on it (false): an S3 or DynamoDB lock binds until deleted; a local one only while its process lives.
 */
async function reportLeftLock(lock: TerraformStateLock, ref: StackRef, deps: Pick<PreflightDeps, 'jobs' | 'clock'>, messages: string[]): Promise<boolean> {
  const left = jobThatLeft(lock, await deps.jobs.listStack(stackKeyOf(ref)), deps.clock.now());
  const origin = left ? `left by stack job ${jobOutcome(left)}` : 'which is not a stack job (no stack job of this resource was running then)';
  if (lock.held === false) {
    messages.push(
      `warning: Terraform's lock info ${describeLock(lock)}, ${origin}, is on the state, but no process holds the lock: a local lock ends with its process, so the next run takes it`,
    );
    return true;
  }
  if (lock.held === undefined) {
    messages.push(
      `warning: Terraform's lock info ${describeLock(lock)}, ${origin}, is on the state; whether a process still holds it cannot be told here (if one does, the job fails at plan with "Error acquiring the state lock")`,
    );
    return true;
  }
  messages.push(
    `state is locked by Terraform: ${describeLock(lock)}, ${origin}; no stack job holds the stack, so the next job would fail at plan with "Error acquiring the state lock"`,
    `if nothing is using this state any more, release the lock: ${forceUnlockCall(ref, lock.id)}`,
  );
  return false;
}

/** The module's branch or tag, asked of its repository; a secret that cannot be read fails the check by name. */
export async function checkModuleRef(module: IacModule, probe: ModuleRefProbe): Promise<{ passed: boolean; message: string }> {
  const where = `${module.gitRepo} at ${module.branch}`;
  let result: ModuleRefResult;
  try {
    result = await probe.probe({
      gitRepo: module.gitRepo,
      ref: module.branch,
      ...(module.gitTokenSecretRef ? { gitTokenSecretRef: module.gitTokenSecretRef } : {}),
    });
  } catch (e) {
    // Only the git token's read can throw: name the reference and the error's kind, never a value.
    return { passed: false, message: `could not read the module's git token ${module.gitTokenSecretRef ?? ''} to check ${where} (${(e as Error).name})` };
  }
  switch (result.status) {
    case 'found':
      return { passed: true, message: `${where}: ref found` };
    case 'unchecked':
      return { passed: true, message: `warning: ${result.detail}` };
    case 'missing':
      return { passed: false, message: `module ${module.id}: ${result.detail}; set the module's branch to an existing branch or tag` };
    case 'unreachable':
      return { passed: false, message: `module ${module.id}: ${result.detail}` };
  }
}

/** Runs all four checks; never throws for a failing check, only for infrastructure errors. */
export async function runPreflight(change: ResourceChange, deps: PreflightDeps): Promise<PreflightOutcome> {
  const { org, env, id: resourceId } = change.resource;
  // The lease read needs only the change, so it overlaps the catalog reads instead of following them.
  const leaseRead = deps.locks.getLease(stackKeyOf({ org, env, resourceId }));
  leaseRead.catch(() => undefined);
  const [
    orgModules,
    platformModules,
    settingsList,
    orgPolicies,
    platformPolicies,
    credentials,
    backends,
    orgRunners,
    platformRunners,
    orgPlanPolicies,
    platformPlanPolicies,
  ] = await Promise.all([
    listAs(deps.catalog, 'modules', org, iacModuleSchema),
    listAs(deps.catalog, 'modules', PLATFORM_OWNER, iacModuleSchema),
    listAs(deps.catalog, 'org-settings', org, orgSettingsSchema),
    listAs(deps.catalog, 'flow-control-policies', org, flowControlPolicySchema),
    listAs(deps.catalog, 'flow-control-policies', PLATFORM_OWNER, flowControlPolicySchema),
    listAs(deps.catalog, 'provider-credentials', org, providerCredentialSchema),
    listAs(deps.catalog, 'backend-credentials', org, backendCredentialSchema),
    listAs(deps.catalog, 'runners', org, runnerSchema),
    listAs(deps.catalog, 'runners', PLATFORM_OWNER, runnerSchema),
    listAs(deps.catalog, 'plan-policies', org, planPolicySchema),
    listAs(deps.catalog, 'plan-policies', PLATFORM_OWNER, planPolicySchema),
  ]);
  const settings = settingsList.find((s) => s.org === org);

  const module = resolveModule(change.kind, orgModules, platformModules, settings);
  const moduleCheck: CheckResult = module
    ? {
        check: 'module',
        passed: true,
        messages: [`${module.module.id} (${module.module.provisioner}) by rule ${module.rule}`],
        resolved: { id: module.module.id, rule: module.rule },
      }
    : {
        check: 'module',
        passed: false,
        messages: [
          `no module for resource kind ${change.kind}: org ${org} has no custom module` +
            (settings?.preferredProvisioner ? `, the platform has none for preferred provisioner ${settings.preferredProvisioner}` : '') +
            ', and the platform has no default module for it',
        ],
      };

  const policy = resolvePolicy({ org, env, resourceId }, [...orgPolicies, ...platformPolicies]);
  const policyCheck: CheckResult = {
    check: 'flowControl',
    passed: true,
    messages: [`policy ${policy.policy.id} from the ${policy.level} level`],
    resolved: { id: policy.policy.id, level: policy.level },
  };
  // Every matching plan policy applies; each needs the plan, so a job with any previews whatever its flow control says.
  const planPolicies = matchingPlanPolicies({ org, env, resourceId }, orgPlanPolicies, platformPlanPolicies);
  if (planPolicies.length > 0) {
    const rules = planPolicies.reduce((n, p) => n + p.rules.length, 0);
    policyCheck.messages.push(
      `plan policies ${planPolicies.map((p) => `${p.source === 'platform' ? 'platform' : org}/${p.id}`).join(', ')} (${rules} rule${rules === 1 ? '' : 's'}) check the plan before any approval` +
        (policy.policy.previewBeforeUpdate ? '' : '; the job previews so that they can'),
    );
    if (rules > MAX_MATCHING_PLAN_POLICY_RULES) {
      policyCheck.passed = false;
      policyCheck.messages.push(`the matching plan policies have ${rules} rules together, more than ${MAX_MATCHING_PLAN_POLICY_RULES}: fewer rules, please`);
    }
    if (Buffer.byteLength(JSON.stringify(planPolicies), 'utf8') > MAX_FROZEN_PLAN_POLICY_BYTES) {
      policyCheck.passed = false;
      policyCheck.messages.push(
        `the matching plan policies weigh more than ${MAX_FROZEN_PLAN_POLICY_BYTES / 1024} KB together: fewer or shorter rules, please`,
      );
    }
  }

  const provisioner = module?.module.provisioner ?? settings?.preferredProvisioner ?? 'terraform';
  const [credential, backend, ref] = await Promise.all([
    checkCredential(change, module, credentials, settings, deps),
    checkBackend(change, provisioner, backends, deps, leaseRead),
    module ? checkModuleRef(module.module, deps.moduleRefs) : undefined,
  ]);
  if (ref) {
    moduleCheck.messages.push(ref.message);
    if (!ref.passed) moduleCheck.passed = false;
  }

  const runner = resolveRunner(orgRunners, platformRunners);
  const runnerPlacement = runnerPlacementOf(runner, change.resource.org, deps.orgRunnerTaskDefinitionArns, deps.orgRunnerNetworks);
  if (runner.scope === 'org' && !runnerPlacement) {
    // Not a failure (the job still runs), but an org that registered its own runner must learn it will not be used.
    const why = runnerPlacementProblem(runner, change.resource.org, deps.orgRunnerTaskDefinitionArns, deps.orgRunnerNetworks);
    moduleCheck.messages.push(`warning: org runner ${runner.id} is not used: ${why}; the job runs on the platform runner`);
  }
  const checks = [credential.result, moduleCheck, backend.result, policyCheck];
  return {
    passed: checks.every((c) => c.passed),
    checks,
    resolved: {
      module,
      policy,
      credential: credential.result.passed ? credential.credential : undefined,
      backend: backend.backend,
      stateKey: backend.stateKey,
      runner,
      ...(runnerPlacement ? { runnerPlacement } : {}),
      planPolicies,
    },
  };
}
