/**
 * Plan policies (README, Plan policies): which policies a job gets, the input their rules read (the plan normalized
 * across Terraform, OpenTofu and Pulumi, sensitive values masked, and the job), and evaluating every rule of every
 * policy. Unlike flow control (first match wins), every matching policy applies, an org's and the platform's alike.
 * Pure: no I/O; the CEL machinery and its limits are in policy-cel.ts.
 */
import { summarisePulumiPreview } from '../../runner-image/src/drivers/pulumi/preview-json';
import { summarisePlan, type ShowJsonPlan } from '../../runner-image/src/drivers/terraform/plan-json';
import { KNOWN_AFTER_APPLY, SENSITIVE } from './plan-changes';
import { compilePolicyExpression, describeProblem, policyBindings, type CompiledExpression } from './policy-cel';
import { selectorMatches } from './resolution';
import type { FrozenPlanPolicy, PlanPolicy, PlanSummary, PolicyEvaluation, PolicyRuleResult, Provisioner, StackJob } from './schemas';

export { POLICY_CEL_LIMITS } from './policy-cel';

/** How long all the rules of one job may take together (each rule also has its own limit, POLICY_CEL_LIMITS). */
export const POLICY_EVALUATION_MILLIS = 5000;

/**
 * The most of a rule's error kept: CEL's messages can quote a value from the plan ("field not found: <a 50 KB policy
 * document>"), and every result is stored on the job item (DynamoDB: 400 KB) and shown in the job's ending.
 */
export const MAX_RULE_ERROR_CHARS = 512;
const clipError = (error: string) => (error.length > MAX_RULE_ERROR_CHARS ? `${error.slice(0, MAX_RULE_ERROR_CHARS)}…` : error);

// ---------------------------------------------------------------- the input

export interface PolicyPlan {
  summary: { add: number; change: number; destroy: number; replace: number; read: number; import: number; forget: number; outputChanges: number };
  resources: Array<{ address: string; type: string; provider: string; actions: string[]; before: unknown; after: unknown }>;
  outputs: Array<{ name: string; actions: string[] }>;
  drift: Array<{ address: string; actions: string[] }>;
}

export interface PolicyJob {
  org: string;
  env: string;
  resourceId: string;
  kind: string;
  triggerEvent: string;
  createdBy: string;
  /** Who submitted the job, as authenticated; '' when unknown (a job from before submitters were recorded). */
  submittedBy: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => Boolean(v) && typeof v === 'object' && !Array.isArray(v);

/** The strings the runner stores in place of secrets: Terraform's and Pulumi's masks (runner-image drivers). */
const STORED_MASKS = new Set(['***', '[secret]']);
/** Pulumi's marker of a secret value in serialized state. */
const PULUMI_SIG_KEY = '4dabf18193072939515e22adb298388d';
const PULUMI_SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

/**
 * A value with every sensitive part as "(sensitive)" and every part unknown until apply as "(known after apply)": the
 * masks mirror the value (true, or objects/arrays of masks). Values the runner already masked stay masked.
 */
export function maskedValue(value: unknown, sensitive?: unknown, unknown?: unknown): unknown {
  if (unknown === true) return KNOWN_AFTER_APPLY;
  if (sensitive === true) return value === null || value === undefined ? value : SENSITIVE;
  if (typeof value === 'string') return STORED_MASKS.has(value) ? SENSITIVE : value;
  if (Array.isArray(value)) {
    const out = value.map((v, i) => maskedValue(v, Array.isArray(sensitive) ? sensitive[i] : undefined, Array.isArray(unknown) ? unknown[i] : undefined));
    // Unknown elements past the known ones (a list that grows at apply).
    if (Array.isArray(unknown)) for (let i = value.length; i < unknown.length; i++) if (unknown[i] === true) out.push(KNOWN_AFTER_APPLY);
    return out;
  }
  if (isObject(value)) {
    if (value[PULUMI_SIG_KEY] === PULUMI_SECRET_SIG) return SENSITIVE;
    const out: Json = {};
    const s = isObject(sensitive) ? sensitive : {};
    const u = isObject(unknown) ? unknown : {};
    for (const [k, v] of Object.entries(value)) out[k] = maskedValue(v, s[k], u[k]);
    for (const [k, m] of Object.entries(u)) if (m === true && !(k in out)) out[k] = KNOWN_AFTER_APPLY;
    return out;
  }
  if ((value === null || value === undefined) && isObject(unknown)) return maskedValue({}, sensitive, unknown);
  return value === undefined ? null : value;
}

/** The provider's short name: `registry.terraform.io/hashicorp/aws` → aws, `terraform.io/builtin/terraform` → terraform. */
const shortProvider = (name: unknown) => (typeof name === 'string' ? (name.split('/').at(-1) ?? name) : '');

const countsOf = (s: PlanSummary): PolicyPlan['summary'] => ({
  add: s.add,
  change: s.change,
  destroy: s.destroy,
  replace: s.replace,
  read: s.read,
  import: s.import,
  forget: s.forget,
  outputChanges: s.outputChanges,
});

interface TfChange {
  actions?: string[];
  before?: unknown;
  after?: unknown;
  after_unknown?: unknown;
  before_sensitive?: unknown;
  after_sensitive?: unknown;
  importing?: unknown;
}

function fromTerraform(plan: Json, summary: PlanSummary | undefined): PolicyPlan {
  const changes = (Array.isArray(plan.resource_changes) ? plan.resource_changes : []) as Array<{
    address: string;
    type?: string;
    provider_name?: string;
    change?: TfChange;
  }>;
  const resources = changes.map((rc) => {
    const c = rc.change ?? {};
    const actions = [...(c.actions ?? [])];
    if (c.importing) actions.push('import');
    return {
      address: rc.address,
      type: rc.type ?? '',
      provider: shortProvider(rc.provider_name),
      actions,
      before: maskedValue(c.before ?? null, c.before_sensitive),
      after: maskedValue(c.after ?? null, c.after_sensitive, c.after_unknown),
    };
  });
  const outputs = Object.entries(isObject(plan.output_changes) ? (plan.output_changes as Record<string, TfChange>) : {}).map(([name, c]) => ({
    name,
    actions: [...(c.actions ?? [])],
  }));
  const drift = ((Array.isArray(plan.resource_drift) ? plan.resource_drift : []) as Array<{ address: string; change?: TfChange }>)
    .filter((d) => !(d.change?.actions?.length === 1 && d.change.actions[0] === 'no-op'))
    .map((d) => ({ address: d.address, actions: [...(d.change?.actions ?? [])] }));
  return { summary: countsOf(summary ?? summarisePlan(plan as ShowJsonPlan).summary), resources, outputs, drift };
}

/** Pulumi's step ops in the Terraform action words every policy uses. */
const PULUMI_ACTIONS: Record<string, string[]> = {
  create: ['create'],
  update: ['update'],
  delete: ['delete'],
  replace: ['delete', 'create'],
  same: ['no-op'],
  read: ['read'],
  import: ['import'],
  discard: ['forget'],
  refresh: ['update'],
};

const withoutInternals = (inputs: unknown): unknown =>
  isObject(inputs) ? Object.fromEntries(Object.entries(inputs).filter(([k]) => !k.startsWith('__'))) : (inputs ?? null);

function fromPulumi(preview: Json, summary: PlanSummary | undefined): PolicyPlan {
  type Step = { op: string; urn: string; oldState?: { type?: string; inputs?: unknown } | null; newState?: { type?: string; inputs?: unknown } | null };
  const steps = ((Array.isArray(preview.steps) ? preview.steps : []) as Step[]).filter(
    (s) => typeof s.urn === 'string' && !s.urn.includes('::pulumi:pulumi:Stack::') && PULUMI_ACTIONS[s.op],
  );
  const resources = steps.map((s) => {
    // urn:pulumi:<stack>::<project>::<type>::<name>; the type's package is the provider (aws:s3/bucket:Bucket → aws).
    const type = s.newState?.type ?? s.oldState?.type ?? s.urn.split('::').at(-2)?.split('$').at(-1) ?? '';
    return {
      address: s.urn,
      type,
      provider: type.split(':')[0] ?? '',
      actions: [...PULUMI_ACTIONS[s.op]],
      before: maskedValue(withoutInternals(s.oldState?.inputs)),
      after: maskedValue(withoutInternals(s.newState?.inputs)),
    };
  });
  return { summary: countsOf(summary ?? summarisePulumiPreview(preview).summary), resources, outputs: [], drift: [] };
}

/**
 * `plan` as a rule reads it, from the plan document the runner stored (masked) or one a caller sent to the dry run
 * (`terraform show -json`, `tofu show -json` or `pulumi preview --json`; masked here). `summary`: the job's recorded
 * one, which the runner computed from the same document; without it, it is computed the runner's way.
 */
export function policyPlanOf(provisioner: Provisioner, document: Json, summary?: PlanSummary): PolicyPlan {
  return provisioner === 'pulumi' ? fromPulumi(document, summary) : fromTerraform(document, summary);
}

/** Which tool made a plan document: Pulumi's preview has `steps`, Terraform's and OpenTofu's show-json `format_version`. */
export function provisionerOfDocument(document: Json): Provisioner | undefined {
  if (Array.isArray(document.steps)) return 'pulumi';
  if (typeof document.format_version === 'string' || Array.isArray(document.resource_changes)) return 'terraform';
  return undefined;
}

export function policyJobOf(job: StackJob): PolicyJob {
  const info = job.spec.apiResourceInfo;
  return {
    org: job.metadata.org,
    env: job.metadata.env,
    resourceId: info.id,
    kind: info.kind,
    triggerEvent: info.triggerEvent,
    createdBy: info.eventCreatedBy,
    submittedBy: job.metadata.submittedBy ?? '',
  };
}

// ---------------------------------------------------------------- which policies

/** Every policy whose selector matches the target: the platform's (in id order), then the org's. */
export function matchingPlanPolicies(
  target: { org: string; env: string; resourceId: string },
  orgPolicies: PlanPolicy[],
  platformPolicies: PlanPolicy[],
): FrozenPlanPolicy[] {
  const byId = (a: PlanPolicy, b: PlanPolicy) => a.id.localeCompare(b.id);
  const freeze = (source: FrozenPlanPolicy['source']) => (p: PlanPolicy) => ({
    id: p.id,
    source,
    selector: p.selector,
    rules: p.rules.map((r) => ({ ...r })),
  });
  return [
    ...platformPolicies
      .filter((p) => p.selector.level === 'platform')
      .sort(byId)
      .map(freeze('platform')),
    ...orgPolicies
      .filter((p) => p.selector.level !== 'platform' && selectorMatches(p.selector, target))
      .sort(byId)
      .map(freeze('org')),
  ];
}

// ---------------------------------------------------------------- evaluation

export interface PolicyEvaluationOptions {
  now?: () => number;
  /** The whole evaluation's time limit. @default POLICY_EVALUATION_MILLIS */
  totalMillis?: number;
  /** Per rule; defaults in POLICY_CEL_LIMITS. */
  steps?: number;
  ruleMillis?: number;
}

/**
 * Every rule of every policy, in order: `passed` is false when the expression holds (its effect applies) or when it
 * could not be evaluated (`error`). The outcome: `failed` when any rule could not be evaluated (the job fails: a
 * policy that cannot be checked does not let a plan through), else `denied` when a deny rule holds, else `warned` when
 * a warn or require_approvals rule holds, else `passed`; `requiredApprovals` is the most any holding
 * require_approvals rule asks for.
 */
export function evaluatePlanPolicies(
  policies: readonly FrozenPlanPolicy[],
  plan: PolicyPlan,
  job: PolicyJob,
  options: PolicyEvaluationOptions = {},
): Omit<PolicyEvaluation, 'evaluatedAt' | 'planDigest'> {
  const now = options.now ?? Date.now;
  const deadline = now() + (options.totalMillis ?? POLICY_EVALUATION_MILLIS);
  const bindings = policyBindings(plan, job);
  const results: PolicyRuleResult[] = [];
  const compiled = new Map<string, ReturnType<typeof compilePolicyExpression>>();
  for (const policy of policies) {
    for (const rule of policy.rules) {
      const base = {
        policy: policy.id,
        source: policy.source,
        rule: rule.name,
        effect: rule.effect,
        ...(rule.approvals !== undefined ? { approvals: rule.approvals } : {}),
        message: rule.message,
      };
      let program = compiled.get(rule.expression);
      // Checked when the policy was written; run as planned, so a stricter check in a later version cannot fail the
      // jobs of a policy it accepted then (the evaluation's own limits still apply).
      if (!program) compiled.set(rule.expression, (program = compilePolicyExpression(rule.expression, { check: false })));
      if (!program.ok) {
        results.push({ ...base, passed: false, error: clipError(`the expression does not compile: ${describeProblem(program.problem)}`) });
        continue;
      }
      const evaluate: CompiledExpression = program.evaluate;
      const outcome = evaluate(bindings, {
        deadline,
        now,
        ...(options.steps ? { steps: options.steps } : {}),
        ...(options.ruleMillis ? { millis: options.ruleMillis } : {}),
      });
      results.push(outcome.ok ? { ...base, passed: !outcome.value } : { ...base, passed: false, error: clipError(outcome.error) });
    }
  }
  const holding = results.filter((r) => !r.passed && !r.error);
  const required = Math.max(0, ...holding.filter((r) => r.effect === 'require_approvals').map((r) => r.approvals ?? 2));
  const outcome: PolicyEvaluation['outcome'] = results.some((r) => r.error)
    ? 'failed'
    : holding.some((r) => r.effect === 'deny')
      ? 'denied'
      : holding.length > 0
        ? 'warned'
        : 'passed';
  return { outcome, ...(required > 0 ? { requiredApprovals: required } : {}), results };
}

/** The words a denied or failed evaluation ends the job with: each deny rule's message, or each rule that could not be evaluated. */
export function policyStopMessage(evaluation: Pick<PolicyEvaluation, 'outcome' | 'results'>): string {
  if (evaluation.outcome === 'failed') {
    return evaluation.results
      .filter((r) => r.error)
      .map((r) => `policy ${r.policy} rule ${r.rule}: ${r.error}`)
      .join('; ');
  }
  return evaluation.results
    .filter((r) => !r.passed && r.effect === 'deny')
    .map((r) => `denied by policy ${r.policy} rule ${r.rule}: ${r.message}`)
    .join('; ');
}
