/** Lambda entry for the HTTP API (API Gateway HTTP API, payload v2). Thin: build once, dispatch per request. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createApi } from '../api/api-app';
import { serviceContextFromEnv } from '../api/context';
import { lazy } from '../shared/lazy';
import { allRoutes } from '../api/routes';

const api = lazy(() => {
  const ctx = serviceContextFromEnv('stackjobs-api');
  return createApi({ routes: allRoutes(ctx), claimNames: ctx.claimNames, logger: ctx.logger, metrics: ctx.metrics });
});

export const handler = (event: APIGatewayProxyEventV2) => api()(event);
