/**
 * End to end through local mode: real HTTP requests to the API, the synthesized state machine executed locally,
 * the runner bundle as a child process driving the stand-in CLI, results read back through the API.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../../cli/stackjobs';
import type { StackJob } from '../../lambdas/domain/schemas';
import { bucketChange, PLANTED_SECRET, runCliAgainst, startE2E, TOKENS, type E2E } from '../support/e2e-harness';

let e: E2E;
beforeAll(async () => {
  e = await startE2E();
}, 90000);
afterAll(() => e?.stop());

const done = (j: StackJob) => j.status.phase === 'completed';
const submit = async (change: unknown) => {
  const res = await e.call<StackJob>('POST', '/v1/stack-jobs', { body: change });
  if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
};
/** The lease on a stack once the job's workflow has released it (release is the step after the job completes). */
const leaseAfterRelease = async (resourceId: string, env = 'dev') => {
  for (let i = 0; i < 50; i++) {
    const lease = await leaseOf(resourceId, env);
    if (!lease) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
  return leaseOf(resourceId, env);
};
const leaseOf = async (resourceId: string, env = 'dev') => {
  const { LockRepository } = await import('../../lambdas/adapters/dynamodb/lock-repository');
  const { documentClient } = await import('../../lambdas/adapters/dynamodb/client');
  const db = documentClient();
  try {
    return await new LockRepository(db, e.local.names.jobsTable).getLease(`acmecorp/${env}/${resourceId}`);
  } finally {
    db.destroy();
  }
};

describe('a change that applies without approval', () => {
  it('runs preview and update, stores outputs and logs, publishes status events in order, and frees the stack', async () => {
    const job = await submit(bucketChange('bucket_e2e_apply', 'v1'));
    const finished = await e.waitFor(job.metadata.id, done);
    expect(finished.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(finished.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'plan:succeeded', 'apply:succeeded']);
    expect(finished.status.plan?.summary.add).toBe(1);

    const outputs = await e.call<{ outputs: Record<string, { value: unknown; sensitive: boolean }> }>('GET', `/v1/stack-jobs/${job.metadata.id}/outputs`);
    expect(outputs.status).toBe(200);
    expect(Object.keys(outputs.body.outputs).length).toBeGreaterThan(0);
    const logs = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`);
    expect(logs.body.text).toMatch(/Apply complete/);

    const phases = e.local.events
      .filter((ev) => (ev.detail as { jobId?: string }).jobId === job.metadata.id)
      .map((ev) => `${(ev.detail as { phase: string }).phase}/${(ev.detail as { result: string }).result}`);
    expect(phases[0]).toBe('running/tbd');
    expect(phases.at(-1)).toBe('completed/succeeded');
    expect(await leaseAfterRelease('bucket_e2e_apply')).toBeUndefined();

    const resource = await e.call<{ lastJobId: string; versionApplied: string }>('GET', '/v1/orgs/acmecorp/envs/dev/resources/bucket_e2e_apply');
    expect(resource.body).toMatchObject({ lastJobId: job.metadata.id, versionApplied: 'v1' });
  });

  it('completes a change with no diff as succeeded with apply skipped and no approval requested', async () => {
    const first = await submit(bucketChange('bucket_e2e_nodiff', 'v1'));
    await e.waitFor(first.metadata.id, done);
    const same = await submit(bucketChange('bucket_e2e_nodiff', 'v2', { trigger: 'updated' }));
    const finished = await e.waitFor(same.metadata.id, done);
    expect(finished.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(finished.status.operations.find((o) => o.name === 'apply')).toMatchObject({ status: 'completed', result: 'skipped' });
    expect(finished.status.approval).toBeUndefined();
    expect(finished.status.plan?.summary).toMatchObject({ add: 0, change: 0, destroy: 0 });
  });
});

describe('a policy without preview', () => {
  it('runs init, refresh and apply in one update phase, with no plan and no approval', async () => {
    const job = await submit(bucketChange('bucket_e2e_nopreview', 'v1', { env: 'sandbox' }));
    expect(job.spec.operations).toEqual(['init', 'refresh', 'apply']);
    const finished = await e.waitFor(job.metadata.id, done);
    expect(finished.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(finished.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'refresh:succeeded', 'apply:succeeded']);
    expect(finished.status.plan).toBeUndefined();
    expect(finished.status.approval).toBeUndefined();
    expect(await leaseAfterRelease('bucket_e2e_nopreview', 'sandbox')).toBeUndefined();
  });
});

describe('failures', () => {
  it('fails a job whose apply fails, naming the operation with the error tail, and frees the stack', async () => {
    const job = await submit(bucketChange('bucket_e2e_fail', 'v1', { spec: { standin: { fail: ['apply'] } } }));
    const finished = await e.waitFor(job.metadata.id, done);
    expect(finished.status).toMatchObject({ phase: 'completed', result: 'failed' });
    expect(finished.status.failure?.operation).toBe('apply');
    expect(finished.status.failure?.message).toContain('apply failed on purpose');
    expect(finished.status.operations.find((o) => o.name === 'apply')?.result).toBe('failed');
    expect(await leaseAfterRelease('bucket_e2e_fail')).toBeUndefined();
  });
});

describe('concurrency', () => {
  it('creates one job for the same change submitted five times at once', async () => {
    const change = bucketChange('bucket_e2e_dupes', 'v1');
    const results = await Promise.all(Array.from({ length: 5 }, () => e.call<StackJob>('POST', '/v1/stack-jobs', { body: change })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.metadata.id)).size).toBe(1);
    const listed = await e.call<{ items: StackJob[] }>('GET', '/v1/stack-jobs', { query: { org: 'acmecorp', env: 'dev', resourceId: 'bucket_e2e_dupes' } });
    expect(listed.body.items).toHaveLength(1);
    await e.waitFor(results[0].body.metadata.id, done);
  });

  it('runs three changes to one stack one at a time, in submission order', async () => {
    const jobs: StackJob[] = [];
    for (const [i, tier] of ['a', 'b', 'c'].entries()) {
      jobs.push(await submit(bucketChange('bucket_e2e_queue', `v${i + 1}`, { spec: { tier, standin: { sleepMs: 150 } }, trigger: i ? 'updated' : 'created' })));
    }
    const finished = await Promise.all(jobs.map((j) => e.waitFor(j.metadata.id, done, 60000)));
    expect(finished.map((j) => j.status.result)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const windows = finished.map((j) => [Date.parse(j.status.startedAt!), Date.parse(j.status.finishedAt!)]);
    // Each starts only after the one submitted before it has finished.
    expect(windows[1][0]).toBeGreaterThanOrEqual(windows[0][1]);
    expect(windows[2][0]).toBeGreaterThanOrEqual(windows[1][1]);
  });
});

describe('following a running job', () => {
  it('serves logs through the API while the operation is still running', async () => {
    const job = await submit(bucketChange('bucket_e2e_follow', 'v1', { spec: { standin: { sleepMs: 2500 } } }));
    const running = await e.waitFor(job.metadata.id, (j) => j.status.operations.some((o) => o.name === 'plan' && o.status === 'running') || done(j));
    expect(running.status.phase).toBe('running');
    // The earlier operations' logs are already readable while plan still runs.
    const page = await e.call<{ text: string; cursor?: string; phase: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`);
    expect(page.body.phase).toBe('running');
    expect(page.body.text.length).toBeGreaterThan(0);
    expect(page.body.cursor).toBeDefined();
    await e.waitFor(job.metadata.id, done);
    const next = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`, { query: { cursor: page.body.cursor! } });
    expect(next.body.text).toMatch(/Apply complete/);
    expect(next.body.text.startsWith(page.body.text)).toBe(false);
  });
});

describe('secrets', () => {
  it('keeps a planted credential secret out of every S3 object, DynamoDB item, API response and event', async () => {
    const job = await submit(bucketChange('svc_e2e_secret', 'v1', { kind: 'demo_service' }));
    const finished = await e.waitFor(job.metadata.id, done);
    expect(finished.status.result).toBe('succeeded');
    const logs = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`);
    // The tool did print it (the stand-in echoes DEMO_API_KEY): the runner redacted it.
    expect(logs.body.text).toContain('echo DEMO_API_KEY=***');
    const everything = [await e.dumpStorage(), ...e.bodies, JSON.stringify(e.local.events)].join('\n');
    expect(everything).not.toContain(PLANTED_SECRET);
    expect(everything).not.toContain(Buffer.from(PLANTED_SECRET).toString('base64'));
  });
});

describe('AWS payload limits, held by local mode', () => {
  it('plans and applies 2,000 resources with long addresses: the summary that travels is bounded, the counts exact', async () => {
    // 2,000 addresses of ~130 characters: an unbounded resource list is ~300 KB, over Step Functions' 256 KB for the
    // runner's task result and the execution state (local mode refuses both, as AWS does).
    const spec = Object.fromEntries(
      Array.from({ length: 2000 }, (_, i) => [`module_network_subnet_route_table_association_${'x'.repeat(60)}_${String(i).padStart(4, '0')}`, i]),
    );
    const job = await submit(bucketChange('bucket_e2e_large', 'v1', { spec }));
    const finished = await e.waitFor(job.metadata.id, done, 120000);
    expect(finished.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(finished.status.plan?.summary).toMatchObject({ add: 2000, unlisted: 1900 });
    expect(finished.status.plan?.summary.resources).toHaveLength(100);
    const plan = await e.call<{ resource_changes: unknown[] }>('GET', `/v1/stack-jobs/${job.metadata.id}/plan`);
    expect(plan.status).toBe(200);
  }, 150000);
});

describe('a module that needs an AWS credential (local mode stands in for STS)', () => {
  it('validates the credential live through STS, offline, and runs the job with it', async () => {
    const change = bucketChange('bucket_e2e_aws', 'v1', { kind: 'demo_aws_bucket' });
    const pre = await e.call<{ passed: boolean; checks: Array<{ check: string; passed: boolean; messages: string[] }> }>('POST', '/v1/preflight', {
      body: change,
    });
    expect(pre.status).toBe(200);
    const credential = pre.body.checks.find((c) => c.check === 'credential')!;
    expect(credential).toMatchObject({ passed: true });
    expect(credential.messages.join('\n')).toContain('STS GetCallerIdentity accepted: arn:aws:iam::000000000000:user/AKIALOCALDEMO');
    const job = await submit(change);
    expect((await e.waitFor(job.metadata.id, done)).status.result).toBe('succeeded');
  });

  it('fails the check (422 on submit, never a 500) for keys STS does not know, naming the error and not the key', async () => {
    const change = bucketChange('bucket_e2e_aws_stale', 'v1', { kind: 'demo_aws_bucket', env: 'staging' });
    const res = await e.call<{ checks: Array<{ check: string; passed: boolean; messages: string[] }> }>('POST', '/v1/stack-jobs', { body: change });
    expect(res.status).toBe(422);
    const credential = res.body.checks.find((c) => c.check === 'credential')!;
    expect(credential.passed).toBe(false);
    expect(credential.messages.join('\n')).toContain('rejected the credential: InvalidClientTokenId');
    expect(JSON.stringify(res.body)).not.toContain('not-a-key-local-sts-knows');
  });
});

describe("local mode's loopback endpoints", () => {
  it("answer only requests signed with this run's credentials: not the public S3RVER pair, not a guess, not unsigned", async () => {
    const { DynamoDBClient, ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
    const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const { LOCAL_CREDENTIALS } = await import('../../local/embedded-dynamo');
    const wrong = [LOCAL_CREDENTIALS, { accessKeyId: e.local.credentials.accessKeyId, secretAccessKey: 'guessed-secret' }];
    const common = { region: 'us-east-1', maxAttempts: 1 };
    for (const credentials of [...wrong, e.local.credentials]) {
      const ok = credentials === e.local.credentials;
      const ddb = new DynamoDBClient({ ...common, endpoint: e.local.dynamoEndpoint, credentials });
      const s3 = new S3Client({ ...common, endpoint: e.local.s3Endpoint, forcePathStyle: true, credentials });
      const sm = new SecretsManagerClient({ ...common, endpoint: e.local.awsEndpoint, credentials });
      const outcomes = await Promise.all([
        ddb.send(new ListTablesCommand({})).then(
          () => 'served',
          (err: Error) => err.name,
        ),
        // A missing key: NoSuchKey means S3 checked the signature and looked.
        s3.send(new GetObjectCommand({ Bucket: e.local.names.artifactsBucket, Key: 'jobs/none/outputs.json' })).then(
          () => 'served',
          (err: Error) => (err.name === 'NoSuchKey' ? 'served' : err.name),
        ),
        sm.send(new GetSecretValueCommand({ SecretId: 'stackjobs/acmecorp/demo-credential' })).then(
          () => 'served',
          (err: Error) => err.name,
        ),
      ]);
      expect({ key: credentials.accessKeyId.slice(0, 5), ok, outcomes }).toEqual({
        key: credentials.accessKeyId.slice(0, 5),
        ok,
        outcomes: ok
          ? ['served', 'served', 'served']
          : [expect.not.stringMatching(/^served$/), expect.not.stringMatching(/^served$/), expect.not.stringMatching(/^served$/)],
      });
      for (const c of [ddb, s3, sm]) c.destroy();
    }
    const unsigned = await fetch(e.local.dynamoEndpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0' },
      body: '{}',
    });
    expect(unsigned.status).toBe(400);
  });
});

describe('an operator can see who holds a stack', () => {
  it('shows the lease holder, since when and until when on the resource, even before any job finished, and nothing once it ends', async () => {
    const job = await submit(bucketChange('bucket_e2e_lease', 'v1', { env: 'production' }));
    await e.waitFor(job.metadata.id, (j) => j.status.phase === 'awaiting_approval');
    const held = await e.call<{ lease?: { holder: string; since?: string; expiresAt: string }; lastJobId?: string }>(
      'GET',
      '/v1/orgs/acmecorp/envs/production/resources/bucket_e2e_lease',
    );
    expect(held.status).toBe(200);
    expect(held.body.lastJobId).toBeUndefined();
    expect(held.body.lease).toMatchObject({ holder: job.metadata.id, since: expect.any(String), expiresAt: expect.any(String) });
    expect(Date.parse(held.body.lease!.expiresAt)).toBeGreaterThan(Date.now());
    expect((await e.call('POST', `/v1/stack-jobs/${job.metadata.id}/reject`, { token: TOKENS.approver, body: {} })).status).toBe(200);
    await e.waitFor(job.metadata.id, done);
    for (let i = 0; i < 50; i++) {
      const after = await e.call<{ lease?: unknown; lastJobId?: string }>('GET', '/v1/orgs/acmecorp/envs/production/resources/bucket_e2e_lease');
      if (!after.body.lease) {
        expect(after.body.lastJobId).toBe(job.metadata.id);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the lease was not released');
  });
});

describe("local mode's Slack users", () => {
  it("are linked in the configured workspace only, with the roles of the config's principal of the same subject", async () => {
    const { SlackLinkRepository } = await import('../../lambdas/adapters/dynamodb/slack-link-repository');
    const { documentClient } = await import('../../lambdas/adapters/dynamodb/client');
    const db = documentClient({ endpoint: e.local.dynamoEndpoint, region: 'us-east-1', credentials: e.local.credentials });
    try {
      const links = new SlackLinkRepository(db, e.local.names.jobsTable);
      expect(await links.get('T0LOCAL01', 'U0LOCALAPPR')).toMatchObject({
        subject: 'approver@acmecorp.example',
        via: 'local-config',
        orgRoles: { acmecorp: ['approver', 'viewer'] },
      });
      expect(await links.get('T0OTHER01', 'U0LOCALAPPR')).toBeUndefined();
    } finally {
      db.destroy();
    }
  });
});

describe('local mode around the API', () => {
  it('refuses a request without a token, serves the contract without one, and lists published events', async () => {
    expect((await fetch(`${e.local.apiUrl}/v1/stack-jobs`)).status).toBe(401);
    const doc = await fetch(`${e.local.apiUrl}/v1/openapi.json`);
    expect(doc.status).toBe(200);
    expect(((await doc.json()) as { openapi: string }).openapi).toMatch(/^3\.1/);
    const eventsAs = async (token?: string) => fetch(`${e.local.apiUrl}/v1/events`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect((await eventsAs()).status).toBe(401);
    const events = (await (await eventsAs(TOKENS.admin)).json()) as { items: { detailType: string; detail: { org?: string } }[] };
    expect(events.items.length).toBe(e.local.events.filter((ev) => (ev.detail as { org?: string }).org === 'acmecorp').length);
    expect(events.items.length).toBeGreaterThan(0);
    expect(events.items.every((ev) => ev.detail.org === 'acmecorp')).toBe(true);
    expect(events.items.some((ev) => ev.detailType === 'Stack Job Status Changed')).toBe(true);
    // Another org's caller sees none of acmecorp's, and neither does a member of acmecorp without a role there.
    expect(((await (await eventsAs(TOKENS.globex)).json()) as { items: unknown[] }).items).toEqual([]);
    expect(((await (await eventsAs(TOKENS.noRole)).json()) as { items: unknown[] }).items).toEqual([]);
  });
});

describe("local mode's IAM", () => {
  it("refuses what a function's role does not allow, with that service's AccessDenied, and allows what it does", async () => {
    const { DynamoDBClient, GetItemCommand } = await import('@aws-sdk/client-dynamodb');
    const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const { ECSClient, StopTaskCommand } = await import('@aws-sdk/client-ecs');
    const region = 'us-east-1';
    const credentials = e.local.credentials;
    const dynamo = new DynamoDBClient({ endpoint: e.local.dynamoEndpoint, region, credentials, maxAttempts: 1 });
    const s3 = new S3Client({ endpoint: e.local.s3Endpoint, region, credentials, forcePathStyle: true, maxAttempts: 1 });
    const ecs = new ECSClient({ endpoint: e.local.awsEndpoint, region, credentials, maxAttempts: 1 });
    const read = () => dynamo.send(new GetItemCommand({ TableName: e.local.names.jobsTable, Key: { pk: { S: 'JOB#none' }, sk: { S: 'JOB' } } }));
    try {
      // The lost-runner function may only fail tasks: no table, no bucket, no ECS.
      const lost = 'lambdas/workflow/runner-stopped.handler.ts';
      await expect(e.local.runAs(lost, read)).rejects.toMatchObject({
        name: 'AccessDeniedException',
        message: expect.stringMatching(/RunnerStoppedFunction.* is not authorized to perform: dynamodb:GetItem/),
      });
      await expect(e.local.runAs(lost, () => s3.send(new GetObjectCommand({ Bucket: e.local.names.artifactsBucket, Key: 'jobs/none' })))).rejects.toMatchObject(
        {
          name: 'AccessDenied',
        },
      );
      await expect(
        e.local.runAs(lost, () => ecs.send(new StopTaskCommand({ task: 'arn:aws:ecs:us-east-1:123456789012:task/local/none' }))),
      ).rejects.toMatchObject({
        name: 'AccessDeniedException',
      });
      // The step function reads jobs and stops runners (Finish Job): allowed, so the stand-in answers as itself.
      const step = 'lambdas/workflow/step.handler.ts';
      await expect(e.local.runAs(step, read)).resolves.toMatchObject({ $metadata: { httpStatusCode: 200 } });
      await expect(
        e.local.runAs(step, () => ecs.send(new StopTaskCommand({ task: 'arn:aws:ecs:us-east-1:123456789012:task/local/none' }))),
      ).rejects.toMatchObject({
        name: 'InvalidParameterException',
      });
      expect(e.logs.some((l) => l.startsWith('IAM refused: User: arn:aws:sts::000000000000:assumed-role/') && l.includes('dynamodb:GetItem'))).toBe(true);
    } finally {
      dynamo.destroy();
      s3.destroy();
      ecs.destroy();
    }
  });
});

describe('the stackjobs CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stackjobs-cli-'));
  const file = (name: string, doc: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, stringify(doc));
    return p;
  };
  const cli = (...args: string[]) => runCliAgainst(e, args);

  it('submits a YAML change, follows it to the end and prints only JSON with --output json (exit 0)', async () => {
    const r = await cli('--output', 'json', 'submit', '-f', file('ok.yaml', bucketChange('bucket_e2e_cli', 'v1')), '--wait');
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout) as StackJob;
    expect(job.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    const got = await cli('--output', 'json', 'get', job.metadata.id);
    expect((JSON.parse(got.stdout) as StackJob).metadata.id).toBe(job.metadata.id);
  });

  it('exits 3 when pre-flight fails and 1 when the job fails', async () => {
    const pre = await cli('preflight', '-f', file('bad.yaml', bucketChange('bucket_e2e_cli_bad', 'v1', { kind: 'unknown_kind' })));
    expect(pre.code).toBe(3);
    expect(pre.stdout).toContain('FAIL  module: no module for resource kind unknown_kind');
    const failing = await cli(
      'submit',
      '--wait',
      '-f',
      file('fail.yaml', bucketChange('bucket_e2e_cli_fail', 'v1', { spec: { standin: { fail: ['plan'] } } })),
    );
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('failed in plan');
  });

  it('exits 2 on a usage error', async () => {
    expect((await cli('submit')).code).toBe(2);
    expect((await cli('no-such-command')).code).toBe(2);
    expect((await cli('submit', '-f', join(dir, 'missing.yaml'))).code).toBe(2);
  });
});

describe('changes that wait for a human', () => {
  const awaiting = (j: StackJob) => j.status.phase === 'awaiting_approval' || done(j);

  it('previews, waits for approval, applies after an API approval, and records who approved which plan', async () => {
    const job = await submit(bucketChange('bucket_e2e_approve', 'v1', { env: 'production', spec: { tier: 'standard', access_token: 'tok-e2e-approve' } }));
    const waiting = await e.waitFor(job.metadata.id, awaiting);
    expect(waiting.status.phase).toBe('awaiting_approval');
    expect(waiting.status.operations.find((o) => o.name === 'apply')?.status).toBe('pending');
    const plan = await e.call<{ summary: { add: number }; digest: string; planUrl: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/plan`);
    // The stand-in plans one resource per spec entry: tier and access_token.
    expect(plan.body.summary.add).toBe(2);

    const approved = await e.call<StackJob>('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { token: TOKENS.approver, body: { comment: 'ship it' } });
    expect(approved.status).toBe(200);
    const finished = await e.waitFor(job.metadata.id, done);
    expect(finished.status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    expect(finished.status.approval?.decision).toMatchObject({
      decision: 'approved',
      by: 'approver@acmecorp.example',
      channel: 'api',
      planDigest: plan.body.digest,
      comment: 'ship it',
    });
    const outputs = await e.call<{ outputs: Record<string, { value: unknown; sensitive: boolean }> }>('GET', `/v1/stack-jobs/${job.metadata.id}/outputs`);
    expect(outputs.body.outputs.access_token).toEqual(expect.objectContaining({ sensitive: true, value: '***' }));
    const logs = await e.call<{ text: string }>('GET', `/v1/stack-jobs/${job.metadata.id}/logs`, { query: { phase: 'update' } });
    expect(logs.body.text).toMatch(/Apply complete/);
    const phases = e.local.events
      .filter((ev) => ev.detailType === 'Stack Job Status Changed' && (ev.detail as { jobId?: string }).jobId === job.metadata.id)
      .map((ev) => (ev.detail as { phase: string }).phase);
    expect(phases.indexOf('awaiting_approval')).toBeGreaterThan(phases.indexOf('running'));
    expect(phases.lastIndexOf('running')).toBeGreaterThan(phases.indexOf('awaiting_approval'));
    expect(phases.at(-1)).toBe('completed');
  });

  it('cancels a rejected job, frees the stack, and runs the next job on it', async () => {
    const rejectedJob = await submit(bucketChange('bucket_e2e_reject', 'v1', { env: 'production' }));
    await e.waitFor(rejectedJob.metadata.id, awaiting);
    expect((await e.call('POST', `/v1/stack-jobs/${rejectedJob.metadata.id}/reject`, { token: TOKENS.approver, body: { comment: 'not today' } })).status).toBe(
      200,
    );
    const rejected = await e.waitFor(rejectedJob.metadata.id, done);
    expect(rejected.status).toMatchObject({ phase: 'completed', result: 'cancelled' });
    expect(rejected.status.operations.find((o) => o.name === 'apply')?.result).not.toBe('succeeded');
    expect(await leaseAfterRelease('bucket_e2e_reject', 'production')).toBeUndefined();

    const next = await submit(bucketChange('bucket_e2e_reject', 'v2', { env: 'production', trigger: 'updated' }));
    const nextWaiting = await e.waitFor(next.metadata.id, awaiting);
    expect(nextWaiting.status.phase).toBe('awaiting_approval');
    await e.call('POST', `/v1/stack-jobs/${next.metadata.id}/approve`, { token: TOKENS.approver, body: {} });
    expect((await e.waitFor(next.metadata.id, done)).status.result).toBe('succeeded');
  });

  it('lets the CLI drive the whole approval flow with --output json', async () => {
    const base = ['--endpoint', e.local.apiUrl, '--output', 'json'];
    const io = () => {
      const out = { stdout: '', stderr: '' };
      return {
        out,
        io: {
          stdout: { write: (s: string) => ((out.stdout += s), true) } as never,
          stderr: { write: (s: string) => ((out.stderr += s), true) } as never,
          env: {},
          fetchImpl: e.fetch,
        },
      };
    };
    const changeFile = join(mkdtempSync(join(tmpdir(), 'stackjobs-cli-')), 'change.yaml');
    writeFileSync(
      changeFile,
      stringify(bucketChange('bucket_e2e_cli_flow', 'v1', { env: 'production', spec: { tier: 'standard', access_token: 'tok-e2e-cli' } })),
    );

    const submitted = io();
    expect(await runCli([...base, '--token', TOKENS.operator, 'submit', '-f', changeFile, '--wait'], submitted.io)).toBe(0);
    const waiting = JSON.parse(submitted.out.stdout) as StackJob;
    expect(waiting.status.phase).toBe('awaiting_approval');

    const approved = io();
    expect(await runCli([...base, '--token', TOKENS.approver, 'approve', waiting.metadata.id, '--comment', 'from the CLI'], approved.io)).toBe(0);
    expect(JSON.parse(approved.out.stdout)).toMatchObject({ metadata: { id: waiting.metadata.id } });
    await e.waitFor(waiting.metadata.id, done);

    const got = io();
    expect(await runCli([...base, '--token', TOKENS.operator, 'get', waiting.metadata.id], got.io)).toBe(0);
    expect((JSON.parse(got.out.stdout) as StackJob).status).toMatchObject({ phase: 'completed', result: 'succeeded' });
    const outputs = io();
    expect(await runCli([...base, '--token', TOKENS.operator, 'outputs', waiting.metadata.id], outputs.io)).toBe(0);
    expect(JSON.parse(outputs.out.stdout).outputs.access_token.value).toBe('***');
    const logs = io();
    expect(await runCli([...base, '--token', TOKENS.operator, 'logs', waiting.metadata.id], logs.io)).toBe(0);
    expect(JSON.parse(logs.out.stdout).text).toMatch(/Apply complete/);
  });
});
