/**
 * What a submission needs, built once per process from the environment: the EventBridge Lambda builds only this
 * (its bundle then carries no artifact, ECS or Slack code), the API builds it and adds the rest (api/context.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import * as z from '../shared/zod';
import * as clients from '../adapters/aws/clients';
import { EventBridgePublisher } from '../adapters/aws/event-publisher';
import { GitRefProbe } from '../adapters/git/ref-probe';
import { S3BackendProbe } from '../adapters/aws/s3-backend-probe';
import { SecretsManagerSource } from '../adapters/aws/secrets';
import { SfnExecutionStarter } from '../adapters/aws/sfn-execution-starter';
import { StsCredentialValidator } from '../adapters/aws/sts-credential-validator';
import { TerraformLockProbe } from '../adapters/terraform-locks/terraform-lock-probe';
import { CatalogRepository } from '../adapters/dynamodb/catalog-repository';
import { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import { IdempotencyRepository } from '../adapters/dynamodb/idempotency-repository';
import { JobRepository } from '../adapters/dynamodb/job-repository';
import { LockRepository } from '../adapters/dynamodb/lock-repository';
import { systemClock, ulidIds, type Clock } from '../domain/ids';
import type { EventPublisher, ExecutionInspector, SecretSource, StateLockProbe } from '../domain/ports';
import { orgRunnerNetworksSchema, type OrgRunnerNetworks } from '../domain/preflight';
import { readConfig } from '../shared/config';
import type { SubmissionDeps } from './submit-change';

/** An environment variable holding JSON that `schema` must accept; `empty` when unset. */
function jsonVariable<T>(schema: z.ZodType<T>, empty: T, message: string) {
  return z
    .string()
    .optional()
    .transform((v, ctx): T => {
      if (!v) return empty;
      let value: unknown;
      try {
        value = JSON.parse(v) as unknown;
      } catch {
        value = undefined;
      }
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      return parsed.data;
    });
}

export const submissionConfigSchema = z.object({
  JOBS_TABLE: z.string().min(1),
  CATALOG_TABLE: z.string().min(1),
  STATE_MACHINE_ARN: z.string().min(1),
  EVENT_BUS_NAME: z.string().min(1),
  /** The deployment's id (account, region, stack): with an org it gives the STS ExternalId of that org's provider roles. */
  DEPLOYMENT_ID: z.string().min(1),
  /** JSON list of task-definition ARN patterns org runners may be placed on (stackjobs:orgRunnerTaskDefinitionArns); unset: none. */
  ORG_RUNNER_TASK_DEFINITION_ARNS: jsonVariable(z.array(z.string().min(1)), [], 'must be a JSON list of task-definition ARN patterns'),
  /** JSON {org: {subnets, securityGroups}}: what each org's runners may name (stackjobs:orgRunnerNetworks); unset: none. */
  ORG_RUNNER_NETWORKS: jsonVariable(orgRunnerNetworksSchema, {} as OrgRunnerNetworks, 'must be a JSON object {org: {subnets: [...], securityGroups: [...]}}'),
});

export interface SubmissionContext {
  clock: Clock;
  jobs: JobRepository;
  approvalItems: ApprovalItemRepository;
  catalog: CatalogRepository;
  locks: LockRepository;
  /** Terraform's own lock on a stack's state (pre-flight reads it; the API shows and force-unlocks it). */
  stateLocks: StateLockProbe;
  secrets: SecretSource;
  publisher: EventPublisher;
  submission: SubmissionDeps;
  /** Whether a job's execution still runs (a cancel ends a job whose execution is gone). */
  executions: ExecutionInspector;
  logger: Logger;
  metrics: Metrics;
}

export type SubmissionOverrides = Partial<Pick<SubmissionContext, 'secrets' | 'publisher' | 'clock'>>;

/** Everything is built from the SDK clients in clients.ts, so local mode only changes endpoints. */
export function submissionContextFromEnv(serviceName: string, env: NodeJS.ProcessEnv = process.env, overrides: SubmissionOverrides = {}): SubmissionContext {
  const config = readConfig(submissionConfigSchema, env);
  const db = clients.dynamo();
  const clock = overrides.clock ?? systemClock;
  const secrets = overrides.secrets ?? new SecretsManagerSource(clients.secrets);
  const jobs = new JobRepository(db, config.JOBS_TABLE);
  const approvalItems = new ApprovalItemRepository(db, config.JOBS_TABLE);
  const catalog = new CatalogRepository(db, config.CATALOG_TABLE);
  const locks = new LockRepository(db, config.JOBS_TABLE, () => clock.now());
  const stateLocks = new TerraformLockProbe(secrets);
  const executions = new SfnExecutionStarter(clients.sfn, config.STATE_MACHINE_ARN);
  return {
    clock,
    jobs,
    approvalItems,
    catalog,
    locks,
    stateLocks,
    secrets,
    publisher: overrides.publisher ?? new EventBridgePublisher(clients.events, config.EVENT_BUS_NAME),
    submission: {
      jobs,
      idempotency: new IdempotencyRepository(db, config.JOBS_TABLE),
      preflight: {
        catalog,
        validators: [new StsCredentialValidator(secrets, config.DEPLOYMENT_ID)],
        backendProbe: new S3BackendProbe(secrets),
        stateLocks,
        jobs,
        moduleRefs: new GitRefProbe(secrets),
        locks,
        clock,
        orgRunnerTaskDefinitionArns: config.ORG_RUNNER_TASK_DEFINITION_ARNS,
        orgRunnerNetworks: config.ORG_RUNNER_NETWORKS,
      },
      starter: executions,
      ids: ulidIds(clock),
      clock,
    },
    executions,
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: 'StackJobs', serviceName }),
  };
}
