/**
 * Responses the API tests do not otherwise reach, checked against the document: the document itself, served without
 * a token, and the artifact routes reading what a runner left in (embedded) S3 and DynamoDB.
 */
import { rmSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { ResourceStatusRepository } from '../../lambdas/adapters/dynamodb/resource-status-repository';
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import { TABLES } from '../../lambdas/adapters/dynamodb/table-definitions';
import { artifactKeys } from '../../lambdas/adapters/s3/artifact-keys';
import { ArtifactStore, type OutputValues, type PlanView } from '../../lambdas/adapters/s3/artifact-store';
import { createApi } from '../../lambdas/api/api-app';
import { artifactRoutes, type ResourceView } from '../../lambdas/api/artifact-routes';
import type { ServiceContext } from '../../lambdas/api/context';
import { buildOpenApiDocument, componentExamples } from '../../lambdas/api/openapi';
import type { outputValuesSchema, planViewSchema, resourceStatusSchema, stateLockViewSchema } from '../../lambdas/api/response-schemas';
import { allRoutes, routeDefinitions } from '../../lambdas/api/routes';
import { planSummarySchema, type StackJob } from '../../lambdas/domain/schemas';
import type { StateLockView } from '../../lambdas/domain/state-lock';
import type { z } from 'zod';
import { createTables, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/embedded-dynamo';
import { startEmbeddedS3, type EmbeddedS3 } from '../../local/embedded-s3';
import { CLAIMS, httpEvent, principals, type CallOptions } from '../support/api-harness';
import { openApiValidator } from '../support/openapi-validator';

// The response schemas are pinned to the adapters' own types: `tsc` fails here when either side changes alone.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const typePins: [
  Same<PlanView, z.infer<typeof planViewSchema>>,
  Same<OutputValues, z.infer<typeof outputValuesSchema>>,
  Same<ResourceView, z.infer<typeof resourceStatusSchema>>,
  Same<StateLockView, z.infer<typeof stateLockViewSchema>>,
] = [true, true, true, true];

const quiet = { claimNames: CLAIMS, logger: new Logger({ logLevel: 'SILENT' }), metrics: new Metrics({ namespace: 'StackJobsTest' }) };

describe('GET /v1/openapi.json', () => {
  it('serves the document to a caller without a token, through the production route list', async () => {
    const api = createApi({ routes: allRoutes(new Proxy({}, { get: () => undefined }) as ServiceContext), ...quiet });
    const res = await api(httpEvent('GET', '/v1/openapi.json', { principal: null }));
    openApiValidator().assert({ method: 'GET', path: '/v1/openapi.json', response: res });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body!)).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument(routeDefinitions()))));
  });

  it('keeps its own public Cache-Control beside the ETag, and answers 304 to a client that holds it', async () => {
    const api = createApi({ routes: allRoutes(new Proxy({}, { get: () => undefined }) as ServiceContext), ...quiet });
    const first = await api(httpEvent('GET', '/v1/openapi.json', { principal: null }));
    expect(first.headers).toMatchObject({ 'cache-control': 'public, max-age=300', etag: expect.stringMatching(/^"[\w-]{43}"$/) });
    const again = await api(httpEvent('GET', '/v1/openapi.json', { principal: null, headers: { 'if-none-match': String(first.headers?.etag) } }));
    openApiValidator().assert({ method: 'GET', path: '/v1/openapi.json', response: again });
    expect(again).toEqual({ statusCode: 304, headers: { etag: first.headers?.etag, 'cache-control': 'public, max-age=300' } });
  });
});

describe('the artifact routes', () => {
  const JOB = componentExamples.StackJob as StackJob;
  let dynamo: EmbeddedDynamo;
  let s3server: EmbeddedS3;
  let s3: S3Client;
  let store: ArtifactStore;
  let resources: ResourceStatusRepository;
  let api: ReturnType<typeof createApi>;
  const db = () => documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });

  /** A request through the API, its response checked against the document. */
  async function call(method: string, path: string, o: CallOptions = { principal: principals.viewer }) {
    const res = await api(httpEvent(method, path, o));
    openApiValidator().assert({ method, path, query: o.query, response: res });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
  }

  beforeAll(async () => {
    [dynamo, s3server] = await Promise.all([startEmbeddedDynamo(), startEmbeddedS3({ buckets: ['artifacts'] })]);
    await createTables(dynamo.endpoint, { jobs: TABLES.jobs });
    const client = db();
    const jobs = new JobRepository(client, 'jobs');
    resources = new ResourceStatusRepository(client, 'jobs');
    s3 = new S3Client({ endpoint: s3server.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
    store = new ArtifactStore(s3, 'artifacts');
    api = createApi({ routes: artifactRoutes({ jobs, artifacts: store, resources, locks: new LockRepository(client, 'jobs') }), ...quiet });
    await jobs.create(JOB);
  });

  afterAll(async () => {
    s3.destroy();
    await Promise.all([dynamo.stop(), s3server.stop()]);
    rmSync(s3server.directory, { recursive: true, force: true });
  });

  it('answers 404 problems before the runner has written anything', async () => {
    const id = JOB.metadata.id;
    expect((await call('GET', `/v1/stack-jobs/${id}/plan`)).status).toBe(404);
    expect((await call('GET', `/v1/stack-jobs/${id}/outputs`)).status).toBe(404);
    expect((await call('GET', '/v1/orgs/acmecorp/envs/production/resources/eks_01jq5xe4z7farkgenqsh47c1h0')).status).toBe(404);
    expect((await call('GET', `/v1/stack-jobs/${id}/logs`, { principal: principals.globexOperator })).status).toBe(404);
    expect((await call('GET', `/v1/stack-jobs/${id}/logs`, { principal: principals.viewer, query: { cursor: 'forged' } })).status).toBe(400);
  });

  it('returns logs, plan, outputs and resource status in the documented shapes once the runner has', async () => {
    const id = JOB.metadata.id;
    await store.putLogChunk(id, 'preview', 'init', 1, Buffer.from('Initializing the backend...\n'));
    await store.putLogChunk(id, 'preview', 'plan', 1, Buffer.from('Plan: 0 to add, 1 to change, 0 to destroy.\n'));
    await store.putJson(artifactKeys.planSummary(id), {
      summary: planSummarySchema.parse({ add: 0, change: 1, destroy: 0, replace: 0, unchanged: 12 }),
      hasChanges: true,
      digest: 'a'.repeat(64),
    });
    await store.putJson(artifactKeys.planJson(id), { format_version: '1.2' });
    await store.putJson(artifactKeys.outputs(id), {
      endpoint: { sensitive: false, type: 'string', value: 'https://eks.example.internal' },
      kubeconfig: { sensitive: true, type: 'string', value: 'secret' },
    });
    await resources.record({
      org: 'acmecorp',
      env: 'production',
      resourceId: JOB.metadata.name,
      kind: 'aws_eks_cluster',
      jobId: id,
      result: 'succeeded',
      finishedAt: '2025-04-24T09:30:00.000Z',
      applied: { versionId: JOB.metadata.version.id, outputsKey: artifactKeys.outputs(id) },
    });

    const logs = await call('GET', `/v1/stack-jobs/${id}/logs`, { principal: principals.viewer, query: { phase: 'preview' } });
    expect(logs).toMatchObject({ status: 200, body: { chunks: 2, phase: 'queued' } });
    const plan = await call('GET', `/v1/stack-jobs/${id}/plan`);
    expect(plan).toMatchObject({ status: 200, body: { hasChanges: true, summary: { change: 1 } } });
    const outputs = await call('GET', `/v1/stack-jobs/${id}/outputs`);
    expect(outputs).toMatchObject({ status: 200, body: { outputs: { kubeconfig: { value: '***' } } } });
    const status = await call('GET', `/v1/orgs/acmecorp/envs/production/resources/${JOB.metadata.name}`);
    expect(status).toMatchObject({
      status: 200,
      body: { lastResult: 'succeeded', lastAppliedJobId: id, outputs: { endpoint: { value: 'https://eks.example.internal' } } },
    });
  });
});
