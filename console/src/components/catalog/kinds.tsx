/**
 * The catalog kinds as the console shows them: where each lives (an org's, or the platform's), the columns that say what
 * an entry is at a glance, and a starting definition for a new one. Credentials show their secret *reference* only:
 * the API holds no secret material, and nothing here asks for any.
 */
import type { ReactNode } from 'react';
import type { Api, Schemas } from '../../api/client';
import { conditional } from '../../api/poll';

/** Kinds every org has (GET /v1/orgs/{org}/<kind>). */
export const ORG_KINDS = [
  'provider-credentials',
  'backend-credentials',
  'modules',
  'org-settings',
  'flow-control-policies',
  'runners',
  'drift-schedules',
  'plan-policies',
] as const;
/** Kinds the platform also has (GET /v1/platform/<kind>), readable by anyone with a role. */
export const PLATFORM_KINDS = ['modules', 'flow-control-policies', 'runners', 'plan-policies'] as const;

export type Kind = (typeof ORG_KINDS)[number];
type PlatformKind = (typeof PLATFORM_KINDS)[number];
export type Scope = 'org' | 'platform';

/** One kind at one level: what a tab shows. */
export interface Shelf {
  scope: Scope;
  kind: Kind;
}

interface Entries {
  'provider-credentials': Schemas['ProviderCredential'];
  'backend-credentials': Schemas['BackendCredential'];
  modules: Schemas['IacModule'];
  'org-settings': Schemas['OrgSettings'];
  'flow-control-policies': Schemas['FlowControlPolicy'];
  runners: Schemas['Runner'];
  'drift-schedules': Schemas['DriftSchedule'];
  'plan-policies': Schemas['PlanPolicy'];
}
export type Entry = Entries[Kind];

interface Column<E> {
  header: string;
  cell(entry: E): ReactNode;
}

interface KindView<E> {
  /** Plural, for the tab and heading. */
  title: string;
  /** Singular, for buttons ("Create IaC module"). */
  one: string;
  idOf(entry: E): string;
  columns: Column<E>[];
  /** A new entry's starting definition; the path fills id, org and scope. */
  template(org: string, scope: Scope): object;
  /** Fields the API shows but derives itself and refuses on input: left out of an edited definition. */
  derived?: string[];
}

type Selector = Schemas['FlowControlPolicy']['selector'] | Schemas['DriftSchedule']['selector'];

function selectorText(s: Selector): string {
  switch (s.level) {
    case 'resource':
      return `resource ${s.org}/${s.env}/${s.resourceId}`;
    case 'environment':
      return `environment ${s.org}/${s.env}`;
    case 'organization':
      return `organization ${s.org}`;
    default:
      return 'platform';
  }
}

const yesNo = (b: boolean | undefined) => (b ? 'yes' : 'no');
const list = (xs: string[] | undefined) => (xs && xs.length > 0 ? xs.join(', ') : '—');
const orgSelector = (org: string, scope: Scope) => (scope === 'platform' ? { level: 'platform' } : { level: 'organization', org });

const VIEWS: { [K in Kind]: KindView<Entries[K]> } = {
  'provider-credentials': {
    title: 'Provider credentials',
    one: 'provider credential',
    idOf: (e) => e.id,
    columns: [
      { header: 'Provider', cell: (e) => e.provider },
      { header: 'Kind', cell: (e) => e.kind },
      { header: 'Environments', cell: (e) => list(e.environments) },
      { header: 'Secret or role', cell: (e) => <code>{e.secretRef ?? e.roleArn ?? '—'}</code> },
      { header: 'Expires', cell: (e) => e.expiresAt ?? '—' },
    ],
    template: (org) => ({
      provider: 'aws',
      kind: 'aws_credential',
      environments: ['production'],
      permissions: [],
      secretRef: `stackjobs/${org}/aws-credential`,
    }),
    derived: ['externalId'],
  },
  'backend-credentials': {
    title: 'Backend credentials',
    one: 'backend credential',
    idOf: (e) => e.id,
    columns: [
      { header: 'Provisioner', cell: (e) => e.provisioner },
      { header: 'Type', cell: (e) => e.type },
      { header: 'Where', cell: (e) => <code>{e.type === 'local' ? (e.config.path ?? '—') : `s3://${e.config.bucket ?? '?'}/${e.config.keyPrefix}`}</code> },
      { header: 'Region', cell: (e) => e.config.region ?? '—' },
    ],
    template: () => ({
      provisioner: 'terraform',
      kind: 'terraform_backend_credential',
      type: 's3',
      config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs' },
    }),
  },
  modules: {
    title: 'Modules',
    one: 'IaC module',
    idOf: (e) => e.id,
    columns: [
      { header: 'Resource kind', cell: (e) => e.resourceKind },
      { header: 'Provisioner', cell: (e) => e.provisioner },
      { header: 'Provider', cell: (e) => e.provider ?? '—' },
      {
        header: 'Source',
        cell: (e) => (
          <code>
            {e.gitRepo}@{e.branch}
            {e.path && e.path !== '.' ? `//${e.path}` : ''}
          </code>
        ),
      },
      { header: 'Default', cell: (e) => yesNo(e.isDefault) },
    ],
    template: () => ({
      resourceKind: 'aws_eks_cluster',
      provisioner: 'terraform',
      provider: 'aws',
      gitRepo: 'https://github.com/acmecorp/aws-eks',
      branch: 'main',
      path: 'terraform',
      permissions: [],
      isDefault: false,
    }),
  },
  'org-settings': {
    title: 'Org settings',
    one: 'org settings',
    idOf: (e) => e.org,
    columns: [
      { header: 'Preferred provisioner', cell: (e) => e.preferredProvisioner ?? '—' },
      { header: 'Live credential validation', cell: (e) => yesNo(e.requireLiveCredentialValidation) },
      { header: 'Approval channels', cell: (e) => list(Object.entries(e.approvalChannels).map(([env, channel]) => `${env}: ${channel}`)) },
    ],
    template: () => ({ preferredProvisioner: 'terraform', requireLiveCredentialValidation: false, approvalChannels: {} }),
  },
  'flow-control-policies': {
    title: 'Flow control policies',
    one: 'flow control policy',
    idOf: (e) => e.id,
    columns: [
      { header: 'Selector', cell: (e) => selectorText(e.selector) },
      { header: 'Preview, then pause', cell: (e) => `${yesNo(e.previewBeforeUpdate)}, ${yesNo(e.pauseBetweenPreviewAndUpdate)}` },
      { header: 'Approvers', cell: (e) => list(e.approvers.map((a) => a.subject)) },
      { header: 'Approval timeout', cell: (e) => `${e.approvalTimeoutMinutes} min` },
    ],
    template: (org, scope) => ({
      selector: orgSelector(org, scope),
      previewBeforeUpdate: true,
      pauseBetweenPreviewAndUpdate: true,
      skipRefresh: false,
      approvers: [],
      requireDistinctApprover: true,
      approvalTimeoutMinutes: 1440,
    }),
  },
  runners: {
    title: 'Runners',
    one: 'runner',
    idOf: (e) => e.id,
    columns: [
      { header: 'Cluster', cell: (e) => e.cluster ?? '—' },
      { header: 'Task definition', cell: (e) => (e.taskDefinition ? <code>{e.taskDefinition}</code> : '—') },
      { header: 'Endpoint', cell: (e) => e.endpoint ?? '—' },
      { header: 'Default', cell: (e) => yesNo(e.isDefault) },
    ],
    template: () => ({ cluster: 'stackjobs-runners', taskDefinition: 'stackjobs-runner', subnets: [], securityGroups: [], isDefault: false }),
  },
  'drift-schedules': {
    title: 'Drift schedules',
    one: 'drift schedule',
    idOf: (e) => e.id,
    columns: [
      { header: 'Selector', cell: (e) => selectorText(e.selector) },
      { header: 'Schedule', cell: (e) => <code>{e.schedule}</code> },
      { header: 'Remediate', cell: (e) => e.remediate },
    ],
    template: (org) => ({ selector: { level: 'environment', org, env: 'production' }, schedule: 'rate(1 day)', remediate: 'none' }),
  },
  'plan-policies': {
    title: 'Plan policies',
    one: 'plan policy',
    idOf: (e) => e.id,
    columns: [
      { header: 'Selector', cell: (e) => selectorText(e.selector) },
      { header: 'Rules', cell: (e) => list(e.rules.map((r) => `${r.name} (${r.effect.replace(/_/g, ' ')})`)) },
    ],
    template: (org, scope) => ({
      selector: orgSelector(org, scope),
      rules: [
        {
          name: 'no-deletes',
          effect: 'deny',
          expression: "plan.resources.exists(r, 'delete' in r.actions)",
          message: 'Deleting production resources goes through a change ticket, not a stack job',
        },
      ],
    }),
  },
};

/** An entry as an editor starts from it: without what the API derives. */
export function editable(kind: Kind, entry: Entry): object {
  const derived = viewOf(kind).derived ?? [];
  return Object.fromEntries(Object.entries(entry).filter(([field]) => !derived.includes(field)));
}

/** The view of a kind, for entries whose kind the caller knows only at run time. */
export function viewOf(kind: Kind): KindView<Entry> {
  return VIEWS[kind] as unknown as KindView<Entry>;
}

export function shelfTitle(shelf: Shelf): string {
  const title = viewOf(shelf.kind).title;
  return shelf.scope === 'platform' ? `Platform ${title.toLowerCase()}` : title;
}

// The kinds' routes differ only in one path segment, and share their params; openapi-fetch types literal paths, so a
// run-time kind is cast to the union of its level's paths (the shelves are built from ORG_KINDS and PLATFORM_KINDS).
type ListPath = `/v1/orgs/{org}/${Kind}`;
type ItemPath = `/v1/orgs/{org}/${Kind}/{id}`;
type PlatformListPath = `/v1/platform/${PlatformKind}`;
type PlatformItemPath = `/v1/platform/${PlatformKind}/{id}`;

/** A request's outcome as the page needs it: the data, or the problem body and status. */
export interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export async function listEntries(api: Api, shelf: Shelf, org: string, etag?: string): Promise<Answer<{ items: Entry[] }>> {
  const init = conditional(etag);
  if (shelf.scope === 'platform') return api.GET(`/v1/platform/${shelf.kind}` as PlatformListPath, init) as Promise<Answer<{ items: Entry[] }>>;
  return api.GET(`/v1/orgs/{org}/${shelf.kind}` as ListPath, { params: { path: { org } }, ...init }) as Promise<Answer<{ items: Entry[] }>>;
}

export async function putEntry(api: Api, shelf: Shelf, org: string, id: string, body: object): Promise<Answer<Entry>> {
  if (shelf.scope === 'platform')
    return api.PUT(`/v1/platform/${shelf.kind}/{id}` as PlatformItemPath, { params: { path: { id } }, body: body as never }) as Promise<Answer<Entry>>;
  return api.PUT(`/v1/orgs/{org}/${shelf.kind}/{id}` as ItemPath, { params: { path: { org, id } }, body: body as never }) as Promise<Answer<Entry>>;
}

export async function deleteEntry(api: Api, shelf: Shelf, org: string, id: string): Promise<Answer<unknown>> {
  if (shelf.scope === 'platform') return api.DELETE(`/v1/platform/${shelf.kind}/{id}` as PlatformItemPath, { params: { path: { id } } });
  return api.DELETE(`/v1/orgs/{org}/${shelf.kind}/{id}` as ItemPath, { params: { path: { org, id } } });
}
