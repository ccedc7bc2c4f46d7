/**
 * The lock the real `terraform` leaves on a local backend, read by the local lock adapter, judged by pre-flight and
 * released through the domain's force-unlock: a `terraform apply` of a module with `local-exec sleep` is started on a
 * local backend laid out as the runner lays it out (`-backend-config=path=<config.path>/<stateKey>`), then killed -9.
 *
 * What Terraform does (1.11.4): while it runs, the state file carries a POSIX lock and `.terraform.tfstate.lock.info`
 * says who holds it; `plan` fails with "Error acquiring the state lock". Killed, the OS lock goes with the process and
 * the info file stays, and it binds nobody: the next `plan` takes the lock (and removes the file when it unlocks).
 * So pre-flight fails on the live lock and only warns on the one a killed run left.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3BackendProbe } from '../../lambdas/adapters/aws/s3-backend-probe';
import { lockInfoPath } from '../../lambdas/adapters/terraform-locks/local-lock-file';
import { TerraformLockProbe } from '../../lambdas/adapters/terraform-locks/terraform-lock-probe';
import { ConflictError } from '../../lambdas/domain/errors';
import type { EventPublisher } from '../../lambdas/domain/ports';
import { runPreflight, stateKeyFor } from '../../lambdas/domain/preflight';
import type { BackendCredential, StackJob } from '../../lambdas/domain/schemas';
import { forceUnlockStateLock, readStateLock } from '../../lambdas/domain/state-lock';
import { freezeStackJob } from '../../lambdas/domain/stack-job';
import { change, noLocks, preflightDeps, s3Backend, stackJobs, standardCatalog } from '../support/domain-fixtures';
import { requireTerraform } from '../support/terraform-binary';

const TERRAFORM = requireTerraform('test/e2e/terraform-state-lock.e2e.test.ts');
const describeReal = TERRAFORM ? describe : describe.skip;

const MODULE = `terraform {
  backend "local" {}
}

resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 30"
  }
}
`;

describeReal('the local backend lock the real terraform leaves', () => {
  let dir: string;
  let moduleDir: string;
  let statePath: string;
  let apply: ChildProcess | undefined;
  const secrets = { get: async () => Promise.reject(new Error('no secrets here')) };
  const stateLocks = new TerraformLockProbe(secrets);
  const ref = { org: 'acmecorp', env: 'production', resourceId: change().resource.id };
  const published: unknown[] = [];
  const publisher: EventPublisher = { publish: async (detailType, detail) => void published.push({ detailType, detail }) };
  let backend: BackendCredential;
  let stateKey: string;

  const tf = (...args: string[]) =>
    spawnSync(TERRAFORM!.bin, [...args, '-input=false', '-no-color'], {
      cwd: moduleDir,
      encoding: 'utf8',
      env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', TF_IN_AUTOMATION: '1' },
      timeout: 60_000,
    });
  /** Pre-flight of the standard change with this local backend and these jobs of the stack. */
  const preflight = (jobs: StackJob[]) =>
    runPreflight(
      change(),
      preflightDeps({
        catalog: standardCatalog().add('backend-credentials', 'acmecorp', backend),
        backendProbe: new S3BackendProbe(secrets),
        stateLocks,
        jobs: stackJobs(jobs),
        clock: { now: () => new Date() },
      }),
    );
  const backendCheck = async (jobs: StackJob[]) => (await preflight(jobs)).checks.find((c) => c.check === 'backend')!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stackjobs-tf-lock-'));
    moduleDir = join(dir, 'module');
    mkdirSync(moduleDir);
    writeFileSync(join(moduleDir, 'main.tf'), MODULE);
    // Sorted before the catalog's S3 backend, so pre-flight picks it.
    backend = s3Backend({ id: 'a_local_backend', type: 'local', config: { keyPrefix: 'stack-jobs', path: join(dir, 'state') } });
    stateKey = stateKeyFor(backend, change());
    statePath = join(dir, 'state', stateKey);
    // As the runner initialises a local backend (runner-image/src/credentials.ts).
    const init = tf('init', `-backend-config=path=${statePath}`);
    expect(init.status).toBe(0);
  }, 60_000);

  afterAll(() => {
    // The killed terraform's `sleep` lives on in its process group (its own: spawned detached). Signalled from here,
    // never through the `kill` command: util-linux kill reads "-9 -<pgid>" so that it signals every process it may.
    if (apply?.pid) {
      try {
        process.kill(-apply.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('is held while terraform runs: pre-flight fails naming it, force-unlock refuses, and plan cannot take it', async () => {
    apply = spawn(TERRAFORM!.bin, ['apply', '-auto-approve', '-input=false', '-no-color'], {
      cwd: moduleDir,
      env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' },
      detached: true,
      stdio: 'ignore',
    });
    const deadline = Date.now() + 30_000;
    while (!existsSync(lockInfoPath(statePath)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(lockInfoPath(statePath), 'utf8')).toContain('"Operation":"OperationTypeApply"');
    const info = JSON.parse(readFileSync(lockInfoPath(statePath), 'utf8')) as { ID: string; Who: string; Created: string };

    const lock = await stateLocks.read(backend, stateKey);
    expect(lock).toMatchObject({
      id: info.ID,
      who: info.Who,
      created: info.Created,
      operation: 'OperationTypeApply',
      path: statePath,
      store: 'local-file',
      held: true,
    });

    const check = await backendCheck([]);
    expect(check.passed).toBe(false);
    expect(check.messages.join('\n')).toContain(
      `state is locked by Terraform: OperationTypeApply by ${info.Who} since ${info.Created} (lock id ${info.ID}), which is not a stack job`,
    );
    expect(check.messages.join('\n')).toContain(`{"lockId":"${info.ID}","reason":"<why>"}`);

    expect((await stateLocks.forceUnlock(backend, stateKey, info.ID)).status).toBe('held');
    expect(existsSync(lockInfoPath(statePath))).toBe(true);

    const plan = tf('plan', '-lock-timeout=0s');
    expect(plan.status).toBe(1);
    expect(plan.stderr).toContain('Error acquiring the state lock');
    expect(plan.stderr).toContain(info.ID);
  }, 60_000);

  it('killed -9, leaves only its info: pre-flight warns naming the job that left it, force-unlock refuses a wrong id and removes it with the right one, and plan takes the lock', async () => {
    const info = JSON.parse(readFileSync(lockInfoPath(statePath), 'utf8')) as { ID: string; Who: string; Created: string };
    // The job whose runner ran that apply: started before the lock was taken, ended when its runner was lost.
    const started = new Date(Date.parse(info.Created) - 2_000).toISOString();
    const exited = new Promise((r) => apply!.once('exit', r));
    process.kill(apply!.pid!, 'SIGKILL');
    await exited;
    const frozen = freezeStackJob(change(), await preflight([]), 'sj_01jsrnmwpnnc6n62h06xafkill', new Date(started));
    expect(frozen.spec.essentials.backendCredential).toMatchObject({ type: 'local', stateKey });
    const killed: StackJob = {
      ...frozen,
      status: { ...frozen.status, phase: 'completed', result: 'failed', reason: 'runner_lost', startedAt: started, finishedAt: new Date().toISOString() },
    };

    expect(existsSync(lockInfoPath(statePath))).toBe(true);
    expect(await stateLocks.read(backend, stateKey)).toMatchObject({ id: info.ID, held: false });
    const check = await backendCheck([killed]);
    expect(check.passed).toBe(true);
    expect(check.messages.join('\n')).toContain(
      `warning: Terraform's lock info OperationTypeApply by ${info.Who} since ${info.Created} (lock id ${info.ID}), left by stack job sj_01jsrnmwpnnc6n62h06xafkill (ended failed, runner_lost), is on the state, but no process holds the lock`,
    );

    const deps = { jobs: stackJobs([killed]), locks: noLocks(), stateLocks, publisher, clock: { now: () => new Date() } };
    expect(await readStateLock(deps, ref)).toMatchObject({
      stateKey,
      backend: { type: 'local' },
      lock: { id: info.ID, held: false },
      leftBy: { jobId: killed.metadata.id },
    });
    const reason = 'the runner was killed -9 mid-apply';
    await expect(forceUnlockStateLock(deps, ref, { lockId: 'not-the-lock-id', reason, by: 'admin@acmecorp.example' })).rejects.toBeInstanceOf(ConflictError);
    expect(existsSync(lockInfoPath(statePath))).toBe(true);
    const released = await forceUnlockStateLock(deps, ref, { lockId: info.ID, reason, by: 'admin@acmecorp.example' });
    expect(released.view).toMatchObject({ lock: { id: info.ID }, released: { by: 'admin@acmecorp.example', reason } });
    expect(existsSync(lockInfoPath(statePath))).toBe(false);
    expect(published).toEqual([
      {
        detailType: 'Stack Terraform Lock Released',
        detail: expect.objectContaining({ lockId: info.ID, leftByJobId: killed.metadata.id, by: 'admin@acmecorp.example', reason }),
      },
    ]);

    const plan = tf('plan', '-lock-timeout=0s');
    expect({ status: plan.status, stderr: plan.stderr }).toEqual({ status: 0, stderr: '' });
    expect(plan.stdout).toContain('Plan: 1 to add');
    expect((await backendCheck([killed])).messages.join('\n')).not.toContain('lock');
  }, 60_000);
});
