/**
 * Plan policies end to end: local mode (the API, the synthesized state machine, the runner bundle) driving the real
 * Terraform on a module of built-in resources (test/fixtures/modules/tf-probe), policies written through the catalog
 * API, the approval message posted to a loopback stand-in for slack.com/api, and the CLI's plan view and
 * `policy test` on a plan the real Terraform made.
 *
 * Without a `terraform` on the PATH the suite says so in one loud line and does not run (CI requires it).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { StackJob } from '../../lambdas/domain/schemas';
import { publishExampleModules } from '../../local/local-mode';
import { e2eConfig, endJobsAwaitingApproval, realTerraformRunnerEnv, runCliAgainst, startE2E, TF_PROBE_MODULE, TOKENS, type E2E } from '../support/e2e-harness';
import { requireTerraform } from '../support/terraform-binary';

const TERRAFORM = requireTerraform('test/e2e/plan-policies.e2e.test.ts');
const describeReal = TERRAFORM ? describe : describe.skip;
const PLATFORM_ADMIN = 'local-platform-admin-token';
const SECOND_APPROVER = { token: 'local-approver2-token', subject: 'approver2@acmecorp.example' };
const PROD_CHANNEL = 'C0PRODPOLICY';
const MODULE = join(__dirname, '..', 'fixtures', 'modules');

let e: E2E;
let dataDir: string;
let work: string;
let slack: Server;
const slackRequests: Array<{ path: string; body: string }> = [];

beforeAll(async () => {
  if (!TERRAFORM) return;
  slack = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      slackRequests.push({ path: req.url ?? '', body: decodeURIComponent(Buffer.concat(chunks).toString('utf8').replace(/\+/g, ' ')) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, ts: `1700000000.${String(slackRequests.length).padStart(6, '0')}`, channel: PROD_CHANNEL }));
    });
  });
  await new Promise<void>((r) => slack.listen(0, '127.0.0.1', r));
  dataDir = mkdtempSync(join(tmpdir(), 'stackjobs-plan-policies-'));
  work = mkdtempSync(join(tmpdir(), 'stackjobs-plan-policies-work-'));
  publishExampleModules(dataDir, MODULE);
  const config = e2eConfig();
  config.principals.push({ token: SECOND_APPROVER.token, subject: SECOND_APPROVER.subject, orgs: ['acmecorp'], roles: ['approver', 'viewer'] });
  config.slack = { ...config.slack, botToken: 'xoxb-plan-policies-e2e', apiUrl: `http://127.0.0.1:${(slack.address() as AddressInfo).port}/api/` };
  config.catalog['org-settings'] = [{ org: 'acmecorp', approvalChannels: { production: PROD_CHANNEL } }];
  config.catalog.modules = [...(config.catalog.modules ?? []), TF_PROBE_MODULE];
  e = await startE2E(config, {
    dataDir,
    runnerEnv: realTerraformRunnerEnv(TERRAFORM.bin),
  });
}, 120000);

afterAll(async () => {
  // Jobs left awaiting approval are ended first: an execution parked on its approval task keeps the in-process
  // interpreter (and so this test process) alive after local mode stops.
  await endJobsAwaitingApproval(e);
  await e?.stop();
  await new Promise<void>((r) => (slack ? slack.close(() => r()) : r()));
  for (const dir of [dataDir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
}, 60000);

const done = (j: StackJob) => j.status.phase === 'completed';
const awaiting = (j: StackJob) => j.status.phase === 'awaiting_approval' || done(j);

function change(id: string, version: string, env: string, trigger: 'created' | 'updated' | 'deleted' = version === 'v1' ? 'created' : 'updated') {
  return {
    resource: { id, name: `${id}-name`, org: 'acmecorp', env, version: { id: version, message: `change ${version}` } },
    kind: 'tf_probe',
    spec: {},
    triggerEvent: trigger,
    createdBy: 'dev@acmecorp.example',
  };
}

async function submit(body: ReturnType<typeof change>): Promise<StackJob> {
  const res = await e.call<StackJob>('POST', '/v1/stack-jobs', { body });
  if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function put(path: string, body: unknown, token = TOKENS.admin): Promise<void> {
  const res = await e.call('PUT', path, { token, body });
  if (res.status !== 201 && res.status !== 200) throw new Error(`PUT ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
}

/** The runner tasks a job started ("preview" or "preview+update", then "update"), from local mode's log. */
const runnerTasks = (id: string) => e.logs.filter((l) => l.includes(`started for ${id}`)).map((l) => /runner (\S+) started/.exec(l)![1]);

const cli = (args: string[], token = TOKENS.operator) => runCliAgainst(e, args, token);

describeReal('plan policies, with the real Terraform, through local mode', () => {
  it('refuses a policy whose expression does not compile with a 400 naming the rule and the position', async () => {
    const res = await e.call<{ errors: Array<{ path: string; message: string }> }>('PUT', '/v1/orgs/acmecorp/plan-policies/broken', {
      token: TOKENS.admin,
      body: {
        selector: { level: 'organization', org: 'acmecorp' },
        rules: [{ name: 'typo', effect: 'deny', expression: "plan.resources.exists(r, 'delete' in r.acions)", message: 'x' }],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      {
        path: 'rules.0.expression',
        message: "rule typo: line 1, column 39: a resource has no field 'acions' (its fields: address, type, provider, actions, before, after)",
      },
    ]);
    expect((await e.call('GET', '/v1/orgs/acmecorp/plan-policies/broken')).status).toBe(404);
  });

  it('stops a destroy before approval with the deny message of a platform policy, although an org policy says otherwise', async () => {
    await put(
      '/v1/platform/plan-policies/no-deletes',
      {
        selector: { level: 'platform' },
        rules: [
          {
            name: 'deletes',
            effect: 'deny',
            expression: "job.resourceId.startsWith('pp_deny') && plan.resources.exists(r, 'delete' in r.actions)",
            message: 'Nothing is destroyed by a stack job here: open a change ticket',
          },
        ],
      },
      PLATFORM_ADMIN,
    );
    // The org's own policy for the resource only warns about deletes: it cannot lift the platform's deny.
    await put('/v1/orgs/acmecorp/plan-policies/deletes-are-fine', {
      selector: { level: 'resource', org: 'acmecorp', env: 'dev', resourceId: 'pp_deny' },
      rules: [{ name: 'deletes', effect: 'warn', expression: "plan.resources.exists(r, 'delete' in r.actions)", message: 'deletes are fine here' }],
    });
    // Created first (dev never pauses); nothing to deny, but the policies still keep preview and update apart.
    const created = await e.waitFor((await submit(change('pp_deny', 'v1', 'dev'))).metadata.id, done, 90000);
    expect(created.status).toMatchObject({ result: 'succeeded', policy: { outcome: 'passed' } });
    expect(created.spec.essentials.planPolicies?.map((p) => `${p.source}/${p.id}`)).toEqual(['platform/no-deletes', 'org/deletes-are-fine']);
    expect(runnerTasks(created.metadata.id)).toEqual(['preview', 'update']);

    const destroy = await e.waitFor((await submit(change('pp_deny', 'v2', 'dev', 'deleted'))).metadata.id, done, 90000);
    expect(destroy.status).toMatchObject({
      phase: 'completed',
      result: 'failed',
      reason: 'policy_denied',
      failure: { operation: 'policy', message: 'denied by policy no-deletes rule deletes: Nothing is destroyed by a stack job here: open a change ticket' },
    });
    expect(destroy.status.approval).toBeUndefined();
    expect(destroy.status.plan?.summary).toMatchObject({ destroy: 1 });
    expect(destroy.status.policy?.results.map((r) => `${r.source}/${r.policy}/${r.rule}: ${r.passed ? 'passed' : r.effect}`)).toEqual([
      'platform/no-deletes/deletes: deny',
      'org/deletes-are-fine/deletes: warn',
    ]);
    expect(destroy.status.operations.find((o) => o.name === 'destroy')).toMatchObject({ result: 'skipped' });
    expect(runnerTasks(destroy.metadata.id)).toEqual(['preview']);
    // Nothing was destroyed: the resource's last applied job is still the create.
    const status = await e.call<{ lastAppliedJobId?: string }>('GET', '/v1/orgs/acmecorp/envs/dev/resources/pp_deny');
    expect(status.body.lastAppliedJobId).toBe(created.metadata.id);
  }, 200000);

  it('shows a warn rule in the plan view and in the approval message', async () => {
    await put('/v1/orgs/acmecorp/plan-policies/prod-adds', {
      selector: { level: 'resource', org: 'acmecorp', env: 'production', resourceId: 'pp_warn' },
      rules: [{ name: 'adds', effect: 'warn', expression: "plan.summary.add > 0 && job.env == 'production'", message: 'This adds resources to production' }],
    });
    const job = await e.waitFor((await submit(change('pp_warn', 'v1', 'production'))).metadata.id, awaiting, 90000);
    expect(job.status.phase).toBe('awaiting_approval');
    expect(job.status.policy?.outcome).toBe('warned');
    // Every platform policy applies too (the deny above is scoped to its resources by its expression, so it passes).
    expect(job.status.policy?.results.map((r) => `${r.policy}/${r.rule}: ${r.passed ? 'passed' : r.effect}`)).toEqual([
      'no-deletes/deletes: passed',
      'prod-adds/adds: warn',
    ]);

    const plan = await cli(['plan', job.metadata.id]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Plan policies:');
    expect(plan.stdout).toContain('WARN   org policy prod-adds, rule adds: This adds resources to production');
    const posted = await (async () => {
      for (let i = 0; i < 50; i++) {
        const found = slackRequests.find((r) => r.path.endsWith('chat.postMessage') && r.body.includes(job.metadata.id));
        if (found) return found;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('no approval message was posted');
    })();
    expect(posted.body).toContain('Plan policy warnings');
    expect(posted.body).toContain('This adds resources to production');

    const approved = await e.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { token: TOKENS.approver, body: {} });
    expect(approved.status).toBe(200);
    expect((await e.waitFor(job.metadata.id, done, 90000)).status.result).toBe('succeeded');
  }, 200000);

  it('keeps a require_approvals: 2 job waiting after one approval, refuses the same approver twice, and proceeds after a second, distinct one', async () => {
    // dev never pauses: the rule alone asks for the approval.
    await put('/v1/orgs/acmecorp/plan-policies/two-approvers', {
      selector: { level: 'resource', org: 'acmecorp', env: 'dev', resourceId: 'pp_quorum' },
      rules: [{ name: 'adds', effect: 'require_approvals', approvals: 2, expression: 'plan.summary.add > 0', message: 'Adding resources takes two approvers' }],
    });
    const job = await e.waitFor((await submit(change('pp_quorum', 'v1', 'dev'))).metadata.id, awaiting, 90000);
    expect(job.status.phase).toBe('awaiting_approval');
    expect(job.status.approval).toMatchObject({ required: 2 });

    const first = await e.call<StackJob>('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { token: TOKENS.approver, body: {} });
    expect(first.status).toBe(200);
    expect(first.body.status.approval?.approvals).toEqual([
      { decision: 'approved', by: 'approver@acmecorp.example', at: expect.any(String), channel: 'api', planDigest: job.status.plan!.digest },
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    const still = (await e.call<StackJob>('GET', `/v1/stack-jobs/${job.metadata.id}`)).body;
    expect(still.status.phase).toBe('awaiting_approval');
    expect(runnerTasks(job.metadata.id)).toEqual(['preview']);

    const again = await cli(['approve', job.metadata.id], TOKENS.approver);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('has already approved this plan; a plan policy requires 2 distinct approvers (1 of 2 so far)');

    const second = await cli(['approve', job.metadata.id, '--wait'], SECOND_APPROVER.token);
    expect(second.stdout).toContain(`approved ${job.metadata.id}`);
    const finished = await e.waitFor(job.metadata.id, done, 90000);
    expect(finished.status).toMatchObject({ result: 'succeeded', approval: { decision: { by: SECOND_APPROVER.subject } } });
    expect(finished.status.approval?.approvals?.map((a) => a.by)).toEqual(['approver@acmecorp.example', SECOND_APPROVER.subject]);
    expect(runnerTasks(job.metadata.id)).toEqual(['preview', 'update']);
  }, 200000);

  it('stops an expensive expression at the cost limit and fails the job with a clear reason', async () => {
    const range = `[${Array.from({ length: 60 }, (_, i) => i).join(',')}]`;
    await put('/v1/orgs/acmecorp/plan-policies/costly', {
      selector: { level: 'resource', org: 'acmecorp', env: 'dev', resourceId: 'pp_costly' },
      rules: [{ name: 'cubic', effect: 'warn', expression: `${range}.all(a, ${range}.all(b, ${range}.all(c, a + b + c >= 0)))`, message: 'x' }],
    });
    const job = await e.waitFor((await submit(change('pp_costly', 'v1', 'dev'))).metadata.id, done, 90000);
    expect(job.status).toMatchObject({
      result: 'failed',
      reason: 'policy_check_failed',
      failure: { operation: 'policy', message: 'policy costly rule cubic: stopped by the cost limit: more than 50,000 evaluation steps' },
    });
    expect(runnerTasks(job.metadata.id)).toEqual(['preview']);
    const got = await cli(['get', job.metadata.id]);
    expect(got.stdout).toContain('policy_check_failed in policy: policy costly rule cubic: stopped by the cost limit');
  }, 200000);

  it('tests a policy on a plan the real Terraform made, before it is written (stackjobs policy test)', () => {
    const module = join(work, 'module');
    cpSync(join(MODULE, 'tf-probe'), module, { recursive: true });
    const tf = (...args: string[]) =>
      execFileSync(TERRAFORM!.bin, args, { cwd: module, encoding: 'utf8', env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', TF_IN_AUTOMATION: '1' } });
    tf('init', '-input=false', '-no-color');
    tf('plan', '-input=false', '-no-color', '-out=plan.tfplan', '-var', 'metadata={id="pp_cli",name="pp_cli-name"}', '-var', 'spec={}');
    const planFile = join(work, 'plan.json');
    writeFileSync(planFile, tf('show', '-json', 'plan.tfplan'));
    const policyFile = join(work, 'policy.yaml');
    writeFileSync(
      policyFile,
      stringify({
        id: 'creates',
        selector: { level: 'environment', org: 'acmecorp', env: 'production' },
        rules: [
          {
            name: 'data',
            effect: 'deny',
            expression: "plan.resources.exists(r, r.type == 'terraform_data' && 'create' in r.actions)",
            message: 'no terraform_data',
          },
          { name: 'provider', effect: 'warn', expression: "plan.resources.all(r, r.provider == 'terraform')", message: 'built-in provider only' },
        ],
      }),
    );
    expect(JSON.parse(readFileSync(planFile, 'utf8')).format_version).toBeDefined();
    return cli(['policy', 'test', '-f', policyFile, '--plan', planFile]).then((run) => {
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('DENY   org policy creates, rule data: no terraform_data');
      expect(run.stdout).toContain('WARN   org policy creates, rule provider: built-in provider only');
      expect(run.stdout).toContain('Policy outcome: denied');
    });
  }, 120000);
});
