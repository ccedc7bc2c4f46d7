/**
 * The stack-job domain's shapes: what callers submit, what the catalog holds, and the StackJob snapshot.
 * Plain zod, no AWS SDK: the API, the runner and the state machine all validate against these.
 */
import * as z from '../shared/zod';
import { endingReasonSchema } from './endings';
import { compilePolicyExpression, describeProblem, POLICY_CEL_LIMITS } from './policy-cel';
import { scheduleExpressionProblem } from './schedule-expression';

export const API_VERSION = 'infra-hub.planton.cloud/v1';

const name = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-"');
const text = z.string().min(1).max(512);

/**
 * Catalog values that end up in a command line or a path (git, `-backend-config=`, the module's directory): checked
 * here, where an admin can be told, rather than failing (or worse) at run time.
 */
const gitRepoSchema = text.regex(
  /^(https:\/\/|ssh:\/\/|file:\/\/|\/|[\w.-]+@[\w.-]+:|[A-Za-z0-9])[^\s"'`$\\]*$/,
  'a git URL (https://, ssh://, git@host:, a host/org/repo path or an absolute path): no spaces, quotes, "$" or "\\", and never starting with "-"',
);
/** A path inside the module repository: relative, no "..", no leading "/". The runner also resolves symlinks at run time. */
const repoPathSchema = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9._/-]*$/, 'letters, digits, ".", "_", "-" and "/" only')
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must stay inside the repository (relative, no "..")');
/** An S3-compatible endpoint: scheme, host, port, path; nothing HCL or a shell would read as syntax. */
const endpointSchema = z
  .string()
  .max(512)
  .regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/, 'an http(s) URL of host, port and path only');
const keyPrefixSchema = z
  .string()
  .max(256)
  .regex(/^[A-Za-z0-9._/-]*$/, 'letters, digits, ".", "_", "-" and "/" only')
  .refine((p) => !p.split('/').includes('..'), 'no ".." segments');
const isoTime = z.iso.datetime({ offset: true });

export const provisionerSchema = z.enum(['terraform', 'tofu', 'pulumi']);
export type Provisioner = z.infer<typeof provisionerSchema>;

export const triggerEventSchema = z.enum(['created', 'updated', 'deleted']);
export type TriggerEvent = z.infer<typeof triggerEventSchema>;

/** A change to one cloud resource, as a caller submits it (API body or EventBridge detail). */
export const resourceChangeSchema = z
  .object({
    resource: z
      .object({
        id: name,
        name: text,
        org: name,
        env: name,
        version: z.object({ id: name, message: z.string().max(1024).default('') }).strict(),
      })
      .strict(),
    kind: name,
    spec: z.record(z.string(), z.unknown()).default({}),
    triggerEvent: triggerEventSchema,
    createdBy: text,
  })
  .strict();
export type ResourceChange = z.infer<typeof resourceChangeSchema>;

// ---------------------------------------------------------------- catalog

/**
 * Secret references are confined to their owner's prefix (`stackjobs/<org>/…`, `stackjobs/platform/…` for platform
 * modules), so one org's catalog entry can never make a job read another org's secret.
 */
export function secretNameOf(ref: string): string {
  return /^arn:aws[a-z-]*:secretsmanager:[^:]*:\d*:secret:(.+)$/.exec(ref)?.[1] ?? ref;
}
export const secretPrefixOf = (owner: string) => `stackjobs/${owner}/`;
export const PLATFORM_SECRET_OWNER = 'platform';
const ownedSecret = (ref: string | undefined, owner: string | undefined) =>
  ref === undefined || (owner !== undefined && secretNameOf(ref).startsWith(secretPrefixOf(owner)));

export const providerCredentialSchema = z
  .object({
    id: name,
    org: name,
    provider: name.describe('aws, gcp, azure, kubernetes, ...'),
    kind: name.describe('e.g. aws_credential'),
    environments: z.array(name).min(1),
    expiresAt: isoTime.optional(),
    permissions: z.array(text).default([]),
    secretRef: text.describe('Secrets Manager ARN or name of the credential material; the value itself is never stored here').optional(),
    roleArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'an IAM role ARN')
      .optional(),
    /** Refused on input: Stack Jobs derives it from the deployment and the org (domain/external-id.ts) and shows it in responses. */
    externalId: z.string().max(1224).optional(),
  })
  .strict()
  .refine((c) => c.externalId === undefined, {
    message: "is derived by Stack Jobs from the deployment and the org and cannot be chosen; leave it out (the response shows it, for the role's trust policy)",
    path: ['externalId'],
  })
  .refine((c) => ownedSecret(c.secretRef, c.org), {
    message: "secretRef must name a secret under stackjobs/<org>/ (the org's own secrets)",
    path: ['secretRef'],
  });
export type ProviderCredential = z.infer<typeof providerCredentialSchema>;

export const backendCredentialSchema = z
  .object({
    id: name,
    org: name,
    provisioner: provisionerSchema,
    kind: name.default('terraform_backend_credential'),
    type: z.enum(['s3', 'local']).default('s3'),
    config: z
      .object({
        bucket: name.optional(),
        region: name.optional(),
        keyPrefix: keyPrefixSchema.default('stack-jobs'),
        lockTable: name.optional(),
        endpoint: endpointSchema.optional(),
        path: z
          .string()
          .max(1024)
          .refine((p) => p.startsWith('/') && !p.split('/').includes('..'), 'an absolute path without ".." segments')
          .optional(),
      })
      .strict(),
    secretRef: text.optional(),
  })
  .strict()
  .refine((b) => b.type !== 's3' || (b.config.bucket && b.config.region), {
    message: 'an s3 backend needs config.bucket and config.region',
    path: ['config'],
  })
  .refine((b) => ownedSecret(b.secretRef, b.org), {
    message: "secretRef must name a secret under stackjobs/<org>/ (the org's own secrets)",
    path: ['secretRef'],
  });
export type BackendCredential = z.infer<typeof backendCredentialSchema>;

export const iacModuleSchema = z
  .object({
    id: name,
    scope: z.enum(['platform', 'org']),
    org: name.optional(),
    resourceKind: name,
    provisioner: provisionerSchema,
    provider: name.optional().describe('the provider whose credential the module needs; none means no provider credential'),
    gitRepo: gitRepoSchema,
    branch: name,
    path: repoPathSchema.default('.'),
    permissions: z.array(text).default([]),
    isDefault: z.boolean().default(false),
    gitTokenSecretRef: text.optional(),
  })
  .strict()
  .refine((m) => (m.scope === 'org') === Boolean(m.org), {
    message: 'org-scoped modules name their org; platform modules name none',
    path: ['org'],
  })
  .refine((m) => ownedSecret(m.gitTokenSecretRef, m.scope === 'platform' ? PLATFORM_SECRET_OWNER : m.org), {
    message: 'gitTokenSecretRef must name a secret under stackjobs/<org>/ (stackjobs/platform/ for platform modules)',
    path: ['gitTokenSecretRef'],
  });
export type IacModule = z.infer<typeof iacModuleSchema>;

export const orgSettingsSchema = z
  .object({
    org: name,
    preferredProvisioner: provisionerSchema.optional(),
    requireLiveCredentialValidation: z.boolean().default(false),
    approvalChannels: z.record(z.string(), z.string()).default({}).describe('environment -> Slack channel id'),
    /** Refused: an org admin could map their own Slack account to an approver. Slack links are made by the person (or a platform admin). */
    slackUsers: z.unknown().optional(),
  })
  .strict()
  .refine((s) => s.slackUsers === undefined, {
    message:
      'Slack users are no longer mapped in org settings: each person links their own Slack account (PUT /v1/me/slack-links/{teamId}/{userId}), or a platform admin does (PUT /v1/platform/slack-links/{teamId}/{userId})',
    path: ['slackUsers'],
  });
export type OrgSettings = z.infer<typeof orgSettingsSchema>;

export const policyLevelSchema = z.enum(['resource', 'environment', 'organization', 'platform']);
export type PolicyLevel = z.infer<typeof policyLevelSchema>;

export const policySelectorSchema = z.discriminatedUnion('level', [
  z.object({ level: z.literal('resource'), org: name, env: name, resourceId: name }).strict(),
  z.object({ level: z.literal('environment'), org: name, env: name }).strict(),
  z.object({ level: z.literal('organization'), org: name }).strict(),
  z.object({ level: z.literal('platform') }).strict(),
]);
export type PolicySelector = z.infer<typeof policySelectorSchema>;

export const approverSchema = z.object({ subject: text, environments: z.array(name).optional().describe('omitted: every environment') }).strict();

export const flowControlFieldsSchema = z
  .object({
    previewBeforeUpdate: z.boolean(),
    pauseBetweenPreviewAndUpdate: z.boolean(),
    skipRefresh: z.boolean(),
    approvers: z.array(approverSchema).default([]),
    requireDistinctApprover: z.boolean().default(true).describe('Kept for compatibility: nobody approves their own change, whatever this says'),
    approvalTimeoutMinutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(24 * 60),
  })
  .strict();

export const flowControlPolicySchema = flowControlFieldsSchema.extend({ id: name, selector: policySelectorSchema }).strict();
export type FlowControlPolicy = z.infer<typeof flowControlPolicySchema>;

export const planPolicyEffectSchema = z.enum(['deny', 'warn', 'require_approvals']);
export type PlanPolicyEffect = z.infer<typeof planPolicyEffectSchema>;

/** A rule as a job's snapshot keeps it: its expression was compiled when its policy was written. */
export const planPolicyRuleFieldsSchema = z
  .object({
    name: name,
    effect: planPolicyEffectSchema.describe('deny: the job fails before approval; warn: shown to the approver; require_approvals: N distinct approvers'),
    approvals: z.number().int().min(2).max(10).optional().describe('require_approvals only: how many distinct approvers the plan then needs'),
    expression: z
      .string()
      .min(1)
      .max(POLICY_CEL_LIMITS.expressionChars)
      .describe('CEL over `plan` and `job`; when it is true, the effect applies (README, Plan policies)'),
    message: text,
  })
  .strict();

/** A rule as it is written: the effect's fields agree, and the expression compiles (a 400 names its line and column). */
export const planPolicyRuleSchema = planPolicyRuleFieldsSchema
  .refine((r) => (r.effect === 'require_approvals') === (r.approvals !== undefined), {
    message: 'a require_approvals rule says how many approvals (2 or more); other effects take none',
    path: ['approvals'],
  })
  .superRefine((r, ctx) => {
    const compiled = compilePolicyExpression(r.expression);
    if (!compiled.ok) ctx.addIssue({ code: 'custom', path: ['expression'], message: `rule ${r.name}: ${describeProblem(compiled.problem)}` });
  });

const uniqueRuleNames = (rules: { name: string }[]) => new Set(rules.map((r) => r.name)).size === rules.length;

/**
 * A plan policy (catalog kind `plan-policies`, at the org and the platform level): rules over the plan, checked after
 * the preview and before any approval. Every matching policy applies (unlike flow control), so an org cannot escape a
 * platform policy.
 */
export const planPolicySchema = z
  .object({
    id: name,
    org: name.optional().describe("an org's policy: its org (and its selector selects within it); a platform policy names none"),
    selector: policySelectorSchema,
    rules: z.array(planPolicyRuleSchema).min(1).max(20),
  })
  .strict()
  .refine((p) => uniqueRuleNames(p.rules), { message: 'rule names must be unique within a policy', path: ['rules'] })
  .refine((p) => (p.selector.level === 'platform') === (p.org === undefined), {
    message: "an org's policy names its org and selects within it; a platform policy (selector level platform) names none",
    path: ['org'],
  })
  .refine((p) => p.selector.level === 'platform' || p.selector.org === p.org, { message: "selects within the policy's org", path: ['selector', 'org'] });
export type PlanPolicy = z.infer<typeof planPolicySchema>;

/** Where a job's plan policy came from: its org's catalog or the platform's. */
const planPolicySourceSchema = z.enum(['org', 'platform']);

/** A matching policy as the job's snapshot freezes it: later catalog edits do not change a job in flight. */
export const frozenPlanPolicySchema = z
  .object({
    id: name,
    source: planPolicySourceSchema,
    selector: policySelectorSchema,
    rules: z.array(planPolicyRuleFieldsSchema).min(1).max(20),
  })
  .strict();
export type FrozenPlanPolicy = z.infer<typeof frozenPlanPolicySchema>;

/** One rule's result on one plan. */
export const policyRuleResultSchema = z
  .object({
    policy: name,
    source: planPolicySourceSchema,
    rule: name,
    effect: planPolicyEffectSchema,
    approvals: z.number().int().min(2).optional(),
    /** false when the expression holds (the effect applies) or could not be evaluated (`error`). */
    passed: z.boolean(),
    message: z.string(),
    error: z.string().optional(),
  })
  .strict();
export type PolicyRuleResult = z.infer<typeof policyRuleResultSchema>;

/** Every rule's result on the job's plan, evaluated after the preview and before any approval. */
export const policyEvaluationSchema = z
  .object({
    evaluatedAt: isoTime,
    planDigest: z.string().optional(),
    outcome: z.enum(['passed', 'warned', 'denied', 'failed']),
    /** The most approvals a holding require_approvals rule asks for. */
    requiredApprovals: z.number().int().min(2).optional(),
    results: z.array(policyRuleResultSchema),
  })
  .strict();
export type PolicyEvaluation = z.infer<typeof policyEvaluationSchema>;

export const runnerSchema = z
  .object({
    id: name,
    scope: z.enum(['platform', 'org']),
    org: name.optional(),
    cluster: text.optional(),
    taskDefinition: text.optional(),
    subnets: z.array(text).default([]),
    securityGroups: z.array(text).default([]),
    endpoint: text.optional(),
    isDefault: z.boolean().default(false),
  })
  .strict();
export type Runner = z.infer<typeof runnerSchema>;

/**
 * EventBridge Scheduler's expressions, at most once a minute: `rate(<n> minute|minutes|hour|hours|day|days)` or a
 * six-field `cron(minutes hours day-of-month month day-of-week year)`.
 */
const SCHEDULE_EXPRESSION = /^(rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)|cron\(\S+ \S+ \S+ \S+ \S+ \S+\))$/;
export const scheduleExpressionSchema = z
  .string()
  .max(256)
  .regex(SCHEDULE_EXPRESSION, 'rate(<n> minutes|hours|days) or cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>), at most once a minute')
  // Each field too (domain/schedule-expression.ts): what is stored is what Scheduler and local mode both run.
  .superRefine((text, ctx) => {
    const problem = SCHEDULE_EXPRESSION.test(text) ? scheduleExpressionProblem(text) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** What a drift check does when it finds drift: nothing more, or submit a change job from the last applied version. */
export const driftRemediationSchema = z.enum(['none', 'plan']);

/**
 * A drift schedule (catalog kind `drift-schedules`, an org's own): which resources to check (the resource, every
 * resource of an environment, or of the org) and how often; EventBridge Scheduler runs it on AWS, local mode in process.
 */
export const driftScheduleSchema = z
  .object({
    id: name,
    org: name,
    selector: z.discriminatedUnion('level', [
      z.object({ level: z.literal('resource'), org: name, env: name, resourceId: name }).strict(),
      z.object({ level: z.literal('environment'), org: name, env: name }).strict(),
      z.object({ level: z.literal('organization'), org: name }).strict(),
    ]),
    schedule: scheduleExpressionSchema,
    remediate: driftRemediationSchema.default('none'),
  })
  .strict();
export type DriftSchedule = z.infer<typeof driftScheduleSchema>;

/** Every catalog kind, keyed by the path segment the API uses. */
export const catalogSchemas = {
  'provider-credentials': providerCredentialSchema,
  'backend-credentials': backendCredentialSchema,
  modules: iacModuleSchema,
  'org-settings': orgSettingsSchema,
  'flow-control-policies': flowControlPolicySchema,
  runners: runnerSchema,
  'drift-schedules': driftScheduleSchema,
  'plan-policies': planPolicySchema,
} as const;
export type CatalogKind = keyof typeof catalogSchemas;
export const catalogKinds = Object.keys(catalogSchemas) as CatalogKind[];

// ---------------------------------------------------------------- status

export const jobPhaseSchema = z.enum(['queued', 'running', 'awaiting_approval', 'completed']);
export type JobPhase = z.infer<typeof jobPhaseSchema>;
export const jobResultSchema = z.enum(['tbd', 'succeeded', 'failed', 'cancelled', 'skipped']);
export type JobResult = z.infer<typeof jobResultSchema>;
export const operationNameSchema = z.enum(['init', 'refresh', 'plan', 'apply', 'destroy']);
export type OperationName = z.infer<typeof operationNameSchema>;
export const operationStatusSchema = z.enum(['pending', 'running', 'completed']);
export type OperationStatus = z.infer<typeof operationStatusSchema>;

export const planSummarySchema = z
  .object({
    add: z.number().int(),
    change: z.number().int(),
    destroy: z.number().int(),
    replace: z.number().int(),
    unchanged: z.number().int(),
    read: z.number().int().default(0),
    forget: z.number().int().default(0),
    import: z.number().int().default(0),
    outputChanges: z.number().int().default(0),
    /** At most MAX_SUMMARY_RESOURCES, addresses cut at MAX_ADDRESS_CHARS: the full plan is plan.json in S3. */
    resources: z.array(z.object({ address: z.string(), actions: z.array(z.string()) })).default([]),
    /** How many changed resources `resources` leaves out (the summary travels through the state machine and the job item). */
    unlisted: z.number().int().min(0).optional(),
  })
  .strict();
export type PlanSummary = z.infer<typeof planSummarySchema>;

/**
 * A summary is copied into the execution state (preview, update, outcome), the runner's SendTaskSuccess and the job
 * item: Step Functions allows 256 KB per state and task result, DynamoDB 400 KB per item. 100 addresses of at most
 * 300 characters keep every copy under 40 KB whatever the plan's size.
 */
export const MAX_SUMMARY_RESOURCES = 100;
export const MAX_ADDRESS_CHARS = 300;

/** An address cut to MAX_ADDRESS_CHARS (a `for_each` key can be arbitrarily long). */
export const cutAddress = (address: string) => (address.length > MAX_ADDRESS_CHARS ? `${address.slice(0, MAX_ADDRESS_CHARS - 1)}…` : address);

/** Bounds a summary's resource list (and each address) for the places it travels; the counts stay exact. */
export function boundSummary(summary: PlanSummary): PlanSummary {
  const changed = summary.resources.length + (summary.unlisted ?? 0);
  const listed = summary.resources.slice(0, MAX_SUMMARY_RESOURCES).map((r) => ({ address: cutAddress(r.address), actions: r.actions }));
  const { unlisted: _u, ...rest } = summary;
  return { ...rest, resources: listed, ...(changed > listed.length ? { unlisted: changed - listed.length } : {}) };
}

/** The most resources a drift report lists; `total` still counts every one (the job item stays far below 400 KB). */
export const MAX_DRIFT_RESOURCES = 100;

/** Bounds a drift report's list and each address, as boundSummary does a plan's (after any redaction: a cut secret is no longer found). */
export function boundDrift<T extends { total: number; resources: Array<{ address: string; actions: string[] }> }>(drift: T): T {
  return { ...drift, resources: drift.resources.slice(0, MAX_DRIFT_RESOURCES).map((r) => ({ ...r, address: cutAddress(r.address) })) };
}

/** What the refresh found changed outside Stack Jobs (never written to state: the approved apply records it). */
export const driftSchema = z
  .object({
    checkedAt: isoTime,
    /** How many resources drifted; `resources` lists at most MAX_DRIFT_RESOURCES of them. */
    total: z.number().int().min(0),
    resources: z.array(z.object({ address: z.string().max(MAX_ADDRESS_CHARS), actions: z.array(z.string()) })).max(MAX_DRIFT_RESOURCES),
  })
  .strict();
export type Drift = z.infer<typeof driftSchema>;

export const operationStateSchema = z
  .object({
    name: operationNameSchema,
    status: operationStatusSchema,
    result: jobResultSchema,
    startedAt: isoTime.optional(),
    finishedAt: isoTime.optional(),
    errors: z.array(z.string()),
    summary: planSummarySchema.optional(),
  })
  .strict();
export type OperationState = z.infer<typeof operationStateSchema>;

export const checkNameSchema = z.enum(['credential', 'module', 'backend', 'flowControl']);
export type CheckName = z.infer<typeof checkNameSchema>;
export const checkResultSchema = z
  .object({
    check: checkNameSchema,
    passed: z.boolean(),
    messages: z.array(z.string()),
    resolved: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type CheckResult = z.infer<typeof checkResultSchema>;

export const approvalDecisionSchema = z
  .object({
    decision: z.enum(['approved', 'rejected']),
    by: z.string(),
    at: isoTime,
    channel: z.enum(['slack', 'api']),
    planDigest: z.string().optional(),
    comment: z.string().max(2000).optional(),
    /** A decision made in Slack: which Slack account in which workspace clicked. */
    slack: z.object({ userId: z.string(), teamId: z.string() }).strict().optional(),
  })
  .strict();
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

export const jobStatusSchema = z
  .object({
    phase: jobPhaseSchema,
    result: jobResultSchema,
    createdAt: isoTime,
    updatedAt: isoTime,
    startedAt: isoTime.optional(),
    finishedAt: isoTime.optional(),
    operations: z.array(operationStateSchema),
    preflight: z.array(checkResultSchema),
    queuePosition: z.number().int().min(0).optional(),
    /** The last attempt at the stack lock (the workflow stamps each one): a queued job without it was never started. */
    lockAttemptAt: isoTime.optional(),
    /** Why a completed job ended (lambdas/domain/endings.ts). */
    reason: endingReasonSchema.optional(),
    failure: z.object({ operation: z.string(), message: z.string(), exitCode: z.number().int().optional() }).strict().optional(),
    plan: z
      .object({
        digest: z.string(),
        key: z.string(),
        summary: planSummarySchema,
        /**
         * The preview's workspace (the module at its commit with what init made: .terraform/ and the dependency lock
         * file), saved beside the plan so the update restores it instead of cloning and initialising again.
         */
        workspace: z
          .object({
            key: z.string(),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
            bytes: z.number().int().nonnegative(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** Set by the refresh operation: what changed outside Stack Jobs since the last apply. */
    drift: driftSchema.optional(),
    /** The plan policies' results on this job's plan (README, Plan policies). */
    policy: policyEvaluationSchema.optional(),
    outputsKey: z.string().optional(),
    logPrefix: z.string().optional(),
    /** Milliseconds per runner operation, keyed `<phase>.<operation>`, as the runner measured them. */
    durations: z.record(z.string(), z.number()).optional(),
    approval: z
      .object({
        id: z.string(),
        requestedAt: isoTime,
        expiresAt: isoTime,
        planDigest: z.string().optional(),
        decision: approvalDecisionSchema.optional(),
        /** How many distinct approvers the plan needs (a plan policy's require_approvals); absent: one. */
        required: z.number().int().min(2).optional(),
        /** Under a quorum: every approval so far, oldest first (the one that completes it is also `decision`). */
        approvals: z.array(approvalDecisionSchema).optional(),
      })
      .strict()
      .optional(),
    cancelRequested: z.object({ by: z.string(), at: isoTime }).strict().optional(),
    /** The module's commit, recorded by the first phase that cloned it; a later phase runs that commit, never a moved branch. */
    moduleCommit: z
      .string()
      .regex(/^[0-9a-f]{40}$/)
      .optional(),
    /** An org admin's force-cancel: who, when and why (reason `force_cancelled`). */
    forceCancelled: z.object({ by: z.string(), at: isoTime, why: z.string() }).strict().optional(),
    /** The stack lease while the job holds it: the fencing token its release is conditioned on. */
    lease: z
      .object({ fencingToken: z.number().int().min(1), acquiredAt: isoTime })
      .strict()
      .optional(),
    /** The runner task working on the job now (ECS task ARN), recorded by the runner so a cancel can stop a preview. */
    runnerTask: z
      .object({ arn: z.string(), phase: z.enum(['preview', 'update']) })
      .strict()
      .optional(),
  })
  .strict();
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const essentialsSchema = z
  .object({
    provisioner: provisionerSchema,
    iacModule: z
      .object({ id: name, gitRepo: text, branch: name, path: z.string(), provider: name.optional(), rule: z.string(), gitTokenSecretRef: text.optional() })
      .strict(),
    backendCredential: z
      .object({
        kind: name,
        id: name,
        type: z.enum(['s3', 'local']),
        config: z.record(z.string(), z.unknown()),
        stateKey: z.string(),
        secretRef: text.optional(),
      })
      .strict(),
    /** References only (secret ARN, role ARN): the material is read by the runner at run time. */
    providerCredential: z
      .object({ kind: name, id: name, provider: name, secretRef: text.optional(), roleArn: z.string().optional(), externalId: z.string().optional() })
      .strict()
      .optional(),
    /**
     * The runner that runs the job. cluster, taskDefinition, subnets and securityGroups are the org runner's
     * placement, frozen only when the deployment permits that task definition (stackjobs:orgRunnerTaskDefinitionArns);
     * without them the job runs on the platform runner task deployed with the stack.
     */
    stackJobRunner: z
      .object({
        id: name,
        endpoint: z.string().optional(),
        cluster: text.optional(),
        taskDefinition: text.optional(),
        subnets: z.array(text).optional(),
        securityGroups: z.array(text).optional(),
      })
      .strict(),
    flowControlPolicy: flowControlFieldsSchema.extend({ source: z.object({ level: policyLevelSchema, id: name }).strict() }).strict(),
    /** Every plan policy that matched at submission (README, Plan policies), evaluated between the preview and any approval. */
    planPolicies: z.array(frozenPlanPolicySchema).optional(),
  })
  .strict();
export type Essentials = z.infer<typeof essentialsSchema>;

/** The frozen, auditable snapshot (README, The StackJob), plus its live status. */
export const stackJobSchema = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('StackJob'),
    metadata: z
      .object({
        id: z.string().regex(/^sj_[0-9a-hjkmnp-tv-z]{26}$/),
        name: name,
        org: name,
        env: name,
        version: z.object({ id: name, message: z.string() }).strict(),
        rerunOf: z.string().optional(),
        /**
         * Who actually submitted the job, as authenticated (the API principal's subject, `eventbridge:<source>`, or the
         * rerunning principal); `spec.apiResourceInfo.eventCreatedBy` is what the caller said.
         */
        submittedBy: z.string().optional(),
        /**
         * Everyone who submitted or reran a job of this change (this job's submitter included), oldest first: under
         * requireDistinctApprover none of them may approve it, so a rerun cannot launder the original submitter.
         */
        submitters: z.array(z.string()).max(100).optional(),
      })
      .strict(),
    spec: z
      .object({
        apiResourceInfo: z
          .object({
            kind: name,
            id: name,
            name: text,
            versionId: name,
            triggerEvent: triggerEventSchema,
            eventCreatedBy: text,
            spec: z.record(z.string(), z.unknown()),
          })
          .strict(),
        essentials: essentialsSchema,
        operations: z.array(operationNameSchema),
        /**
         * A drift check (absent: a change): operations init and refresh only; it never asks for approval, never
         * applies and never writes state. `remediate: plan` submits a change job from the last applied version when
         * drift is found; `scheduleId` names the drift schedule that started it.
         */
        driftCheck: z.object({ remediate: driftRemediationSchema, scheduleId: name.optional(), basedOn: z.string().optional() }).strict().optional(),
      })
      .strict(),
    status: jobStatusSchema,
  })
  .strict();
export type StackJob = z.infer<typeof stackJobSchema>;

/** Who is calling: taken from the JWT authorizer's claims (or the local token map). */
export const roleSchema = z.enum(['viewer', 'operator', 'approver', 'admin', 'platform-admin']);
export type Role = z.infer<typeof roleSchema>;
/**
 * Who is calling. Roles are per org: `orgRoles` holds the roles granted in one org (claim entries `acme:approver`);
 * `roles` holds unscoped entries, which count in an org only when the principal belongs to exactly one org (the older
 * single-org form) — and `platform-admin`, which governs the platform catalog only, never an org's data.
 */
/**
 * No org may be named as the platform's secret owner: its admins would own `stackjobs/platform/…`, the platform's own
 * secrets (module tokens and credentials platform admins register), and could point a credential of theirs at them.
 */
export const isReservedOrg = (org: string) => org === PLATFORM_SECRET_OWNER;
const memberOrg = z.string().refine((org) => !isReservedOrg(org), { message: `"${PLATFORM_SECRET_OWNER}" is reserved: no org may be named so` });

export const principalSchema = z
  .object({
    subject: z.string().min(1),
    orgs: z.array(memberOrg),
    roles: z.array(roleSchema),
    orgRoles: z.record(memberOrg, z.array(roleSchema)).optional(),
  })
  .strict();
export type Principal = z.infer<typeof principalSchema>;

const runnerPhaseResult = {
  phase: z.enum(['preview', 'update']),
  hasChanges: z.boolean(),
  summary: planSummarySchema.optional(),
  planDigest: z.string().optional(),
  planKey: z.string().optional(),
  outputsKey: z.string().optional(),
  logPrefix: z.string(),
  durations: z.record(z.string(), z.number()),
};

/** One phase's result: what an update task reports, and what a one-task job's update part reports (`then`). */
export const runnerUpdateResultSchema = z.object({ ...runnerPhaseResult, phase: z.literal('update') }).strict();

/**
 * What a runner task reports back to the state machine through SendTaskSuccess. A preview task started with
 * STACKJOBS_THEN_UPDATE (a job whose policy does not pause) goes on to apply its own plan in the same task when the
 * plan has changes and nobody cancelled: its update's result is `then`.
 */
export const runnerResultSchema = z.object({ ...runnerPhaseResult, then: runnerUpdateResultSchema.optional() }).strict();
export type RunnerResult = z.infer<typeof runnerResultSchema>;
export type RunnerUpdateResult = z.infer<typeof runnerUpdateResultSchema>;

export const slackUserIdSchema = z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id (U... or W...)');
export const slackTeamIdSchema = z.string().regex(/^[TE][A-Z0-9]{2,20}$/, 'a Slack workspace id (T... or E...)');

/**
 * Who a Slack account acts as when it clicks an approval button. Made only by the principal themselves (linking their
 * own subject) or by a platform admin; never by an org admin, who could otherwise map their own Slack account to an
 * approver's subject.
 */
export const slackLinkSchema = z
  .object({
    teamId: slackTeamIdSchema,
    userId: slackUserIdSchema,
    subject: text,
    linkedBy: text,
    linkedAt: isoTime,
    via: z.enum(['self', 'platform-admin', 'local-config']),
    provenAt: isoTime
      .optional()
      .describe('When the Slack account proved it is this person (a one-time code Slack showed only to that account); a self link without it decides nothing'),
    orgRoles: z
      .record(z.string(), z.array(roleSchema))
      .optional()
      .describe("The person's roles per org when they linked (self links); a Slack click needs approver in the job's org here"),
  })
  .strict();
export type SlackLink = z.infer<typeof slackLinkSchema>;
