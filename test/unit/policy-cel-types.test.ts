/**
 * The type check of plan-policy expressions (lambdas/domain/policy-cel.ts): when a policy is written, every operand's
 * type is inferred from the declared input and the literals and must fit its operator or function, so a rule that could
 * only fail when it runs is a 400 naming the rule and the position. Values declared `dyn` (a resource's `before` and
 * `after`) fit anything, and no expression the README, the examples or the other tests use is refused.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { evaluatePlanPolicies, policyPlanOf, type PolicyJob } from '../../lambdas/domain/plan-policy';
import { compilePolicyExpression, describeProblem, policyBindings } from '../../lambdas/domain/policy-cel';
import { catalogSchemas } from '../../lambdas/domain/schemas';

const ROOT = join(__dirname, '..', '..');

/** The messages a catalog write of a policy with this one rule answers (a 400's `errors`). */
const writeErrors = (name: string, expression: string) => {
  const parsed = catalogSchemas['plan-policies'].safeParse({
    id: 'guard',
    org: 'acmecorp',
    selector: { level: 'organization', org: 'acmecorp' },
    rules: [{ name, effect: 'deny', expression, message: 'no' }],
  });
  return (parsed.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);
};

const problemOf = (expression: string) => {
  const compiled = compilePolicyExpression(expression);
  return compiled.ok ? 'compiled' : describeProblem(compiled.problem);
};

describe('refusing, when the policy is written, what could only fail when it runs', () => {
  it.each([
    ['job.env > 1', "line 1, column 9: '>' cannot compare a string with an int"],
    ["plan.summary.add + 'x' == '1x'", "line 1, column 18: '+' cannot be applied to an int and a string"],
    ['job.org == 3', "line 1, column 9: '==' cannot compare a string with an int"],
    ['!plan.summary.add', "line 1, column 2: the operand of '!' must be a bool, not an int"],
    ['plan.summary.add && true', "line 1, column 1: each side of '&&' must be a bool, not an int"],
    ["'x' in plan.summary.add", "line 1, column 5: 'in' needs a list or a map on its right, not an int"],
    ['size(1) > 0', 'line 1, column 1: size() does not take an int (it takes bytes, a list, a string or a map)'],
    ['plan.summary.add', 'line 1, column 1: the expression must be a condition (true or false), but it gives an int'],
    ['plan.summary.add > 0 && (job.env ? true : false)', "line 1, column 26: the condition of '? :' must be a bool, not a string"],
  ])('%s', (expression, problem) => {
    expect(writeErrors('typed', expression)).toEqual([`rules.0.expression: rule typed: ${problem}`]);
  });

  it('holds equality to one type and orders numbers across int, uint and double, as CEL’s standard library does', () => {
    // Ordering across numeric types is in CEL's standard library (and @bufbuild/cel runs it): 1 > 1.5 is false, 2 > 1u true.
    expect(problemOf('plan.summary.add > 0.5')).toBe('compiled');
    expect(problemOf('plan.summary.add >= 0u')).toBe('compiled');
    expect(problemOf("plan.summary.add > 'x'")).toContain("'>' cannot compare an int with a string");
    expect(problemOf('plan.summary.add == 1u')).toContain("'==' cannot compare an int with a uint");
    expect(problemOf('plan.summary == null')).toBe("line 1, column 14: '==' cannot compare plan.summary with null");
    expect(problemOf('plan.resources > 1')).toContain("'>' cannot compare a list of resources with an int");
    expect(problemOf('double(plan.summary.add) > 0.5')).toBe('compiled');
  });

  it('checks what `in` looks for against the list it looks in', () => {
    expect(problemOf('plan.resources.exists(r, 1 in r.actions)')).toBe("line 1, column 28: 'in' cannot look for an int in a list of strings");
    expect(problemOf('plan.summary.add in ["1"]')).toContain("'in' cannot look for an int in a list of strings");
    expect(problemOf("'add' in plan.summary")).toBe('compiled');
  });

  it('names the macro whose condition is not a bool, at the condition', () => {
    expect(problemOf('plan.resources.exists(r, r.address)')).toBe('line 1, column 26: the condition of exists() must be a bool, not a string');
    expect(problemOf('plan.resources.all(r, r.actions)')).toBe('line 1, column 23: the condition of all() must be a bool, not a list of strings');
    expect(problemOf('plan.outputs.exists_one(o, o.name)')).toContain('the condition of exists_one() must be a bool, not a string');
    expect(problemOf('plan.drift.filter(d, 1).size() > 0')).toContain('the condition of filter() must be a bool, not an int');
  });

  it('types what a macro makes: the loop variable is an element, map gives a list of what it maps to, filter keeps the element type', () => {
    expect(problemOf('plan.resources.map(r, r.address).exists(a, a > 1)')).toBe("line 1, column 46: '>' cannot compare a string with an int");
    expect(problemOf("plan.resources.map(r, 'delete' in r.actions, r.actions).exists(a, a == 'x')")).toContain(
      "'==' cannot compare a list of strings with a string",
    );
    expect(problemOf("plan.resources.filter(r, 'delete' in r.actions).exists(r, r.adress == 'x')")).toContain("a resource has no field 'adress'");
    expect(problemOf('plan.resources.exists_one(r, r.actions.exists(a, a == 1))')).toContain("'==' cannot compare a string with an int");
  });

  it('checks functions and methods against the overloads the environment registers', () => {
    expect(problemOf('job.env.startsWith(1)')).toBe('line 1, column 8: startsWith() on a string does not take an int (it takes a string)');
    expect(problemOf("plan.summary.add.endsWith('0')")).toBe('line 1, column 17: endsWith() cannot be called on an int (it is called on a string)');
    expect(problemOf("contains(job.env, 'prod')")).toBe('line 1, column 1: contains() is a method: call it as x.contains(…)');
    expect(problemOf("job.env.matches('^prod', 1)")).toContain('matches() takes 1 argument, not 2');
    expect(problemOf("timestamp('2026-01-01T00:00:00Z') > 1")).toContain("'>' cannot compare a timestamp with an int");
  });

  it('checks the other operators: arithmetic, negation, indexing, the two branches of ? :', () => {
    expect(problemOf("-job.env == 'x'")).toBe("line 1, column 1: '-' cannot be applied to a string");
    expect(problemOf('plan.summary.add % 2.0 == 0.0')).toContain("'%' cannot be applied to an int and a double");
    expect(problemOf("[1] + ['a'] == []")).toContain("'+' cannot be applied to a list of ints and a list of strings");
    expect(problemOf("plan.resources['a'] == null")).toBe('line 1, column 15: a list is indexed by an int, not a string');
    expect(problemOf("job.env[0] == 'p'")).toBe('line 1, column 8: cannot index a string');
    expect(problemOf("job.env == 'production' ? 1 : 'a'")).toContain("the two branches of '? :' must have the same type, not an int and a string");
  });

  it('places the problem by line and column in a multi-line expression, counting characters', () => {
    expect(problemOf('plan.summary.add > 0 &&\n  plan.resources.exists(r,\n    r.type > 2)')).toBe(
      "line 3, column 12: '>' cannot compare a string with an int",
    );
    expect(problemOf("'😀😀' == 1")).toBe("line 1, column 6: '==' cannot compare a string with an int");
  });
});

describe('accepting every expression that can be right', () => {
  /** The rules of every policy in the README's YAML blocks and in examples/. */
  const documented = (): string[] => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => /^\s*expression:/m.test(b));
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : /\.ya?ml$/.test(f) ? [join(dir, f)] : []));
    const documents = [...blocks, ...files(join(ROOT, 'examples')).map((f) => readFileSync(f, 'utf8'))].map((text) => parseYaml(text) as unknown);
    return documents.flatMap((d) => ((d as { rules?: Array<{ expression?: unknown }> } | null)?.rules ?? []).map((r) => String(r.expression)));
  };

  it('accepts the expressions of the README and the examples', () => {
    const expressions = documented();
    expect(expressions.length).toBeGreaterThanOrEqual(5);
    expect(expressions.map((e) => [e, problemOf(e)])).toEqual(expressions.map((e) => [e, 'compiled']));
  });

  const used = [
    "plan.resources.exists(r, 'delete' in r.actions)",
    "plan.summary.add > 0 && job.env == 'production'",
    "plan.resources.exists(r, r.type == 'aws_s3_bucket_public_access_block' && 'delete' in r.actions)",
    "plan.resources.filter(r, r.provider == 'aws').size() == 15",
    'plan.resources.exists(r, r.before.ami == "bar" && r.after.ami == "force-replace")',
    "plan.resources.exists(r, r.after.ami == 'boop')",
    'plan.resources.exists(r, size(r.actions) > 0) || true',
    'plan.resources.all(a, plan.resources.all(b, plan.resources.all(c, true)))',
    '[0,1,2].all(a, [0,1,2].all(b, [0,1,2].all(c, a + b + c >= 0)))',
    'plan.resources.all(a, plan.resources.all(b, a.address != "" ))',
    '[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, true))',
    "plan.resources.map(r, r.address).exists(a, a == 'r9999')",
    "plan.resources.filter(r, 'delete' in r.actions).size() == 1",
    'plan.resources.exists(r, r.after.n == 9999)',
    "plan.resources.exists(r, r.after.tags.Name == 'x')",
    "job.resourceId.startsWith('pp_deny') && plan.resources.exists(r, 'delete' in r.actions)",
    "plan.resources.exists(r, r.type == 'terraform_data' && 'create' in r.actions)",
    "plan.resources.all(r, r.provider == 'terraform')",
    "job.env == 'production'",
    'true',
    'false',
  ];

  /** What the README's prose shows, and values read from `before`/`after` (declared dyn: anything goes). */
  const valid = [
    'plan.resources.exists(r, r.after.port == 22)',
    'plan.summary.add + 1 > 1',
    "plan.resources.exists(r, has(r.after.tags) && r.after.tags.Name == 'web')",
    "plan.resources.all(r, r.type in ['aws_s3_bucket', 'aws_iam_role'])",
    "plan.resources.exists(r, r.actions == ['delete', 'create'])",
    "plan.resources.exists(r, r.after != null && r.after.acl == 'public-read')",
    'plan.resources.exists(r, r.before.size > 1.5 || r.after.count + 1 > 2 || r.after.name + "x" == "yx")',
    "plan.resources.exists(r, 'Name' in r.after.tags && r.after.tags.all(k, k.startsWith('x')))",
    "plan.resources.exists(r, timestamp(r.after.created) < timestamp('2026-01-01T00:00:00Z'))",
    "plan.resources.map(r, r.after).exists(a, a.x == 1 || a == 'y')",
    'plan.summary.all(k, plan.summary[k] >= 0)',
    "'summary' in plan && plan['summary'].add >= 0",
    'size(plan.resources) > 10 && plan.drift.size() > 0',
    "plan.resources.map(r, r.type).filter(t, t.matches('^aws_')).size() > 0",
    "plan.resources.map(r, 'delete' in r.actions, r.address).exists(a, a.startsWith('module.'))",
    "plan.outputs.exists_one(o, o.name == 'url' && 'delete' in o.actions)",
    "job.triggerEvent == 'deleted' || plan.summary.destroy > 0",
    "job.createdBy.endsWith('@acmecorp.example') && job.env.contains('prod') && job.env.matches('^prod')",
    "job.env in ['production', 'staging'] ? plan.summary.add < 10 : true",
    'double(plan.summary.add) / 2.0 > 1.5 && uint(plan.summary.add) >= 0u && -plan.summary.add <= 0',
    "string(plan.summary.add) == '1' || int('2') == plan.summary.change",
    "dyn(plan.summary.add) == 'anything'",
    '[1, 2.0, "three"].exists(x, x == 1)',
    "[].exists(x, x > 1) || plan.resources[0].address == 'x'",
    "duration('1h') < duration('2h') && timestamp('2026-01-01T00:00:00Z').getFullYear() > 2000",
  ];

  it.each([...used, ...valid])('%s', (expression) => {
    expect(problemOf(expression)).toBe('compiled');
  });

  it('runs what it accepts over the declared fields without a type error', () => {
    const plan = policyPlanOf('terraform', JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'terraform', 'show-json', 'basic-delete.json'), 'utf8')));
    const job: PolicyJob = { org: 'acmecorp', env: 'production', resourceId: 'r', kind: 'k', triggerEvent: 'updated', createdBy: 'a', submittedBy: 'a' };
    const typedOnly = [...used, ...valid].filter((e) => !/\.(before|after)\b|r9999|== 15/.test(e));
    for (const expression of typedOnly) {
      const compiled = compilePolicyExpression(expression);
      if (!compiled.ok) throw new Error(expression);
      expect({ expression, result: compiled.evaluate(policyBindings(plan, job)) }).toEqual({ expression, result: { ok: true, value: expect.any(Boolean) } });
    }
  });

  it('runs a stored rule as planned: a policy written before a stricter check still evaluates, it is not failed by the check', () => {
    // An int compared with a double by equality: refused when written now, but a policy stored by an earlier version runs.
    expect(compilePolicyExpression('plan.summary.add == 1.0').ok).toBe(false);
    const stored = {
      id: 'older',
      source: 'org' as const,
      selector: { level: 'organization' as const, org: 'acmecorp' },
      rules: [{ name: 'eq', effect: 'warn' as const, expression: 'plan.summary.add >= 0 && plan.summary.add == 1.0', message: 'one add' }],
    };
    const JOB_CONTEXT: PolicyJob = {
      org: 'acmecorp',
      env: 'production',
      resourceId: 'r',
      kind: 'k',
      triggerEvent: 'updated',
      createdBy: 'a',
      submittedBy: 'a',
    };
    const evaluation = evaluatePlanPolicies(
      [stored],
      { summary: { add: 1, change: 0, destroy: 0, replace: 0, read: 0, import: 0, forget: 0, outputChanges: 0 }, resources: [], outputs: [], drift: [] },
      JOB_CONTEXT,
    );
    expect(evaluation.results[0]).not.toHaveProperty('error');
    expect(evaluation.outcome).toBe('warned');
  });
});
