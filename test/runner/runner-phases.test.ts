/**
 * The runner as a real child process (the esbuild bundle the image ships) against dynalite, s3rver, a fake
 * Step Functions/Secrets Manager endpoint, a local bare git repo and the stand-in terraform CLI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { artifactKeys } from '../../lambdas/adapters/s3/artifact-keys';
import { MAX_ADDRESS_CHARS, runnerResultSchema, type RunnerResult, type StackJob } from '../../lambdas/domain/schemas';
import { startFaultProxy } from '../../local/fault-proxy';
import { base64Forms } from '../../runner-image/src/redactor';
import { allObjects, BUCKET, createJob, readCalls, runRunner, sha256, startRunner, startRunnerEnv, waitFor, type RunnerEnv } from './support/harness';

let env: RunnerEnv;
beforeAll(async () => {
  env = await startRunnerEnv();
});
afterAll(async () => {
  await env?.stop();
});

const PROVIDER_SECRET = { accessKeyId: 'AKIAPROVIDER0001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTED' };

const successOf = (token: string): RunnerResult => {
  const calls = env.fake.reportsFor(token);
  expect(calls.map((c) => c.action)).toEqual(['SendTaskSuccess']);
  return runnerResultSchema.parse(JSON.parse(calls[0].body.output!));
};
const failureOf = (token: string) => {
  const calls = env.fake.reportsFor(token);
  expect(calls.map((c) => c.action)).toEqual(['SendTaskFailure']);
  return { error: calls[0].body.error, cause: JSON.parse(calls[0].body.cause!) as { operation: string; exitCode: number | null; message: string } };
};
/** On failure the diff shows the runner's stderr and what it reported. */
const expectOk = (r: { code: number | null; stderr: string }) =>
  expect({ code: r.code, stderr: r.stderr, reports: r.code === 0 ? [] : env.fake.sfnCalls.slice(-1) }).toEqual({ code: 0, stderr: r.stderr, reports: [] });
const opStates = (job: StackJob) => Object.fromEntries(job.status.operations.map((o) => [o.name, `${o.status}/${o.result}`]));
const gitIn = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd, stdio: 'pipe' })
    .toString()
    .trim();
const logText = async (jobId: string, phase: 'preview' | 'update', op: string) =>
  [...(await allObjects(env, `${artifactKeys.logPrefix(jobId)}${phase}/${op}/`)).values()].map((b) => b.toString()).join('');
/** Runs a job's preview with the stand-in recording its calls; returns the calls file and the preview's result. */
async function previewRecordingCalls(jobId: string, token: string) {
  const calls = join(env.dir, `calls-${jobId}.jsonl`);
  expectOk(await runRunner(env, { jobId, phase: 'preview', token, env: { STANDIN_CALLS: calls } }));
  return { calls, preview: successOf(token) };
}
/** Runs the update into the same calls file; returns the run and the commands the update alone ran. */
async function updateRecordingCalls(jobId: string, token: string, calls: string, planDigest: string | undefined) {
  const before = readCalls(calls).length;
  const run = await runRunner(env, { jobId, phase: 'update', token, planDigest, env: { STANDIN_CALLS: calls } });
  return {
    run,
    commands: readCalls(calls)
      .slice(before)
      .map((c) => c.command),
  };
}

/**
 * Runs the runner, records a cancel once `operation` is running, and checks the refusal: the task reports Cancelled
 * before the update began, and the tool was never asked to apply.
 */
async function cancelledWhile(jobId: string, operation: string, run: Omit<Parameters<typeof startRunner>[1], 'jobId'>, calls: string): Promise<void> {
  const running = startRunner(env, { jobId, ...run });
  const started = async () => (await env.jobs.require(jobId)).job.status.operations.find((o) => o.name === operation)?.status === 'running';
  await waitFor(started, 30000, `${operation} to start`);
  await env.jobs.update(jobId, (j) => ({ ...j, status: { ...j.status, cancelRequested: { by: 'ops@acmecorp.example', at: new Date().toISOString() } } }));
  expect((await running.done).code).toBe(1);
  const { error, cause } = failureOf(run.token);
  expect(error).toBe('StackJob.Cancelled');
  expect(cause.message).toMatch(/cancelled by ops@acmecorp\.example before the update began; nothing was applied/);
  expect(readCalls(calls).map((c) => c.command)).not.toContain('apply');
}

describe('a preview then an update', () => {
  let job: StackJob;
  let preview: RunnerResult;
  let update: RunnerResult;
  let afterPreview: StackJob;
  const calls = () => join(env.dir, `calls-${job.metadata.id}.jsonl`);
  const dumps = () => join(env.dir, `env-${job.metadata.id}`);
  const TOKEN_PREVIEW = 'tok-preview-9f8e7d6c5b4a';
  const TOKEN_UPDATE = 'tok-update-1a2b3c4d5e6f';

  beforeAll(async () => {
    env.fake.secrets.set('stackjobs/acmecorp/prov-1', JSON.stringify(PROVIDER_SECRET));
    job = await createJob(env, { providerSecretRef: 'stackjobs/acmecorp/prov-1', spec: { nodeGroupSize: 5, db_password: 'pw-hunter2-zzz' } });
    const common = { STANDIN_CALLS: calls(), STANDIN_ENV_DUMP: dumps() };
    const p = await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: TOKEN_PREVIEW, env: common });
    expectOk(p);
    preview = successOf(TOKEN_PREVIEW);
    afterPreview = (await env.jobs.require(job.metadata.id)).job;
    const u = await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: TOKEN_UPDATE, planDigest: preview.planDigest, env: common });
    expectOk(u);
    update = successOf(TOKEN_UPDATE);
  });

  it('reports the preview with SendTaskSuccess: changes, summary, plan digest and keys', async () => {
    expect(preview).toMatchObject({
      phase: 'preview',
      hasChanges: true,
      planKey: artifactKeys.planBinary(job.metadata.id),
      logPrefix: `jobs/${job.metadata.id}/logs/`,
    });
    expect(preview.summary).toMatchObject({ add: 2, change: 0, destroy: 0, replace: 0, outputChanges: 2 });
    expect(preview.summary!.resources.map((r) => r.address).sort()).toEqual(['standin_value.db_password', 'standin_value.nodeGroupSize']);
    expect(Object.keys(preview.durations)).toEqual(['init', 'plan']);
  });

  it('stores the binary plan, its masked JSON, its summary and a SHA-256 that matches the binary', async () => {
    const objects = await allObjects(env, artifactKeys.planPrefix(job.metadata.id));
    const bin = objects.get(artifactKeys.planBinary(job.metadata.id))!;
    expect(preview.planDigest).toBe(sha256(bin));
    expect(objects.get(artifactKeys.planDigest(job.metadata.id))!.toString()).toBe(`${preview.planDigest}  plan.bin\n`);
    const summary = JSON.parse(objects.get(artifactKeys.planSummary(job.metadata.id))!.toString());
    expect(summary).toEqual({ summary: preview.summary, hasChanges: true, digest: preview.planDigest });
    const planJson = JSON.parse(objects.get(artifactKeys.planJson(job.metadata.id))!.toString());
    expect(planJson.resource_changes).toHaveLength(2);
    // The stand-in marks db_password sensitive: the downloadable plan shows the change, not the value, wherever
    // Terraform marks it (the `variables` block is the job's own input, already in the snapshot, and is kept).
    for (const part of ['resource_changes', 'output_changes', 'planned_values', 'prior_state']) {
      expect(JSON.stringify(planJson[part])).not.toContain('pw-hunter2-zzz');
    }
    expect(planJson.output_changes.db_password.after).toBe('***');
  });

  it('records each operation on the job as it runs, and the plan digest the update is checked against', () => {
    expect(opStates(afterPreview)).toEqual({ init: 'completed/succeeded', plan: 'completed/succeeded', apply: 'pending/tbd' });
    expect(afterPreview.status.plan).toEqual({
      digest: preview.planDigest,
      key: preview.planKey,
      summary: preview.summary,
      workspace: { key: artifactKeys.savedWorkspace(job.metadata.id), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: expect.any(Number) },
    });
    expect(afterPreview.status.operations.find((o) => o.name === 'plan')!.summary).toEqual(preview.summary);
  });

  it('applies exactly the saved plan in the update, and reports it', async () => {
    expect(update).toMatchObject({ phase: 'update', hasChanges: true, planDigest: preview.planDigest, outputsKey: artifactKeys.outputs(job.metadata.id) });
    const applies = readCalls(calls()).filter((c) => c.command === 'apply');
    expect(applies).toHaveLength(1);
    expect(applies[0].argv.at(-1)).toMatch(/plan\.bin$/);
    expect(applies[0].argv.some((a) => a.startsWith('-var-file'))).toBe(false);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(opStates(after)).toEqual({ init: 'completed/succeeded', plan: 'completed/succeeded', apply: 'completed/succeeded' });
    expect(after.status.outputsKey).toBe(artifactKeys.outputs(job.metadata.id));
  });

  it('runs the commands in the documented order, from the module path at the tag: one init, the update restores the workspace', () => {
    const seq = readCalls(calls()).map((c) => c.command);
    // No refresh-only plan: the plan's own refresh reports the drift (planner.ts, planReportsDrift).
    expect(seq).toEqual(['init', 'plan', 'show', 'apply', 'output']);
    // The tag's main.tf, not the later commit on main.
    const cwd = (readCalls(calls())[0] as unknown as { cwd: string }).cwd;
    expect(cwd).toMatch(/module\/repo\/terraform$/);
  });

  it('stores outputs with their values, and reads them back with sensitive ones masked', async () => {
    const stored = JSON.parse((await env.store.getText(artifactKeys.outputs(job.metadata.id)))!);
    expect(stored.db_password).toEqual({ sensitive: true, type: 'string', value: 'pw-hunter2-zzz' });
    expect(await env.store.getOutputs(job.metadata.id)).toEqual({
      db_password: { sensitive: true, type: 'string', value: '***' },
      nodeGroupSize: { sensitive: false, type: 'number', value: 5 },
    });
  });

  it('streams every operation log to S3 in order, with no output values in them', async () => {
    const logs = await env.store.readLogs(job.metadata.id);
    const order = ['$ terraform init', '$ terraform plan', '$ terraform show', "restored the preview's workspace", '$ terraform apply', '$ terraform output'];
    let at = -1;
    for (const marker of order) {
      const next = logs.text.indexOf(marker, at + 1);
      expect(next).toBeGreaterThan(at);
      at = next;
    }
    // -json UI lines are logged in their human form; the apply's `outputs` line (which carries values) is "Outputs: 2".
    expect(logs.text).toContain('Plan: 2 to add, 0 to change, 0 to destroy.');
    expect(logs.text).toContain('Outputs: 2');
    expect(logs.text).not.toContain('pw-hunter2-zzz');
    expect(logs.text).not.toContain('"@level"');
  });

  it("never gives the task token (or the runner's own AWS identity and endpoints) to a child process", () => {
    const files = readdirSync(dumps());
    // init, plan, show; apply, output (the update restores the preview's workspace: no second init).
    expect(files.length).toBe(5);
    for (const f of files) {
      const raw = readFileSync(join(dumps(), f), 'utf8');
      const childEnv = JSON.parse(raw) as Record<string, string>;
      expect(raw).not.toContain(TOKEN_PREVIEW);
      expect(raw).not.toContain(TOKEN_UPDATE);
      expect(Object.keys(childEnv).filter((k) => k.startsWith('STACKJOBS_') || k.startsWith('AWS_ENDPOINT_URL'))).toEqual([]);
      // The provider credential, not the runner's S3RVER identity.
      expect(childEnv.AWS_ACCESS_KEY_ID).toBe(PROVIDER_SECRET.accessKeyId);
      expect(childEnv.AWS_SECRET_ACCESS_KEY).toBe(PROVIDER_SECRET.secretAccessKey);
    }
  });

  it('leaves no secret material in any S3 object or the job record', async () => {
    const objects = await allObjects(env, `jobs/${job.metadata.id}/`);
    const { job: stored } = await env.jobs.require(job.metadata.id);
    for (const body of [...objects.values(), Buffer.from(JSON.stringify(stored))]) {
      expect(body.includes(PROVIDER_SECRET.secretAccessKey)).toBe(false);
      expect(body.includes(TOKEN_PREVIEW)).toBe(false);
    }
  });

  it('removes the workspace after each phase', () => {
    expect(existsSync(join(env.dir, 'work', job.metadata.id, 'stack-jobs', job.metadata.id))).toBe(false);
  });
});

describe("the runner's status writes", () => {
  it('are one request each, an operation ending riding on the next write: a preview reads its job once and writes it three times', async () => {
    const job = await createJob(env);
    const requests: string[] = [];
    const proxy = await startFaultProxy(env.dynamo.endpoint, (req) => {
      requests.push(String(req.headers['x-amz-target']).split('.')[1]);
      return undefined;
    });
    try {
      expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-writes', env: { AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint } }));
    } finally {
      await proxy.stop();
    }
    // Read; claim with init running; commit pinned + init ended + plan running; plan ended + the plan (and the drift
    // its refresh found) recorded. No refresh operation of its own: that was two writes more.
    expect(requests).toEqual(['GetItem', ...Array.from({ length: 3 }, () => 'UpdateItem')]);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(opStates(after)).toMatchObject({ init: 'completed/succeeded', plan: 'completed/succeeded' });
    expect(after.status.moduleCommit).toMatch(/^[0-9a-f]{40}$/);
    // Each ending keeps its own time (taken when it ended, not when it was written): never after the next start.
    const ops = after.status.operations.filter((x) => x.status === 'completed');
    expect(ops.map((o) => o.name)).toEqual(['init', 'plan']);
    for (const [i, o] of ops.entries()) {
      expect(Date.parse(o.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(o.startedAt!));
      if (ops[i + 1]) expect(Date.parse(o.finishedAt!)).toBeLessThanOrEqual(Date.parse(ops[i + 1].startedAt!));
    }
    expect(after.status.plan?.digest).toBe(successOf('tok-writes').planDigest);
  });

  it("fail the preview when the write carrying the module's commit fails: no plan is recorded without the commit an update must apply", async () => {
    const job = await createJob(env);
    let updates = 0;
    // The claim goes through; every later write (each SDK attempt of the one carrying the commit) is refused.
    const proxy = await startFaultProxy(env.dynamo.endpoint, (req) => {
      if (String(req.headers['x-amz-target']).endsWith('.UpdateItem') && ++updates > 1)
        return {
          status: 500,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'injected' }),
        };
      return undefined;
    });
    let run: { code: number | null; stderr: string };
    try {
      run = await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-pin-fails', env: { AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint } });
    } finally {
      await proxy.stop();
    }
    expect(run.code).toBe(1);
    const { cause } = failureOf('tok-pin-fails');
    expect(cause.message).toMatch(/could not record the job's status: InternalServerError/);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(after.status.moduleCommit).toBeUndefined();
    expect(after.status.plan).toBeUndefined();
    expect(opStates(after).plan).toBe('pending/tbd');
  });

  it('claim the update, its task recorded, in the same conditional write that starts the apply: an approved update that restores its workspace reads once and writes twice', async () => {
    const job = await createJob(env);
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-writes-p' }));
    const taskArn = 'arn:aws:ecs:us-east-1:123456789012:task/stack-jobs/update-writes';
    const requests: string[] = [];
    const proxy = await startFaultProxy(env.dynamo.endpoint, (req) => {
      requests.push(String(req.headers['x-amz-target']).split('.')[1]);
      return undefined;
    });
    try {
      const planDigest = successOf('tok-writes-p').planDigest;
      expectOk(
        await runRunner(env, {
          jobId: job.metadata.id,
          phase: 'update',
          token: 'tok-writes-u',
          planDigest,
          env: { AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint, STACKJOBS_TASK_ARN: taskArn },
        }),
      );
    } finally {
      await proxy.stop();
    }
    // Read; claim the update (this task recorded) with the apply running; the apply ended with the outputs recorded.
    // (The task's claim and the apply's start were two writes before.)
    expect(requests).toEqual(['GetItem', 'UpdateItem', 'UpdateItem']);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(after.status.runnerTask).toEqual({ arn: taskArn, phase: 'update' });
    const apply = after.status.operations.find((o) => o.name === 'apply')!;
    expect(apply).toMatchObject({ status: 'completed', result: 'succeeded' });
    expect(Date.parse(apply.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(apply.startedAt!));
  });
  it("are not waited on by an approved update's downloads: the plan, its summary and the saved workspace are asked for before the job's read is answered", async () => {
    const job = await createJob(env);
    const id = job.metadata.id;
    expectOk(await runRunner(env, { jobId: id, phase: 'preview', token: 'tok-early-p' }));
    const asked: string[] = [];
    let askedWhenRead: string[] | undefined;
    const s3 = await startFaultProxy(env.s3server.endpoint, (req) => {
      if (req.method === 'GET') asked.push(decodeURIComponent(req.url.split('?')[0]));
      return undefined;
    });
    // The job's read is answered once three objects were asked for (or after 5 s, which the check below then fails).
    const dynamo = await startFaultProxy(env.dynamo.endpoint, async (req) => {
      if (String(req.headers['x-amz-target']).endsWith('.GetItem') && askedWhenRead === undefined) {
        const until = Date.now() + 5000;
        while (asked.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        askedWhenRead = [...asked];
      }
      return undefined;
    });
    try {
      const planDigest = successOf('tok-early-p').planDigest;
      expectOk(
        await runRunner(env, {
          jobId: id,
          phase: 'update',
          token: 'tok-early-u',
          planDigest,
          env: { AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_ENDPOINT_URL_S3: s3.endpoint },
        }),
      );
    } finally {
      await Promise.all([s3.stop(), dynamo.stop()]);
    }
    const three = [artifactKeys.planBinary(id), artifactKeys.planSummary(id), artifactKeys.savedWorkspace(id)].map((k) => `/${BUCKET}/${k}`).sort();
    expect([...(askedWhenRead ?? [])].sort()).toEqual(three);
    // And used: nothing was asked for again.
    expect([...asked].sort()).toEqual(three);
    expect(opStates((await env.jobs.require(id)).job).apply).toBe('completed/succeeded');
  });
});

describe('a module branch that moved between preview and apply', () => {
  /** A copy of the module repository for this job alone, so moving its tag touches no other test. */
  async function jobOnOwnRepo(name: string) {
    const repo = join(env.dir, `${name}.git`);
    cpSync(env.repo, repo, { recursive: true });
    return { job: await createJob(env, { gitRepo: repo }), repo };
  }
  /** Points the tag at a new commit without the module directory (applying it would fail: the path is gone). */
  function moveTag(repo: string): string {
    const work = mkdtempSync(join(env.dir, 'move-'));
    gitIn(work, 'clone', '-q', repo, '.');
    // An unrelated history: the previewed commit is not its parent.
    gitIn(work, 'checkout', '-q', '--orphan', 'moved', 'v1.0.0');
    gitIn(work, 'rm', '-q', '-r', '-f', 'terraform');
    writeFileSync(join(work, 'README'), 'the module moved elsewhere\n');
    gitIn(work, 'add', 'README');
    gitIn(work, 'commit', '-q', '-m', 'moved: the module is gone');
    gitIn(work, 'tag', '-f', '-a', 'v1.0.0', '-m', 'moved');
    gitIn(work, 'push', '-q', '-f', 'origin', 'v1.0.0');
    return gitIn(work, 'rev-parse', 'HEAD');
  }
  const dropSavedWorkspace = (jobId: string) => env.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: artifactKeys.savedWorkspace(jobId) }));

  it('records the commit the preview used and applies that commit, not what the tag points at now', async () => {
    const { job, repo } = await jobOnOwnRepo('moved');
    const { calls, preview } = await previewRecordingCalls(job.metadata.id, 'tok-pin-preview');
    const pinned = (await env.jobs.require(job.metadata.id)).job.status.moduleCommit!;
    expect(pinned).toBe(gitIn(repo, 'rev-parse', 'v1.0.0^{commit}'));
    const moved = moveTag(repo);
    expect(moved).not.toBe(pinned);
    await dropSavedWorkspace(job.metadata.id); // so the update clones, pinned
    expectOk((await updateRecordingCalls(job.metadata.id, 'tok-pin-update', calls, preview.planDigest)).run);
    expect(successOf('tok-pin-update')).toMatchObject({ phase: 'update', hasChanges: true });
    expect(await logText(job.metadata.id, 'update', 'init')).toContain(`at ${pinned} (the commit the preview used)`);
    expect((await env.jobs.require(job.metadata.id)).job.status.moduleCommit).toBe(pinned);
  });

  it('refuses the update when the previewed commit can no longer be fetched, and runs nothing', async () => {
    const { job, repo } = await jobOnOwnRepo('gone');
    const { calls, preview } = await previewRecordingCalls(job.metadata.id, 'tok-gone-preview');
    const pinned = (await env.jobs.require(job.metadata.id)).job.status.moduleCommit!;
    moveTag(repo);
    await dropSavedWorkspace(job.metadata.id);
    // Nothing leads to the previewed commit any more: gone from the server.
    gitIn(repo, 'update-ref', '-d', 'refs/heads/main'); // main's commit descends from it
    gitIn(repo, 'reflog', 'expire', '--expire=now', '--all');
    gitIn(repo, 'gc', '-q', '--prune=now');
    expect(() => gitIn(repo, 'cat-file', '-t', pinned)).toThrow();
    const { run, commands } = await updateRecordingCalls(job.metadata.id, 'tok-gone-update', calls, preview.planDigest);
    expect(run.code).toBe(1);
    const { error, cause } = failureOf('tok-gone-update');
    expect(error).toBe('StackJob.OperationFailed');
    expect(cause).toMatchObject({ operation: 'init' });
    expect(cause.message).toContain(`v1.0.0 moved from ${pinned} (previewed)`);
    expect(cause.message).toContain('nothing was run');
    expect(commands).toEqual([]);
  });
});

describe("the preview's saved workspace", () => {
  function ownRepo(name: string, extra?: { path: string; content: string }): string {
    const repo = join(env.dir, `${name}.git`);
    cpSync(env.repo, repo, { recursive: true });
    if (extra) {
      const work = mkdtempSync(join(env.dir, 'extra-'));
      gitIn(work, 'clone', '-q', repo, '.');
      gitIn(work, 'checkout', '-q', 'v1.0.0');
      writeFileSync(join(work, extra.path), extra.content);
      gitIn(work, 'add', extra.path);
      gitIn(work, 'commit', '-q', '-m', 'extra file');
      gitIn(work, 'tag', '-f', '-a', 'v1.0.0', '-m', 'with the extra file');
      gitIn(work, 'push', '-q', '-f', 'origin', 'v1.0.0');
    }
    return repo;
  }

  it('is restored by the update instead of a clone and an init: the update runs even with the repository gone', async () => {
    const repo = ownRepo('restored');
    const job = await createJob(env, { gitRepo: repo });
    const { calls, preview } = await previewRecordingCalls(job.metadata.id, 'tok-ws-preview');
    const saved = (await env.jobs.require(job.metadata.id)).job.status.plan!.workspace!;
    const archive = (await allObjects(env, artifactKeys.savedWorkspace(job.metadata.id))).get(saved.key)!;
    expect(sha256(archive)).toBe(saved.sha256);
    expect(archive.length).toBe(saved.bytes);
    rmSync(repo, { recursive: true, force: true });
    const { run, commands } = await updateRecordingCalls(job.metadata.id, 'tok-ws-update', calls, preview.planDigest);
    expectOk(run);
    expect(commands).toEqual(['apply', 'output']);
    expect(await logText(job.metadata.id, 'update', 'init')).toContain(
      `restored the preview's workspace: module at ${(await env.jobs.require(job.metadata.id)).job.status.moduleCommit}`,
    );
  });

  it('is refused when its SHA-256 is not the one recorded at preview: nothing runs', async () => {
    const job = await createJob(env, { gitRepo: ownRepo('tampered-ws') });
    const { calls, preview } = await previewRecordingCalls(job.metadata.id, 'tok-wst-preview');
    await env.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: artifactKeys.savedWorkspace(job.metadata.id), Body: Buffer.from('not the archive') }));
    const { run, commands } = await updateRecordingCalls(job.metadata.id, 'tok-wst-update', calls, preview.planDigest);
    expect(run.code).toBe(1);
    const { error, cause } = failureOf('tok-wst-update');
    expect(error).toBe('StackJob.OperationFailed');
    expect(cause.operation).toBe('init');
    expect(cause.message).toMatch(/refusing: the saved workspace's SHA-256 [0-9a-f]{64} is not [0-9a-f]{64}, recorded at preview; nothing was run/);
    expect(commands).toEqual([]);
  });

  it('is refused when the clone it holds is not at the commit the job recorded at preview: nothing runs', async () => {
    const job = await createJob(env, { gitRepo: ownRepo('other-commit-ws') });
    const { calls, preview } = await previewRecordingCalls(job.metadata.id, 'tok-wsx-preview');
    const previewed = (await env.jobs.require(job.metadata.id)).job.status.moduleCommit!;
    // The archive is untouched (its SHA-256 still matches); the commit an update may apply is another one.
    const recorded = 'f'.repeat(40);
    await env.jobs.update(job.metadata.id, (j) => ({ ...j, status: { ...j.status, moduleCommit: recorded } }));
    const { run, commands } = await updateRecordingCalls(job.metadata.id, 'tok-wsx-update', calls, preview.planDigest);
    expect(run.code).toBe(1);
    const { error, cause } = failureOf('tok-wsx-update');
    expect(error).toBe('StackJob.OperationFailed');
    expect(cause.operation).toBe('init');
    expect(cause.message).toContain(`the saved workspace is at ${previewed}, not at the previewed commit ${recorded}: nothing was run`);
    expect(commands).toEqual([]);
  });

  it('is cloned and initialised again when the saved workspace is gone (removed with its plan, or expired)', async () => {
    const job = await createJob(env, { gitRepo: ownRepo('gone-ws') });
    const { calls, preview } = await previewRecordingCalls(job.metadata.id, 'tok-wsg-preview');
    await env.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: artifactKeys.savedWorkspace(job.metadata.id) }));
    const { run, commands } = await updateRecordingCalls(job.metadata.id, 'tok-wsg-update', calls, preview.planDigest);
    expectOk(run);
    expect(commands).toEqual(['init', 'apply', 'output']);
    expect(await logText(job.metadata.id, 'update', 'init')).toContain("the preview's saved workspace is gone: cloning and initialising again");
  });

  /**
   * Previews a job, records a cancel before its update task starts (after `before`), runs the update and checks the
   * claim refused it: Cancelled, no command run. Returns the job's ID.
   */
  async function cancelledBeforeUpdate(name: string, before: (jobId: string) => Promise<unknown> = async () => undefined): Promise<string> {
    const secretRef = `stackjobs/acmecorp/${name}`;
    env.fake.secrets.set(secretRef, JSON.stringify(PROVIDER_SECRET));
    const job = await createJob(env, { gitRepo: ownRepo(name), providerSecretRef: secretRef });
    const id = job.metadata.id;
    const { calls, preview } = await previewRecordingCalls(id, `tok-${name}-preview`);
    await before(id);
    await env.jobs.update(id, (j) => ({ ...j, status: { ...j.status, cancelRequested: { by: 'ops@acmecorp.example', at: new Date().toISOString() } } }));
    const reads = env.fake.secretReads.length;
    const { run, commands } = await updateRecordingCalls(id, `tok-${name}-update`, calls, preview.planDigest);
    // Refused before any credential was read.
    expect(env.fake.secretReads.slice(reads)).toEqual([]);
    expect(run.code).toBe(1);
    const { error, cause } = failureOf(`tok-${name}-update`);
    expect(error).toBe('StackJob.Cancelled');
    expect(cause.message).toBe('the job was cancelled before the update phase started; nothing was run');
    expect(commands).toEqual([]);
    expect(opStates((await env.jobs.require(id)).job).apply).toBe('pending/tbd');
    return id;
  }

  it('when gone, has the update claim its phase before it clones: a cancel recorded after the update read its job clones and runs nothing', async () => {
    const job = await createJob(env, { gitRepo: ownRepo('gone-ws-cancelled') });
    const id = job.metadata.id;
    const { calls, preview } = await previewRecordingCalls(id, 'tok-wsgc-preview');
    await env.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: artifactKeys.savedWorkspace(id) }));
    // The update's read of its job is answered as the job was, and the cancel is written right after: only the claim
    // the update writes before cloning can see it.
    let cancelled = false;
    const dynamo = await startFaultProxy(env.dynamo.endpoint, async (req) => {
      if (cancelled || !String(req.headers['x-amz-target']).endsWith('.GetItem')) return undefined;
      const answer = await req.forward();
      await env.jobs.update(id, (j) => ({ ...j, status: { ...j.status, cancelRequested: { by: 'ops@acmecorp.example', at: new Date().toISOString() } } }));
      cancelled = true;
      return answer;
    });
    const before = readCalls(calls).length;
    let run;
    try {
      run = await runRunner(env, {
        jobId: id,
        phase: 'update',
        token: 'tok-wsgc-update',
        planDigest: preview.planDigest,
        env: {
          STANDIN_CALLS: calls,
          AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
          // On Fargate the task knows its ARN, so its claim always writes (and so reads a cancel made since).
          STACKJOBS_TASK_ARN: 'arn:aws:ecs:us-east-1:123456789012:task/stack-jobs/gone-ws-cancelled',
        },
      });
    } finally {
      await dynamo.stop();
    }
    expect(cancelled).toBe(true);
    expect(run.code).toBe(1);
    const { error, cause } = failureOf('tok-wsgc-update');
    expect(error).toBe('StackJob.Cancelled');
    expect(cause.message).toBe('the job was cancelled before the update phase started; nothing was run');
    expect(readCalls(calls).slice(before)).toEqual([]);
    expect(await logText(id, 'update', 'init')).toContain("the preview's saved workspace is gone: cloning and initialising again");
    expect(await logText(id, 'update', 'init')).not.toMatch(/module \S+ \S+ at [0-9a-f]{40}/);
  });

  it("is downloaded beside the update's read of its job, and a cancel recorded before the task started is refused at once: no credential read, nothing restored or applied", async () => {
    const id = await cancelledBeforeUpdate('cancelled-ws');
    // The downloads started beside the job's read were waited for: nothing is left in the workspace.
    expect(existsSync(join(env.dir, 'work', id, 'stack-jobs', id))).toBe(false);
  });

  it("is not saved when a file in it holds the module git token's value from before its rotation", async () => {
    const ref = 'stackjobs/acmecorp/git-rotated';
    const oldToken = 'ghp_beforeRotation0123456789abcdefABCDEF';
    env.fake.secrets.set(ref, 'ghp_afterRotation9876543210fedcbaFEDCBA');
    env.fake.previousSecrets.set(ref, oldToken);
    const repo = ownRepo('old-token-ws', { path: 'terraform/.netrc', content: `machine git.example password ${oldToken}\n` });
    const job = await createJob(env, { gitRepo: repo, gitTokenSecretRef: ref });
    await previewRecordingCalls(job.metadata.id, 'tok-wsot-preview');
    expect(env.fake.secretReads).toContain(`${ref}@AWSPREVIOUS`);
    expect((await env.jobs.require(job.metadata.id)).job.status.plan!.workspace).toBeUndefined();
    expect((await allObjects(env, artifactKeys.savedWorkspace(job.metadata.id))).size).toBe(0);
    expect(await logText(job.metadata.id, 'preview', 'plan')).toContain('the workspace is not saved for the update (terraform/.netrc holds a secret value)');
  });

  it('is not saved when module code writes a secret value into it after the directory could have been looked at: what is checked is the archive itself', async () => {
    env.fake.secrets.set('stackjobs/acmecorp/prov-late', JSON.stringify(PROVIDER_SECRET));
    // A `tar` first on the runner's PATH that, as a process the module left running could, writes the secret into the
    // module directory just before the system tar archives it (`tar --format=gnu -C <dir> -czf <archive> <name>`).
    const bin = join(env.dir, 'late-writer-bin');
    mkdirSync(bin, { recursive: true });
    const realTar = execFileSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).trim();
    const script = `#!/bin/sh\nif [ "$4" = "-czf" ]; then printf 'key: %s\\n' '${PROVIDER_SECRET.secretAccessKey}' > "$3/$6/late.txt"; fi\nexec ${realTar} "$@"\n`;
    writeFileSync(join(bin, 'tar'), script, { mode: 0o755 });
    const job = await createJob(env, { providerSecretRef: 'stackjobs/acmecorp/prov-late' });
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-late-preview', env: { PATH: `${bin}:${process.env.PATH}` } }));
    expect((await env.jobs.require(job.metadata.id)).job.status.plan!.workspace).toBeUndefined();
    expect((await allObjects(env, artifactKeys.savedWorkspace(job.metadata.id))).size).toBe(0);
    const planLog = await logText(job.metadata.id, 'preview', 'plan');
    expect(planLog).toContain('the workspace is not saved for the update (late.txt holds a secret value)');
    expect(planLog).not.toContain(PROVIDER_SECRET.secretAccessKey);
  });

  it('is archived where the tool cannot reach: a link the tool leaves at the old archive path in its state directory changes nothing', async () => {
    // A terraform that, at plan, leaves a link named like the archive in its HOME (the workspace's state directory),
    // pointing at a file outside: a runner archiving there would write through it.
    const victim = join(env.dir, `victim-${Date.now()}.txt`);
    writeFileSync(victim, "not the runner's to overwrite\n");
    const bin = join(env.dir, 'link-planting-terraform');
    writeFileSync(bin, `#!/bin/sh\nif [ "$1" = "plan" ]; then ln -sf '${victim}' "$HOME/workspace.tar.gz"; fi\nexec '${env.standin}' "$@"\n`, { mode: 0o755 });
    const job = await createJob(env);
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-link-preview', env: { STACKJOBS_TERRAFORM_BIN: bin } }));
    expect(readFileSync(victim, 'utf8')).toBe("not the runner's to overwrite\n");
    const saved = (await env.jobs.require(job.metadata.id)).job.status.plan!.workspace!;
    expect(saved).toMatchObject({ key: artifactKeys.savedWorkspace(job.metadata.id), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await allObjects(env, saved.key)).size).toBe(1);
  });

  it('never writes through links the tool leaves at the names of what the runner captures (plan, refresh and outputs JSON)', async () => {
    const victim = join(env.dir, `victim-captures-${Date.now()}.txt`);
    writeFileSync(victim, 'untouched\n');
    const bin = join(env.dir, 'capture-link-terraform');
    const links = ['plan.json', 'refresh.json', 'outputs.json', 'outputs.redacted.json'].map((n) => `ln -sf '${victim}' "$HOME/${n}"`).join('; ');
    writeFileSync(bin, `#!/bin/sh\nif [ "$1" = "init" ]; then ${links}; fi\nexec '${env.standin}' "$@"\n`, { mode: 0o755 });
    const job = await createJob(env);
    expectOk(
      await runRunner(env, {
        jobId: job.metadata.id,
        phase: 'preview',
        token: 'tok-capture-links',
        env: { STACKJOBS_TERRAFORM_BIN: bin, STACKJOBS_THEN_UPDATE: 'true' },
      }),
    );
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    expect(successOf('tok-capture-links').then).toMatchObject({ phase: 'update', hasChanges: true });
  });

  it('refuses a plan file the tool replaced with a link: nothing it points to is read or uploaded', async () => {
    const target = join(env.dir, `not-a-plan-${Date.now()}.txt`);
    writeFileSync(target, 'HOST-FILE-CONTENT-0f3c9a\n');
    const bin = join(env.dir, 'plan-link-terraform');
    // After `show` (its last argument is the plan file), the plan file becomes a link to a file of the host's.
    writeFileSync(
      bin,
      `#!/bin/sh\n'${env.standin}' "$@"; rc=$?\nif [ "$1" = "show" ]; then for a; do last="$a"; done; ln -sf '${target}' "$last"; fi\nexit $rc\n`,
      { mode: 0o755 },
    );
    const job = await createJob(env);
    const run = await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-plan-link', env: { STACKJOBS_TERRAFORM_BIN: bin } });
    expect(run.code).toBe(1);
    expect(failureOf('tok-plan-link').cause.message).toMatch(/plan\.bin is a symbolic link, not the tool's file: refusing to read it/);
    for (const [key, body] of await allObjects(env, `jobs/${job.metadata.id}/`))
      expect({ key, leaked: body.includes('HOST-FILE-CONTENT-0f3c9a') }).toEqual({ key, leaked: false });
  });

  it('is not saved when a file in it holds a secret value: the update clones and initialises again', async () => {
    env.fake.secrets.set('stackjobs/acmecorp/prov-ws', JSON.stringify(PROVIDER_SECRET));
    const repo = ownRepo('secret-ws', { path: 'terraform/notes.txt', content: `key: ${PROVIDER_SECRET.secretAccessKey}\n` });
    const job = await createJob(env, { gitRepo: repo, providerSecretRef: 'stackjobs/acmecorp/prov-ws' });
    const { calls, preview } = await previewRecordingCalls(job.metadata.id, 'tok-wss-preview');
    expect((await env.jobs.require(job.metadata.id)).job.status.plan!.workspace).toBeUndefined();
    expect((await allObjects(env, artifactKeys.savedWorkspace(job.metadata.id))).size).toBe(0);
    const planLog = await logText(job.metadata.id, 'preview', 'plan');
    expect(planLog).toContain('the workspace is not saved for the update (terraform/notes.txt holds a secret value)');
    expect(planLog).not.toContain(PROVIDER_SECRET.secretAccessKey);
    const { run, commands } = await updateRecordingCalls(job.metadata.id, 'tok-wss-update', calls, preview.planDigest);
    expectOk(run);
    expect(commands).toEqual(['init', 'apply', 'output']);
  });
});

describe('one task for a job that does not pause (STACKJOBS_THEN_UPDATE)', () => {
  const ONE = { STACKJOBS_THEN_UPDATE: 'true' };

  it('clones and inits once, plans, then applies that same plan file in the same process, and reports both phases', async () => {
    const job = await createJob(env);
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    const token = 'tok-one-task-5e6f7a8b';
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token, env: { ...ONE, STANDIN_CALLS: calls } }));
    const result = successOf(token);
    expect(readCalls(calls).map((c) => c.command)).toEqual(['init', 'plan', 'show', 'apply', 'output']);
    const plan = readCalls(calls).find((c) => c.command === 'plan')!;
    const apply = readCalls(calls).find((c) => c.command === 'apply')!;
    // The plan file the tool made, applied as the runner's copy of it (hashed, and beside the workspace where no tool
    // process can change it): <work>/stack-jobs/<jobId>/state/plan.bin -> <work>/stack-jobs/<jobId>.plan/plan.bin.
    const made = plan.argv.find((a) => a.startsWith('-out='))!.slice('-out='.length);
    expect(apply.argv.at(-1)).toBe(join(dirname(dirname(dirname(made))), `${job.metadata.id}.plan`, 'plan.bin'));
    expect(result).toMatchObject({ phase: 'preview', hasChanges: true, then: { phase: 'update', hasChanges: true, planDigest: result.planDigest } });
    expect(Object.keys(result.durations).sort()).toEqual(['init', 'plan']);
    expect(Object.keys(result.then!.durations)).toEqual(['apply']);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(opStates(after)).toEqual({ init: 'completed/succeeded', plan: 'completed/succeeded', apply: 'completed/succeeded' });
    // The apply logs where readers look for an update's logs.
    const logs = [...(await allObjects(env, artifactKeys.logPrefix(job.metadata.id))).keys()];
    expect(logs.filter((k) => k.includes('/update/'))).toEqual([expect.stringMatching(/\/update\/apply\//)]);
    expect(logs.some((k) => k.includes('/preview/apply'))).toBe(false);
  });

  it('stops after the plan when it has no changes', async () => {
    const job = await createJob(env, { spec: {} });
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    const token = 'tok-one-task-nochange';
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token, env: { ...ONE, STANDIN_CALLS: calls } }));
    expect(successOf(token)).toMatchObject({ phase: 'preview', hasChanges: false });
    expect(successOf(token).then).toBeUndefined();
    expect(readCalls(calls).map((c) => c.command)).not.toContain('apply');
  });

  it('applies nothing when a cancel was recorded before the hand-over, and reports Cancelled', async () => {
    const job = await createJob(env);
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    const token = 'tok-one-task-cancelled';
    // A cancel recorded while the plan runs (the runner reads it in its conditional hand-over).
    await cancelledWhile(job.metadata.id, 'plan', { phase: 'preview', token, env: { ...ONE, STANDIN_CALLS: calls, STANDIN_SLEEP_MS: '700' } }, calls);
  });
});

describe('a planted secret echoed by the tool', () => {
  it('appears in no S3 object, raw or base64, even split across chunk boundaries and flushes', async () => {
    const planted = 'PLANTED/s3cr3t+Value-0123456789abcdefXYZ';
    env.fake.secrets.set('stackjobs/acmecorp/prov-planted', JSON.stringify({ accessKeyId: 'AKIAPLANTED00001', secretAccessKey: planted }));
    const job = await createJob(env, { providerSecretRef: 'stackjobs/acmecorp/prov-planted' });
    const token = 'tok-planted';
    const r = await runRunner(env, {
      jobId: job.metadata.id,
      phase: 'preview',
      token,
      env: {
        STANDIN_ECHO_ENV: 'AWS_SECRET_ACCESS_KEY',
        // Tiny chunks and a pause mid-secret longer than the flush interval: the secret must straddle both kinds of cut.
        STANDIN_ECHO_SPLIT_MS: '400',
        STACKJOBS_LOG_CHUNK_BYTES: '7',
        STACKJOBS_LOG_FLUSH_SECONDS: '0.1',
      },
    });
    expectOk(r);
    successOf(token);
    const objects = await allObjects(env, `jobs/${job.metadata.id}/`);
    const logKeys = [...objects.keys()].filter((k) => k.includes('/logs/preview/plan/'));
    expect(logKeys.length).toBeGreaterThan(20);
    const forbidden = [planted, Buffer.from(planted).toString('base64'), ...base64Forms(planted)];
    for (const [key, body] of objects) for (const f of forbidden) expect({ key, leaked: body.includes(f) }).toEqual({ key, leaked: false });
    const text = (await env.store.readLogs(job.metadata.id, { phase: 'preview', operation: 'plan' })).text;
    // The echo happened and was redacted in place, in both forms.
    expect(text).toContain('echo AWS_SECRET_ACCESS_KEY=***\n');
    expect(text).toContain('echo AWS_SECRET_ACCESS_KEY (base64)=***\n');
  });
});

describe('a credential value that reached a variable and an output', () => {
  it('is stored as *** in plan.json and outputs.json (and in no S3 object but the byte-exact plan.bin)', async () => {
    // A non-AWS credential is injected as-is: TF_VAR_api_key becomes a Terraform variable, which a module echoes
    // into an output it forgot to mark sensitive.
    const planted = 'DDKEY/planted+api-key-0123456789abcdefXYZ';
    env.fake.secrets.set('stackjobs/acmecorp/datadog', JSON.stringify({ TF_VAR_api_key: planted }));
    const job = await createJob(env, {
      provider: 'datadog',
      providerSecretRef: 'stackjobs/acmecorp/datadog',
      spec: { nodeGroupSize: 5, db_password: 'pw-kept-sensitive' },
    });
    const common = { STANDIN_OUTPUT_ENV: 'TF_VAR_api_key' };
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-outenv-preview', env: common }));
    const preview = successOf('tok-outenv-preview');
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: 'tok-outenv-update', planDigest: preview.planDigest, env: common }));
    successOf('tok-outenv-update');

    const objects = await allObjects(env, `jobs/${job.metadata.id}/`);
    const planBin = artifactKeys.planBinary(job.metadata.id);
    // The binary plan is applied as is (its digest was approved): Terraform keeps variable values in it.
    expect(objects.get(planBin)!.includes(planted)).toBe(true);
    const forbidden = [planted, JSON.stringify(planted).slice(1, -1), ...base64Forms(planted)];
    for (const [key, body] of objects) {
      if (key === planBin) continue;
      for (const f of forbidden) expect({ key, leaked: body.includes(f) }).toEqual({ key, leaked: false });
    }
    const planJson = JSON.parse(objects.get(artifactKeys.planJson(job.metadata.id))!.toString());
    expect(planJson.output_changes.env_tf_var_api_key.after).toBe('***');
    expect(planJson.planned_values.outputs.env_tf_var_api_key.value).toBe('***');
    expect(planJson.variables.api_key).toEqual({ value: '***' });
    const stored = JSON.parse((await env.store.getText(artifactKeys.outputs(job.metadata.id)))!);
    expect(stored.env_tf_var_api_key).toEqual({ sensitive: false, type: 'string', value: '***' });
    // Values Terraform marks sensitive (not known credential material) keep their real value; readers mask them.
    expect(stored.db_password).toEqual({ sensitive: true, type: 'string', value: 'pw-kept-sensitive' });
    expect((await env.store.getOutputs(job.metadata.id))?.db_password?.value).toBe('***');
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(JSON.stringify(after)).not.toContain(planted);
  });
});

describe('a credential rotated since the state was written', () => {
  it('has its value before the rotation masked too: *** in plan.json (before-values, prior state) and in no S3 object but plan.bin', async () => {
    const ref = 'stackjobs/acmecorp/datadog-rotated';
    const before = 'DDKEY/before+rotation-0123456789abcdefXYZ';
    const after = 'DDKEY/after+rotation-9876543210fedcbaQRS';
    const common = { STANDIN_OUTPUT_ENV: 'TF_VAR_api_key' };
    const options = { provider: 'datadog', providerSecretRef: ref, spec: { nodeGroupSize: 5 } };
    // The first job applies with the old value: the state's output holds it.
    env.fake.secrets.set(ref, JSON.stringify({ TF_VAR_api_key: before }));
    const first = await createJob(env, options);
    expectOk(await runRunner(env, { jobId: first.metadata.id, phase: 'preview', token: 'tok-rot-p1', env: common }));
    const digest = successOf('tok-rot-p1').planDigest;
    expectOk(await runRunner(env, { jobId: first.metadata.id, phase: 'update', token: 'tok-rot-u1', planDigest: digest, env: common }));
    // The secret is rotated; the next job of the same stack starts from that state.
    env.fake.secrets.set(ref, JSON.stringify({ TF_VAR_api_key: after }));
    env.fake.previousSecrets.set(ref, JSON.stringify({ TF_VAR_api_key: before }));
    const second = await createJob(env, options);
    const from = join(env.dir, 'states', first.metadata.id);
    for (const f of readdirSync(from, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())) {
      const to = join(
        env.dir,
        'states',
        second.metadata.id,
        join(f.parentPath, f.name)
          .slice(from.length + 1)
          .replaceAll(first.metadata.id, second.metadata.id),
      );
      mkdirSync(dirname(to), { recursive: true });
      cpSync(join(f.parentPath, f.name), to);
    }
    expectOk(await runRunner(env, { jobId: second.metadata.id, phase: 'preview', token: 'tok-rot-p2', env: common }));
    expect(env.fake.secretReads).toContain(`${ref}@AWSPREVIOUS`);

    const objects = await allObjects(env, `jobs/${second.metadata.id}/`);
    const planBin = artifactKeys.planBinary(second.metadata.id);
    const planJson = JSON.parse(objects.get(artifactKeys.planJson(second.metadata.id))!.toString());
    // The plan changes the output from the old value to the new one: both are masked.
    expect(planJson.output_changes.env_tf_var_api_key).toMatchObject({ before: '***', after: '***' });
    for (const [key, body] of objects) {
      if (key === planBin) continue;
      for (const f of [before, after, ...base64Forms(before)]) expect({ key, leaked: body.includes(f) }).toEqual({ key, leaked: false });
    }
    expect(JSON.stringify((await env.jobs.require(second.metadata.id)).job)).not.toContain(before);
  });
});

describe('a credential value in a resource address longer than the job item keeps', () => {
  it('is redacted before the address is cut, so no piece of it survives in the summary, the job or the task result', async () => {
    const planted = 'DDKEY/planted+api-key-0123456789abcdefXYZ';
    env.fake.secrets.set('stackjobs/acmecorp/datadog-address', JSON.stringify({ TF_VAR_api_key: planted }));
    const job = await createJob(env, { provider: 'datadog', providerSecretRef: 'stackjobs/acmecorp/datadog-address' });
    // `standin_value.` (14 characters) and 276 more put the secret at characters 290..330: an address cut to 300
    // characters first would keep its first nine (`DDKEY/pla`), which no longer match it.
    const prefix = 'k'.repeat(276);
    const address = `standin_value.${prefix}${planted}`;
    expect(address.length).toBeGreaterThan(MAX_ADDRESS_CHARS);
    const run = await runRunner(env, {
      jobId: job.metadata.id,
      phase: 'preview',
      token: 'tok-address-preview',
      env: { STANDIN_ADDRESS_ENV: 'TF_VAR_api_key', STANDIN_ADDRESS_PREFIX: prefix },
    });
    expectOk(run);
    const preview = successOf('tok-address-preview');
    const piece = planted.slice(0, 9);
    const listed = preview.summary!.resources.map((r) => r.address);
    expect(listed).toContain(`standin_value.${prefix}***`);
    const { job: after } = await env.jobs.require(job.metadata.id);
    for (const [where, text] of [
      ['task result', JSON.stringify(preview)],
      ['job item', JSON.stringify(after)],
      ['stored summary', (await env.store.getText(artifactKeys.planSummary(job.metadata.id)))!],
    ] as const)
      expect({ where, leaked: text.includes(piece) }).toEqual({ where, leaked: false });

    // Applied, then changed outside Stack Jobs: the next preview's refresh reports drift on that address.
    const addressEnv = { STANDIN_ADDRESS_ENV: 'TF_VAR_api_key', STANDIN_ADDRESS_PREFIX: prefix };
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: 'tok-address-update', planDigest: preview.planDigest, env: addressEnv }));
    const b = job.spec.essentials.backendCredential;
    writeFileSync(`${join(String(b.config.path), b.stateKey)}.drift.json`, JSON.stringify({ [address]: 'changed by hand' }));
    const next = await createJob(env, { provider: 'datadog', providerSecretRef: 'stackjobs/acmecorp/datadog-address' });
    await env.jobs.update(next.metadata.id, (j) => ({ ...j, spec: { ...j.spec, essentials: { ...j.spec.essentials, backendCredential: b } } }));
    expectOk(await runRunner(env, { jobId: next.metadata.id, phase: 'preview', token: 'tok-address-drift', env: addressEnv }));
    const { job: drifted } = await env.jobs.require(next.metadata.id);
    expect(drifted.status.drift).toMatchObject({ total: 1, resources: [{ address: `standin_value.${prefix}***`, actions: ['update'] }] });
    expect(JSON.stringify(drifted).includes(piece)).toBe(false);
  });
});

describe("the tool's OS user (STACKJOBS_TOOL_UID)", () => {
  const NOBODY = 65534;
  const asRoot = process.getuid?.() === 0 ? it : it.skip;

  /** What the tool must reach outside its workspace: the test's dirs (traverse only), a dir of its own for the state. */
  const reachableByTool = async (job: StackJob) => {
    chmodSync(env.dir, 0o711);
    const own = join(env.dir, `tool-${job.metadata.id}`);
    mkdirSync(own, { recursive: true });
    chownSync(own, NOBODY, NOBODY);
    await env.jobs.update(job.metadata.id, (j) => ({
      ...j,
      spec: {
        ...j.spec,
        essentials: { ...j.spec.essentials, backendCredential: { ...j.spec.essentials.backendCredential, config: { path: join(own, 'state') } } },
      },
    }));
    return own;
  };

  asRoot('is applied from a copy no process of the tool can change: the plan file an update applies is read-only to the tool', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'plan-write-')), 'marker');
    chmodSync(dirname(marker), 0o777);
    // Beside the marker: a directory the tool's uid can reach.
    const bin = join(dirname(marker), 'plan-writing-terraform');
    // At apply (its last argument is the plan file), the tool tries to change the plan file and its directory.
    writeFileSync(
      bin,
      `#!/bin/sh\nif [ "$1" = "apply" ]; then for a; do last="$a"; done; if printf x >> "$last" 2>/dev/null || mv "$last" "$last.moved" 2>/dev/null; then echo writable > '${marker}'; else echo denied > '${marker}'; fi; fi\nexec '${env.standin}' "$@"\n`,
      { mode: 0o755 },
    );
    const job = await createJob(env);
    await reachableByTool(job);
    const tool = { STACKJOBS_TERRAFORM_BIN: bin, STACKJOBS_TOOL_UID: String(NOBODY) };
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-ro-plan-p', env: tool }));
    expectOk(
      await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: 'tok-ro-plan-u', planDigest: successOf('tok-ro-plan-p').planDigest, env: tool }),
    );
    expect(readFileSync(marker, 'utf8').trim()).toBe('denied');
    rmSync(dirname(marker), { recursive: true, force: true });
  });

  asRoot('runs every tool command as that uid on a workspace handed to it, preview and update', async () => {
    const job = await createJob(env);
    const own = await reachableByTool(job);
    const calls = join(own, 'calls.jsonl');
    const probe = join(own, 'probe.jsonl');
    const toolEnv = { STANDIN_CALLS: calls, STANDIN_PROBE_PARENT: probe, STACKJOBS_TOOL_UID: String(NOBODY) };
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-uid-preview', env: toolEnv }));
    const preview = successOf('tok-uid-preview');
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: 'tok-uid-update', planDigest: preview.planDigest, env: toolEnv }));
    expect(successOf('tok-uid-update')).toMatchObject({ phase: 'update', planDigest: preview.planDigest });
    const seen = readCalls(calls);
    expect(seen.map((c) => c.command)).toEqual(['init', 'plan', 'show', 'apply', 'output']);
    expect(seen.map((c) => c.uid)).toEqual(seen.map(() => NOBODY));
    // Under its own uid, the tool (a module's code) cannot read the runner's initial environment.
    const probes = readFileSync(probe, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { readable: boolean; hasTaskToken: boolean });
    expect(probes).toHaveLength(5);
    for (const p of probes) expect(p).toMatchObject({ readable: false, hasTaskToken: false });
  });

  it("without it, the tool can read the runner's initial environment, task token included (the documented gap)", async () => {
    const job = await createJob(env);
    const probe = join(env.dir, `probe-${job.metadata.id}.jsonl`);
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-probe', env: { STANDIN_PROBE_PARENT: probe } }));
    const first = JSON.parse(readFileSync(probe, 'utf8').split('\n')[0]) as { readable: boolean; hasTaskToken: boolean };
    expect(first).toMatchObject({ readable: true, hasTaskToken: true });
  });
});

describe('a failing plan', () => {
  it('reports StackJob.OperationFailed naming plan, with the redacted tail of the error output', async () => {
    const secret = 'FAILSECRET/abcdefghijklmnop0123';
    env.fake.secrets.set('stackjobs/acmecorp/prov-fail', JSON.stringify({ accessKeyId: 'AKIAFAIL00000001', secretAccessKey: secret }));
    const job = await createJob(env, { providerSecretRef: 'stackjobs/acmecorp/prov-fail' });
    const r = await runRunner(env, {
      jobId: job.metadata.id,
      phase: 'preview',
      token: 'tok-fail',
      env: { STANDIN_FAIL: 'plan', STANDIN_ECHO_ENV: 'AWS_SECRET_ACCESS_KEY' },
    });
    expect(r.code).toBe(1);
    const { error, cause } = failureOf('tok-fail');
    expect(error).toBe('StackJob.OperationFailed');
    expect(cause).toMatchObject({ operation: 'plan', exitCode: 1 });
    expect(cause.message).toContain('Error: plan failed on purpose');
    expect(cause.message).toContain('(while using AWS_SECRET_ACCESS_KEY=***)');
    expect(cause.message).not.toContain(secret);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(opStates(after)).toEqual({ init: 'completed/succeeded', plan: 'completed/failed', apply: 'pending/tbd' });
    expect(after.status.operations.find((o) => o.name === 'plan')!.errors[0]).toContain('plan failed on purpose');
    expect(JSON.stringify(after)).not.toContain(secret);
  });
});

describe("a secret reference outside the job's org", () => {
  it('fails init with StackJob.OperationFailed naming the reference, before any secret is read or anything is cloned', async () => {
    const foreign = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:stackjobs/globex/awscred-AbCdEf';
    const foreignValue = 'GLOBEX/secret-value-never-read-0123';
    env.fake.secrets.set(foreign, JSON.stringify({ accessKeyId: 'AKIAGLOBEX000001', secretAccessKey: foreignValue }));
    env.fake.secrets.set('stackjobs/acmecorp/github', 'ghp_token_value_never_read');
    const job = await createJob(env, { providerSecretRef: foreign, gitTokenSecretRef: 'stackjobs/acmecorp/github' });
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    const readsBefore = env.fake.secretReads.length;
    const r = await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-foreign', env: { STANDIN_CALLS: calls } });
    expect(r.code).toBe(1);
    const { error, cause } = failureOf('tok-foreign');
    expect(error).toBe('StackJob.OperationFailed');
    expect(cause).toMatchObject({ operation: 'init', exitCode: null });
    expect(cause.message).toContain(
      `refusing to read provider credential secret (providerCredential.secretRef) "${foreign}": it is not under stackjobs/acmecorp/`,
    );
    expect(env.fake.secretReads.slice(readsBefore)).toEqual([]);
    expect(readCalls(calls)).toEqual([]);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(opStates(after)).toEqual({ init: 'completed/failed', plan: 'pending/tbd', apply: 'pending/tbd' });
    expect(after.status.operations[0].errors[0]).toContain(foreign);
    expect(JSON.stringify(after)).not.toContain(foreignValue);
  });
});

describe('the update phase refuses a plan it cannot trust', () => {
  let job: StackJob;
  let digest: string;
  const calls = () => join(env.dir, `calls-${job.metadata.id}.jsonl`);

  beforeAll(async () => {
    job = await createJob(env);
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'preview', token: 'tok-t-preview' }));
    digest = successOf('tok-t-preview').planDigest!;
  });

  it('refuses a tampered plan file before any command runs', async () => {
    const key = artifactKeys.planBinary(job.metadata.id);
    const original = (await allObjects(env, key)).get(key)!;
    const tampered = Buffer.from(original.toString().replace('"destroy":false', '"destroy":true '));
    expect(tampered.equals(original)).toBe(false);
    await env.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: tampered }));
    const r = await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: 'tok-tampered', planDigest: digest, env: { STANDIN_CALLS: calls() } });
    expect(r.code).toBe(1);
    const { error, cause } = failureOf('tok-tampered');
    expect(error).toBe('StackJob.OperationFailed');
    expect(cause).toMatchObject({ operation: 'apply', exitCode: null });
    expect(cause.message).toContain(`does not match the approved digest ${digest}`);
    expect(readCalls(calls())).toEqual([]);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(opStates(after).apply).toBe('completed/failed');
  });

  it('refuses when the saved plan is gone, before any command runs', async () => {
    const other = await createJob(env);
    expectOk(await runRunner(env, { jobId: other.metadata.id, phase: 'preview', token: 'tok-gp-preview' }));
    const approved = successOf('tok-gp-preview').planDigest!;
    await env.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: artifactKeys.planBinary(other.metadata.id) }));
    const r = await runRunner(env, {
      jobId: other.metadata.id,
      phase: 'update',
      token: 'tok-gone-plan',
      planDigest: approved,
      env: { STANDIN_CALLS: calls() },
    });
    expect(r.code).toBe(1);
    const { error, cause } = failureOf('tok-gone-plan');
    expect(error).toBe('StackJob.OperationFailed');
    expect(cause).toMatchObject({ operation: 'apply', message: 'refusing to apply: the saved plan is missing; nothing was run' });
    expect(readCalls(calls())).toEqual([]);
  });

  it("refuses when the approved digest is missing or differs from the job's recorded one", async () => {
    const other = await createJob(env);
    expectOk(await runRunner(env, { jobId: other.metadata.id, phase: 'preview', token: 'tok-o-preview' }));
    const r1 = await runRunner(env, { jobId: other.metadata.id, phase: 'update', token: 'tok-nodigest', env: { STANDIN_CALLS: calls() } });
    expect(r1.code).toBe(1);
    expect(failureOf('tok-nodigest').cause.message).toContain('no approved plan digest');
    // An empty digest (what Skip Preview passes) is no digest: a job whose preview ran still refuses, and reports it.
    const r0 = await runRunner(env, { jobId: other.metadata.id, phase: 'update', token: 'tok-emptydigest', planDigest: '', env: { STANDIN_CALLS: calls() } });
    expect(r0.code).toBe(1);
    expect(failureOf('tok-emptydigest').cause.message).toContain('no approved plan digest');
    const r2 = await runRunner(env, {
      jobId: other.metadata.id,
      phase: 'update',
      token: 'tok-wrongdigest',
      planDigest: 'a'.repeat(64),
      env: { STANDIN_CALLS: calls() },
    });
    expect(r2.code).toBe(1);
    expect(failureOf('tok-wrongdigest').cause.message).toContain("is not the job's recorded plan digest");
    expect(readCalls(calls())).toEqual([]);
  });
});

describe('a policy without preview', () => {
  it('runs init, refresh and apply (no plan file) in one update phase', async () => {
    const job = await createJob(env, { previewBeforeUpdate: false });
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: 'tok-direct', env: { STANDIN_CALLS: calls } }));
    const result = successOf('tok-direct');
    expect(result).toMatchObject({ phase: 'update', hasChanges: true });
    expect(readCalls(calls).map((c) => c.command)).toEqual(['init', 'refresh', 'show', 'apply', 'output']);
    expect(await env.store.getOutputs(job.metadata.id)).toMatchObject({ nodeGroupSize: { value: 5 } });
  });

  it('applies nothing when a cancel is recorded after the update claimed its phase but before the apply began (during init)', async () => {
    const job = await createJob(env, { previewBeforeUpdate: false });
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    const token = 'tok-direct-cancelled-in-init';
    await cancelledWhile(job.metadata.id, 'init', { phase: 'update', token, env: { STANDIN_CALLS: calls, STANDIN_SLEEP_MS: '700' } }, calls);
    const after = (await env.jobs.require(job.metadata.id)).job;
    // Init's own ending rode on the refusing write.
    expect(opStates(after)).toMatchObject({ init: 'completed/succeeded', apply: 'pending/tbd' });
  });

  it('runs the update phase with the empty STACKJOBS_PLAN_DIGEST the state machine passes when the preview is skipped', async () => {
    const job = await createJob(env, { previewBeforeUpdate: false });
    const calls = join(env.dir, `calls-${job.metadata.id}.jsonl`);
    expectOk(await runRunner(env, { jobId: job.metadata.id, phase: 'update', token: 'tok-direct-empty', planDigest: '', env: { STANDIN_CALLS: calls } }));
    expect(successOf('tok-direct-empty')).toMatchObject({ phase: 'update', hasChanges: true });
    expect(readCalls(calls).map((c) => c.command)).toEqual(['init', 'refresh', 'show', 'apply', 'output']);
    const { job: after } = await env.jobs.require(job.metadata.id);
    expect(opStates(after)).toEqual({ init: 'completed/succeeded', refresh: 'completed/succeeded', apply: 'completed/succeeded' });
  });

  it('previews a deleted resource with plan -destroy and destroys it with the approved plan', async () => {
    const created = await createJob(env, { previewBeforeUpdate: false });
    expectOk(await runRunner(env, { jobId: created.metadata.id, phase: 'update', token: 'tok-create' }));
    // Same state (backend path), now a deletion job.
    const deletion = await createJob(env, { trigger: 'deleted' });
    const { job: withState } = await env.jobs.require(deletion.metadata.id);
    await env.jobs.update(deletion.metadata.id, (j) => ({
      ...j,
      spec: { ...j.spec, essentials: { ...j.spec.essentials, backendCredential: created.spec.essentials.backendCredential } },
    }));
    expect(withState.spec.operations).toEqual(['init', 'refresh', 'plan', 'destroy']);
    expectOk(await runRunner(env, { jobId: deletion.metadata.id, phase: 'preview', token: 'tok-del-preview' }));
    const preview = successOf('tok-del-preview');
    expect(preview.summary).toMatchObject({ destroy: 2, add: 0 });
    expectOk(await runRunner(env, { jobId: deletion.metadata.id, phase: 'update', token: 'tok-del-update', planDigest: preview.planDigest }));
    expect(successOf('tok-del-update').hasChanges).toBe(true);
    const { job: after } = await env.jobs.require(deletion.metadata.id);
    expect(opStates(after).destroy).toBe('completed/succeeded');
    expect(await env.store.getOutputs(deletion.metadata.id)).toEqual({});
  });
});

describe('refresh looks and never writes', () => {
  const stateFileOf = (job: StackJob) => {
    const b = job.spec.essentials.backendCredential;
    return join(String(b.config.path), b.stateKey);
  };
  const shareState = (job: StackJob, from: StackJob) =>
    env.jobs.update(job.metadata.id, (j) => ({
      ...j,
      spec: { ...j.spec, essentials: { ...j.spec.essentials, backendCredential: from.spec.essentials.backendCredential } },
    }));

  it('records drift found outside Stack Jobs on the job, plans against it in memory, and leaves the state byte-identical', async () => {
    const created = await createJob(env, { previewBeforeUpdate: false, spec: { size: 1, tier: 'a' } });
    expectOk(await runRunner(env, { jobId: created.metadata.id, phase: 'update', token: 'tok-drift-create' }));
    const stateFile = stateFileOf(created);
    // Someone changed `size` by hand and deleted `tier`: the stand-in's "real world" differs from state.
    writeFileSync(`${stateFile}.drift.json`, JSON.stringify({ 'standin_value.size': 7, 'standin_value.tier': null }));
    const before = readFileSync(stateFile);

    const next = await createJob(env, { spec: { size: 2, tier: 'a' } });
    await shareState(next, created);
    expectOk(await runRunner(env, { jobId: next.metadata.id, phase: 'preview', token: 'tok-drift-preview' }));
    const preview = successOf('tok-drift-preview');
    expect(readFileSync(stateFile).equals(before)).toBe(true);
    const { job: after } = await env.jobs.require(next.metadata.id);
    expect(after.status.drift).toMatchObject({
      total: 2,
      resources: [
        { address: 'standin_value.size', actions: ['update'] },
        { address: 'standin_value.tier', actions: ['delete'] },
      ],
    });
    // The plan saw the refreshed world: tier must be created again, size updated from 7.
    expect(preview.summary).toMatchObject({ add: 1, change: 1 });
  });

  it('leaves the state untouched when a preview is not followed by an apply (rejected, cancelled)', async () => {
    const created = await createJob(env, { previewBeforeUpdate: false, spec: { size: 1 } });
    expectOk(await runRunner(env, { jobId: created.metadata.id, phase: 'update', token: 'tok-untouched-create' }));
    const stateFile = stateFileOf(created);
    const before = readFileSync(stateFile);
    const next = await createJob(env, { spec: { size: 3, extra: 'x' } });
    await shareState(next, created);
    expectOk(await runRunner(env, { jobId: next.metadata.id, phase: 'preview', token: 'tok-untouched-preview' }));
    expect(successOf('tok-untouched-preview').hasChanges).toBe(true);
    expect(readFileSync(stateFile).equals(before)).toBe(true);
  });
});

describe("the stand-in keeps Terraform's state semantics", () => {
  it('persists a refresh-only apply (outputs re-evaluated) but not a refresh-only plan', () => {
    const dir = mkdtempSync(join(env.dir, 'standin-semantics-'));
    const tf = (...args: string[]) => spawnSync(env.standin, args, { cwd: dir, encoding: 'utf8' });
    writeFileSync(join(dir, 'terraform.tfvars.json'), JSON.stringify({ spec: { size: 1 } }));
    expect(tf('init', `-backend-config=path=${join(dir, 'state.json')}`).status).toBe(0);
    expect(tf('apply', '-auto-approve').status).toBe(0);
    const applied = readFileSync(join(dir, 'state.json'), 'utf8');
    writeFileSync(join(dir, 'terraform.tfvars.json'), JSON.stringify({ spec: { size: 2 } }));
    expect(tf('plan', '-refresh-only', '-out=r.plan', '-detailed-exitcode').status).toBe(2);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(applied);
    expect(tf('apply', '-refresh-only', '-auto-approve').status).toBe(0);
    const refreshed = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { outputs: Record<string, { value: unknown }> };
    expect(refreshed.outputs.size.value).toBe(2);
  });
});
