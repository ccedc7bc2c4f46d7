/** The HTTP API: all routes behind one Lambda, composed from the route modules, with errors mapped once. */
import type { APIGatewayProxyEventV2, APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { errorResponse } from '../http/problem';
import { principalFromClaims, type ClaimNames } from '../http/principal';
import { Router, type Route } from '../http/router';

export interface ApiAppDeps {
  routes: Route[];
  claimNames: ClaimNames;
  logger: Logger;
  metrics: Metrics;
}

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export function createApi(deps: ApiAppDeps): ApiHandler & { router: Router } {
  const router = new Router(deps.routes);
  const authenticate = (event: APIGatewayProxyEventV2) =>
    principalFromClaims((event as APIGatewayProxyEventV2WithJWTAuthorizer).requestContext.authorizer?.jwt?.claims, deps.claimNames);

  const handler = async (event: APIGatewayProxyEventV2) => {
    deps.logger.resetKeys();
    deps.logger.appendKeys({ requestId: event.requestContext.requestId, route: `${event.requestContext.http.method} ${event.rawPath}` });
    try {
      return await router.dispatch(event, authenticate);
    } catch (error) {
      const { response, unexpected } = errorResponse(error);
      // Only the error's class and message are logged: request bodies may carry user data, never secrets, but we don't echo them.
      if (unexpected) deps.logger.error('request failed', { error: { name: (error as Error).name, message: (error as Error).message } });
      return response;
    } finally {
      if (deps.metrics.hasStoredMetrics()) deps.metrics.publishStoredMetrics();
    }
  };
  return Object.assign(handler, { router });
}
