/**
 * Catalog management: create/replace, read, list and delete each catalog kind, org-scoped under
 * /v1/orgs/{org}/{kind} and platform-scoped under /v1/platform/{kind}. Secret material is never accepted
 * (the schemas are strict and hold references only) and so never returned.
 */
import { NotFoundError, ValidationError } from '../domain/errors';
import type { Clock } from '../domain/ids';
import { externalIdFor } from '../domain/external-id';
import { PLATFORM_OWNER } from '../domain/ports';
import { catalogSchemas, type CatalogKind, type Principal } from '../domain/schemas';
import type { CatalogRepository } from '../adapters/dynamodb/catalog-repository';
import { json } from '../http/problem';
import { requireAnyRole, requireOrg, requirePermission, requirePlatformAdmin } from '../http/principal';
import type { Route } from '../http/router';
import { parseOr400 } from './validate';

export interface CatalogRoutesDeps {
  catalog: CatalogRepository;
  clock: Clock;
  /** The deployment's id: provider credentials are shown with the ExternalId their role's trust policy must require. */
  deploymentId: () => string;
}

/** Kinds that exist at the platform level; credentials, backends and org settings are always an org's own. */
const PLATFORM_KINDS: CatalogKind[] = ['modules', 'flow-control-policies', 'runners'];

function kindOf(segment: string, platform: boolean): CatalogKind {
  const kind = segment as CatalogKind;
  if (!Object.hasOwn(catalogSchemas, kind) || (platform && !PLATFORM_KINDS.includes(kind)))
    throw new NotFoundError(`no catalog kind ${segment}${platform ? ' at the platform level' : ''}`);
  return kind;
}

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
  if (kind === 'flow-control-policies') {
    const selector = entity.selector as { level?: unknown; org?: unknown } | undefined;
    if (selector && typeof selector === 'object') {
      if (!org && selector.level !== 'platform') problems.push({ path: 'selector.level', message: 'platform policies have selector level "platform"' });
      if (org && (selector.level === 'platform' || selector.org !== org))
        problems.push({ path: 'selector', message: `an org policy selects within org ${org}` });
    }
  }
  if (problems.length > 0) throw new ValidationError('the entity does not match its path', problems);
  return entity;
}

export function catalogRoutes(deps: CatalogRoutesDeps): Route[] {
  const canRead = (p: Principal, org: string | undefined) => {
    if (!org) return requireAnyRole(p);
    requireOrg(p, org, `org ${org}`);
    requirePermission(p, 'read', org);
  };
  // An org's catalog needs admin in that org (platform-admin is no org admin); the platform's needs platform-admin.
  const canWrite = (p: Principal, org: string | undefined) => {
    if (!org) return requirePlatformAdmin(p);
    requireOrg(p, org, `org ${org}`);
    requirePermission(p, 'admin', org);
  };

  /** A provider credential is shown with the ExternalId Stack Jobs sends for its org (for the role's trust policy). */
  const shown = (kind: CatalogKind, entity: unknown) =>
    kind === 'provider-credentials' && entity && typeof entity === 'object'
      ? { ...(entity as Record<string, unknown>), externalId: externalIdFor(deps.deploymentId(), String((entity as { org?: unknown }).org)) }
      : entity;

  const routes = (prefix: string, platform: boolean): Route[] => {
    const ownerOf = (params: Record<string, string>) => (platform ? PLATFORM_OWNER : params.org);
    const orgOf = (params: Record<string, string>) => (platform ? undefined : params.org);
    return [
      {
        method: 'GET',
        path: `${prefix}/{kind}`,
        authenticated: true,
        async handle(req) {
          canRead(req.principal, orgOf(req.params));
          const kind = kindOf(req.params.kind, platform);
          return json(200, { items: (await deps.catalog.list(kind, ownerOf(req.params))).map((e) => shown(kind, e)) });
        },
      },
      {
        method: 'GET',
        path: `${prefix}/{kind}/{id}`,
        authenticated: true,
        async handle(req) {
          canRead(req.principal, orgOf(req.params));
          const kind = kindOf(req.params.kind, platform);
          const entity = await deps.catalog.get(kind, ownerOf(req.params), req.params.id);
          if (entity === undefined) throw new NotFoundError(`${kind} ${req.params.id} not found`);
          return json(200, shown(kind, entity));
        },
      },
      {
        method: 'PUT',
        path: `${prefix}/{kind}/{id}`,
        authenticated: true,
        async handle(req) {
          canWrite(req.principal, orgOf(req.params));
          const kind = kindOf(req.params.kind, platform);
          const body = withPathIdentity(kind, req.body, req.params.id, orgOf(req.params));
          const entity = parseOr400(catalogSchemas[kind], body, kind);
          const replaced = await deps.catalog.put(kind, ownerOf(req.params), req.params.id, entity, req.principal.subject, deps.clock.now());
          return json(replaced ? 200 : 201, shown(kind, entity));
        },
      },
      {
        method: 'DELETE',
        path: `${prefix}/{kind}/{id}`,
        authenticated: true,
        async handle(req) {
          canWrite(req.principal, orgOf(req.params));
          const kind = kindOf(req.params.kind, platform);
          if (!(await deps.catalog.delete(kind, ownerOf(req.params), req.params.id))) throw new NotFoundError(`${kind} ${req.params.id} not found`);
          return { statusCode: 204 };
        },
      },
    ];
  };
  return [...routes('/v1/orgs/{org}', false), ...routes('/v1/platform', true)];
}
