/**
 * Catalog management: create/replace, read, list and delete each catalog kind, org-scoped under
 * /v1/orgs/{org}/{kind} and platform-scoped under /v1/platform/{kind}. Secret material is never accepted
 * (the schemas are strict and hold references only) and so never returned.
 */
import { NotFoundError, ValidationError } from '../domain/errors';
import type { Clock } from '../domain/ids';
import { externalIdFor } from '../domain/external-id';
import { PLATFORM_OWNER, type DriftScheduleSync } from '../domain/ports';
import { catalogKinds, catalogSchemas, type CatalogKind, type DriftSchedule } from '../domain/schemas';
import type { CatalogRepository } from '../adapters/dynamodb/catalog-repository';
import { json } from '../http/problem';
import type { Access, Route } from '../http/router';
import { componentExamples } from './openapi-examples';
import { catalogListSchemas } from './response-schemas';
import { parseOr400 } from './validate';

export interface CatalogRoutesDeps {
  catalog: CatalogRepository;
  clock: Clock;
  /** The deployment's id: provider credentials are shown with the ExternalId their role's trust policy must require. */
  deploymentId: () => string;
  /**
   * What runs drift schedules (EventBridge Scheduler on AWS), told after each drift-schedule write; absent where
   * nothing needs telling (local mode's scheduler reads the catalog itself, and tests).
   */
  driftSchedules?: DriftScheduleSync;
}

/** Component names, and the levels each catalog kind exists at: credentials, backends and org settings are always an org's own. */
export const CATALOG: Record<CatalogKind, { entity: string; plural: string; one: string; platform: boolean }> = {
  'provider-credentials': { entity: 'ProviderCredential', plural: 'ProviderCredentials', one: 'provider credential', platform: false },
  'backend-credentials': { entity: 'BackendCredential', plural: 'BackendCredentials', one: 'backend credential', platform: false },
  modules: { entity: 'IacModule', plural: 'IacModules', one: 'IaC module', platform: true },
  'org-settings': { entity: 'OrgSettings', plural: 'OrgSettingsList', one: 'org settings', platform: false },
  'flow-control-policies': { entity: 'FlowControlPolicy', plural: 'FlowControlPolicies', one: 'flow control policy', platform: true },
  runners: { entity: 'Runner', plural: 'Runners', one: 'runner', platform: true },
  'drift-schedules': { entity: 'DriftSchedule', plural: 'DriftSchedules', one: 'drift schedule', platform: false },
  'plan-policies': { entity: 'PlanPolicy', plural: 'PlanPolicies', one: 'plan policy', platform: true },
};

/** The catalog kinds served under /v1/platform. */
export const PLATFORM_CATALOG_KINDS = catalogKinds.filter((k) => CATALOG[k].platform);

/** Fields the PUT handler fills from the path (id or org, scope, org): a body may leave them out, and if it gives them they must match. */
export function pathFilledFields(kind: CatalogKind, platform: boolean): string[] {
  const fields = [idField(kind)];
  if (kind === 'modules' || kind === 'runners') fields.push('scope');
  if (!platform && kind !== 'flow-control-policies' && kind !== 'org-settings') fields.push('org');
  return fields;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const camel = (kebab: string) => kebab.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** The identifying field of an entity: org settings are identified by their org. */
const idField = (kind: CatalogKind) => (kind === 'org-settings' ? 'org' : 'id');

/** Fills identity from the path, and refuses a body that contradicts it or its scope. */
function withPathIdentity(kind: CatalogKind, body: unknown, id: string, org: string | undefined): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const entity: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  const problems: { path: string; message: string }[] = [];
  const expect = (field: string, value: unknown) => {
    if (entity[field] === undefined) entity[field] = value;
    else if (entity[field] !== value) problems.push({ path: field, message: `must be ${JSON.stringify(value)} (from the path)` });
  };
  expect(idField(kind), id);
  if (kind === 'modules' || kind === 'runners') expect('scope', org ? 'org' : 'platform');
  if (org && kind !== 'flow-control-policies') expect('org', org);
  if (kind === 'flow-control-policies' || kind === 'plan-policies') {
    const selector = entity.selector as { level?: unknown; org?: unknown } | undefined;
    if (selector && typeof selector === 'object') {
      if (!org && selector.level !== 'platform') problems.push({ path: 'selector.level', message: 'platform policies have selector level "platform"' });
      if (org && (selector.level === 'platform' || selector.org !== org))
        problems.push({ path: 'selector', message: `an org policy selects within org ${org}` });
    }
  }
  if (kind === 'drift-schedules' && org) {
    const selector = entity.selector as { org?: unknown } | undefined;
    if (selector && typeof selector === 'object' && selector.org !== org)
      problems.push({ path: 'selector.org', message: `must be ${JSON.stringify(org)} (from the path)` });
  }
  if (problems.length > 0) throw new ValidationError('the entity does not match its path', problems);
  return entity;
}

export function catalogRoutes(deps: CatalogRoutesDeps): Route[] {
  /** A provider credential is shown with the ExternalId Stack Jobs sends for its org (for the role's trust policy). */
  const shown = (kind: CatalogKind, entity: unknown) =>
    kind === 'provider-credentials' && entity && typeof entity === 'object'
      ? { ...(entity as Record<string, unknown>), externalId: externalIdFor(deps.deploymentId(), String((entity as { org?: unknown }).org)) }
      : entity;

  /** One kind's four routes at one level: an org's catalog needs admin in that org to write (platform-admin is no org admin), the platform's platform-admin. */
  const routes = (kind: CatalogKind, platform: boolean): Route[] => {
    const prefix = platform ? '/v1/platform' : '/v1/orgs/{org}';
    const ownerOf = (params: Record<string, string>) => (platform ? PLATFORM_OWNER : params.org);
    const orgOf = (params: Record<string, string>) => (platform ? undefined : params.org);
    const read: Access = platform ? { kind: 'any-role' } : { kind: 'org-role', permission: 'read', org: 'path' };
    const write: Access = platform ? { kind: 'platform-admin' } : { kind: 'org-role', permission: 'admin', org: 'path' };
    const { entity, one } = CATALOG[kind];
    const noun = kind.replace(/-/g, ' ');
    const schema = catalogSchemas[kind];
    const params = { id: { description: kind === 'org-settings' ? 'the org the settings belong to' : `${one} id`, schema: { type: 'string' } } };
    // The module example is a platform module: under an org path it would contradict its scope.
    const example = entity in componentExamples && (kind !== 'modules' || platform) ? { example: entity } : {};
    const scope = platform ? 'Platform' : '';
    const opId = (verb: string, what: string) => `${verb}${scope}${cap(camel(what))}`;
    const item = `${prefix}/${kind}/{id}`;
    return [
      {
        method: 'GET',
        path: `${prefix}/${kind}`,
        access: read,
        doc: {
          operationId: opId('list', kind),
          summary: `List the ${platform ? 'platform' : "org's"} ${noun}`,
          tag: 'catalog',
          success: { 200: { description: `every ${noun} entry`, schema: catalogListSchemas[kind] } },
          errors: [400, 401, 403, 404, 500],
        },
        async handle(req) {
          return json(200, { items: (await deps.catalog.list(kind, ownerOf(req.params))).map((e) => shown(kind, e)) });
        },
      },
      {
        method: 'GET',
        path: item,
        access: read,
        doc: {
          operationId: opId('get', entity),
          summary: `Read one ${platform ? 'platform ' : ''}${one}`,
          tag: 'catalog',
          params,
          success: { 200: { description: `the ${one}`, schema } },
          errors: [400, 401, 403, 404, 500],
        },
        async handle(req) {
          const found = await deps.catalog.get(kind, ownerOf(req.params), req.params.id);
          if (found === undefined) throw new NotFoundError(`${kind} ${req.params.id} not found`);
          return json(200, shown(kind, found));
        },
      },
      {
        method: 'PUT',
        path: item,
        access: write,
        doc: {
          operationId: opId('put', entity),
          summary: `Create or replace one ${platform ? 'platform ' : ''}${one}`,
          description:
            `Fields the path determines (${pathFilledFields(kind, platform).join(', ')}) may be left out; if given they must match the path. ` +
            'References to secrets only: any field not in the schema, such as secret material, is a 400.' +
            (kind === 'drift-schedules'
              ? ' On AWS the EventBridge Scheduler schedule that runs it is created or updated right after the write (DELETE deletes it); a 500 then means Scheduler failed: retry the request.'
              : ''),
          tag: 'catalog',
          params,
          body: { schema, ...example },
          success: { 200: { description: 'replaced', schema }, 201: { description: 'created', schema } },
          errors: [400, 401, 403, 404, 413, 500],
        },
        async handle(req) {
          const body = withPathIdentity(kind, req.body, req.params.id, orgOf(req.params));
          const parsed = parseOr400(schema, body, kind);
          const replaced = await deps.catalog.put(kind, ownerOf(req.params), req.params.id, parsed, req.principal.subject, deps.clock.now());
          // After the write: a failure here is a 500, and the retried PUT (a replace) creates or updates the schedule.
          if (kind === 'drift-schedules' && deps.driftSchedules) await deps.driftSchedules.put(req.params.org, parsed as DriftSchedule, replaced);
          return json(replaced ? 200 : 201, shown(kind, parsed));
        },
      },
      {
        method: 'DELETE',
        path: item,
        access: write,
        doc: {
          operationId: opId('delete', entity),
          summary: `Delete one ${platform ? 'platform ' : ''}${one}`,
          tag: 'catalog',
          params,
          success: { 204: { description: 'deleted' } },
          errors: [400, 401, 403, 404, 500],
        },
        async handle(req) {
          const deleted = await deps.catalog.delete(kind, ownerOf(req.params), req.params.id);
          // Even when the entry was gone: a DELETE whose Scheduler call failed after the catalog write is retried to a 404.
          if (kind === 'drift-schedules' && deps.driftSchedules) await deps.driftSchedules.delete(req.params.org, req.params.id);
          if (!deleted) throw new NotFoundError(`${kind} ${req.params.id} not found`);
          return { statusCode: 204 };
        },
      },
    ];
  };
  return [...catalogKinds.flatMap((kind) => routes(kind, false)), ...PLATFORM_CATALOG_KINDS.flatMap((kind) => routes(kind, true))];
}
