/**
 * The API handler wired to real repositories on an embedded dynalite (port 0), the real STS validator and
 * S3 backend probe over aws-sdk-client-mock, and a recording execution starter. Events are built from the
 * real API Gateway HTTP API (JWT authorizer) fixture.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { S3Client, HeadBucketCommand, HeadObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { STSClient, GetCallerIdentityCommand, AssumeRoleCommand } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { CatalogRepository } from '../../lambdas/adapters/dynamodb/catalog-repository';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import { TABLES } from '../../lambdas/adapters/dynamodb/table-definitions';
import { S3BackendProbe } from '../../lambdas/adapters/aws/s3-backend-probe';
import { TerraformLockProbe } from '../../lambdas/adapters/terraform-locks/terraform-lock-probe';
import { StsCredentialValidator } from '../../lambdas/adapters/aws/sts-credential-validator';
import { createApi } from '../../lambdas/api/api-app';
import { catalogRoutes } from '../../lambdas/api/catalog-routes';
import { jobRoutes } from '../../lambdas/api/job-routes';
import { stateLockRoutes } from '../../lambdas/api/state-lock-routes';
import { policyRoutes } from '../../lambdas/api/policy-routes';
import type { SubmissionDeps } from '../../lambdas/app/submit-change';
import type { EventPublisher, ExecutionStarter, SecretSource } from '../../lambdas/domain/ports';
import type { Principal, StackJob } from '../../lambdas/domain/schemas';
import { createTables, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/embedded-dynamo';
import { fixedClock, gitHttpFetch, sequentialIds, TEST_DEPLOYMENT_ID } from './domain-fixtures';
import { GitRefProbe } from '../../lambdas/adapters/git/ref-probe';
import { openApiValidator } from './openapi-validator';
import { IdempotencyRepository } from '../../lambdas/adapters/dynamodb/idempotency-repository';

export const CLAIMS = { subject: 'sub', orgs: 'custom:orgs', roles: 'custom:roles' };
const fixture = JSON.parse(
  readFileSync(join(__dirname, '../fixtures/aws-events/apigw-http-jwt-authorizer-auth.json'), 'utf8'),
) as APIGatewayProxyEventV2WithJWTAuthorizer;

export const principals = {
  operator: { subject: 'ops@acmecorp.example', orgs: ['acmecorp'], roles: ['operator'] },
  viewer: { subject: 'viewer@acmecorp.example', orgs: ['acmecorp'], roles: ['viewer'] },
  admin: { subject: 'admin@acmecorp.example', orgs: ['acmecorp'], roles: ['admin'] },
  platformAdmin: { subject: 'root@platform.example', orgs: [], roles: ['platform-admin'] },
  globexOperator: { subject: 'ops@globex.example', orgs: ['globex'], roles: ['operator', 'admin'] },
  /** Per-org roles: a viewer in acmecorp, an approver and operator in globex. */
  mixedOrgRoles: {
    subject: 'pat@both.example',
    orgs: ['acmecorp', 'globex'],
    roles: [],
    orgRoles: { acmecorp: ['viewer'], globex: ['approver', 'operator'] },
  },
  /** The same roles in each of two orgs, with no per-org roles. */
  unscopedInTwoOrgs: { subject: 'sam@both.example', orgs: ['acmecorp', 'globex'], roles: ['approver', 'operator'] },
} satisfies Record<string, Principal>;

export interface CallOptions {
  principal?: Principal | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  base64?: boolean;
}

/** Builds a v2 event the way API Gateway hands it over; array claims are flattened to "[a b]" as API Gateway does. */
export function httpEvent(method: string, path: string, o: CallOptions = {}): APIGatewayProxyEventV2 {
  const event = structuredClone(fixture) as APIGatewayProxyEventV2 & { requestContext: { authorizer?: { jwt: { claims: Record<string, string> } } } };
  const raw = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  event.rawPath = path;
  event.routeKey = '$default';
  event.requestContext.http.method = method;
  event.requestContext.http.path = path;
  event.queryStringParameters = o.query;
  event.rawQueryString = new URLSearchParams(o.query ?? {}).toString();
  event.headers = { ...event.headers, 'content-type': 'application/json', ...o.headers };
  event.body = raw === undefined ? undefined : o.base64 ? Buffer.from(raw).toString('base64') : raw;
  event.isBase64Encoded = Boolean(o.base64);
  const p = o.principal === undefined ? principals.operator : o.principal;
  if (p) {
    event.requestContext.authorizer = {
      jwt: {
        claims: {
          ...fixture.requestContext.authorizer.jwt.claims,
          sub: p.subject,
          'custom:orgs': `[${p.orgs.join(' ')}]`,
          'custom:roles': `[${[...p.roles, ...Object.entries((p as Principal).orgRoles ?? {}).flatMap(([org, rs]) => rs.map((r) => `${org}:${r}`))].join(' ')}]`,
        },
      },
    } as never;
  } else {
    delete event.requestContext.authorizer;
  }
  return event;
}

export class RecordingStarter implements ExecutionStarter {
  readonly started: string[] = [];
  async start(job: StackJob): Promise<void> {
    this.started.push(job.metadata.id);
  }
}

export class MapSecrets implements SecretSource {
  constructor(readonly values: Record<string, string> = {}) {}
  async get(ref: string): Promise<string> {
    const v = this.values[ref];
    if (v === undefined) throw Object.assign(new Error(`ResourceNotFoundException`), { name: 'ResourceNotFoundException' });
    return v;
  }
}

/** Keeps what was published, for tests to read. */
export class RecordingPublisher implements EventPublisher {
  readonly events: Array<{ detailType: string; detail: unknown }> = [];
  async publish(detailType: string, detail: unknown): Promise<void> {
    this.events.push({ detailType, detail });
  }
}

export interface ApiHarness {
  dynamo: EmbeddedDynamo;
  jobs: JobRepository;
  catalog: CatalogRepository;
  locks: LockRepository;
  starter: RecordingStarter;
  publisher: RecordingPublisher;
  secrets: MapSecrets;
  sts: ReturnType<typeof mockClient>;
  s3: ReturnType<typeof mockClient>;
  submission: SubmissionDeps;
  logger: Logger;
  logs: string[];
  metrics: Metrics;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read response bodies by value; the contract test checks their shape
  call(method: string, path: string, o?: CallOptions): Promise<APIGatewayProxyStructuredResultV2 & { json: () => any }>;
  resetMocks(): void;
  stop(): Promise<void>;
}

let tableSeq = 0;

export async function startApiHarness(): Promise<ApiHarness> {
  const dynamo = await startEmbeddedDynamo();
  const names = { jobs: `jobs${++tableSeq}`, catalog: `catalog${tableSeq}` };
  await createTables(dynamo.endpoint, { [names.jobs]: TABLES.jobs, [names.catalog]: TABLES.catalog });
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const jobs = new JobRepository(db, names.jobs);
  const catalog = new CatalogRepository(db, names.catalog);
  const clock = fixedClock();
  const locks = new LockRepository(db, names.jobs, () => clock.now());
  const starter = new RecordingStarter();
  const publisher = new RecordingPublisher();
  // The platform EKS module's repository, as GitHub would advertise it (tags v2.3.0 and v2.4.0, branch main).
  const gitFetch = gitHttpFetch({ 'github.com/project-planton/aws-eks': ['HEAD', 'refs/heads/main', 'refs/tags/v2.3.0', 'refs/tags/v2.4.0'] });
  const secrets = new MapSecrets();
  const sts = mockClient(STSClient);
  const s3 = mockClient(S3Client);
  const logs: string[] = [];
  const logger = new Logger({ serviceName: 'stackjobs-api-test', logLevel: 'DEBUG' });
  // Capture structured log lines so tests can search them for planted secrets.
  (logger as unknown as { console: { info: (s: string) => void; warn: (s: string) => void; error: (s: string) => void; debug: (s: string) => void } }).console =
    {
      info: (s) => logs.push(s),
      warn: (s) => logs.push(s),
      error: (s) => logs.push(s),
      debug: (s) => logs.push(s),
    };
  const metrics = new Metrics({ namespace: 'StackJobsTest', serviceName: 'api' });
  const resetMocks = () => {
    sts.reset();
    s3.reset();
    sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::123456789012:user/deployer', Account: '123456789012' });
    sts.on(AssumeRoleCommand).resolves({ AssumedRoleUser: { Arn: 'arn:aws:sts::123456789012:assumed-role/deployer/stackjobs-preflight', AssumedRoleId: 'x' } });
    s3.on(HeadBucketCommand).resolves({});
    s3.on(HeadObjectCommand).rejects(Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }));
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }));
  };
  resetMocks();
  const stateLocks = new TerraformLockProbe(secrets);
  const submission: SubmissionDeps = {
    jobs,
    idempotency: new IdempotencyRepository(db, names.jobs),
    preflight: {
      catalog,
      validators: [new StsCredentialValidator(secrets, TEST_DEPLOYMENT_ID)],
      backendProbe: new S3BackendProbe(secrets),
      stateLocks,
      jobs,
      moduleRefs: new GitRefProbe(secrets, gitFetch),
      locks,
      clock,
    },
    starter,
    ids: sequentialIds(),
    clock,
  };
  const api = createApi({
    routes: [
      ...jobRoutes({ jobs, submission, logger, metrics }),
      ...catalogRoutes({ catalog, clock, deploymentId: () => TEST_DEPLOYMENT_ID }),
      ...stateLockRoutes({ jobs, locks, stateLocks, publisher, clock, logger }),
      ...policyRoutes({ catalog }),
    ],
    claimNames: CLAIMS,
    logger,
    metrics,
  });
  return {
    dynamo,
    jobs,
    catalog,
    locks,
    starter,
    publisher,
    secrets,
    sts,
    s3,
    submission,
    logger,
    logs,
    metrics,
    resetMocks,
    async call(method, path, o = {}) {
      const event = httpEvent(method, path, o);
      const res = await api(event);
      // Every response the API tests see must keep to docs/openapi.json: drift throws here, naming each difference.
      openApiValidator().assert({
        method,
        path,
        query: o.query,
        request: {
          contentType: event.headers['content-type'],
          rawBody: event.body && (o.base64 ? Buffer.from(event.body, 'base64').toString('utf8') : event.body),
        },
        response: res,
      });
      return { ...res, json: () => (res.body ? JSON.parse(res.body) : undefined) };
    },
    async stop() {
      sts.restore();
      s3.restore();
      db.destroy();
      await dynamo.stop();
    },
  };
}
