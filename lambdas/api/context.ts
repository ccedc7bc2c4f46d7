/** Builds the API's and the event handler's dependencies once per process from the environment the CDK code sets. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import * as z from '../shared/zod';
import * as clients from '../adapters/aws/clients';
import { EventBridgePublisher } from '../adapters/aws/event-publisher';
import { S3BackendProbe } from '../adapters/aws/s3-backend-probe';
import { SecretsManagerSource } from '../adapters/aws/secrets';
import { SfnExecutionStarter } from '../adapters/aws/sfn-execution-starter';
import { StsCredentialValidator } from '../adapters/aws/sts-credential-validator';
import { CatalogRepository } from '../adapters/dynamodb/catalog-repository';
import { JobRepository } from '../adapters/dynamodb/job-repository';
import { LockRepository } from '../adapters/dynamodb/lock-repository';
import { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { ArtifactStore } from '../adapters/s3/artifact-store';
import type { SubmissionDeps } from '../app/submit-change';
import { systemClock, ulidIds, type Clock } from '../domain/ids';
import type { EventPublisher, SecretSource } from '../domain/ports';
import { readConfig } from '../shared/config';
import type { ClaimNames } from '../http/principal';
import { EcsRunnerTaskStopper } from '../approvals/adapters/ecs-runner-stopper';
import { FetchResponseUrlPoster } from '../approvals/adapters/response-url';
import { SfnTaskResponder } from '../approvals/adapters/sfn-task-responder';
import { cachedSecret } from '../approvals/deps';
import type { ResponseUrlPoster, RunnerTaskStopper, TaskResponder } from '../approvals/ports';

export const apiConfigSchema = z.object({
  JOBS_TABLE: z.string().min(1),
  CATALOG_TABLE: z.string().min(1),
  ARTIFACTS_BUCKET: z.string().min(1),
  STATE_MACHINE_ARN: z.string().min(1),
  EVENT_BUS_NAME: z.string().min(1),
  PRINCIPAL_SUBJECT_CLAIM: z.string().min(1).default('sub'),
  PRINCIPAL_ORGS_CLAIM: z.string().min(1).default('custom:orgs'),
  PRINCIPAL_ROLES_CLAIM: z.string().min(1).default('custom:roles'),
  /** Only where this process also serves POST /v1/slack/interactions (local mode); in AWS that route has its own Lambda. */
  SLACK_SIGNING_SECRET_ARN: z.string().min(1).optional(),
  /** JSON list of task-definition ARN patterns org runners may be placed on (stackjobs:orgRunnerTaskDefinitionArns); unset: none. */
  ORG_RUNNER_TASK_DEFINITION_ARNS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return [] as string[];
      const parsed = z.array(z.string().min(1)).safeParse((() => { try { return JSON.parse(v) as unknown; } catch { return undefined; } })());
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON list of task-definition ARN patterns' });
        return z.NEVER;
      }
      return parsed.data;
    }),
});
export type ApiConfig = z.infer<typeof apiConfigSchema>;

export interface ServiceContext {
  config: ApiConfig;
  clock: Clock;
  jobs: JobRepository;
  catalog: CatalogRepository;
  locks: LockRepository;
  resources: ResourceStatusRepository;
  artifacts: ArtifactStore;
  secrets: SecretSource;
  publisher: EventPublisher;
  submission: SubmissionDeps;
  claimNames: ClaimNames;
  logger: Logger;
  metrics: Metrics;
  /** Resumes or fails executions waiting on an approval (approve, reject, cancel). */
  tasks: TaskResponder;
  /** Stops a running preview's runner task (cancel). */
  runnerTasks: RunnerTaskStopper;
  responseUrl: ResponseUrlPoster;
  slackSigningSecret: () => Promise<string>;
}

/** Everything is built from the SDK clients in clients.ts, so local mode only changes endpoints. */
export function serviceContextFromEnv(serviceName: string, env: NodeJS.ProcessEnv = process.env, overrides: Partial<Pick<ServiceContext, 'secrets' | 'publisher' | 'clock'>> = {}): ServiceContext {
  const config = readConfig(apiConfigSchema, env);
  const db = clients.dynamo();
  const clock = overrides.clock ?? systemClock;
  const secrets = overrides.secrets ?? new SecretsManagerSource(clients.secrets());
  const jobs = new JobRepository(db, config.JOBS_TABLE);
  const catalog = new CatalogRepository(db, config.CATALOG_TABLE);
  const locks = new LockRepository(db, config.JOBS_TABLE, () => clock.now());
  return {
    config,
    clock,
    jobs,
    catalog,
    locks,
    resources: new ResourceStatusRepository(db, config.JOBS_TABLE),
    artifacts: new ArtifactStore(clients.s3(), config.ARTIFACTS_BUCKET),
    secrets,
    publisher: overrides.publisher ?? new EventBridgePublisher(clients.events(), config.EVENT_BUS_NAME),
    submission: {
      jobs,
      preflight: { catalog, validators: [new StsCredentialValidator(secrets)], backendProbe: new S3BackendProbe(secrets), locks, clock, orgRunnerTaskDefinitionArns: config.ORG_RUNNER_TASK_DEFINITION_ARNS },
      starter: new SfnExecutionStarter(clients.sfn(), config.STATE_MACHINE_ARN),
      ids: ulidIds(clock),
      clock,
    },
    claimNames: { subject: config.PRINCIPAL_SUBJECT_CLAIM, orgs: config.PRINCIPAL_ORGS_CLAIM, roles: config.PRINCIPAL_ROLES_CLAIM },
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: 'StackJobs', serviceName }),
    tasks: new SfnTaskResponder(clients.sfn()),
    runnerTasks: new EcsRunnerTaskStopper(clients.ecs()),
    responseUrl: new FetchResponseUrlPoster(),
    slackSigningSecret: config.SLACK_SIGNING_SECRET_ARN
      ? cachedSecret(secrets, config.SLACK_SIGNING_SECRET_ARN, clock)
      : () => Promise.reject(new Error('SLACK_SIGNING_SECRET_ARN is not set for this function')),
  };
}

export { lazy } from '../shared/lazy';
