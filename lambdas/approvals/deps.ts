/**
 * Builds the approvals work's dependencies once per process from the environment the CDK code sets
 * (infra/constructs/approvals.ts), for the approval task's Lambda, the Slack interactions Lambda and the Lambda that
 * closes the message of an expired approval.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import * as z from '../shared/zod';
import * as clients from '../adapters/aws/clients';
import { EventBridgePublisher } from '../adapters/aws/event-publisher';
import { cachedSecret, SecretsManagerSource } from '../adapters/aws/secrets';
import { CatalogRepository } from '../adapters/dynamodb/catalog-repository';
import { SlackLinkRepository } from '../adapters/dynamodb/slack-link-repository';
import { ApprovalItemRepository } from '../adapters/dynamodb/approval-item-repository';
import { JobRepository } from '../adapters/dynamodb/job-repository';
import { systemClock } from '../domain/ids';
import { readConfig } from '../shared/config';
import { METRICS_NAMESPACE } from '../workflow/metrics';
import { presignedApprovalLinks } from './adapters/approval-links';
import { PowertoolsApprovalMetrics } from './adapters/metrics';
import { FetchResponseUrlPoster } from './adapters/response-url';
import { SfnTaskResponder } from './adapters/sfn-task-responder';
import { SlackWebApiPoster } from './adapters/slack-web-api';
import type { ExpiredNoticeDeps } from './expired';
import type { ApprovalNotifier } from './request';
import type { SlackInteractionDeps } from './slack-interactions';

export const requestApprovalConfigSchema = z.object({
  CATALOG_TABLE: z.string().min(1),
  ARTIFACTS_BUCKET: z.string().min(1),
  SLACK_BOT_TOKEN_SECRET_ARN: z.string().min(1),
  /** Overrides https://slack.com/api/ (local mode and tests only). */
  SLACK_API_URL: z.url().optional(),
});

export function approvalNotifierFromEnv(env: NodeJS.ProcessEnv = process.env): ApprovalNotifier {
  const config = readConfig(requestApprovalConfigSchema, env);
  const secrets = new SecretsManagerSource(clients.secrets);
  return {
    catalog: new CatalogRepository(clients.dynamo(), config.CATALOG_TABLE),
    slack: new SlackWebApiPoster(cachedSecret(secrets, config.SLACK_BOT_TOKEN_SECRET_ARN), config.SLACK_API_URL),
    links: (jobId) => presignedApprovalLinks(clients.s3, config.ARTIFACTS_BUCKET, jobId, systemClock),
    log: new Logger({ serviceName: 'stackjobs-request-approval' }),
    metrics: new PowertoolsApprovalMetrics(new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'approvals' })),
  };
}

export const slackInteractionsConfigSchema = z.object({
  JOBS_TABLE: z.string().min(1),
  CATALOG_TABLE: z.string().min(1),
  EVENT_BUS_NAME: z.string().min(1),
  SLACK_SIGNING_SECRET_ARN: z.string().min(1),
  /** The Slack workspace whose clicks count (stackjobs:slackTeamId); unset, Slack decides nothing. */
  SLACK_TEAM_ID: z.string().min(1).optional(),
});

export function slackInteractionDepsFromEnv(env: NodeJS.ProcessEnv = process.env): SlackInteractionDeps & { logger: Logger; metrics: Metrics } {
  const config = readConfig(slackInteractionsConfigSchema, env);
  const logger = new Logger({ serviceName: 'stackjobs-slack-interactions' });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'approvals' });
  return {
    signingSecret: cachedSecret(new SecretsManagerSource(clients.secrets), config.SLACK_SIGNING_SECRET_ARN),
    ...(config.SLACK_TEAM_ID ? { slackTeamId: config.SLACK_TEAM_ID } : {}),
    links: new SlackLinkRepository(clients.dynamo(), config.JOBS_TABLE),
    jobs: new JobRepository(clients.dynamo(), config.JOBS_TABLE),
    approvalItems: new ApprovalItemRepository(clients.dynamo(), config.JOBS_TABLE),
    catalog: new CatalogRepository(clients.dynamo(), config.CATALOG_TABLE),
    decisions: {
      tasks: new SfnTaskResponder(clients.sfn),
      events: new EventBridgePublisher(clients.events, config.EVENT_BUS_NAME),
      clock: systemClock,
      log: logger,
      metrics: new PowertoolsApprovalMetrics(metrics),
    },
    respond: new FetchResponseUrlPoster(),
    clock: systemClock,
    log: logger,
    logger,
    metrics,
  };
}

export const approvalExpiredConfigSchema = z.object({
  JOBS_TABLE: z.string().min(1),
  SLACK_BOT_TOKEN_SECRET_ARN: z.string().min(1),
  /** Overrides https://slack.com/api/ (local mode and tests only). */
  SLACK_API_URL: z.url().optional(),
});

/** For the Lambda that closes the Slack message of an expired approval (approvals/expired.ts). */
export function approvalExpiredDepsFromEnv(env: NodeJS.ProcessEnv = process.env): ExpiredNoticeDeps {
  const config = readConfig(approvalExpiredConfigSchema, env);
  return {
    jobs: new JobRepository(clients.dynamo(), config.JOBS_TABLE),
    approvalItems: new ApprovalItemRepository(clients.dynamo(), config.JOBS_TABLE),
    slack: new SlackWebApiPoster(cachedSecret(new SecretsManagerSource(clients.secrets), config.SLACK_BOT_TOKEN_SECRET_ARN), config.SLACK_API_URL),
    log: new Logger({ serviceName: 'stackjobs-approval-expired' }),
    metrics: new PowertoolsApprovalMetrics(new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'approvals' })),
  };
}
