/** Builds the workflow Lambdas' dependencies once per process from the environment the CDK code sets. */
import { Logger } from '@aws-lambda-powertools/logger';
import * as z from '../shared/zod';
import * as clients from '../adapters/aws/clients';
import { EventBridgePublisher } from '../adapters/aws/event-publisher';
import { EcsRunnerTaskStopper } from '../approvals/adapters/ecs-runner-stopper';
import { SfnTaskResponder } from '../approvals/adapters/sfn-task-responder';
import { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import { JobRepository } from '../adapters/dynamodb/job-repository';
import { LockRepository } from '../adapters/dynamodb/lock-repository';
import { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { ArtifactStore } from '../adapters/s3/artifact-store';
import { systemClock, ulidIds } from '../domain/ids';
import { readConfig } from '../shared/config';
import { lazy } from '../shared/lazy';
import type { WorkflowDeps } from './lifecycle';
import { PowertoolsWorkflowMetrics } from './metrics';

export const workflowConfigSchema = z.object({
  JOBS_TABLE: z.string().min(1),
  EVENT_BUS_NAME: z.string().min(1),
  /** Seconds a stack lease outlives the approval window (set by the orchestration construct from the runner timeouts). */
  // Defaults to the orchestration defaults (2 h preview + 4 h update + 1 h) for functions that never take a lease.
  /** The artifacts bucket, read for the plan document plan policies check (the step function; others never read it). */
  ARTIFACTS_BUCKET: z.string().min(1).optional(),
  LEASE_MARGIN_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(7 * 3600),
});
export type WorkflowConfig = z.infer<typeof workflowConfigSchema>;

export function workflowDepsFromEnv(env: NodeJS.ProcessEnv = process.env, serviceName = 'stackjobs-workflow'): WorkflowDeps {
  const config = readConfig(workflowConfigSchema, env);
  const db = clients.dynamo();
  return {
    jobs: new JobRepository(db, config.JOBS_TABLE),
    approvalItems: new ApprovalItemRepository(db, config.JOBS_TABLE),
    locks: new LockRepository(db, config.JOBS_TABLE),
    resources: new ResourceStatusRepository(db, config.JOBS_TABLE),
    events: new EventBridgePublisher(clients.events, config.EVENT_BUS_NAME),
    clock: systemClock,
    ids: ulidIds(),
    metrics: new PowertoolsWorkflowMetrics(),
    leaseMarginSeconds: config.LEASE_MARGIN_SECONDS,
    // The cluster comes from the task ARN; the client is made on first use (only the cleanup Lambda stops tasks).
    runnerTasks: new EcsRunnerTaskStopper(clients.ecs),
    tasks: new SfnTaskResponder(clients.sfn),
    // What an ending could not do at once (wake a parked job, fail an approval task) is logged, never its token.
    log: new Logger({ serviceName }),
    // The S3 client is made on first use: only a job with plan policies reads its plan here.
    ...(config.ARTIFACTS_BUCKET ? { plans: new ArtifactStore(clients.s3, config.ARTIFACTS_BUCKET) } : {}),
  };
}

/** The workflow Lambdas' dependencies, built on first use (see shared/lazy.ts). */
export function lazyDeps(make: () => WorkflowDeps = () => workflowDepsFromEnv()): () => WorkflowDeps {
  return lazy(make);
}
