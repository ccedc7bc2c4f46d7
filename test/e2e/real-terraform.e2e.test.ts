/**
 * The real Terraform is the oracle: the same local mode as the other end-to-end tests (API, synthesized state
 * machine, runner bundle), driving the `terraform` on the PATH instead of the stand-in, with a module of built-in
 * resources only (test/fixtures/modules/tf-probe). Every behaviour here is one the stand-in once got wrong or
 * cannot show: what touches state before approval, unknown outputs, replacements, provisioners, destroy.
 *
 * Without a `terraform` on the PATH the suite says so in one loud line and does not run (in CI, where the machine
 * image has Terraform, it fails instead: the oracle must run there).
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { PlanChanges } from '../../lambdas/domain/plan-changes';
import type { StackJob } from '../../lambdas/domain/schemas';
import { publishExampleModules } from '../../local/local-mode';
import { LOCAL_TOOL_UID_BASE } from '../../local/tool-users';
import {
  e2eConfig,
  PLANTED_SECRET,
  realTerraformRunnerEnv,
  runCliAgainst,
  startE2E,
  TF_PROBE_MODULE,
  TOKENS,
  waitForResource,
  type E2E,
} from '../support/e2e-harness';
import { requireTerraform } from '../support/terraform-binary';

const TERRAFORM = requireTerraform('test/e2e/real-terraform.e2e.test.ts');
const describeReal = TERRAFORM ? describe : describe.skip;

let e: E2E;
let dataDir: string;
let ran = 0;
afterEach(() => {
  ran++;
});

beforeAll(async () => {
  if (!TERRAFORM) return;
  dataDir = mkdtempSync(join(tmpdir(), 'stackjobs-real-tf-'));
  publishExampleModules(dataDir, join(__dirname, '..', 'fixtures', 'modules'));
  const config = e2eConfig();
  // The same module for a kind whose provider credential (the demo one) also sets TF_VAR_api_key.
  config.catalog.modules = [
    ...(config.catalog.modules ?? []),
    TF_PROBE_MODULE,
    { ...TF_PROBE_MODULE, id: 'iacmod_tf_probe_keyed', resourceKind: 'tf_probe_keyed', provider: 'demo' },
  ];
  config.secrets['stackjobs/acmecorp/demo-api'] = JSON.stringify({ DEMO_API_KEY: PLANTED_SECRET, TF_VAR_api_key: PLANTED_SECRET });
  // A second org on the same local mode, with a local backend in the same state directory: its module code is the
  // attacker of the org isolation test.
  config.catalog['backend-credentials'] = [
    ...(config.catalog['backend-credentials'] ?? []),
    { id: 'tfcred_local_globex', org: 'globex', provisioner: 'terraform', type: 'local', config: { path: '{dataDir}/state' } },
  ];
  config.catalog['flow-control-policies'] = [
    ...(config.catalog['flow-control-policies'] ?? []),
    {
      id: 'globex-default',
      selector: { level: 'organization', org: 'globex' },
      previewBeforeUpdate: true,
      pauseBetweenPreviewAndUpdate: false,
      skipRefresh: false,
    },
  ];
  e = await startE2E(config, {
    dataDir,
    runnerEnv: realTerraformRunnerEnv(TERRAFORM.bin),
  });
}, 120000);

afterAll(async () => {
  await e?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (TERRAFORM) process.stderr.write(`real Terraform ${TERRAFORM.version} (${TERRAFORM.bin}): ${ran} tests ran against the real binary\n`);
});

const done = (j: StackJob) => j.status.phase === 'completed';
const awaiting = (j: StackJob) => j.status.phase === 'awaiting_approval' || done(j);

function change(id: string, version: string, o: { env?: string; spec?: Record<string, unknown>; trigger?: 'created' | 'updated' | 'deleted' } = {}) {
  return {
    resource: { id, name: `${id}-name`, org: 'acmecorp', env: o.env ?? 'dev', version: { id: version, message: `change ${version}` } },
    kind: 'tf_probe',
    spec: o.spec ?? {},
    triggerEvent: o.trigger ?? (version === 'v1' ? 'created' : 'updated'),
    createdBy: 'dev@acmecorp.example',
  };
}

async function submit(body: unknown): Promise<StackJob> {
  const res = await e.call<StackJob>('POST', '/v1/stack-jobs', { body });
  if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function run(body: ReturnType<typeof change>): Promise<StackJob> {
  const job = await submit(body);
  return e.waitFor(job.metadata.id, done, 60000);
}

/** The states a job's execution entered, in order, once it has ended (each entry is a billed transition). */
async function statesEntered(id: string): Promise<string[]> {
  const arn = `${e.local.names.stateMachineArn.replace(':stateMachine:', ':execution:')}:${id}`;
  await e.local.sfn.waitFor(arn);
  return e.local.sfn
    .history(arn)
    .filter((ev) => ev.type === 'StateEntered' || ev.type === 'StateRetried')
    .map((ev) => ev.state ?? ev.type);
}

async function approve(id: string): Promise<StackJob> {
  const res = await e.call('POST', `/v1/stack-jobs/${id}/approve`, { token: TOKENS.approver, body: { comment: 'ok' } });
  expect(res.status).toBe(200);
  return e.waitFor(id, done, 60000);
}

const outputsOf = async (id: string) => (await e.call<{ outputs: Record<string, { value: unknown }> }>('GET', `/v1/stack-jobs/${id}/outputs`)).body.outputs;

/** The resource's state file, where the example config's local backend keeps it. */
function stateFile(resourceId: string, env = 'dev'): string {
  const dir = join(dataDir, 'state');
  const found: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(`/acmecorp/${env}/${resourceId}/terraform.tfstate`)) found.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  if (found.length !== 1) throw new Error(`expected one state file for ${resourceId}, found ${found.length}`);
  return found[0];
}

const stateOf = (resourceId: string, env?: string) =>
  JSON.parse(readFileSync(stateFile(resourceId, env), 'utf8')) as {
    serial: number;
    resources: Array<{ type: string; name: string; instances: unknown[] }>;
    outputs: Record<string, { value: unknown }>;
  };

/** The `name=value` lines a probe module wrote (tf-probe's probe and scan resources). */
const probeFindings = (file: string) =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('=')),
  );

/** Each org's tool uid, as local mode allocated it (local/tool-users.ts). */
const toolUids = () => JSON.parse(readFileSync(join(dataDir, 'tool-uids.json'), 'utf8')) as Record<string, number>;

describeReal('with the real Terraform, through local mode', () => {
  it("creates a module whose outputs are all unknown until apply, and gives it the resource's id and name, never the job id", async () => {
    const job = await run(change('probe_create', 'v1'));
    expect(job.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(job.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'plan:succeeded', 'apply:succeeded']);
    expect(job.status.plan?.summary).toMatchObject({ add: 1, outputChanges: 4 });
    const outputs = await outputsOf(job.metadata.id);
    expect(outputs.identity.value).toBe('probe_create|probe_create-name');
    expect(outputs.id.value).toMatch(/^[0-9a-f-]{36}$/);
    // Nothing a module could name things from carries the job id.
    expect(readFileSync(stateFile('probe_create'), 'utf8')).not.toContain(job.metadata.id);
    expect(job.status.drift).toEqual({ checkedAt: expect.any(String), total: 0, resources: [] });
    expect(await statesEntered(job.metadata.id)).toEqual([
      'Start',
      'Acquire Stack Lock',
      'Lock Acquired?',
      'Run Preview And Update',
      'Record Preview',
      'Preview Outcome',
      'Updated In One Task',
      'Finish Job',
      'Release Stack Lock',
      'Done',
    ]);
    // The dev policy does not pause: one runner task (one clone, one terraform init) previewed and applied.
    expect(e.logs.filter((l) => l.includes(`started for ${job.metadata.id}`))).toEqual([expect.stringContaining('runner preview started')]);
    const updateLogs = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`, { query: { phase: 'update' } });
    expect(updateLogs.body.text).toContain('Apply complete! Resources: 1 added, 0 changed, 0 destroyed.');
    expect(updateLogs.body.text).not.toContain('Initializing');
    const previewLogs = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`, { query: { phase: 'preview' } });
    expect(previewLogs.body.text.match(/Terraform has been successfully initialized/g)).toHaveLength(1);
  });

  it('redacts a credential in a resource address before cutting the address: no piece of it is left in the job', async () => {
    // terraform_data.keyed["<268 k><secret>"]: the secret starts at character 290, so a cut to 300 characters made
    // before the redaction would keep its first ten.
    const keyPrefix = 'k'.repeat(268);
    const job = await run({ ...change('probe_keyed', 'v1', { spec: { keyPrefix } }), kind: 'tf_probe_keyed' });
    expect(job.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(job.status.plan?.summary.resources.map((r) => r.address)).toContain(`terraform_data.keyed["${keyPrefix}***"]`);
    const piece = PLANTED_SECRET.slice(0, 10);
    const read = await e.call('GET', `/v1/stack-jobs/${job.metadata.id}`);
    const changes = await e.call('GET', `/v1/stack-jobs/${job.metadata.id}/plan/changes`);
    for (const [where, body] of [
      ['job', read.body],
      ['plan changes', changes.body],
    ] as const)
      expect({ where, leaked: JSON.stringify(body).includes(piece) }).toEqual({ where, leaked: false });
  });

  it("masks a credential's value from before its rotation: the state still names it, so the next plan destroys its address", async () => {
    // terraform_data.keyed["rot-<api key>"] is applied with the key; the key is rotated; the next plan destroys the old
    // address (its before-values and prior state name the old key) and creates one with the new key.
    const ref = 'stackjobs/acmecorp/demo-api';
    const rotated = 'ROTATED-e2e-1b6d0e9a4c7f-new-secret-value';
    const first = await run({ ...change('probe_rotated', 'v1', { spec: { keyPrefix: 'rot-' } }), kind: 'tf_probe_keyed' });
    expect(first.status.result).toBe('succeeded');
    e.local.rotateSecret(ref, JSON.stringify({ DEMO_API_KEY: rotated, TF_VAR_api_key: rotated }));
    try {
      const next = await run({ ...change('probe_rotated', 'v2', { spec: { keyPrefix: 'rot-' } }), kind: 'tf_probe_keyed' });
      expect(next.status.result).toBe('succeeded');
      const actions = Object.fromEntries(next.status.plan!.summary.resources.map((r) => [r.actions.join(','), r.address]));
      expect(actions).toMatchObject({ delete: 'terraform_data.keyed["rot-***"]', create: 'terraform_data.keyed["rot-***"]' });
      // The plan document the API hands out, the job, and every object the job left in S3 but the byte-exact plan.bin.
      const { S3Client, ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
      const s3 = new S3Client({ endpoint: e.local.s3Endpoint, region: 'us-east-1', credentials: e.local.credentials, forcePathStyle: true });
      const Bucket = e.local.names.artifactsBucket;
      const keys = ((await s3.send(new ListObjectsV2Command({ Bucket, Prefix: `jobs/${next.metadata.id}/` }))).Contents ?? []).map((o) => o.Key!);
      expect(keys).toContain(`jobs/${next.metadata.id}/plan/plan.json`);
      const bodies: Array<[string, string]> = [
        ['job', JSON.stringify((await e.call('GET', `/v1/stack-jobs/${next.metadata.id}`)).body)],
        ['plan changes', JSON.stringify((await e.call('GET', `/v1/stack-jobs/${next.metadata.id}/plan/changes`)).body)],
      ];
      for (const Key of keys.filter((k) => !k.endsWith('/plan.bin')))
        bodies.push([Key, await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString('latin1')]);
      s3.destroy();
      for (const [where, body] of bodies)
        for (const value of [PLANTED_SECRET, rotated]) expect({ where, value, leaked: body.includes(value) }).toEqual({ where, value, leaked: false });
    } finally {
      // The suite's other tests expect the planted value.
      e.local.rotateSecret(ref, JSON.stringify({ DEMO_API_KEY: PLANTED_SECRET, TF_VAR_api_key: PLANTED_SECRET }));
    }
  });

  it('skips approval for a second submission of the same spec: no changes, nothing applied', async () => {
    const first = await submit(change('probe_noop', 'v1', { env: 'production', spec: { value: 'a' } }));
    await e.waitFor(first.metadata.id, awaiting, 60000);
    expect((await approve(first.metadata.id)).status.result).toBe('succeeded');
    // Approved: the update task restored the preview's workspace (.terraform included) and applied without an init.
    const updateInit = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${first.metadata.id}/logs`, { query: { phase: 'update', operation: 'init' } });
    expect(updateInit.body.text).toContain("restored the preview's workspace");
    expect(updateInit.body.text).not.toContain('$ terraform init');
    const serial = stateOf('probe_noop', 'production').serial;
    const again = await run(change('probe_noop', 'v2', { env: 'production', spec: { value: 'a' } }));
    expect(again.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(again.status.approval).toBeUndefined();
    expect(again.status.operations.find((o) => o.name === 'apply')).toMatchObject({ result: 'skipped' });
    expect(stateOf('probe_noop', 'production').serial).toBe(serial);
  });

  it("runs a provisioner in an approved update's restored workspace: the apply fails with the provisioner's own words", async () => {
    const job = await submit(change('probe_restored_fail', 'v1', { env: 'production', spec: { failApply: true } }));
    await e.waitFor(job.metadata.id, awaiting, 60000);
    const failed = await approve(job.metadata.id);
    expect(failed.status).toMatchObject({ phase: 'completed', result: 'failed' });
    expect(failed.status.failure?.operation).toBe('apply');
    const updateInit = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`, { query: { phase: 'update', operation: 'init' } });
    expect(updateInit.body.text).toContain("restored the preview's workspace");
    expect(updateInit.body.text).not.toContain('$ terraform init');
    const apply = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`, { query: { phase: 'update', operation: 'apply' } });
    expect(apply.body.text).toContain('provisioner failing on purpose');
  });

  it('checks a resource for drift with a refresh-only plan: no approval, nothing applied, the state file byte-identical', async () => {
    const job = await run(change('probe_drift', 'v1', { spec: { value: 'x' } }));
    expect(job.status.result).toBe('succeeded');
    await waitForResource<{ lastAppliedJobId?: string }>(e, '/v1/orgs/acmecorp/envs/dev/resources/probe_drift', (r) => r.lastAppliedJobId === job.metadata.id);
    const before = readFileSync(stateFile('probe_drift'));
    const res = await e.call<StackJob>('POST', '/v1/orgs/acmecorp/envs/dev/resources/probe_drift/drift-checks');
    expect(res.status).toBe(202);
    const check = await e.waitFor(res.body.metadata.id, done, 60000);
    expect(check.status).toMatchObject({ phase: 'completed', result: 'succeeded', reason: 'drift_checked' });
    expect(check.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'refresh:succeeded']);
    expect(check.status.drift).toEqual({ checkedAt: expect.any(String), total: 0, resources: [] });
    expect(readFileSync(stateFile('probe_drift')).equals(before)).toBe(true);
    const resource = await waitForResource<{ lastJobId: string; drift?: { drifted: boolean; jobId: string } }>(
      e,
      '/v1/orgs/acmecorp/envs/dev/resources/probe_drift',
      (r) => r.drift?.jobId === check.metadata.id,
    );
    expect(resource).toMatchObject({ lastJobId: job.metadata.id, drift: { drifted: false, jobId: check.metadata.id } });
  });

  it('waits for approval on an output-only change, and a rejection leaves the state file byte-identical, outputs included', async () => {
    const first = await submit(change('probe_outputs', 'v1', { env: 'production' }));
    await e.waitFor(first.metadata.id, awaiting, 60000);
    await approve(first.metadata.id);
    const before = readFileSync(stateFile('probe_outputs', 'production'));

    const labelled = await submit(change('probe_outputs', 'v2', { env: 'production', spec: { label: 'new-label' } }));
    const waiting = await e.waitFor(labelled.metadata.id, awaiting, 60000);
    expect(waiting.status.phase).toBe('awaiting_approval');
    expect(waiting.status.plan?.summary).toMatchObject({ add: 0, change: 0, destroy: 0, replace: 0, outputChanges: 1 });
    // Refresh and plan ran; nothing was written.
    expect(readFileSync(stateFile('probe_outputs', 'production')).equals(before)).toBe(true);

    const rejected = await e.call('POST', `/v1/stack-jobs/${labelled.metadata.id}/reject`, { token: TOKENS.approver, body: { comment: 'no' } });
    expect(rejected.status).toBe(200);
    await e.waitFor(labelled.metadata.id, done, 60000);
    expect(readFileSync(stateFile('probe_outputs', 'production')).equals(before)).toBe(true);
    expect(stateOf('probe_outputs', 'production').outputs.label.value).toBe('');

    // Approved this time: only then does the output change.
    const again = await submit(change('probe_outputs', 'v3', { env: 'production', spec: { label: 'new-label' } }));
    await e.waitFor(again.metadata.id, awaiting, 60000);
    expect((await approve(again.metadata.id)).status.result).toBe('succeeded');
    expect(stateOf('probe_outputs', 'production').outputs.label.value).toBe('new-label');
  });

  it('shows the approver the real plan: each attribute before and after, unknowns as known after apply (API and `stackjobs plan`)', async () => {
    const first = await submit(change('probe_plan_view', 'v1', { env: 'production', spec: { value: 'one' } }));
    await e.waitFor(first.metadata.id, awaiting, 60000);
    const created = await e.call<PlanChanges>('GET', `/v1/stack-jobs/${first.metadata.id}/plan/changes`);
    expect(created.status).toBe(200);
    const main = created.body.resources.find((r) => r.address === 'terraform_data.main');
    expect(main).toMatchObject({ action: 'create' });
    expect(main?.attributes).toEqual(
      expect.arrayContaining([
        { path: 'input', after: '"one"' },
        { path: 'id', after: '(known after apply)' },
      ]),
    );
    expect(created.body.outputs).toEqual(expect.arrayContaining([{ path: 'id', after: '(known after apply)' }]));
    await approve(first.metadata.id);
    // What Step Functions bills: one transition per state entered. Lock Acquired starts the preview itself and the
    // approval reads its window from the gate, so an approved job on the platform runner enters these 14.
    expect(await statesEntered(first.metadata.id)).toEqual([
      'Start',
      'Acquire Stack Lock',
      'Lock Acquired?',
      'Run Preview',
      'Record Preview',
      'Preview Outcome',
      'Request Approval',
      'Record Approval',
      'Update Runner?',
      'Run Update',
      'Updated',
      'Finish Job',
      'Release Stack Lock',
      'Done',
    ]);

    const second = await submit(change('probe_plan_view', 'v2', { env: 'production', spec: { value: 'two' } }));
    await e.waitFor(second.metadata.id, awaiting, 60000);
    const { code, stdout } = await runCliAgainst(e, ['plan', second.metadata.id]);
    expect(code).toBe(0);
    expect(stdout).toContain('~ terraform_data.main will be updated in-place');
    expect(stdout).toContain('~ input: "one" → "two"');
    expect(stdout).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy, 0 to replace\./);
    expect(stdout).not.toMatch(/\x1b\[/);
    await approve(second.metadata.id);
  });

  it('updates in place and replaces with create_before_destroy, counting a replacement once', async () => {
    const created = await run(change('probe_replace', 'v1', { spec: { value: 'one' } }));
    const firstId = (await outputsOf(created.metadata.id)).id.value;
    const updated = await run(change('probe_replace', 'v2', { spec: { value: 'two' } }));
    expect(updated.status.result).toBe('succeeded');
    expect(updated.status.plan?.summary).toMatchObject({ change: 1, replace: 0 });
    expect((await outputsOf(updated.metadata.id)).value.value).toBe('two');

    const replaced = await run(change('probe_replace', 'v3', { spec: { value: 'two', generation: 2 } }));
    expect(replaced.status.result).toBe('succeeded');
    expect(replaced.status.plan?.summary).toMatchObject({ replace: 1, add: 0, destroy: 0 });
    expect(replaced.status.plan?.summary.resources).toEqual([{ address: 'terraform_data.main', actions: ['create', 'delete'] }]);
    expect((await outputsOf(replaced.metadata.id)).id.value).not.toBe(firstId);
    expect(stateOf('probe_replace').resources.filter((r) => r.name === 'main')).toHaveLength(1);
  });

  it('fails the job at apply when a provisioner fails, keeps the log, frees the stack, and the next job recovers', async () => {
    await run(change('probe_fail', 'v1'));
    const failed = await run(change('probe_fail', 'v2', { spec: { failApply: true } }));
    expect(failed.status).toMatchObject({ phase: 'completed', result: 'failed' });
    expect(failed.status.failure?.operation).toBe('apply');
    const logs = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${failed.metadata.id}/logs`);
    expect(logs.body.text).toContain('provisioner failing on purpose');
    // Terraform recorded the half-made resource (tainted); the next change on the stack runs and cleans it up.
    const recovered = await run(change('probe_fail', 'v3', { spec: { failApply: false } }));
    expect(recovered.status.result).toBe('succeeded');
    expect(recovered.status.plan?.summary).toMatchObject({ destroy: 1 });
    expect(stateOf('probe_fail').resources.map((r) => r.name)).toEqual(['main']);
  });

  (process.getuid?.() === 0 ? it : it.skip)("runs module code as its own user: it reads neither the runner's environment nor local mode's data", async () => {
    const probe = join(mkdtempSync(join(tmpdir(), 'stackjobs-probe-')), 'probe.txt');
    chmodSync(dirname(probe), 0o777);
    const job = await run(change('probe_isolation', 'v1', { spec: { probe } }));
    expect(job.status.result).toBe('succeeded');
    const seen = probeFindings(probe);
    // The org's own uid, allocated by local mode on its first job (local/tool-users.ts).
    const uids = toolUids();
    expect(uids.acmecorp).toBeGreaterThanOrEqual(LOCAL_TOOL_UID_BASE);
    expect(seen).toEqual({ uid: String(uids.acmecorp), runner_environ: 'denied', local_data: 'denied', own_env: 'clean' });
    rmSync(dirname(probe), { recursive: true, force: true });
  });

  (process.getuid?.() === 0 ? it : it.skip)(
    "runs each org's module code as that org's own uid: it reads neither another org's running tool nor its state",
    async () => {
      // acmecorp's stack: applied once (its state file), then held applying with its credential in its tool's environment.
      await run(change('probe_victim', 'v1', { spec: {} }));
      const victimState = stateFile('probe_victim');
      const held = await submit({ ...change('probe_victim', 'v2', { spec: { holdSeconds: 20 } }), kind: 'tf_probe_keyed' });
      await e.waitFor(held.metadata.id, (j) => j.status.operations.some((o) => o.name === 'apply' && o.status === 'running') || done(j), 60000);
      // globex's module code, meanwhile, looks for acmecorp's running tool and reads what it can.
      const scan = join(mkdtempSync(join(tmpdir(), 'stackjobs-scan-')), 'scan.txt');
      chmodSync(dirname(scan), 0o777);
      const attack = {
        ...change('probe_attacker', 'v1', { spec: { scan, otherState: victimState } }),
        resource: { id: 'probe_attacker', name: 'probe_attacker-name', org: 'globex', env: 'dev', version: { id: 'v1', message: 'scan' } },
        createdBy: 'ops@globex.example',
      };
      const submitted = await e.call<StackJob>('POST', '/v1/stack-jobs', { token: TOKENS.globex, body: attack });
      expect(submitted.status).toBe(201);
      // Polled as globex: to acmecorp's callers, globex's job does not exist.
      let attacker = submitted.body;
      for (const until = Date.now() + 60000; !done(attacker) && Date.now() < until; await new Promise((r) => setTimeout(r, 200)))
        attacker = (await e.call<StackJob>('GET', `/v1/stack-jobs/${attacker.metadata.id}`, { token: TOKENS.globex })).body;
      expect(attacker.status.result).toBe('succeeded');
      const seen = probeFindings(scan);
      const uids = toolUids();
      expect(uids.globex).not.toBe(uids.acmecorp);
      // It saw acmecorp's tool running (the attack ran while it held) and could read neither its environment nor its state.
      expect(seen).toEqual({ uid: String(uids.globex), saw_other_tool: 'yes', other_environ: 'denied', other_state: 'denied' });
      expect((await e.waitFor(held.metadata.id, done, 60000)).status.result).toBe('succeeded');
      expect(statSync(dirname(victimState))).toMatchObject({ uid: uids.acmecorp, mode: expect.any(Number) });
      expect(statSync(dirname(victimState)).mode & 0o777).toBe(0o700);
      rmSync(dirname(scan), { recursive: true, force: true });
    },
    120000,
  );

  it('plans and applies a destroy for a deleted resource', async () => {
    await run(change('probe_delete', 'v1'));
    expect(stateOf('probe_delete').resources).toHaveLength(1);
    const deleted = await run(change('probe_delete', 'v2', { trigger: 'deleted' }));
    expect(deleted.status.result).toBe('succeeded');
    expect(deleted.spec.operations).toContain('destroy');
    expect(deleted.status.plan?.summary).toMatchObject({ destroy: 1, add: 0 });
    expect(stateOf('probe_delete').resources).toEqual([]);
  });
});
