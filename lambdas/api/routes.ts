/** Every route the API serves, in one list: the router, the OpenAPI document and local mode all read it. */
import type { Route } from '../http/router';
import { approvalRoutes } from './approval-routes';
import { artifactRoutes } from './artifact-routes';
import { catalogRoutes } from './catalog-routes';
import type { ServiceContext } from './context';
import { driftRoutes } from './drift-routes';
import { jobRoutes } from './job-routes';
import { meRoutes } from './me-routes';
import { renderOpenApiDocument } from './openapi';
import { openapiRoute } from './openapi-routes';
import { policyRoutes } from './policy-routes';
import { stateLockRoutes } from './state-lock-routes';

export function allRoutes(ctx: ServiceContext): Route[] {
  const routes: Route[] = [
    ...jobRoutes({ jobs: ctx.jobs, submission: ctx.submission, logger: ctx.logger, metrics: ctx.metrics }),
    ...artifactRoutes({ jobs: ctx.jobs, artifacts: ctx.artifacts, resources: ctx.resources, locks: ctx.locks }),
    ...stateLockRoutes({ jobs: ctx.jobs, locks: ctx.locks, stateLocks: ctx.stateLocks, publisher: ctx.publisher, clock: ctx.clock, logger: ctx.logger }),
    ...catalogRoutes({ catalog: ctx.catalog, clock: ctx.clock, deploymentId: () => ctx.config.DEPLOYMENT_ID, driftSchedules: ctx.driftSchedules }),
    ...approvalRoutes(ctx),
    ...policyRoutes({ catalog: ctx.catalog }),
    ...driftRoutes({ resources: ctx.resources, jobs: ctx.jobs, submission: ctx.submission, logger: ctx.logger, metrics: ctx.metrics }),
    ...meRoutes(),
  ];
  routes.push(openapiRoute(() => routes));
  return routes;
}

/**
 * The route definitions alone, for the document: every route reads its dependencies only when a request arrives, so
 * the table can be built from a context that has none.
 */
export function routeDefinitions(): Route[] {
  return allRoutes(new Proxy({}, { get: () => undefined }) as ServiceContext);
}

/** What `npm run openapi` writes to docs/openapi.json. */
export const openApiDocumentText = (): string => renderOpenApiDocument(routeDefinitions());
