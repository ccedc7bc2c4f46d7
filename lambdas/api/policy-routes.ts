/**
 * The plan policies' dry run: a plan document and a job context in, every rule's result out, so policies can be
 * tested (in CI, say) before they are written, or the catalog's policies tried on a plan before it is submitted.
 */
import * as z from '../shared/zod';
import { ValidationError } from '../domain/errors';
import { evaluatePlanPolicies, matchingPlanPolicies, policyPlanOf, provisionerOfDocument, type PolicyJob } from '../domain/plan-policy';
import { PLATFORM_OWNER, type CatalogReader } from '../domain/ports';
import { planPolicySchema, policyRuleResultSchema, provisionerSchema, triggerEventSchema, type PlanPolicy } from '../domain/schemas';
import { json } from '../http/problem';
import type { Route } from '../http/router';
import { parseOr400 } from './validate';

export const POLICY_CHECKS_PATH = '/v1/policy-checks';

export interface PolicyRoutesDeps {
  catalog: CatalogReader;
}

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-"');

export const policyCheckBodySchema = z
  .object({
    plan: z
      .record(z.string(), z.unknown())
      .describe(
        'the plan document: `terraform show -json <planfile>`, `tofu show -json <planfile>` or `pulumi preview --json`; sensitive values are masked here',
      ),
    provisioner: provisionerSchema.optional().describe('the tool that made the plan; default: told from the document'),
    job: z
      .object({
        org: id,
        env: id,
        resourceId: id.default('policy-check'),
        kind: id.default('policy-check'),
        triggerEvent: triggerEventSchema.default('updated'),
        createdBy: z.string().max(512).default(''),
        submittedBy: z.string().max(512).default(''),
      })
      .strict()
      .describe('what `job` holds for the rules; the caller needs a role in `org`'),
    policies: z
      .array(z.unknown())
      .max(50)
      .optional()
      .describe(
        "plan policies to test, as they would be written (an org's may leave `org` out); every rule of each is evaluated whatever its selector. Absent: the catalog's policies that match the job",
      ),
  })
  .strict();

export const policyCheckResultSchema = z
  .object({
    outcome: z
      .enum(['passed', 'warned', 'denied', 'failed'])
      .describe('what a job would do: failed (a rule could not be evaluated) and denied end it before approval; warned and passed go on'),
    requiredApprovals: z.number().int().min(2).optional().describe('the distinct approvers a holding require_approvals rule asks for'),
    results: z.array(policyRuleResultSchema),
    input: z
      .object({ plan: z.record(z.string(), z.unknown()), job: z.record(z.string(), z.string()) })
      .strict()
      .describe('`plan` and `job` exactly as the rules read them (normalized, sensitive values masked)'),
  })
  .strict();

/** A policy from the body: an org's may leave its org out (PUT fills it from the path); validated like a catalog write. */
function bodyPolicies(raw: unknown[]): PlanPolicy[] {
  return raw.map((p, i) => {
    const filled =
      p && typeof p === 'object' && !Array.isArray(p) && (p as { org?: unknown }).org === undefined
        ? (() => {
            const selector = (p as { selector?: { level?: unknown; org?: unknown } }).selector;
            return selector?.level !== 'platform' && typeof selector?.org === 'string' ? { ...(p as object), org: selector.org } : p;
          })()
        : p;
    return parseOr400(planPolicySchema, filled, `policies[${i}]`, `policies.${i}`);
  });
}

export function policyRoutes(deps: PolicyRoutesDeps): Route[] {
  return [
    {
      method: 'POST',
      path: POLICY_CHECKS_PATH,
      access: { kind: 'org-role', permission: 'read', org: 'change' },
      doc: {
        operationId: 'checkPlanPolicies',
        summary: 'Dry-run plan policies on a plan document: every rule of every policy, with its result',
        description:
          'Evaluates the given policies (or, without `policies`, the catalog policies that match the job context) on the plan document as a job ' +
          'would after its preview: the same normalization, masking, limits and outcome. Creates nothing. A policy whose expression does not ' +
          'compile is a 400 naming the rule and the position (`policies.<i>.rules.<j>.expression`).',
        tag: 'catalog',
        body: { schema: policyCheckBodySchema },
        success: { 200: { description: "every rule's result and the outcome", schema: policyCheckResultSchema } },
        errors: [400, 401, 403, 413, 500],
      },
      async handle(req) {
        const body = parseOr400(policyCheckBodySchema, req.body, 'policy check');
        req.authorize(body.job.org, `org ${body.job.org}`);
        const provisioner = body.provisioner ?? provisionerOfDocument(body.plan);
        if (!provisioner)
          throw new ValidationError('policy check is invalid', [
            { path: 'plan', message: 'not a plan document this API reads (terraform/tofu show -json, or pulumi preview --json); or name its provisioner' },
          ]);
        const job: PolicyJob = { ...body.job };
        const policies = body.policies
          ? bodyPolicies(body.policies).map((p) => ({
              id: p.id,
              source: p.selector.level === 'platform' ? ('platform' as const) : ('org' as const),
              selector: p.selector,
              rules: p.rules,
            }))
          : matchingPlanPolicies(job, await catalogPolicies(deps.catalog, job.org), await catalogPolicies(deps.catalog, PLATFORM_OWNER));
        const plan = policyPlanOf(provisioner, body.plan);
        const evaluation = evaluatePlanPolicies(policies, plan, job);
        return json(200, { ...evaluation, input: { plan, job } });
      },
    },
  ];
}

async function catalogPolicies(catalog: CatalogReader, owner: string): Promise<PlanPolicy[]> {
  return (await catalog.list('plan-policies', owner)).flatMap((item) => {
    const parsed = planPolicySchema.safeParse(item);
    return parsed.success ? [parsed.data] : [];
  });
}
