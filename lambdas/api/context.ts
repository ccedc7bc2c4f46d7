/** Builds the API's dependencies once per process from the environment the CDK code sets (the submission's: app/submission-context.ts). */
import * as z from '../shared/zod';
import * as clients from '../adapters/aws/clients';
import { cachedSecret } from '../adapters/aws/secrets';
import { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { ArtifactStore } from '../adapters/s3/artifact-store';
import { submissionConfigSchema, submissionContextFromEnv, type SubmissionContext, type SubmissionOverrides } from '../app/submission-context';
import { readConfig } from '../shared/config';
import type { ClaimNames } from '../http/principal';
import { EcsRunnerTaskStopper } from '../approvals/adapters/ecs-runner-stopper';
import { FetchResponseUrlPoster } from '../approvals/adapters/response-url';
import { SfnTaskResponder } from '../approvals/adapters/sfn-task-responder';
import { API_SLACK_BUDGET, SlackWebApiPoster } from '../approvals/adapters/slack-web-api';
import type { ResponseUrlPoster, RunnerTaskStopper, SlackPoster, TaskResponder } from '../approvals/ports';
import { SlackLinkRepository } from '../adapters/dynamodb/slack-link-repository';
import { EventBridgeDriftSchedules } from '../adapters/aws/drift-schedules';
import type { DriftScheduleSync } from '../domain/ports';

export const apiConfigSchema = submissionConfigSchema.extend({
  ARTIFACTS_BUCKET: z.string().min(1),
  PRINCIPAL_SUBJECT_CLAIM: z.string().min(1).default('sub'),
  PRINCIPAL_ORGS_CLAIM: z.string().min(1).default('custom:orgs'),
  PRINCIPAL_ROLES_CLAIM: z.string().min(1).default('custom:roles'),
  /** Only where this process also serves POST /v1/slack/interactions (local mode); in AWS that route has its own Lambda. */
  SLACK_SIGNING_SECRET_ARN: z.string().min(1).optional(),
  /** The bot token, to replace an approval's Slack message when it is decided or cancelled through the API. */
  SLACK_BOT_TOKEN_SECRET_ARN: z.string().min(1).optional(),
  /** Overrides https://slack.com/api/ (local mode and tests only). */
  SLACK_API_URL: z.url().optional(),
  /** The Slack workspace whose clicks count (stackjobs:slackTeamId); only where this process serves Slack interactions. */
  SLACK_TEAM_ID: z.string().min(1).optional(),
  /** The deployment's EventBridge Scheduler group for drift schedules; with the two below, the API keeps Scheduler in step with the catalog. */
  DRIFT_SCHEDULE_GROUP: z.string().min(1).optional(),
  /** The role Scheduler assumes to invoke the fan-out (passed on CreateSchedule/UpdateSchedule). */
  DRIFT_SCHEDULER_ROLE_ARN: z.string().min(1).optional(),
  /** The fan-out Lambda every drift schedule invokes. */
  DRIFT_FAN_OUT_FUNCTION_ARN: z.string().min(1).optional(),
});
export type ApiConfig = z.infer<typeof apiConfigSchema>;

export interface ServiceContext extends SubmissionContext {
  config: ApiConfig;
  resources: ResourceStatusRepository;
  artifacts: ArtifactStore;
  claimNames: ClaimNames;
  /** Resumes or fails executions waiting on an approval (approve, reject, cancel). */
  tasks: TaskResponder;
  /** Stops a running preview's runner task (cancel). */
  runnerTasks: RunnerTaskStopper;
  responseUrl: ResponseUrlPoster;
  slackSigningSecret: () => Promise<string>;
  /** Replaces approval messages closed through the API; absent without SLACK_BOT_TOKEN_SECRET_ARN. */
  slack?: SlackPoster;
  /** Who each Slack account acts as. */
  slackLinks: SlackLinkRepository;
  /** EventBridge Scheduler for drift schedules; absent unless all three DRIFT_ variables are set (local mode runs its own scheduler). */
  driftSchedules?: DriftScheduleSync;
}

/** The submission's context plus what only the API uses (artifacts, approvals, cancel). */
export function serviceContextFromEnv(serviceName: string, env: NodeJS.ProcessEnv = process.env, overrides: SubmissionOverrides = {}): ServiceContext {
  const config = readConfig(apiConfigSchema, env);
  const base = submissionContextFromEnv(serviceName, env, overrides);
  return {
    ...base,
    config,
    resources: new ResourceStatusRepository(clients.dynamo(), config.JOBS_TABLE),
    artifacts: new ArtifactStore(clients.s3, config.ARTIFACTS_BUCKET),
    claimNames: { subject: config.PRINCIPAL_SUBJECT_CLAIM, orgs: config.PRINCIPAL_ORGS_CLAIM, roles: config.PRINCIPAL_ROLES_CLAIM },
    tasks: new SfnTaskResponder(clients.sfn),
    runnerTasks: new EcsRunnerTaskStopper(clients.ecs),
    responseUrl: new FetchResponseUrlPoster(),
    slackLinks: new SlackLinkRepository(clients.dynamo(), config.JOBS_TABLE),
    slackSigningSecret: config.SLACK_SIGNING_SECRET_ARN
      ? cachedSecret(base.secrets, config.SLACK_SIGNING_SECRET_ARN, base.clock)
      : () => Promise.reject(new Error('SLACK_SIGNING_SECRET_ARN is not set for this function')),
    ...(config.SLACK_BOT_TOKEN_SECRET_ARN
      ? { slack: new SlackWebApiPoster(cachedSecret(base.secrets, config.SLACK_BOT_TOKEN_SECRET_ARN, base.clock), config.SLACK_API_URL, API_SLACK_BUDGET) }
      : {}),
    ...(config.DRIFT_SCHEDULE_GROUP && config.DRIFT_SCHEDULER_ROLE_ARN && config.DRIFT_FAN_OUT_FUNCTION_ARN
      ? {
          driftSchedules: new EventBridgeDriftSchedules(clients.scheduler, {
            groupName: config.DRIFT_SCHEDULE_GROUP,
            roleArn: config.DRIFT_SCHEDULER_ROLE_ARN,
            functionArn: config.DRIFT_FAN_OUT_FUNCTION_ARN,
          }),
        }
      : {}),
  };
}
