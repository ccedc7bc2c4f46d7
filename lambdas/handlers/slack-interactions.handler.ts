/** Lambda entry for POST /v1/slack/interactions (API Gateway, no JWT authorizer: Slack signs its requests). */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createApi } from '../api/api-app';
import { slackInteractionsRoute } from '../api/approval-routes';
import { lazy } from '../shared/lazy';
import { PowertoolsApprovalMetrics } from '../approvals/adapters/metrics';
import { slackInteractionDepsFromEnv } from '../approvals/deps';

const api = lazy(() => {
  const d = slackInteractionDepsFromEnv();
  const route = slackInteractionsRoute(() => ({
    ...d,
    slackLinks: d.links,
    events: d.decisions.events,
    tasks: d.decisions.tasks,
    metrics: new PowertoolsApprovalMetrics(d.metrics),
  }));
  return createApi({ routes: [route], claimNames: { subject: 'sub', orgs: 'custom:orgs', roles: 'custom:roles' }, logger: d.logger, metrics: d.metrics });
});

export const handler = (event: APIGatewayProxyEventV2) => api()(event);
