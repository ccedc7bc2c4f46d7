import { ScanCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { PLATFORM_OWNER } from '../../lambdas/domain/ports';
import { LOCAL_CREDENTIALS } from '../../local/embedded-dynamo';
import { awsCredential, change, platformEksModule, s3Backend, TEST_DEPLOYMENT_ID } from '../support/domain-fixtures';
import { externalIdFor } from '../../lambdas/domain/external-id';
import { principalSchema, type Principal } from '../../lambdas/domain/schemas';
import { principalFromClaims } from '../../lambdas/http/principal';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';

const PLANTED_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTEDSECRET';
const SECRET_REF = 'stackjobs/acmecorp/awscred_prod_account';

let h: ApiHarness;

/** Every attribute of every item in every table, as raw JSON: where a leaked secret would show up. */
async function dumpTables(): Promise<string> {
  const client = new DynamoDBClient({ endpoint: h.dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const { ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
  const tables = (await client.send(new ListTablesCommand({}))).TableNames ?? [];
  const dumps = await Promise.all(tables.map(async (t) => JSON.stringify((await client.send(new ScanCommand({ TableName: t }))).Items)));
  client.destroy();
  return dumps.join('\n');
}

async function seedCatalog() {
  expect(
    (await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/awscred_prod_account', { principal: principals.admin, body: awsCredential() })).statusCode,
  ).toBe(201);
  expect(
    (await h.call('PUT', '/v1/orgs/acmecorp/backend-credentials/tfcred_s3_backend_prod', { principal: principals.admin, body: s3Backend() })).statusCode,
  ).toBe(201);
  expect(
    (await h.call('PUT', '/v1/platform/modules/iacmod_platform_eks_terraform', { principal: principals.platformAdmin, body: platformEksModule() })).statusCode,
  ).toBe(201);
}

beforeAll(async () => {
  h = await startApiHarness();
  h.secrets.values[SECRET_REF] = JSON.stringify({ accessKeyId: 'AKIAPLANTEDKEYID0001', secretAccessKey: PLANTED_SECRET });
  await seedCatalog();
});
afterAll(() => h.stop());
beforeEach(() => {
  h.resetMocks();
  h.logs.length = 0;
});

describe('submitting a change', () => {
  it('runs pre-flight, stores the frozen job, starts its execution and answers 201 with the job', async () => {
    const res = await h.call('POST', '/v1/stack-jobs', { body: change({ resource: { version: { id: 'ver-submit-1', message: 'first' } } }) });
    expect(res.statusCode).toBe(201);
    const job = res.json();
    expect(job.metadata.id).toMatch(/^sj_[0-9a-z]{26}$/);
    expect(res.headers?.location).toBe(`/v1/stack-jobs/${job.metadata.id}`);
    expect(job.status).toMatchObject({ phase: 'queued', result: 'tbd' });
    expect(job.status.preflight.map((c: { check: string; passed: boolean }) => [c.check, c.passed])).toEqual([
      ['credential', true],
      ['module', true],
      ['backend', true],
      ['flowControl', true],
    ]);
    expect((await h.jobs.get(job.metadata.id))?.job).toEqual(job);
    expect(h.starter.started).toContain(job.metadata.id);
    // STS was asked with the material from the secret, and the backend with HeadBucket on the configured bucket.
    const stsCall = h.sts.commandCalls(GetCallerIdentityCommand)[0];
    const creds = await (stsCall.thisValue as STSClient).config.credentials();
    expect(creds.accessKeyId).toBe('AKIAPLANTEDKEYID0001');
    expect(h.s3.commandCalls(HeadBucketCommand)[0].args[0].input).toEqual({ Bucket: 'acmecorp-terraform-state' });
  });

  it('answers a duplicate of the same change with 200 and the first job', async () => {
    const body = change({ resource: { version: { id: 'ver-dup-1', message: 'dup' } } });
    const first = await h.call('POST', '/v1/stack-jobs', { body });
    const second = await h.call('POST', '/v1/stack-jobs', { body });
    expect([first.statusCode, second.statusCode]).toEqual([201, 200]);
    expect(second.json().metadata.id).toBe(first.json().metadata.id);
  });

  it('refuses (409, nothing written) a different change under a version already submitted, naming what differs, instead of answering with the old job', async () => {
    const body = change({ resource: { version: { id: 'ver-changed', message: 'first' } }, spec: { nodeGroup: { desiredSize: 5 }, tier: 'standard' } });
    const first = await h.call('POST', '/v1/stack-jobs', { body });
    expect(first.statusCode).toBe(201);
    // Keys in another order are the same spec: still the duplicate.
    const reordered = { ...body, spec: Object.fromEntries(Object.entries(body.spec).reverse()) };
    expect((await h.call('POST', '/v1/stack-jobs', { body: reordered })).statusCode).toBe(200);
    const edited = { ...body, kind: 'eks_cluster', spec: { ...body.spec, tier: 'gold' } };
    const res = await h.call('POST', '/v1/stack-jobs', { body: edited });
    expect(res.statusCode).toBe(409);
    expect(res.headers!['content-type']).toContain('application/problem+json');
    expect(res.json().detail).toBe(
      `version ver-changed of acmecorp/production/${body.resource.id} was already submitted (stack job ${first.json().metadata.id}) with a different kind, spec: a changed resource needs a new version id`,
    );
    const stored = await h.jobs.list({ org: 'acmecorp', env: 'production', resourceId: body.resource.id, limit: 100 });
    expect(stored.items.filter((j) => j.metadata.version.id === 'ver-changed')).toHaveLength(1);
  });

  it('creates exactly one job for five concurrent duplicates', async () => {
    const body = change({ resource: { version: { id: 'ver-concurrent', message: 'race' } } });
    const results = await Promise.all(Array.from({ length: 5 }, () => h.call('POST', '/v1/stack-jobs', { body })));
    const ids = new Set(results.map((r) => r.json().metadata.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    const stored = await h.jobs.list({ org: 'acmecorp', env: 'production', resourceId: body.resource.id, limit: 100 });
    expect(stored.items.filter((j) => j.metadata.version.id === 'ver-concurrent')).toHaveLength(1);
  });

  it('finishes a submission that crashed after claiming its idempotency key but before writing the job', async () => {
    const body = change({ resource: { version: { id: 'ver-crash', message: '' } } });
    const { submitChange } = await import('../../lambdas/app/submit-change');
    const { idempotencyKeyOf } = await import('../../lambdas/domain/stack-job');
    // Simulate the crash: the first delivery claims the key with its snapshot, then dies writing the job.
    const crashingJobs = {
      create: async () => {
        throw new Error('crashed before the job write');
      },
      get: h.jobs.get.bind(h.jobs),
    };
    await expect(submitChange(body, { ...h.submission, jobs: crashingJobs })).rejects.toThrow('crashed before the job write');
    const claimed = await h.submission.idempotency.find(idempotencyKeyOf(body));
    expect(claimed).toBeDefined();
    expect(await h.jobs.get(claimed!.metadata.id)).toBeUndefined();
    const retry = await h.call('POST', '/v1/stack-jobs', { body });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().metadata.id).toBe(claimed!.metadata.id);
    expect(h.starter.started).toContain(claimed!.metadata.id);
  });

  it('answers 422 with every check when pre-flight fails, and writes nothing', async () => {
    const before = await dumpTables();
    const startedBefore = h.starter.started.length;
    const res = await h.call('POST', '/v1/stack-jobs', {
      body: change({ kind: 'aws_rds_instance', resource: { env: 'staging', version: { id: 'ver-fail', message: '' } } }),
    });
    expect(res.statusCode).toBe(422);
    expect(res.headers?.['content-type']).toBe('application/problem+json');
    const body = res.json();
    expect(body.checks.map((c: { check: string; passed: boolean }) => [c.check, c.passed])).toEqual([
      ['credential', false],
      ['module', false],
      ['backend', true],
      ['flowControl', true],
    ]);
    expect(body.checks[1].messages[0]).toContain('no module for resource kind aws_rds_instance');
    expect(await dumpTables()).toBe(before);
    expect(h.starter.started).toHaveLength(startedBefore);
  });

  it('dry-runs pre-flight on /v1/preflight without creating a job', async () => {
    const before = await dumpTables();
    const res = await h.call('POST', '/v1/preflight', { body: change({ resource: { version: { id: 'ver-dry', message: '' } } }) });
    expect(res.statusCode).toBe(200);
    expect(res.json().passed).toBe(true);
    expect(res.json().checks).toHaveLength(4);
    expect(await dumpTables()).toBe(before);
  });

  it('rejects an invalid change with 400 naming each field, and writes nothing', async () => {
    const before = await dumpTables();
    const res = await h.call('POST', '/v1/stack-jobs', {
      body: { ...change(), triggerEvent: 'renamed', resource: { ...change().resource, org: '' }, extra: 1 },
    });
    expect(res.statusCode).toBe(400);
    const paths = res.json().errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['triggerEvent', 'resource.org', '(body)']));
    expect(await dumpTables()).toBe(before);
  });

  it('accepts a YAML body and a base64-encoded body', async () => {
    const yamlBody = `resource:\n  id: eks_yaml\n  name: yaml-cluster\n  org: acmecorp\n  env: production\n  version: { id: ver-yaml, message: from yaml }\nkind: aws_eks_cluster\nspec: { size: 3 }\ntriggerEvent: created\ncreatedBy: user@company.com\n`;
    const yaml = await h.call('POST', '/v1/stack-jobs', { rawBody: yamlBody, headers: { 'content-type': 'application/yaml' } });
    expect(yaml.statusCode).toBe(201);
    expect(yaml.json().spec.apiResourceInfo.spec).toEqual({ size: 3 });
    const b64 = await h.call('POST', '/v1/preflight', { body: change(), base64: true });
    expect(b64.statusCode).toBe(200);
  });

  it('refuses submission to a viewer (403) and to another org (403), writing nothing', async () => {
    const before = await dumpTables();
    expect(
      (await h.call('POST', '/v1/stack-jobs', { principal: principals.viewer, body: change({ resource: { version: { id: 'ver-v', message: '' } } }) }))
        .statusCode,
    ).toBe(403);
    expect(
      (await h.call('POST', '/v1/stack-jobs', { principal: principals.globexOperator, body: change({ resource: { version: { id: 'ver-g', message: '' } } }) }))
        .statusCode,
    ).toBe(403);
    expect(await dumpTables()).toBe(before);
  });
});

describe('metrics', () => {
  it('counts submitted jobs and pre-flight failures by check', async () => {
    const added = jest.spyOn(h.metrics, 'addMetric');
    try {
      await h.call('POST', '/v1/stack-jobs', { body: change({ resource: { version: { id: 'ver-metrics-ok', message: '' } } }) });
      await h.call('POST', '/v1/stack-jobs', { body: change({ kind: 'aws_rds_instance', resource: { version: { id: 'ver-metrics-bad', message: '' } } }) });
      expect(added.mock.calls.map((c) => `${c[0]}:${c[2]}`)).toEqual(['JobsSubmitted:1', 'PreflightFailed_credential:1', 'PreflightFailed_module:1']);
    } finally {
      added.mockRestore();
    }
  });
});

describe('reading jobs', () => {
  it('shows a job to its org and hides it from another org with 404', async () => {
    const created = (await h.call('POST', '/v1/stack-jobs', { body: change({ resource: { version: { id: 'ver-read', message: '' } } }) })).json();
    const mine = await h.call('GET', `/v1/stack-jobs/${created.metadata.id}`, { principal: principals.viewer });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().metadata.id).toBe(created.metadata.id);
    const theirs = await h.call('GET', `/v1/stack-jobs/${created.metadata.id}`, { principal: principals.globexOperator });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.body).not.toContain('acmecorp');
  });

  it('lists newest first and pages with an opaque cursor', async () => {
    const resourceId = 'eks_paging';
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (await h.call('POST', '/v1/stack-jobs', { body: change({ resource: { id: resourceId, version: { id: `ver-page-${i}`, message: '' } } }) })).json()
          .metadata.id,
      );
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await h.call('GET', '/v1/stack-jobs', {
        principal: principals.viewer,
        query: { org: 'acmecorp', env: 'production', resourceId, limit: '2', ...(cursor ? { cursor } : {}) },
      });
      expect(page.statusCode).toBe(200);
      expect(page.json().items.length).toBeLessThanOrEqual(2);
      seen.push(...page.json().items.map((j: { metadata: { id: string } }) => j.metadata.id));
      cursor = page.json().cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters the org listing by phase and pages through it', async () => {
    const res = await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { phase: 'queued', limit: '3' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toHaveLength(3);
    expect(res.json().items.every((j: { status: { phase: string } }) => j.status.phase === 'queued')).toBe(true);
    const none = await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { phase: 'completed' } });
    expect(none.json().items).toEqual([]);
  });

  it('answers 400 for a forged cursor or an unknown query parameter, and 404 for another org', async () => {
    expect((await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { cursor: 'bm90LWEtY3Vyc29y' } })).statusCode).toBe(400);
    // Well-formed but made up, or issued for another partition: refused before DynamoDB sees it (found by the fuzzer).
    const cursor = (key: object) => Buffer.from(JSON.stringify(key)).toString('base64url');
    expect((await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { cursor: cursor({ pk: 'x' }) } })).statusCode).toBe(400);
    const otherOrg = cursor({ pk: 'JOB#sj_x', sk: 'JOB', gsi2pk: 'ORG#globex', gsi2sk: 'sj_x' });
    expect((await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { cursor: otherOrg } })).statusCode).toBe(400);
    const unknown = await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { sort: 'asc' } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().errors[0].path).toBe('query');
    expect((await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { org: 'globex' } })).statusCode).toBe(404);
  });
});

describe('the catalog', () => {
  it('creates, replaces, reads, lists and deletes an entity', async () => {
    const path = '/v1/orgs/acmecorp/org-settings/acmecorp';
    expect((await h.call('PUT', path, { principal: principals.admin, body: { preferredProvisioner: 'tofu' } })).statusCode).toBe(201);
    expect((await h.call('PUT', path, { principal: principals.admin, body: { preferredProvisioner: 'terraform' } })).statusCode).toBe(200);
    expect((await h.call('GET', path, { principal: principals.viewer })).json()).toEqual({
      org: 'acmecorp',
      preferredProvisioner: 'terraform',
      requireLiveCredentialValidation: false,
      approvalChannels: {},
    });
    expect((await h.call('GET', '/v1/orgs/acmecorp/org-settings', { principal: principals.viewer })).json().items).toHaveLength(1);
    expect((await h.call('DELETE', path, { principal: principals.admin })).statusCode).toBe(204);
    expect((await h.call('GET', path, { principal: principals.viewer })).statusCode).toBe(404);
    expect((await h.call('DELETE', path, { principal: principals.admin })).statusCode).toBe(404);
  });

  it('never accepts secret material: an unknown field is a 400 and nothing is written', async () => {
    const before = await dumpTables();
    const res = await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/leaky', {
      principal: principals.admin,
      body: { ...awsCredential({ id: 'leaky' }), secretAccessKey: PLANTED_SECRET },
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain(PLANTED_SECRET);
    expect(await dumpTables()).toBe(before);
  });

  it("refuses a reference to another org's secret, by name or by ARN, and writes nothing", async () => {
    const before = await dumpTables();
    const byName = await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/steal', {
      principal: principals.admin,
      body: awsCredential({ id: 'steal', secretRef: 'stackjobs/globex/prod' }),
    });
    expect(byName.statusCode).toBe(400);
    expect(byName.json().errors).toEqual([{ path: 'secretRef', message: "secretRef must name a secret under stackjobs/<org>/ (the org's own secrets)" }]);
    const byArn = await h.call('PUT', '/v1/orgs/acmecorp/backend-credentials/steal', {
      principal: principals.admin,
      body: s3Backend({ id: 'steal', secretRef: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:stackjobs/globex/state-AbCdEf' }),
    });
    expect(byArn.statusCode).toBe(400);
    const module = await h.call('PUT', '/v1/orgs/acmecorp/modules/steal', {
      principal: principals.admin,
      body: platformEksModule({ id: 'steal', scope: 'org', org: 'acmecorp', gitTokenSecretRef: 'stackjobs/platform/github' }),
    });
    expect(module.statusCode).toBe(400);
    expect(await dumpTables()).toBe(before);
    const own = await h.call('PUT', '/v1/orgs/acmecorp/backend-credentials/own', {
      principal: principals.admin,
      body: s3Backend({ id: 'own', secretRef: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:stackjobs/acmecorp/state-AbCdEf' }),
    });
    expect(own.statusCode).toBe(201);
    expect((await h.call('DELETE', '/v1/orgs/acmecorp/backend-credentials/own', { principal: principals.admin })).statusCode).toBe(204);
  });

  it("derives the ExternalId of a provider role (never the caller's choice) and shows it for the role's trust policy", async () => {
    const before = await dumpTables();
    const chosen = await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/roled', {
      principal: principals.admin,
      body: awsCredential({ id: 'roled', roleArn: 'arn:aws:iam::111122223333:role/stackjobs-deployer', externalId: 'victims-external-id' }),
    });
    expect(chosen.statusCode).toBe(400);
    expect(chosen.json().errors).toEqual([{ path: 'externalId', message: expect.stringContaining('derived by Stack Jobs from the deployment and the org') }]);
    expect(await dumpTables()).toBe(before);
    const put = await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/roled', {
      principal: principals.admin,
      body: awsCredential({ id: 'roled', roleArn: 'arn:aws:iam::111122223333:role/stackjobs-deployer' }),
    });
    expect(put.statusCode).toBe(201);
    expect(put.json().externalId).toBe(externalIdFor(TEST_DEPLOYMENT_ID, 'acmecorp'));
    const got = await h.call('GET', '/v1/orgs/acmecorp/provider-credentials/roled', { principal: principals.viewer });
    expect(got.json().externalId).toBe(externalIdFor(TEST_DEPLOYMENT_ID, 'acmecorp'));
    expect(externalIdFor(TEST_DEPLOYMENT_ID, 'globex')).not.toBe(got.json().externalId);
    expect((await h.call('DELETE', '/v1/orgs/acmecorp/provider-credentials/roled', { principal: principals.admin })).statusCode).toBe(204);
  });

  it('answers 404, never 500, for a catalog kind named like an Object.prototype member', async () => {
    for (const kind of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect({ kind, status: (await h.call('PUT', `/v1/orgs/acmecorp/${kind}/x`, { principal: principals.admin, body: {} })).statusCode }).toEqual({
        kind,
        status: 404,
      });
      expect({ kind, status: (await h.call('GET', `/v1/orgs/acmecorp/${kind}`, { principal: principals.viewer })).statusCode }).toEqual({ kind, status: 404 });
    }
  });

  it('refuses a body that contradicts its path', async () => {
    const res = await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/one', {
      principal: principals.admin,
      body: awsCredential({ id: 'two', org: 'globex' }),
    });
    expect(res.statusCode).toBe(400);
    expect(
      res
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['id', 'org']);
  });

  it('keeps catalogs apart: another org is 404, a viewer cannot write, the platform needs a platform admin', async () => {
    expect((await h.call('GET', '/v1/orgs/acmecorp/provider-credentials', { principal: principals.globexOperator })).statusCode).toBe(404);
    expect(
      (await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/x', { principal: principals.viewer, body: awsCredential({ id: 'x' }) })).statusCode,
    ).toBe(403);
    const notPlatformAdmin = await h.call('PUT', '/v1/platform/modules/m', { principal: principals.admin, body: platformEksModule({ id: 'm' }) });
    expect(notPlatformAdmin.statusCode).toBe(403);
    expect(notPlatformAdmin.json().detail).toBe('writing the platform catalog needs the role platform-admin');
    expect((await h.call('GET', '/v1/platform/modules', { principal: principals.viewer })).json().items.map((m: { id: string }) => m.id)).toEqual([
      'iacmod_platform_eks_terraform',
    ]);
    expect((await h.call('GET', '/v1/platform/provider-credentials', { principal: principals.platformAdmin })).statusCode).toBe(404);
    expect(await h.catalog.get('provider-credentials', 'acmecorp', 'x')).toBeUndefined();
    expect(await h.catalog.get('modules', PLATFORM_OWNER, 'm')).toBeUndefined();
  });
});

describe('HTTP edges', () => {
  it('answers unknown routes 404, wrong methods 405 with Allow, big bodies 413, bad JSON 400, no principal 401', async () => {
    expect((await h.call('GET', '/v1/nothing-here')).statusCode).toBe(404);
    const wrong = await h.call('DELETE', '/v1/stack-jobs');
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers?.allow).toBe('GET, POST');
    expect((await h.call('POST', '/v1/stack-jobs', { rawBody: `{"x":"${'a'.repeat(300 * 1024)}"}` })).statusCode).toBe(413);
    const bad = await h.call('POST', '/v1/stack-jobs', { rawBody: '{not json' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().detail).toBe('the body is not valid JSON');
    expect((await h.call('GET', '/v1/stack-jobs', { principal: null })).statusCode).toBe(401);
  });

  it('answers 404, not a DynamoDB key-size 500, for ids longer than any that can exist', async () => {
    const long = 'x'.repeat(3000);
    for (const path of [`/v1/stack-jobs/sj_${long}`, `/v1/orgs/acmecorp/provider-credentials/${long}`, `/v1/orgs/acmecorp/envs/dev/resources/${long}`]) {
      expect((await h.call('GET', path, { principal: principals.admin })).statusCode).toBe(404);
    }
    expect((await h.call('DELETE', `/v1/orgs/acmecorp/modules/${long}`, { principal: principals.admin })).statusCode).toBe(404);
  });

  it('answers an infrastructure failure with a 500 that leaks nothing and logs it', async () => {
    h.s3
      .on(HeadBucketCommand)
      .rejects(Object.assign(new Error(`socket hang up ${PLANTED_SECRET}`), { name: 'TimeoutError', $metadata: { httpStatusCode: 503 } }));
    const res = await h.call('POST', '/v1/stack-jobs', { body: change({ resource: { version: { id: 'ver-500', message: '' } } }) });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain(PLANTED_SECRET);
    expect(res.json().detail).toBe('the request could not be completed; it has been logged');
  });
});

describe('secrets', () => {
  it('keeps a planted credential secret out of every response, stored item and log line', async () => {
    const responses = [
      await h.call('POST', '/v1/stack-jobs', { body: change({ resource: { version: { id: 'ver-secret', message: '' } } }) }),
      await h.call('POST', '/v1/preflight', { body: change() }),
      await h.call('GET', '/v1/orgs/acmecorp/provider-credentials/awscred_prod_account', { principal: principals.viewer }),
      await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer }),
    ];
    expect(responses.map((r) => r.statusCode)).toEqual([201, 200, 200, 200]);
    expect(h.sts.commandCalls(GetCallerIdentityCommand).length).toBeGreaterThan(0);
    const everything = [...responses.map((r) => r.body), ...h.logs, await dumpTables()].join('\n');
    expect(h.logs.length).toBeGreaterThan(0);
    expect(everything).not.toContain(PLANTED_SECRET);
    expect(everything).not.toContain(Buffer.from(PLANTED_SECRET).toString('base64'));
  });
});

describe('roles are per org, and platform-admin governs the platform catalog only', () => {
  const platformAdminOfGlobex = { subject: 'root@globex.example', orgs: ['globex'], roles: ['platform-admin', 'admin'] } satisfies Principal;
  let jobId: string;
  beforeAll(async () => {
    const res = await h.call('POST', '/v1/stack-jobs', { body: change({ resource: { version: { id: 'ver-roles', message: '' } } }) });
    expect(res.statusCode).toBe(201);
    jobId = res.json().metadata.id;
  });

  it("keeps a platform admin of another org out of this org's jobs and catalog (404, as for any outsider)", async () => {
    const before = await dumpTables();
    for (const [method, path, body] of [
      ['GET', `/v1/stack-jobs/${jobId}`],
      ['GET', '/v1/stack-jobs?org=acmecorp'],
      [
        'PUT',
        '/v1/orgs/acmecorp/flow-control-policies/open',
        { id: 'open', selector: { level: 'organization', org: 'acmecorp' }, previewBeforeUpdate: true, pauseBetweenPreviewAndUpdate: false },
      ],
    ] as const) {
      const res = await h.call(method, path, { principal: platformAdminOfGlobex, ...(body ? { body } : {}) });
      expect({ method, path, status: res.statusCode }).toEqual({ method, path, status: 404 });
    }
    expect(await dumpTables()).toBe(before);
    // The platform catalog is theirs to write.
    expect((await h.call('GET', '/v1/platform/modules', { principal: platformAdminOfGlobex })).statusCode).toBe(200);
  });

  it('grants a role in the org it names only: an operator in globex is a viewer in acmecorp', async () => {
    expect((await h.call('GET', `/v1/stack-jobs/${jobId}`, { principal: principals.mixedOrgRoles })).statusCode).toBe(200);
    const before = await dumpTables();
    const submit = await h.call('POST', '/v1/stack-jobs', {
      principal: principals.mixedOrgRoles,
      body: change({ resource: { version: { id: 'ver-roles-2', message: '' } } }),
    });
    expect(submit.statusCode).toBe(403);
    expect(submit.json().detail).toBe('this needs the role operator or admin in org acmecorp; you have viewer there');
    expect(await dumpTables()).toBe(before);
  });

  it('does not apply roles without an org to a member of several orgs (ambiguous), and says how to grant them', async () => {
    const res = await h.call('POST', '/v1/stack-jobs', {
      principal: principals.unscopedInTwoOrgs,
      body: change({ resource: { version: { id: 'ver-roles-3', message: '' } } }),
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().detail).toContain('grant them as acmecorp:<role>');
  });

  it("never makes anyone a member of an org named as the platform's secret owner, so nobody administers stackjobs/platform/ secrets as an org", async () => {
    const names = { subject: 'sub', orgs: 'custom:orgs', roles: 'custom:roles' };
    const claimed = principalFromClaims({ sub: 'mallory', 'custom:orgs': '[platform acmecorp]', 'custom:roles': '[platform:admin acmecorp:viewer]' }, names);
    expect(claimed).toEqual({ subject: 'mallory', orgs: ['acmecorp'], roles: [], orgRoles: { acmecorp: ['viewer'] } });
    // The attack: an IdP group named "platform" with the admin role registers a credential whose secret is the platform's.
    const before = await dumpTables();
    const mallory = { subject: 'mallory', orgs: ['platform'], roles: ['admin' as const] };
    const res = await h.call('PUT', '/v1/orgs/platform/provider-credentials/platform_github', {
      principal: mallory,
      body: awsCredential({ id: 'platform_github', org: 'platform', secretRef: 'stackjobs/platform/github' }),
    });
    expect(res.statusCode).toBe(404);
    expect(await dumpTables()).toBe(before);
    expect(principalSchema.safeParse(mallory).success).toBe(false);
  });

  it('reads the org-scoped claim form (org:role), which also makes the principal a member of that org', () => {
    const p = principalFromClaims(
      { sub: 'x', 'custom:orgs': '[acmecorp]', 'custom:roles': '[acmecorp:viewer globex:approver platform-admin globex:platform-admin bogus]' },
      { subject: 'sub', orgs: 'custom:orgs', roles: 'custom:roles' },
    );
    expect(p).toEqual({ subject: 'x', orgs: ['acmecorp', 'globex'], roles: ['platform-admin'], orgRoles: { acmecorp: ['viewer'], globex: ['approver'] } });
  });
});
