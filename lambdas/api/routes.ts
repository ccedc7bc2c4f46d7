/** Every route the API serves, in one list: the router, the OpenAPI document and local mode all read it. */
import type { Route } from '../http/router';
import { approvalRoutes } from './approval-routes';
import { artifactRoutes } from './artifact-routes';
import { catalogRoutes } from './catalog-routes';
import type { ServiceContext } from './context';
import { jobRoutes } from './job-routes';
import { openapiRoutes } from './openapi-routes';
import { stateLockRoutes } from './state-lock-routes';

export function allRoutes(ctx: ServiceContext): Route[] {
  return [
    ...jobRoutes({ jobs: ctx.jobs, submission: ctx.submission, logger: ctx.logger, metrics: ctx.metrics }),
    ...artifactRoutes({ jobs: ctx.jobs, artifacts: ctx.artifacts, resources: ctx.resources, locks: ctx.locks }),
    ...stateLockRoutes({ jobs: ctx.jobs, locks: ctx.locks, stateLocks: ctx.stateLocks, publisher: ctx.publisher, clock: ctx.clock, logger: ctx.logger }),
    ...catalogRoutes({ catalog: ctx.catalog, clock: ctx.clock, deploymentId: () => ctx.config.DEPLOYMENT_ID }),
    ...approvalRoutes(ctx),
    ...openapiRoutes(),
  ];
}
