/**
 * Plan policies through the API: the catalog kind at the org and the platform level (each response checked against
 * docs/openapi.json), an expression that does not compile refused with a 400 naming the rule and the position, and
 * the dry run (POST /v1/policy-checks) on a real Terraform plan document and a Pulumi preview.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLATFORM_OWNER } from '../../lambdas/domain/ports';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(() => h.stop());

const plan = (dir: string, name: string) => JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', dir, `${name}.json`), 'utf8')) as Record<string, unknown>;

const orgPolicy = {
  selector: { level: 'environment', org: 'acmecorp', env: 'production' },
  rules: [
    { name: 'deletes', effect: 'warn', expression: "plan.resources.exists(r, 'delete' in r.actions)", message: 'something is deleted' },
    {
      name: 'adds',
      effect: 'require_approvals',
      approvals: 2,
      expression: "plan.summary.add > 0 && job.env == 'production'",
      message: 'two approvers for adds',
    },
  ],
};
const platformPolicy = {
  selector: { level: 'platform' },
  rules: [{ name: 'no-deletes', effect: 'deny', expression: "plan.resources.exists(r, 'delete' in r.actions)", message: 'no deletes anywhere' }],
};

describe('the plan-policies catalog kind', () => {
  it("is an org admin's at the org level (org filled from the path) and a platform admin's at the platform level", async () => {
    const put = await h.call('PUT', '/v1/orgs/acmecorp/plan-policies/prod-guard', { principal: principals.admin, body: orgPolicy });
    expect(put.statusCode).toBe(201);
    expect(put.json()).toEqual({ id: 'prod-guard', org: 'acmecorp', ...orgPolicy });
    expect((await h.call('GET', '/v1/orgs/acmecorp/plan-policies/prod-guard', { principal: principals.viewer })).json()).toMatchObject({ id: 'prod-guard' });
    expect((await h.call('GET', '/v1/orgs/acmecorp/plan-policies', { principal: principals.viewer })).json().items).toHaveLength(1);
    expect((await h.call('PUT', '/v1/orgs/acmecorp/plan-policies/prod-guard', { principal: principals.operator, body: orgPolicy })).statusCode).toBe(403);

    expect((await h.call('PUT', '/v1/platform/plan-policies/no-deletes', { principal: principals.admin, body: platformPolicy })).statusCode).toBe(403);
    const platform = await h.call('PUT', '/v1/platform/plan-policies/no-deletes', { principal: principals.platformAdmin, body: platformPolicy });
    expect(platform.statusCode).toBe(201);
    expect(await h.catalog.get('plan-policies', PLATFORM_OWNER, 'no-deletes')).toEqual({ id: 'no-deletes', ...platformPolicy });

    // An org policy selects within its org; a platform one selects the platform.
    const elsewhere = await h.call('PUT', '/v1/orgs/acmecorp/plan-policies/x', {
      principal: principals.admin,
      body: { ...orgPolicy, selector: { level: 'organization', org: 'globex' } },
    });
    expect(elsewhere.statusCode).toBe(400);
    const narrow = await h.call('PUT', '/v1/platform/plan-policies/x', {
      principal: principals.platformAdmin,
      body: { ...platformPolicy, selector: { level: 'organization', org: 'acmecorp' } },
    });
    expect(narrow.json().errors).toEqual([{ path: 'selector.level', message: 'platform policies have selector level "platform"' }]);

    expect((await h.call('DELETE', '/v1/orgs/acmecorp/plan-policies/prod-guard', { principal: principals.admin })).statusCode).toBe(204);
    expect((await h.call('DELETE', '/v1/platform/plan-policies/no-deletes', { principal: principals.platformAdmin })).statusCode).toBe(204);
  });

  it('refuses an expression that does not compile with a 400 naming the rule and the position, and stores nothing', async () => {
    const body = {
      ...orgPolicy,
      rules: [
        orgPolicy.rules[0],
        { ...orgPolicy.rules[1], expression: 'plan.summary.add > 0 &&' },
        { ...orgPolicy.rules[0], name: 'typo', expression: 'plan.resorces.size() > 1' },
      ],
    };
    const res = await h.call('PUT', '/v1/orgs/acmecorp/plan-policies/broken', { principal: principals.admin, body });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([
      { path: 'rules.1.expression', message: 'rule adds: line 1, column 22: syntax error: found & but expecting end of input' },
      { path: 'rules.2.expression', message: "rule typo: line 1, column 5: plan has no field 'resorces' (its fields: summary, resources, outputs, drift)" },
    ]);
    expect(await h.catalog.get('plan-policies', 'acmecorp', 'broken')).toBeUndefined();
  });
});

describe('POST /v1/policy-checks (the dry run)', () => {
  const job = { org: 'acmecorp', env: 'production' };

  it('evaluates the given policies on a Terraform plan document: every rule, the outcome, the input as the rules read it', async () => {
    const res = await h.call('POST', '/v1/policy-checks', {
      principal: principals.viewer,
      body: {
        plan: plan('terraform/show-json', 'basic-delete'),
        job,
        policies: [
          { id: 'prod-guard', ...orgPolicy },
          { id: 'no-deletes', ...platformPolicy },
        ],
      },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.outcome).toBe('denied');
    expect(body.results.map((r: { policy: string; rule: string; passed: boolean }) => `${r.policy}/${r.rule}:${r.passed}`)).toEqual([
      'prod-guard/deletes:false',
      'prod-guard/adds:true',
      'no-deletes/no-deletes:false',
    ]);
    expect(body.input.job).toEqual({
      org: 'acmecorp',
      env: 'production',
      resourceId: 'policy-check',
      kind: 'policy-check',
      triggerEvent: 'updated',
      createdBy: '',
      submittedBy: '',
    });
    expect(body.input.plan.summary).toMatchObject({ change: 1, destroy: 1 });
  });

  it("uses the catalog's matching policies when none are given, and reads a Pulumi preview", async () => {
    await h.call('PUT', '/v1/orgs/acmecorp/plan-policies/prod-guard', { principal: principals.admin, body: orgPolicy });
    const res = await h.call('POST', '/v1/policy-checks', { principal: principals.viewer, body: { plan: plan('pulumi', 'preview-creates'), job } });
    expect(res.json()).toMatchObject({ outcome: 'warned', requiredApprovals: 2 });
    const dev = await h.call('POST', '/v1/policy-checks', {
      principal: principals.viewer,
      body: { plan: plan('pulumi', 'preview-creates'), job: { ...job, env: 'dev' } },
    });
    expect(dev.json()).toMatchObject({ outcome: 'passed', results: [] });
    await h.call('DELETE', '/v1/orgs/acmecorp/plan-policies/prod-guard', { principal: principals.admin });
  });

  it('refuses a policy that does not compile (naming where), a document it cannot read, and a caller outside the org', async () => {
    const broken = await h.call('POST', '/v1/policy-checks', {
      principal: principals.viewer,
      body: { plan: plan('pulumi', 'preview-creates'), job, policies: [{ id: 'p', ...orgPolicy, rules: [{ ...orgPolicy.rules[0], expression: 'nope(' }] }] },
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().errors).toEqual([
      { path: 'policies.0.rules.0.expression', message: expect.stringMatching(/^rule deletes: line 1, column \d+: syntax error/) },
    ]);
    const notAPlan = await h.call('POST', '/v1/policy-checks', { principal: principals.viewer, body: { plan: { hello: 'world' }, job } });
    expect(notAPlan.json().errors).toEqual([{ path: 'plan', message: expect.stringContaining('not a plan document') }]);
    const outsider = await h.call('POST', '/v1/policy-checks', {
      principal: principals.globexOperator,
      body: { plan: plan('pulumi', 'preview-creates'), job },
    });
    expect(outsider.statusCode).toBe(403);
  });
});
