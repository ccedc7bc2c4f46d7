/**
 * Property-based fuzzing of every API route (fast-check): generated methods, paths, queries, headers, principals
 * and bodies — garbage, JSON, YAML and near-valid changes and catalog entities — through the production API
 * handler wired from the environment (allRoutes, so routes added later are fuzzed too), against dynalite, s3rver
 * and the local protocol server. Never a 5xx; never a data change behind a rejected (4xx) request.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ScanCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import * as clients from '../../lambdas/adapters/aws/clients';
import { CatalogRepository } from '../../lambdas/adapters/dynamodb/catalog-repository';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { TABLES } from '../../lambdas/adapters/dynamodb/table-definitions';
import { createApi } from '../../lambdas/api/api-app';
import { serviceContextFromEnv } from '../../lambdas/api/context';
import { allRoutes } from '../../lambdas/api/routes';
import { startProtocolServer, type ProtocolServer } from '../../local/aws-protocol-server';
import { createTables, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/embedded-dynamo';
import { startEmbeddedS3, type EmbeddedS3 } from '../../local/embedded-s3';
import type { LocalStepFunctions } from '../../local/step-functions';
import type { Principal } from '../../lambdas/domain/schemas';
import { PLATFORM_OWNER } from '../../lambdas/domain/ports';
import { makeJob } from '../orchestration/support/jobs';
import { httpEvent, principals } from '../support/api-harness';

// Each route must be reached more than 100 times: about 20,000 requests for the 72 routes (some 180 each on average).
const RUNS = 20_000;
const NAMES = { jobs: 'fuzz-jobs', catalog: 'fuzz-catalog', bucket: 'fuzz-artifacts' };

let dynamo: EmbeddedDynamo;
let s3: EmbeddedS3;
let protocol: ProtocolServer;
let api: ReturnType<typeof createApi>;
let seededJobId: string;
let moduleRepo: string | undefined;
/** Data-changing calls made by the API since the last reset, by command. */
const mutations: string[] = [];

/** A write that changed nothing (a delete of nothing, a failed condition) is not a mutation. */
function isMutation(command: string, output: unknown): boolean {
  if (
    !/^(Put|Update|Delete|BatchWrite|TransactWrite|StartExecution|StopExecution|SendTask|PutEvents|CreateMultipartUpload|UploadPart|CompleteMultipartUpload|CopyObject)/.test(
      command,
    )
  )
    return false;
  if (command.startsWith('Delete') && command !== 'DeleteObjectCommand') return Boolean((output as { Attributes?: unknown }).Attributes);
  return true;
}

beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
  await createTables(dynamo.endpoint, { [NAMES.jobs]: TABLES.jobs, [NAMES.catalog]: TABLES.catalog });
  s3 = await startEmbeddedS3({ buckets: [NAMES.bucket] });
  // An accepted submission starts an execution and publishes: the protocol server answers both.
  const sfn = {
    startExecution: async (r: { name?: string }) => ({
      executionArn: `arn:aws:states:us-east-1:000000000000:execution:fuzz:${r.name}`,
      startDate: Date.now() / 1000,
    }),
  };
  protocol = await startProtocolServer({ sfn: () => sfn as unknown as LocalStepFunctions, secrets: {} });
  Object.assign(process.env, {
    JOBS_TABLE: NAMES.jobs,
    CATALOG_TABLE: NAMES.catalog,
    ARTIFACTS_BUCKET: NAMES.bucket,
    STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:fuzz',
    EVENT_BUS_NAME: 'fuzz-bus',
    DEPLOYMENT_ID: '123456789012:us-east-1:StackJobs',
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SFN: protocol.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: protocol.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: protocol.endpoint,
    STACKJOBS_S3_FORCE_PATH_STYLE: 'true',
  });
  const ctx = serviceContextFromEnv('stackjobs-fuzz');
  for (const client of [clients.dynamo(), clients.s3(), clients.sfn(), clients.events(), clients.secrets()]) {
    (client.middlewareStack as { add: (mw: unknown, o: unknown) => void }).add(
      (next: (a: unknown) => Promise<{ output: unknown }>, context: { commandName?: string }) => async (args: unknown) => {
        const out = await next(args);
        if (isMutation(context.commandName ?? '', out.output)) mutations.push(context.commandName ?? '');
        return out;
      },
      { step: 'initialize', name: 'fuzzMutationRecorder' },
    );
  }
  api = createApi({ routes: allRoutes(ctx), claimNames: ctx.claimNames, logger: ctx.logger, metrics: ctx.metrics });

  // Something to find: a job, catalog entries of each level.
  const job = makeJob({ resourceId: 'fuzz_resource' });
  seededJobId = job.metadata.id;
  await new JobRepository(clients.dynamo(), NAMES.jobs).create(job);
  const catalog = new CatalogRepository(clients.dynamo(), NAMES.catalog);
  // A module whose ref exists and a backend, so generated changes pass pre-flight and reach the job write.
  moduleRepo = mkdtempSync(join(tmpdir(), 'stackjobs-fuzz-module-'));
  const git = (...a: string[]) =>
    execFileSync('git', ['-c', 'user.name=f', '-c', 'user.email=f@e', '-c', 'init.defaultBranch=main', ...a], { cwd: moduleRepo, stdio: 'pipe' });
  git('init', '-q');
  writeFileSync(join(moduleRepo, 'main.tf'), '');
  git('add', '.');
  git('commit', '-qm', 'm');
  git('tag', 'v1');
  await catalog.put(
    'modules',
    PLATFORM_OWNER,
    'iacmod_demo',
    {
      id: 'iacmod_demo',
      scope: 'platform',
      resourceKind: 'demo_bucket',
      provisioner: 'terraform',
      gitRepo: moduleRepo,
      branch: 'v1',
      path: '.',
      isDefault: true,
    },
    'seed',
    new Date(),
  );
  await catalog.put(
    'backend-credentials',
    'acmecorp',
    'local',
    { id: 'local', org: 'acmecorp', provisioner: 'terraform', type: 'local', config: { path: '/tmp/fuzz-state' } },
    'seed',
    new Date(),
  );
  await catalog.put(
    'flow-control-policies',
    'acmecorp',
    'acme',
    { id: 'acme', selector: { level: 'organization', org: 'acmecorp' }, previewBeforeUpdate: true, pauseBetweenPreviewAndUpdate: true, skipRefresh: false },
    'seed',
    new Date(),
  );
}, 30000);

afterAll(async () => {
  if (moduleRepo) rmSync(moduleRepo, { recursive: true, force: true });
  clients.dynamo().destroy();
  clients.s3().destroy();
  await protocol?.stop();
  await s3?.stop();
  await dynamo?.stop();
});

async function snapshot(): Promise<string> {
  const ddb = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  try {
    const tables = await Promise.all(
      [NAMES.jobs, NAMES.catalog].map(async (t) =>
        ((await ddb.send(new ScanCommand({ TableName: t, ConsistentRead: true }))).Items ?? []).map((i) => JSON.stringify(i)).sort(),
      ),
    );
    return JSON.stringify(tables);
  } finally {
    ddb.destroy();
  }
}

// ------------------------------------------------------------------ generators

const junk = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.stringMatching(/^[a-z0-9_.%-]{0,40}$/),
  fc.constantFrom('', '..', '%2e%2e', '%00', '%E0%A4%A', 'a'.repeat(300), '{id}', '🙂', ' '),
);
const name = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_-]{0,20}$/), junk);
const segment = () =>
  fc.oneof(
    fc.constant(seededJobId),
    fc.constantFrom('acmecorp', 'globex', 'production', 'modules', 'flow-control-policies', 'runners', 'org-settings', 'fuzz_resource', 'iacmod_demo', 'acme'),
    junk,
  );

const change = fc.record(
  {
    resource: fc.oneof(
      fc.record(
        {
          id: name,
          name,
          org: fc.oneof(fc.constant('acmecorp'), name),
          env: name,
          version: fc.oneof(fc.record({ id: name, message: fc.string({ maxLength: 30 }) }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    ),
    kind: fc.oneof(fc.constant('demo_bucket'), name, fc.anything()),
    spec: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue(), { maxKeys: 4 }), fc.anything()),
    triggerEvent: fc.oneof(fc.constantFrom('created', 'updated', 'deleted'), fc.string()),
    createdBy: fc.oneof(fc.emailAddress(), fc.anything()),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);
const catalogEntity = fc.record(
  {
    id: name,
    org: fc.oneof(fc.constant('acmecorp'), name),
    scope: fc.constantFrom('platform', 'org', 'nope'),
    resourceKind: name,
    provisioner: fc.constantFrom('terraform', 'tofu', 'pulumi', 'cdk'),
    selector: fc.oneof(
      fc.record({ level: fc.constantFrom('platform', 'organization', 'environment', 'resource'), org: name, env: name }, { requiredKeys: [] }),
      fc.anything(),
    ),
    previewBeforeUpdate: fc.oneof(fc.boolean(), fc.anything()),
    approvalTimeoutMinutes: fc.oneof(fc.integer({ min: -10, max: 20000 }), fc.double()),
    config: fc.anything(),
  },
  { requiredKeys: [] },
);
/**
 * Schema-valid changes a storage layer cannot take: numbers beyond DynamoDB's range, prototype keys in the spec or at
 * the top, nesting deeper than an item may. Raw JSON, so `__proto__` stays an own key as a client would send it.
 */
const validChange = {
  resource: { id: 'fuzz_resource', name: 'fuzz', org: 'acmecorp', env: 'production', version: { id: 'v-fuzz', message: 'm' } },
  kind: 'demo_bucket',
  triggerEvent: 'updated',
  createdBy: 'f@acmecorp.example',
};
const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });
const hostileSpec = fc.oneof(
  fc.constantFrom(1e308, -1e300, 1e-200, 5e-324, 1e126).map((n) => JSON.stringify({ size: n })),
  fc.constantFrom('constructor', '__proto__', 'prototype').map((k) => `{"${k}":{"polluted":true},"tier":"x"}`),
  fc.integer({ min: 25, max: 60 }).map((d) => JSON.stringify(nested(d))),
);
const hostileChange = fc.oneof(
  hostileSpec.map((spec) => `${JSON.stringify(validChange).slice(0, -1)},"spec":${spec}}`),
  fc.constant(`{"__proto__":{"isAdmin":true},${JSON.stringify({ ...validChange, spec: {} }).slice(1)}`),
);
const body = fc.oneof(
  { weight: 2, arbitrary: hostileChange },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: change.map((c) => JSON.stringify(c)) },
  { weight: 2, arbitrary: catalogEntity.map((c) => JSON.stringify(c)) },
  { weight: 2, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('{"a":', 'null', '[]', '"x"', 'a: [1, *b]', 'a: &a [*a]', '\u0000', '{"__proto__":{"x":1}}', 'x'.repeat(300 * 1024)),
  },
);
const principal = fc.oneof(
  fc.constantFrom(null, principals.operator, principals.viewer, principals.admin, principals.platformAdmin, principals.globexOperator),
  // Claims as a broken identity provider might send them: unknown roles, odd orgs (they reach the API as strings).
  fc.record({
    subject: fc.string({ maxLength: 20 }),
    orgs: fc.array(name, { maxLength: 3 }),
    roles: fc.array(fc.oneof(fc.constantFrom('operator', 'viewer', 'admin', 'approver', 'platform-admin'), fc.string()), { maxLength: 3 }),
  }) as fc.Arbitrary<Principal>,
  // Org-scoped roles, a platform admin of another org, roles in one org reaching for another.
  fc.record({
    subject: fc.constantFrom('pat@both.example', 'root@globex.example'),
    orgs: fc.constantFrom(['globex'], ['acmecorp', 'globex'], []),
    roles: fc.constantFrom([], ['platform-admin'], ['admin', 'approver']),
    orgRoles: fc.constantFrom({ globex: ['admin', 'operator', 'approver'] }, { acmecorp: ['viewer'], globex: ['admin'] }),
  }) as fc.Arbitrary<Principal>,
);
const headers = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'content-type',
      'accept',
      'idempotency-key',
      'x-forwarded-for',
      'content-length',
      'authorization',
      'x-slack-signature',
      'x-slack-request-timestamp',
    ),
    fc.stringMatching(/^[a-z-]{1,20}$/),
  ),
  fc.oneof(
    fc.constantFrom('application/json', 'application/yaml', 'text/yaml', 'text/plain', 'multipart/form-data', '', 'application/json; charset=utf-16'),
    fc.string({ maxLength: 60 }),
  ),
  { maxKeys: 4 },
);
const query = fc.option(
  fc.dictionary(
    fc.oneof(fc.constantFrom('org', 'env', 'resourceId', 'phase', 'result', 'limit', 'cursor', 'after', 'follow', 'operation'), fc.string({ maxLength: 8 })),
    fc.oneof(fc.constantFrom('acmecorp', '0', '-1', '101', '20', 'completed', 'eyJwayI6IngifQ', 'true'), fc.string({ maxLength: 30 })),
    { maxKeys: 4 },
  ),
  { nil: undefined },
);

describe('API fuzzing', () => {
  it('reaches the job write with a valid change (so generated specs are tested against storage, not pre-flight)', async () => {
    const res = await api(
      httpEvent('POST', '/v1/stack-jobs', {
        principal: principals.operator,
        rawBody: JSON.stringify({ ...validChange, resource: { ...validChange.resource, version: { id: 'v-reach', message: 'm' } }, spec: { tier: 'x' } }),
      }),
    );
    expect([res.statusCode, res.statusCode === 201 ? '' : res.body]).toEqual([201, '']);
  });

  it(`never answers 5xx and never changes data on a rejected request (${RUNS} generated requests)`, async () => {
    const before = await snapshot();
    const routes = api.router.table;
    const fill = (template: string) =>
      fc
        .tuple(fc.array(segment(), { minLength: 4, maxLength: 4 }), fc.constantFrom('', '', '', '/', '/extra'))
        .map(([segs, tail]) => template.replace(/\{\w+\}/g, () => encodeURIComponent(segs.shift() ?? 'x')) + tail);
    const anyMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
    // Mostly a route's own method and shape (so the handlers, not just the router, see the input), then anything.
    const request = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...routes).chain((r) => fc.tuple(fc.constant<string>(r.method), fill(r.path))) },
      {
        weight: 1,
        arbitrary: fc.tuple(
          anyMethod,
          fc.constantFrom(...routes).chain((r) => fill(r.path)),
        ),
      },
      { weight: 1, arbitrary: fc.tuple(anyMethod, fc.webPath()) },
    );
    const hits = new Map<string, number>();
    let accepted = 0;
    const statuses = new Map<number, number>();

    await fc.assert(
      fc.asyncProperty(request, query, headers, principal, body, fc.boolean(), async ([m, p], q, h, who, raw, base64) => {
        const route = api.router.match(m, p).route;
        if (route) hits.set(`${route.method} ${route.path}`, (hits.get(`${route.method} ${route.path}`) ?? 0) + 1);
        const event: APIGatewayProxyEventV2 = httpEvent(m, p, {
          principal: who,
          rawBody: raw,
          headers: h,
          query: q ?? undefined,
          base64: base64 && raw !== undefined,
        });
        mutations.length = 0;
        const res = await api(event);
        const status = res.statusCode ?? 0;
        if (status >= 500 || status < 100) throw new Error(`${m} ${p} answered ${status}: ${res.body}`);
        if (status >= 400 && mutations.length > 0) throw new Error(`${m} ${p} answered ${status} but changed data: ${mutations.join(', ')}`);
        if (mutations.length > 0) accepted++;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }),
      { numRuns: RUNS },
    );

    // Every route was reached with generated input, and the generators got past validation into the handlers.
    expect((statuses.get(200) ?? 0) + (statuses.get(201) ?? 0)).toBeGreaterThan(50);
    for (const r of api.router.table)
      expect([`${r.method} ${r.path}`, (hits.get(`${r.method} ${r.path}`) ?? 0) > 100]).toEqual([`${r.method} ${r.path}`, true]);
    // Without an accepted write, the tables are byte for byte what they were.
    if (accepted === 0) expect(await snapshot()).toBe(before);
  }, 240000);
});
