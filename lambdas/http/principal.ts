/** The caller as a principal {subject, orgs, roles}, read from the JWT authorizer's claims (claim names configurable). */
import type { Principal, Role } from '../domain/schemas';
import { roleSchema } from '../domain/schemas';
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
      return trimmed.slice(1, -1).split(/[\s,]+/).filter(Boolean);
    }
  }
  return trimmed.split(/[\s,]+/).filter(Boolean);
}

export function principalFromClaims(claims: Record<string, unknown> | undefined, names: ClaimNames): Principal {
  const subject = claims?.[names.subject];
  if (typeof subject !== 'string' || subject === '') throw new HttpError(401, 'Unauthorized', 'no authenticated principal');
  const roles = claimList(claims?.[names.roles]).filter((r): r is Role => roleSchema.safeParse(r).success);
  return { subject, orgs: claimList(claims?.[names.orgs]), roles };
}

const ROLE_GRANTS: Record<'read' | 'submit' | 'approve' | 'admin', Role[]> = {
  read: ['viewer', 'operator', 'approver', 'admin', 'platform-admin'],
  submit: ['operator', 'admin'],
  approve: ['approver'],
  admin: ['admin', 'platform-admin'],
};
export type Permission = keyof typeof ROLE_GRANTS;

export function isPlatformAdmin(p: Principal): boolean {
  return p.roles.includes('platform-admin');
}

/** Another org's things do not exist for this caller: 404, never 403, so nothing leaks about them. */
export function requireOrg(p: Principal, org: string, what: string): void {
  if (!p.orgs.includes(org) && !isPlatformAdmin(p)) throw new NotFoundError(`${what} not found`);
}

export function requirePermission(p: Principal, permission: Permission): void {
  if (!ROLE_GRANTS[permission].some((r) => p.roles.includes(r))) throw new ForbiddenError(`this needs one of the roles ${ROLE_GRANTS[permission].join(', ')}`);
}
