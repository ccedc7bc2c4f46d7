/** The caller as a principal {subject, orgs, roles}, read from the JWT authorizer's claims (claim names configurable). */
import type { Principal, Role } from '../domain/schemas';
import { isReservedOrg, roleSchema } from '../domain/schemas';
import { ForbiddenError, NotFoundError } from '../domain/errors';
import { HttpError } from './problem';

export interface ClaimNames {
  subject: string;
  orgs: string;
  roles: string;
}

/** API Gateway HTTP APIs hand array claims over as "[a b c]"; a token may also carry JSON arrays or comma lists. */
export function claimList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string') return [];
  const trimmed = value.trim();
  if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      return trimmed
        .slice(1, -1)
        .split(/[\s,]+/)
        .filter(Boolean);
    }
  }
  return trimmed.split(/[\s,]+/).filter(Boolean);
}

/**
 * The principal from the authorizer's claims. A roles entry `org:role` grants the role in that org only (and makes the
 * principal a member of it); a bare `role` is the single-org form (see rolesIn). Unknown roles are dropped.
 */
export function principalFromClaims(claims: Record<string, unknown> | undefined, names: ClaimNames): Principal {
  const subject = claims?.[names.subject];
  if (typeof subject !== 'string' || subject === '') throw new HttpError(401, 'Unauthorized', 'no authenticated principal');
  // The platform's secret owner is never an org (schemas.ts, isReservedOrg): a claim naming it makes no member.
  const orgs = new Set(claimList(claims?.[names.orgs]).filter((org) => !isReservedOrg(org)));
  const roles: Role[] = [];
  const orgRoles: Record<string, Role[]> = {};
  for (const entry of claimList(claims?.[names.roles])) {
    const at = entry.lastIndexOf(':');
    const [org, role] = at > 0 ? [entry.slice(0, at), entry.slice(at + 1)] : [undefined, entry];
    if (!roleSchema.safeParse(role).success) continue;
    if (org === undefined) roles.push(role as Role);
    else if (role !== 'platform-admin' && !isReservedOrg(org)) {
      orgs.add(org);
      (orgRoles[org] ??= []).push(role as Role);
    }
  }
  return { subject, orgs: [...orgs], roles, ...(Object.keys(orgRoles).length > 0 ? { orgRoles } : {}) };
}

/** What a role in an org may let a caller do there, from least to most. */
export const PERMISSIONS = ['read', 'submit', 'approve', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** What each permission needs in the org concerned; platform-admin grants none of them (it governs the platform catalog). */
export const ROLE_GRANTS: Record<Permission, Role[]> = {
  read: ['viewer', 'operator', 'approver', 'admin'],
  submit: ['operator', 'admin'],
  approve: ['approver'],
  admin: ['admin'],
};

export function isPlatformAdmin(p: Principal): boolean {
  return p.roles.includes('platform-admin');
}

/**
 * The principal's roles in `org`: its org-scoped roles there; or, for a member of exactly one org, its unscoped roles
 * (the single-org form, unambiguous); otherwise none. Never platform-admin.
 */
export function rolesIn(p: Principal, org: string): Role[] {
  if (!p.orgs.includes(org)) return [];
  const scoped = p.orgRoles?.[org];
  if (scoped) return scoped;
  return p.orgs.length === 1 ? p.roles.filter((r) => r !== 'platform-admin') : [];
}

/** Another org's things do not exist for this caller: 404, never 403, so nothing leaks about them. Platform admins too. */
export function requireOrg(p: Principal, org: string, what: string): void {
  if (!p.orgs.includes(org)) throw new NotFoundError(`${what} not found`);
}

/** Whether the principal's roles in `org` grant `permission` there: the one rule every org-role route is held to. */
export function hasPermission(p: Principal, permission: Permission, org: string): boolean {
  const held = rolesIn(p, org);
  return ROLE_GRANTS[permission].some((r) => held.includes(r));
}

/** What GET /v1/me answers: the caller, and org by org their roles and what those let them do there. */
export interface CallerAccess {
  subject: string;
  platformAdmin: boolean;
  orgs: Array<{ org: string; roles: OrgRole[]; permissions: Permission[] }>;
}

/** A role held in an org; platform-admin is never one (it governs the platform catalog only). */
export type OrgRole = Exclude<Role, 'platform-admin'>;
const isOrgRole = (r: Role): r is OrgRole => r !== 'platform-admin';

/** The caller's access by the same rules the router enforces (rolesIn, ROLE_GRANTS), for a client to offer only what it may do. */
export function callerAccess(p: Principal): CallerAccess {
  return {
    subject: p.subject,
    platformAdmin: isPlatformAdmin(p),
    orgs: p.orgs.map((org) => ({
      org,
      roles: [...new Set(rolesIn(p, org))].filter(isOrgRole),
      permissions: PERMISSIONS.filter((permission) => hasPermission(p, permission, org)),
    })),
  };
}

/** A 403 that names the roles that would do, in which org, and what the caller has there. */
export function requirePermission(p: Principal, permission: Permission, org: string): void {
  if (hasPermission(p, permission, org)) return;
  const held = rolesIn(p, org);
  const ambiguous =
    held.length === 0 && p.orgs.length > 1 && p.roles.some((r) => r !== 'platform-admin')
      ? ` (roles without an org count only for a member of one org: grant them as ${org}:<role>)`
      : '';
  throw new ForbiddenError(
    `this needs the role ${ROLE_GRANTS[permission].join(' or ')} in org ${org}; you have ${held.length ? held.join(', ') : 'none'} there${ambiguous}`,
  );
}

/** Reading the platform catalog: any role in any org, or platform-admin. */
export function requireAnyRole(p: Principal): void {
  if (isPlatformAdmin(p) || p.orgs.some((o) => rolesIn(p, o).length > 0)) return;
  throw new ForbiddenError('this needs a role in an org (viewer or above) or platform-admin');
}

/** Writing the platform catalog (modules, policies, runners every org uses). */
export function requirePlatformAdmin(p: Principal): void {
  if (!isPlatformAdmin(p)) throw new ForbiddenError('writing the platform catalog needs the role platform-admin');
}
