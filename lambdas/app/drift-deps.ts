/**
 * Builds the drift Lambdas' dependencies once per process from the environment the CDK code sets
 * (infra/constructs/drift.ts): the fan-out that runs a drift schedule, and the subscriber to `Stack Drift Detected`.
 * Both submit jobs, so both are built on the submission's context (app/submission-context.ts).
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import * as z from '../shared/zod';
import * as clients from '../adapters/aws/clients';
import { cachedSecret } from '../adapters/aws/secrets';
import { ResourceStatusRepository } from '../adapters/dynamodb/resource-status-repository';
import { SlackWebApiPoster } from '../approvals/adapters/slack-web-api';
import { DRIFT_METRICS_SERVICE, PowertoolsDriftMetrics, type DriftDetectedDeps } from '../events/drift-detected';
import { readConfig } from '../shared/config';
import { METRICS_NAMESPACE } from '../workflow/metrics';
import { startDriftCheck } from './drift-check';
import type { DriftScheduleDeps } from './drift-schedule';
import { submissionConfigSchema, submissionContextFromEnv } from './submission-context';

/** The fan-out reads the submission's configuration only (README, Configuration: "intake"). */
export function driftFanOutDepsFromEnv(env: NodeJS.ProcessEnv = process.env): DriftScheduleDeps & { flush(): void } {
  const ctx = submissionContextFromEnv('stackjobs-drift-fan-out', env);
  const resources = new ResourceStatusRepository(clients.dynamo(), readConfig(submissionConfigSchema, env).JOBS_TABLE);
  return {
    catalog: ctx.catalog,
    resources,
    startCheck: (target, options) => startDriftCheck({ resources, jobs: ctx.jobs, submission: ctx.submission }, target, options),
    openJobs: (stackKey) => ctx.jobs.listOpenInStack(stackKey),
    log: ctx.logger,
    // Pre-flight failures are not counted here (the API's and the intake's counts are per request).
    flush: () => {
      if (ctx.metrics.hasStoredMetrics()) ctx.metrics.publishStoredMetrics();
    },
  };
}

export const driftDetectedConfigSchema = submissionConfigSchema.extend({
  /** The Slack bot token, to post the drift notice in the environment's approval channel. */
  SLACK_BOT_TOKEN_SECRET_ARN: z.string().min(1),
  /** Overrides https://slack.com/api/ (local mode and tests only). */
  SLACK_API_URL: z.url().optional(),
});

export function driftDetectedDepsFromEnv(env: NodeJS.ProcessEnv = process.env): DriftDetectedDeps {
  const config = readConfig(driftDetectedConfigSchema, env);
  const ctx = submissionContextFromEnv('stackjobs-drift-detected', env);
  return {
    jobs: ctx.jobs,
    submission: ctx.submission,
    catalog: ctx.catalog,
    slack: new SlackWebApiPoster(cachedSecret(ctx.secrets, config.SLACK_BOT_TOKEN_SECRET_ARN, ctx.clock), config.SLACK_API_URL),
    log: ctx.logger,
    metrics: new PowertoolsDriftMetrics(new Metrics({ namespace: METRICS_NAMESPACE, serviceName: DRIFT_METRICS_SERVICE })),
  };
}
