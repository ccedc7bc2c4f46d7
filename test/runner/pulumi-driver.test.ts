/**
 * The Pulumi driver against real `pulumi preview --json` documents (test/fixtures/pulumi, provenance there).
 * No Pulumi binary can be installed here, so a replaying stand-in plays the CLI: it answers each command with a
 * fixture and keeps Pulumi's state semantics (only `up`/`destroy --yes`/`refresh --yes` write the stack's state),
 * so the test shows which commands the driver runs and that nothing it runs before the apply writes state.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { CommandSpec, Exec } from '../../runner-image/src/command';
import type { DriverContext } from '../../runner-image/src/drivers/driver';
import { pulumiDriver } from '../../runner-image/src/drivers/pulumi/driver';
import { maskPulumiSecrets, readPulumiDrift, summarisePulumiPreview, type PulumiPreview } from '../../runner-image/src/drivers/pulumi/preview-json';
import { readRunnerConfig } from '../../runner-image/src/config';
import { makeJob } from '../support/domain-fixtures';

const FIXTURES = join(__dirname, '..', 'fixtures', 'pulumi');
const fixture = (name: string) => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as PulumiPreview & { changeSummary: Record<string, number> };

const KEYS: Record<string, string> = { create: 'add', update: 'change', delete: 'destroy', same: 'unchanged', replace: 'replace' };

describe('the Pulumi summariser on real preview documents', () => {
  it.each(['preview-creates', 'preview-update', 'preview-deletes'])("%s: counts match Pulumi's own changeSummary", (name) => {
    const doc = fixture(name);
    const { summary, hasChanges } = summarisePulumiPreview(doc);
    for (const [op, n] of Object.entries(doc.changeSummary)) expect({ op, n: summary[KEYS[op] as 'add'] }).toEqual({ op, n });
    expect(hasChanges).toBe(true);
    // Every non-same step but the stack itself is listed, by URN.
    const listed = doc.steps!.filter((s) => s.op !== 'same' && !s.urn.includes('::pulumi:pulumi:Stack::')).map((s) => s.urn);
    expect(summary.resources.map((r) => r.address)).toEqual(listed);
  });

  it('lists the one update of preview-update with its URN', () => {
    const { summary } = summarisePulumiPreview(fixture('preview-update'));
    expect(summary).toMatchObject({ add: 0, change: 1, destroy: 0, unchanged: 15 });
    expect(summary.resources).toEqual([
      { address: 'urn:pulumi:dev::sample::aws:s3/bucket:Bucket$aws:s3:BucketEventSubscription$aws:lambda/function:Function::docsHandler', actions: ['update'] },
    ]);
  });

  it('counts a replacement (replace + create-replacement + delete-replaced) once, as Pulumi does', () => {
    const doc = fixture('preview-update');
    const i = doc.steps!.findIndex((s) => s.op === 'update');
    const step = doc.steps![i];
    doc.steps!.splice(i, 1, { ...step, op: 'create-replacement' }, { ...step, op: 'replace' }, { ...step, op: 'delete-replaced' });
    const { summary, hasChanges } = summarisePulumiPreview(doc);
    expect(summary).toMatchObject({ replace: 1, add: 0, change: 0, destroy: 0 });
    expect(summary.resources).toEqual([{ address: step.urn, actions: ['replace'] }]);
    expect(hasChanges).toBe(true);
  });

  it('reports nothing to change for a preview of sames only', () => {
    const doc = fixture('preview-update');
    doc.steps = doc.steps!.filter((s) => s.op === 'same');
    expect(summarisePulumiPreview(doc).hasChanges).toBe(false);
  });

  it('masks secret values (plaintext or ciphertext) in the downloadable preview, keeping assets and archives', () => {
    const doc = fixture('preview-creates') as unknown as { steps: Array<{ newState: { outputs?: Record<string, unknown> } }> };
    const planted = 'PLANTED-pulumi-secret-3c1d';
    doc.steps[1].newState.outputs = {
      ...doc.steps[1].newState.outputs,
      password: { '4dabf18193072939515e22adb298388d': '1b47061264138c4ac30d75fd1eb44270', plaintext: `"${planted}"` },
    };
    const masked = JSON.stringify(maskPulumiSecrets(doc));
    expect(masked).not.toContain(planted);
    expect(masked).toContain('"password":"[secret]"');
    // Asset and archive signatures are not secrets.
    expect(masked).toContain('0def7320c3a5731c473e5ecbe6d01bc7');
  });

  it('reads drift from a refresh preview: changed and deleted resources, not sames or the stack', () => {
    const doc = fixture('preview-update');
    const deleted = doc.steps!.find((s) => s.op === 'same' && !s.urn.includes('pulumi:Stack'))!;
    doc.steps!.push({ ...deleted, op: 'delete' });
    const drift = readPulumiDrift(doc);
    expect(drift.total).toBe(2);
    expect(drift.resources.map((r) => r.actions[0])).toEqual(['update', 'delete']);
  });
});

/** Replays the fixtures as the Pulumi CLI; records every command; `writes` counts commands that wrote state. */
function replayingPulumi(dir: string) {
  const calls: string[][] = [];
  let writes = 0;
  const exec: Exec = async (spec: CommandSpec) => {
    calls.push(spec.bin ? [spec.bin, ...spec.args] : spec.args);
    const [cmd, ...rest] = spec.args;
    const write = (doc: unknown) => spec.stdoutFile && writeFileSync(spec.stdoutFile, JSON.stringify(doc));
    if (cmd === 'refresh') {
      if (!rest.includes('--preview-only')) writes++;
      write(fixture('preview-update'));
    } else if (cmd === 'preview') {
      write(fixture('preview-update'));
      const plan = rest.find((a) => a.startsWith('--save-plan='));
      if (plan) writeFileSync(plan.slice('--save-plan='.length), '{"pulumi":"update plan"}');
    } else if (cmd === 'up' || (cmd === 'destroy' && rest.includes('--yes'))) writes++;
    else if (cmd === 'destroy') write(fixture('preview-deletes'));
    else if (cmd === 'stack' && rest[0] === 'output') write({ url: 'https://example.com', password: '[secret]' });
    return { exitCode: 0 };
  };
  return { exec, calls, writes: () => writes, dir };
}

describe('the Pulumi driver, driven through a replaying stand-in', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stackjobs-pulumi-'));
    writeFileSync(join(dir, 'Pulumi.yaml'), 'name: sample\nruntime: nodejs\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const context = (job = makeJob()): DriverContext => ({
    job: { ...job, spec: { ...job.spec, essentials: { ...job.spec.essentials, provisioner: 'pulumi' } } },
    moduleDir: dir,
    configDir: dir,
    backendConfig: [],
    pulumiBackendUrl: 's3://state-bucket/prefix',
    paths: {
      planFile: join(dir, 'plan.bin'),
      appliedPlanFile: join(dir, 'plan.bin'),
      planJsonFile: join(dir, 'plan.json'),
      refreshFile: join(dir, 'refresh.bin'),
      refreshJsonFile: join(dir, 'refresh.json'),
      outputsFile: join(dir, 'outputs.json'),
    },
    config: readRunnerConfig({
      STACKJOBS_JOB_ID: job.metadata.id,
      STACKJOBS_PHASE: 'preview',
      STACKJOBS_TASK_TOKEN: 't',
      STACKJOBS_JOBS_TABLE: 'j',
      STACKJOBS_ARTIFACTS_BUCKET: 'b',
    }),
  });

  it('refreshes and previews without writing state, then applies exactly the saved plan', async () => {
    const ctx = context();
    const driver = pulumiDriver.create(ctx);
    const cli = replayingPulumi(dir);
    await driver.configure();
    await driver.init(cli.exec);
    const drift = await driver.refresh(cli.exec);
    const planned = await driver.plan(cli.exec, { destroy: false, refresh: true });
    expect(cli.writes()).toBe(0);
    expect(drift.total).toBe(1);
    expect(planned.summary).toMatchObject({ change: 1, unchanged: 15 });
    await driver.applyPlan(cli.exec, { destroy: false });
    expect(cli.writes()).toBe(1);
    const r = ctx.job.spec.apiResourceInfo;
    const stack = `${ctx.job.metadata.org}-${ctx.job.metadata.env}-${r.id}`;
    expect(cli.calls.map((c) => c.slice(0, 3).join(' '))).toEqual([
      'login s3://state-bucket/prefix --non-interactive',
      `stack select --create`,
      'refresh --preview-only --json',
      'preview --json --refresh',
      `up --yes --skip-preview`,
    ]);
    expect(cli.calls.at(-1)).toContain(`--plan=${ctx.paths.planFile}`);
    expect(cli.calls.every((c) => c[0] === 'login' || c.includes(stack))).toBe(true);
  });

  it("installs a Node.js program's dependencies from its lockfile (npm ci) before logging in", async () => {
    writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion":3}');
    const cli = replayingPulumi(dir);
    await pulumiDriver.create(context()).init(cli.exec);
    expect(cli.calls.map((c) => c.slice(0, 2).join(' '))).toEqual(['npm ci', 'login s3://state-bucket/prefix', 'stack select']);
  });

  it('skips the in-memory refresh when the policy skips refresh', async () => {
    const driver = pulumiDriver.create(context());
    const cli = replayingPulumi(dir);
    await driver.plan(cli.exec, { destroy: false, refresh: false });
    await driver.applyDirect(cli.exec, { destroy: false, refresh: false });
    expect(cli.calls.flat()).not.toContain('--refresh');
  });

  it("gives the program the resource's metadata, identical on every job of the resource except version", async () => {
    const a = context(makeJob());
    const b = context(makeJob());
    expect(a.job.metadata.id).not.toBe(b.job.metadata.id);
    const configOf = async (ctx: DriverContext) => {
      await pulumiDriver.create(ctx).configure();
      const stack = `${ctx.job.metadata.org}-${ctx.job.metadata.env}-${ctx.job.spec.apiResourceInfo.id}`;
      return (parse(readFileSync(join(dir, `Pulumi.${stack}.yaml`), 'utf8')) as { config: Record<string, unknown> }).config;
    };
    const first = await configOf(a);
    expect(first['sample:metadata']).toEqual({
      id: a.job.spec.apiResourceInfo.id,
      name: a.job.spec.apiResourceInfo.name,
      org: a.job.metadata.org,
      env: a.job.metadata.env,
      kind: a.job.spec.apiResourceInfo.kind,
      version: a.job.metadata.version,
    });
    expect(JSON.stringify(first)).not.toContain(a.job.metadata.id);
    expect(await configOf(b)).toEqual(first);
  });

  it('reads secret outputs as sensitive, never in clear', async () => {
    const driver = pulumiDriver.create(context());
    const outputs = await driver.outputs(replayingPulumi(dir).exec);
    expect(outputs.password).toEqual({ sensitive: true, value: '[secret]' });
    expect(outputs.url).toEqual({ sensitive: false, value: 'https://example.com' });
  });
});
