/**
 * Plan policies (lambdas/domain/plan-policy.ts, policy-cel.ts): expressions compiled when a policy is written (a
 * problem names its line and column), the input normalized from real Terraform and Pulumi plan documents with
 * sensitive values masked, every rule of every matching policy evaluated, and evaluation bounded by a cost limit and a
 * time limit.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maskSensitivePlanValues } from '../../runner-image/src/drivers/terraform/plan-json';
import {
  evaluatePlanPolicies,
  matchingPlanPolicies,
  MAX_RULE_ERROR_CHARS,
  policyPlanOf,
  policyStopMessage,
  provisionerOfDocument,
  type PolicyJob,
  type PolicyPlan,
} from '../../lambdas/domain/plan-policy';
import { compilePolicyExpression, describeProblem, policyBindings, POLICY_CEL_LIMITS } from '../../lambdas/domain/policy-cel';
import { KNOWN_AFTER_APPLY, SENSITIVE } from '../../lambdas/domain/plan-changes';
import { runPreflight } from '../../lambdas/domain/preflight';
import { PLATFORM_OWNER } from '../../lambdas/domain/ports';
import { catalogSchemas, planPolicySchema, stackJobSchema, type FrozenPlanPolicy, type PlanPolicy } from '../../lambdas/domain/schemas';
import { freezeStackJob } from '../../lambdas/domain/stack-job';
import { change, NOW, policy as flowPolicy, preflightDeps, standardCatalog } from '../support/domain-fixtures';

const fixture = (dir: string, name: string) =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', dir, `${name}.json`), 'utf8')) as Record<string, unknown>;
const terraform = (name: string) => policyPlanOf('terraform', fixture('terraform/show-json', name));
const pulumi = (name: string) => policyPlanOf('pulumi', fixture('pulumi', name));

const JOB: PolicyJob = {
  org: 'acmecorp',
  env: 'production',
  resourceId: 'eks_01',
  kind: 'aws_eks_cluster',
  triggerEvent: 'updated',
  createdBy: 'dev@acmecorp.example',
  submittedBy: 'dev@acmecorp.example',
};

const policy = (id: string, rules: FrozenPlanPolicy['rules'], source: FrozenPlanPolicy['source'] = 'org'): FrozenPlanPolicy => ({
  id,
  source,
  selector: source === 'platform' ? { level: 'platform' } : { level: 'organization', org: 'acmecorp' },
  rules,
});
const rule = (name: string, effect: 'deny' | 'warn' | 'require_approvals', expression: string, approvals?: number) => ({
  name,
  effect,
  expression,
  message: `${name} holds`,
  ...(approvals ? { approvals } : {}),
});

const problemOf = (expression: string) => {
  const compiled = compilePolicyExpression(expression);
  if (compiled.ok) throw new Error(`${expression} compiled`);
  return describeProblem(compiled.problem);
};
const holds = (expression: string, plan: PolicyPlan, job: PolicyJob = JOB) => {
  const compiled = compilePolicyExpression(expression);
  if (!compiled.ok) throw new Error(describeProblem(compiled.problem));
  const result = compiled.evaluate(policyBindings(plan, job));
  if (!result.ok) throw new Error(result.error);
  return result.value;
};

describe('the input, normalized across tools', () => {
  it('reads a Terraform plan: every resource with its type, provider and actions; outputs; drift; the summary the runner computes', () => {
    const plan = terraform('basic-delete');
    expect(plan.resources.map((r) => [r.address, r.type, r.provider, r.actions])).toEqual([
      ['test_instance.test', 'test_instance', 'test', ['update']],
      ['test_instance.test-delete', 'test_instance', 'test', ['delete']],
    ]);
    expect(plan.outputs).toEqual([{ name: 'test', actions: ['create'] }]);
    expect(plan.summary).toEqual({ add: 0, change: 1, destroy: 1, replace: 0, read: 0, import: 0, forget: 0, outputChanges: 1 });
    expect(terraform('drift').drift).toEqual([{ address: 'test_instance.should_refresh', actions: ['update'] }]);
  });

  it('shows a replacement as delete and create, and what is unknown until apply as "(known after apply)"', () => {
    const [r] = terraform('requires-replace').resources;
    expect(r.actions).toEqual(['delete', 'create']);
    expect((r.after as Record<string, unknown>).id).toBe(KNOWN_AFTER_APPLY);
    expect((r.before as Record<string, unknown>).ami).toBe('bar');
  });

  it('masks sensitive values, whether the runner masked them already or the dry run gets them raw', () => {
    const raw = fixture('terraform/show-json', 'sensitive-values');
    const secret = 'boop';
    for (const document of [raw, maskSensitivePlanValues(raw)]) {
      const plan = policyPlanOf('terraform', document);
      expect((plan.resources[0].after as Record<string, unknown>).ami).toBe(SENSITIVE);
      expect(JSON.stringify(plan)).not.toContain(secret);
    }
    // A rule cannot read the value either.
    expect(holds(`plan.resources.exists(r, r.after.ami == '${secret}')`, policyPlanOf('terraform', raw))).toBe(false);
  });

  it('reads a Pulumi preview the same way: URNs as addresses, type tokens, the provider package, Terraform action words, inputs', () => {
    const plan = pulumi('preview-deletes');
    expect(plan.resources.every((r) => r.address.startsWith('urn:pulumi:'))).toBe(true);
    expect(plan.resources.some((r) => r.type === 'pulumi:pulumi:Stack')).toBe(false);
    expect(plan.resources.filter((r) => r.actions.includes('delete'))).toHaveLength(14);
    expect(plan.resources.filter((r) => r.actions[0] === 'no-op')).toHaveLength(1);
    expect(plan.resources.find((r) => r.type === 'aws:s3/bucketNotification:BucketNotification')).toMatchObject({ provider: 'aws', after: null });
    expect(plan.summary).toMatchObject({ add: 0, destroy: 14, change: 0 });
    const update = pulumi('preview-update');
    expect(update.summary.change).toBe(1);
    const changed = update.resources.find((r) => r.actions[0] === 'update')!;
    expect(changed.type).toBe('aws:lambda/function:Function');
    // Pulumi's own bookkeeping (`__defaults`) is not an input anyone set.
    expect(Object.keys(changed.after as object)).not.toContain('__defaults');
  });

  it('tells the tool from the document', () => {
    expect(provisionerOfDocument(fixture('pulumi', 'preview-update'))).toBe('pulumi');
    expect(provisionerOfDocument(fixture('terraform/show-json', 'basic-create'))).toBe('terraform');
    expect(provisionerOfDocument({ hello: 'world' })).toBeUndefined();
  });

  it('runs the README examples on both tools', () => {
    const deletes = "plan.resources.exists(r, 'delete' in r.actions)";
    expect(holds(deletes, terraform('basic-delete'))).toBe(true);
    expect(holds(deletes, terraform('basic-create'))).toBe(false);
    expect(holds(deletes, pulumi('preview-deletes'))).toBe(true);
    expect(holds(deletes, pulumi('preview-creates'))).toBe(false);
    const prodAdds = "plan.summary.add > 0 && job.env == 'production'";
    expect(holds(prodAdds, pulumi('preview-creates'))).toBe(true);
    expect(holds(prodAdds, pulumi('preview-creates'), { ...JOB, env: 'dev' })).toBe(false);
    expect(holds("plan.resources.filter(r, r.provider == 'aws').size() == 15", pulumi('preview-update'))).toBe(true);
    expect(holds('plan.resources.exists(r, r.before.ami == "bar" && r.after.ami == "force-replace")', terraform('requires-replace'))).toBe(true);
  });
});

describe('every fixture plan (test/fixtures, and ../shared/fixtures when present)', () => {
  const dirs = (sub: string) =>
    [join(__dirname, '..', 'fixtures', sub), join(__dirname, '..', '..', '..', 'shared', 'fixtures', sub)].filter((d) => existsSync(d));
  const documents = (sub: string) =>
    dirs(sub).flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.json'))
        .map((f) => ({ name: `${d}/${f}`, doc: JSON.parse(readFileSync(join(d, f), 'utf8')) as Record<string, unknown> })),
    );
  /** Every value a Terraform plan marks sensitive, as text. */
  const sensitiveValues = (value: unknown, mask: unknown): string[] => {
    if (mask === true) return value === null || value === undefined || typeof value === 'object' ? [] : [String(value)];
    if (!mask || typeof mask !== 'object' || !value || typeof value !== 'object') return [];
    return Object.keys(mask).flatMap((k) => sensitiveValues((value as Record<string, unknown>)[k], (mask as Record<string, unknown>)[k]));
  };

  it("normalizes each Terraform show-json document: one entry per resource change, the runner's summary, no sensitive value", () => {
    const all = documents('terraform/show-json');
    expect(all.length).toBeGreaterThanOrEqual(9);
    for (const { name, doc } of all) {
      const plan = policyPlanOf('terraform', doc);
      const changes = (doc.resource_changes ?? []) as Array<{
        address: string;
        change: { before?: unknown; after?: unknown; before_sensitive?: unknown; after_sensitive?: unknown };
      }>;
      expect({ name, addresses: plan.resources.map((r) => r.address) }).toEqual({ name, addresses: changes.map((c) => c.address) });
      const secrets = changes.flatMap((c) => [
        ...sensitiveValues(c.change.before, c.change.before_sensitive),
        ...sensitiveValues(c.change.after, c.change.after_sensitive),
      ]);
      const text = JSON.stringify(plan.resources);
      expect({ name, leaked: secrets.filter((v) => v.length > 2 && text.includes(JSON.stringify(v))) }).toEqual({ name, leaked: [] });
      expect(evaluatePlanPolicies([policy('p', [rule('any', 'warn', 'plan.resources.exists(r, size(r.actions) > 0) || true')])], plan, JOB).outcome).toBe(
        'warned',
      );
    }
  });

  it('normalizes each Pulumi preview: every step but the stack, in Terraform action words', () => {
    const all = documents('pulumi');
    expect(all.length).toBeGreaterThanOrEqual(3);
    for (const { name, doc } of all) {
      const plan = policyPlanOf('pulumi', doc);
      const steps = (doc.steps as Array<{ urn: string }>).filter((s) => !s.urn.includes('::pulumi:pulumi:Stack::'));
      expect({ name, count: plan.resources.length }).toEqual({ name, count: steps.length });
      for (const r of plan.resources) expect(['create', 'update', 'delete', 'read', 'import', 'forget', 'no-op']).toEqual(expect.arrayContaining(r.actions));
    }
  });
});

describe('compiling an expression when the policy is written', () => {
  it('names the line and column of a syntax error (where the parser stopped: the start of the incomplete part)', () => {
    expect(problemOf('plan.summary.add > 0 &&')).toBe('line 1, column 22: syntax error: found & but expecting end of input');
    expect(problemOf('plan.summary.add > 0\n  && (job.env ==')).toMatch(/^line 2, column 3: syntax error/);
  });

  it('refuses unknown variables, fields and functions, message types, and what is not a condition', () => {
    expect(problemOf('plan.summry.add > 0')).toBe("line 1, column 5: plan has no field 'summry' (its fields: summary, resources, outputs, drift)");
    expect(problemOf('plan.summary.ad > 0')).toContain("column 13: plan.summary has no field 'ad'");
    expect(problemOf("plan.resources.exists(r, r.adress == 'x')")).toContain("column 27: a resource has no field 'adress'");
    expect(problemOf('env == "production"')).toBe("line 1, column 1: unknown name 'env' (the variables are plan and job)");
    expect(problemOf('plan.resources.any(r, true)')).toContain("unknown function 'any'");
    expect(problemOf('job.env.foo == 1')).toContain("cannot select 'foo' from a string");
    expect(problemOf('google.protobuf.Duration{seconds: 1} != null')).toContain('message types are not available');
    expect(problemOf('plan.summary.add')).toContain('must be a condition (true or false), but it gives an int');
    expect(problemOf("'production'")).toContain('but it gives a string');
  });

  it('bounds the expression: characters, nodes, loops inside loops', () => {
    expect(problemOf(`job.env == '${'x'.repeat(POLICY_CEL_LIMITS.expressionChars)}'`)).toContain(`longer than ${POLICY_CEL_LIMITS.expressionChars} characters`);
    expect(problemOf(`[${Array.from({ length: 420 }, () => 1).join(',')}].size() > 0`)).toContain('too large (more than 400 nodes)');
    expect(problemOf('plan.resources.all(a, plan.resources.all(b, plan.resources.all(c, plan.resources.all(d, true))))')).toContain(
      'loops are nested more than 3 deep',
    );
    expect(compilePolicyExpression('plan.resources.all(a, plan.resources.all(b, plan.resources.all(c, true)))').ok).toBe(true);
  });

  it('is what a catalog write validates: the problem is at rules.<i>.expression and names the rule', () => {
    const parsed = catalogSchemas['plan-policies'].safeParse({
      id: 'no-deletes',
      org: 'acmecorp',
      selector: { level: 'organization', org: 'acmecorp' },
      rules: [rule('fine', 'warn', 'true'), rule('broken', 'deny', 'plan.resources.exists(r, ')],
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['rules.1.expression', 'rule broken: line 1, column 15: syntax error: found . but expecting end of input'],
    ]);
  });

  it('keeps the effect and its fields together, rule names unique, and an org policy within its org', () => {
    const base = { id: 'p', org: 'acmecorp', selector: { level: 'organization', org: 'acmecorp' } };
    const issues = (p: unknown) => (planPolicySchema.safeParse(p).error?.issues ?? []).map((i) => i.path.join('.'));
    expect(issues({ ...base, rules: [rule('two', 'require_approvals', 'true', 2)] })).toEqual([]);
    expect(issues({ ...base, rules: [rule('two', 'require_approvals', 'true')] })).toEqual(['rules.0.approvals']);
    expect(issues({ ...base, rules: [rule('one', 'require_approvals', 'true', 1)] })).toEqual(['rules.0.approvals']);
    expect(issues({ ...base, rules: [{ ...rule('w', 'warn', 'true'), approvals: 2 }] })).toEqual(['rules.0.approvals']);
    expect(issues({ ...base, rules: [rule('a', 'warn', 'true'), rule('a', 'deny', 'false')] })).toEqual(['rules']);
    expect(issues({ ...base, selector: { level: 'organization', org: 'globex' }, rules: [rule('a', 'warn', 'true')] })).toEqual(['selector.org']);
    expect(issues({ id: 'p', selector: { level: 'platform' }, rules: [rule('a', 'warn', 'true')] })).toEqual([]);
    expect(issues({ id: 'p', org: 'acmecorp', selector: { level: 'platform' }, rules: [rule('a', 'warn', 'true')] })).toEqual(['org']);
  });
});

describe('evaluation', () => {
  it('applies every matching policy: the platform one holds although the org one passes', () => {
    const org: PlanPolicy = {
      id: 'org-allows',
      org: 'acmecorp',
      selector: { level: 'environment', org: 'acmecorp', env: 'production' },
      rules: [rule('ok', 'warn', 'false')],
    };
    const other: PlanPolicy = {
      id: 'other-env',
      org: 'acmecorp',
      selector: { level: 'environment', org: 'acmecorp', env: 'dev' },
      rules: [rule('dev', 'deny', 'true')],
    };
    const platform: PlanPolicy = {
      id: 'no-deletes',
      selector: { level: 'platform' },
      rules: [rule('deletes', 'deny', "plan.resources.exists(r, 'delete' in r.actions)")],
    };
    const matched = matchingPlanPolicies({ org: 'acmecorp', env: 'production', resourceId: 'eks_01' }, [org, other], [platform]);
    expect(matched.map((p) => `${p.source}/${p.id}`)).toEqual(['platform/no-deletes', 'org/org-allows']);
    const evaluation = evaluatePlanPolicies(matched, terraform('basic-delete'), JOB);
    expect(evaluation).toEqual({
      outcome: 'denied',
      results: [
        { policy: 'no-deletes', source: 'platform', rule: 'deletes', effect: 'deny', passed: false, message: 'deletes holds' },
        { policy: 'org-allows', source: 'org', rule: 'ok', effect: 'warn', passed: true, message: 'ok holds' },
      ],
    });
    expect(policyStopMessage(evaluation)).toBe('denied by policy no-deletes rule deletes: deletes holds');
  });

  it('warns, and asks for the most approvals any holding require_approvals rule names', () => {
    const evaluation = evaluatePlanPolicies(
      [
        policy('big', [rule('adds', 'warn', 'plan.summary.add > 0'), rule('two', 'require_approvals', 'plan.summary.add > 0', 2)]),
        policy('prod', [rule('three', 'require_approvals', "job.env == 'production'", 3), rule('never', 'require_approvals', 'false', 5)], 'platform'),
      ],
      terraform('basic-create'),
      JOB,
    );
    expect(evaluation.outcome).toBe('warned');
    expect(evaluation.requiredApprovals).toBe(3);
    expect(evaluation.results.map((r) => r.passed)).toEqual([false, false, false, true]);
  });

  it('passes when no rule holds', () => {
    expect(
      evaluatePlanPolicies([policy('p', [rule('deletes', 'deny', "plan.resources.exists(r, 'delete' in r.actions)")])], terraform('basic-create'), JOB),
    ).toMatchObject({
      outcome: 'passed',
    });
  });

  it('fails (rather than lets the plan through) when a rule cannot be evaluated', () => {
    const evaluation = evaluatePlanPolicies(
      [policy('p', [rule('missing', 'warn', "plan.resources.exists(r, r.after.tags.Name == 'x')"), rule('deletes', 'deny', 'true')])],
      terraform('basic-create'),
      JOB,
    );
    expect(evaluation.outcome).toBe('failed');
    expect(evaluation.results[0]).toMatchObject({ passed: false, error: expect.stringContaining('could not be evaluated') });
    expect(policyStopMessage(evaluation)).toMatch(/^policy p rule missing: the expression could not be evaluated: /);
  });

  it('stops an expensive expression at the cost limit, with a clear reason', () => {
    const range = `[${Array.from({ length: 60 }, (_, i) => i).join(',')}]`;
    const expensive = `${range}.all(a, ${range}.all(b, ${range}.all(c, a + b + c >= 0)))`;
    expect(compilePolicyExpression(expensive).ok).toBe(true);
    const evaluation = evaluatePlanPolicies([policy('p', [rule('costly', 'warn', expensive)])], terraform('basic-create'), JOB);
    expect(evaluation.outcome).toBe('failed');
    expect(evaluation.results[0].error).toBe('stopped by the cost limit: more than 50,000 evaluation steps');
    // The same work over a large plan: each loop iteration counts.
    const many: PolicyPlan = {
      ...terraform('basic-create'),
      resources: Array.from({ length: 500 }, (_, i) => ({ address: `r${i}`, type: 't', provider: 'p', actions: ['create'], before: null, after: {} })),
    };
    const pairs = evaluatePlanPolicies([policy('p', [rule('pairs', 'warn', 'plan.resources.all(a, plan.resources.all(b, a.address != "" ))')])], many, JOB);
    expect(pairs.results[0].error).toContain('cost limit');
  });

  it('stops at the time limit, checked at every step', () => {
    let t = 0;
    const now = () => (t += 10);
    const evaluation = evaluatePlanPolicies(
      [policy('p', [rule('slow', 'warn', '[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, true))')])],
      terraform('basic-create'),
      JOB,
      { now, ruleMillis: 100 },
    );
    expect(evaluation.results[0].error).toMatch(/^stopped by the time limit of 100 ms$/);
    // The whole evaluation has its own limit: rules after it are stopped before they start.
    t = 0;
    const all = evaluatePlanPolicies(
      [policy('p', [rule('first', 'warn', '[1,2,3].all(a, true)'), rule('second', 'warn', 'true')])],
      terraform('basic-create'),
      JOB,
      { now, totalMillis: 25 },
    );
    expect(all.results.map((r) => r.error ?? 'ok')).toEqual([expect.stringContaining('time limit'), expect.stringContaining('time limit')]);
  });

  it('handles large plans: map and filter over 10,000 resources within the limits', () => {
    const big: PolicyPlan = {
      ...terraform('basic-create'),
      resources: Array.from({ length: 10_000 }, (_, i) => ({
        address: `r${i}`,
        type: 't',
        provider: 'p',
        actions: i === 9_999 ? ['delete'] : ['create'],
        before: null,
        after: { n: i },
      })),
    };
    expect(holds("plan.resources.map(r, r.address).exists(a, a == 'r9999')", big)).toBe(true);
    expect(holds("plan.resources.filter(r, 'delete' in r.actions).size() == 1", big)).toBe(true);
    expect(holds('plan.resources.exists(r, r.after.n == 9999)', big)).toBe(true);
  });

  it("keeps at most MAX_RULE_ERROR_CHARS of a rule's error, however much of the plan CEL quotes in it (the job item is 400 KB)", () => {
    const document = 'x'.repeat(50_000);
    const plan: PolicyPlan = {
      ...terraform('basic-create'),
      resources: [{ address: 'a', type: 't', provider: 'p', actions: ['create'], before: null, after: { policy: document } }],
    };
    // CEL's "field not found" names the key it looked up: here, the whole 50 KB value.
    const evaluation = evaluatePlanPolicies([policy('p', [rule('quotes', 'deny', 'plan.resources[0].after[plan.resources[0].after.policy] == 1')])], plan, JOB);
    const error = evaluation.results[0].error!;
    expect(evaluation.outcome).toBe('failed');
    expect(error).toMatch(/^the expression could not be evaluated: field not found: x+…$/);
    expect(error.length).toBe(MAX_RULE_ERROR_CHARS + 1);
  });
});

describe('at submission', () => {
  const platform: PlanPolicy = {
    id: 'no-deletes',
    selector: { level: 'platform' },
    rules: [rule('deletes', 'deny', "plan.resources.exists(r, 'delete' in r.actions)")],
  };
  const production: PlanPolicy = {
    id: 'prod-adds',
    org: 'acmecorp',
    selector: { level: 'environment', org: 'acmecorp', env: 'production' },
    rules: [rule('adds', 'require_approvals', 'plan.summary.add > 0', 2)],
  };
  const staging: PlanPolicy = { ...production, id: 'staging', selector: { level: 'environment', org: 'acmecorp', env: 'staging' } };

  it('freezes every matching policy into the snapshot, names them in the flowControl check, and previews though flow control says not', async () => {
    const catalog = standardCatalog()
      .add('plan-policies', PLATFORM_OWNER, platform)
      .add('plan-policies', 'acmecorp', production, staging)
      .add(
        'flow-control-policies',
        'acmecorp',
        flowPolicy({ id: 'no-preview', selector: { level: 'organization', org: 'acmecorp' }, previewBeforeUpdate: false, pauseBetweenPreviewAndUpdate: false }),
      );
    const outcome = await runPreflight(change(), preflightDeps({ catalog }));
    expect(outcome.passed).toBe(true);
    expect(outcome.checks.find((c) => c.check === 'flowControl')?.messages).toEqual([
      'policy no-preview from the organization level',
      'plan policies platform/no-deletes, acmecorp/prod-adds (2 rules) check the plan before any approval; the job previews so that they can',
    ]);
    const job = stackJobSchema.parse(freezeStackJob(change(), outcome, 'sj_01jsrnmwpnnc6n62h06xafcgxv', NOW));
    expect(job.spec.essentials.planPolicies?.map((p) => `${p.source}/${p.id}`)).toEqual(['platform/no-deletes', 'org/prod-adds']);
    expect(job.spec.essentials.planPolicies?.[1].rules).toEqual([rule('adds', 'require_approvals', 'plan.summary.add > 0', 2)]);
    expect(job.spec.essentials.flowControlPolicy.previewBeforeUpdate).toBe(true);
    expect(job.spec.operations).toEqual(['init', 'plan', 'apply']);
  });

  it('freezes nothing, and changes nothing, when no policy matches', async () => {
    const outcome = await runPreflight(change(), preflightDeps({ catalog: standardCatalog().add('plan-policies', 'acmecorp', staging) }));
    const job = freezeStackJob(change(), outcome, 'sj_01jsrnmwpnnc6n62h06xafcgxv', NOW);
    expect(job.spec.essentials.planPolicies).toBeUndefined();
    expect(outcome.checks.find((c) => c.check === 'flowControl')?.messages).toHaveLength(1);
  });
});
