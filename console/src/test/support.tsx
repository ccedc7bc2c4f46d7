/**
 * Test support for the console (not part of the app): the API's own examples and fixtures made from them, a stand-in
 * API (a `fetch` answering by method and path, recording each request), and a page rendered signed in behind the real
 * SessionProvider, router and org context.
 */
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter, Route, Routes, useLocation, useParams } from 'react-router';
import openapi from '../../../docs/openapi.json';
import type { Me, Schemas, StackJob } from '../api/client';
import { SessionProvider } from '../auth/session';
import type { ConsoleConfig } from '../config';
import { OrgProvider } from '../components/Layout';

/** Frozen all the way down, so a test that changes an example instead of a copy fails where it does. */
function frozen<T>(value: T): T {
  if (value && typeof value === 'object') {
    Object.values(value).forEach(frozen);
    Object.freeze(value);
  }
  return value;
}

/** The API's own examples (components.examples in docs/openapi.json, from lambdas/api/openapi-examples.ts). Copy before changing. */
export const examples = frozen(Object.fromEntries(Object.entries(openapi.components.examples).map(([name, e]) => [name, (e as { value: unknown }).value]))) as {
  ResourceChange: Schemas['ResourceChange'];
  StackJob: StackJob;
  PreflightResult: Schemas['PreflightResult'];
  Problem: Schemas['Problem'];
  PreflightFailedProblem: Schemas['PreflightFailedProblem'];
  ProviderCredential: Schemas['ProviderCredential'];
  BackendCredential: Schemas['BackendCredential'];
  IacModule: Schemas['IacModule'];
  /** An operator and approver in acmecorp who also reads globex. */
  Me: Me;
};

/** A principal holding `roles` (and so `permissions`) in `org` only. */
export function memberOf(org: string, roles: Me['orgs'][number]['roles'], permissions: Me['orgs'][number]['permissions'], platformAdmin = false): Me {
  return { subject: `${roles[0] ?? 'member'}@${org}.example`, platformAdmin, orgs: [{ org, roles, permissions }] };
}

/** A problem+json body as the API words one. */
export function problem(status: number, title: string, detail: string): Schemas['Problem'] {
  return { type: `https://stackjobs.dev/problems/${title.toLowerCase().replace(/ /g, '-')}`, title, status, detail };
}

// ---- Jobs: the StackJob example, moved on ----

export const JOB_ID = examples.StackJob.metadata.id;
const DIGEST = '9f2c1e0b7a4d4f8e1c3b5a7d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f';
type Operation = StackJob['status']['operations'][number];

/** A copy of the StackJob example (just submitted, queued) under `id`, its status moved on by `status`. */
export function stackJob(id: string = JOB_ID, status: Partial<StackJob['status']> = {}): StackJob {
  const job = structuredClone(examples.StackJob);
  job.metadata.id = id;
  job.status = { ...job.status, ...status };
  return job;
}

const succeeded = (op: Operation, startedAt: string, finishedAt: string): Operation => ({
  ...op,
  status: 'completed',
  result: 'succeeded',
  startedAt,
  finishedAt,
});

/** The plan of the example's change, as Terraform's requires-replace, basic-create and drift cases make it. */
const summary: Schemas['PlanSummary'] = {
  add: 1,
  change: 1,
  destroy: 0,
  replace: 1,
  unchanged: 0,
  read: 0,
  forget: 0,
  import: 0,
  outputChanges: 1,
  resources: [
    { address: 'test_instance.test', actions: ['delete', 'create'] },
    { address: 'test_instance.test[1]', actions: ['create'] },
    { address: 'test_instance.should_refresh', actions: ['update'] },
  ],
};

/** The example's job, submitted by the change's author, waiting for approval after its plan. */
export function awaitingApproval(): StackJob {
  const job = stackJob();
  job.metadata.submittedBy = job.spec.apiResourceInfo.eventCreatedBy;
  const [init, plan, apply] = job.status.operations;
  job.status = {
    ...job.status,
    phase: 'awaiting_approval',
    updatedAt: '2025-04-24T09:14:02.000Z',
    startedAt: '2025-04-24T09:12:33.000Z',
    operations: [
      succeeded(init, '2025-04-24T09:12:35.000Z', '2025-04-24T09:13:05.000Z'),
      // The plan refreshes and reports the drift itself: a change job has no refresh operation (Terraform, OpenTofu).
      { ...succeeded(plan, '2025-04-24T09:13:05.000Z', '2025-04-24T09:14:01.000Z'), summary },
      apply,
    ],
    plan: { digest: DIGEST, key: `plans/${JOB_ID}/plan.bin`, summary },
    approval: {
      id: `apr_${JOB_ID}`,
      requestedAt: new Date(Date.now() - 60_000).toISOString(),
      expiresAt: new Date(Date.now() + 23 * 3600_000).toISOString(),
      planDigest: DIGEST,
    },
  };
  return job;
}

/** The same job before its plan: running, its init done. */
export function running(): StackJob {
  const job = awaitingApproval();
  job.status = { ...job.status, phase: 'running', operations: job.status.operations.slice(0, 1) };
  delete job.status.plan;
  delete job.status.approval;
  return job;
}

/**
 * What GET …/plan/changes answers for that plan: what the API's planChangesOf makes of Terraform's own show-json test
 * data (../shared/fixtures/terraform/show-json/{requires-replace,basic-create,drift,sensitive-values}.json).
 */
export function planChanges(): Schemas['PlanChanges'] {
  return {
    jobId: JOB_ID,
    digest: DIGEST,
    summary,
    provisioner: 'terraform',
    resources: [
      {
        address: 'test_instance.test',
        action: 'replace',
        replaceBecause: ['ami'],
        attributes: [
          { path: 'ami', before: '"bar"', after: '"force-replace"' },
          { path: 'id', before: '"placeholder"', after: '(known after apply)' },
        ],
      },
      {
        address: 'test_instance.test[1]',
        action: 'create',
        attributes: [
          { path: 'ami', after: '(sensitive)' },
          { path: 'id', after: '(known after apply)' },
        ],
      },
      { address: 'test_instance.should_refresh', action: 'update', attributes: [{ path: 'ami', before: '"refreshed"', after: '"baz"' }] },
    ],
    totalResources: 3,
    outputs: [{ path: 'test', after: '"bar"' }],
    drift: [{ address: 'test_instance.should_refresh', attributes: [{ path: 'ami', before: '"refresh-me"', after: '"refreshed"' }] }],
  };
}

/** The same job, failed in its plan (Terraform's own error text). */
export function failedInPlan(): StackJob {
  const job = awaitingApproval();
  const message =
    'Error: Unsupported argument\n\n  on main.tf line 12, in resource "aws_eks_node_group" "this":\n  12:   desired_sise = 5\n\nAn argument named "desired_sise" is not expected here.';
  job.status = {
    ...job.status,
    phase: 'completed',
    result: 'failed',
    reason: 'operation_failed',
    finishedAt: '2025-04-24T09:13:50.000Z',
    operations: job.status.operations.map((o) =>
      o.name === 'plan'
        ? { name: 'plan', status: 'completed', result: 'failed', startedAt: o.startedAt, finishedAt: '2025-04-24T09:13:49.000Z', errors: [message] }
        : o.name === 'apply'
          ? { ...o, result: 'skipped', status: 'completed' }
          : o,
    ),
    failure: { operation: 'plan', message, exitCode: 1 },
  };
  delete job.status.plan;
  delete job.status.approval;
  return job;
}

// ---- The stand-in API ----

/** A request the stand-in API answered. */
export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** The JSON body, parsed. */
  body?: unknown;
}

/** An answer: a JSON body with a status (200 by default), or no body (e.g. 204, 304). */
export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Answers one request, seeing every request so far (this one last); undefined answers as unrouted. */
export type Handler = (call: Call, calls: readonly Call[]) => Reply | undefined | Promise<Reply | undefined>;

/** By `"METHOD /path"` (the query string is the handler's business): a reply, replies given in turn (the last repeated), or a handler. */
export type Handlers = Record<string, Reply | Reply[] | Handler>;

/** A fetch answering from `handlers`, every request recorded in `calls`. Anything unanswered is a 404 problem, as the API answers it. */
export function fakeApi(handlers: Handlers) {
  const calls: Call[] = [];
  const served: Record<string, number> = {};
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    const call: Call = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      ...(text ? { body: JSON.parse(text) } : {}),
    };
    calls.push(call);
    const key = `${request.method} ${url.pathname}`;
    const handler = handlers[key];
    let reply: Reply | undefined;
    if (typeof handler === 'function') reply = await handler(call, calls);
    else if (Array.isArray(handler)) {
      const n = served[key] ?? 0;
      served[key] = n + 1;
      reply = handler[Math.min(n, handler.length - 1)];
    } else reply = handler;
    reply ??= { status: 404, body: problem(404, 'Not found', `no route for ${key}`) };
    const status = reply.status ?? 200;
    const json = reply.body === undefined || status === 204 || status === 304 ? null : JSON.stringify(reply.body);
    const type = status >= 400 ? 'application/problem+json' : 'application/json';
    return new Response(json, { status, headers: { ...(json ? { 'content-type': type } : {}), ...reply.headers } });
  };
  return { fetchImpl: fetchImpl as typeof fetch, calls };
}

// ---- Pages ----

/** Local mode, as the tests run it. */
export const LOCAL: ConsoleConfig = { mode: 'local', apiUrl: 'http://api.test' };

/** Where a navigation away landed: the job page stands in as its id. */
function JobStub() {
  const { id } = useParams();
  return <h1>Job page {id}</h1>;
}

function Location() {
  return <p data-testid="location">{useLocation().pathname}</p>;
}

/**
 * Renders `page` at `path` (matched by `route`, by default the path itself) signed in with a token as `me` (by default
 * the Me example), the API answered by `handlers` (GET /v1/me answers `me`). The current path reads in `location`.
 */
export function renderPage(page: ReactNode, options: { path: string; route?: string; me?: Me; handlers?: Handlers }) {
  const route = options.route ?? options.path.split('?')[0];
  const api = fakeApi({ 'GET /v1/me': { body: options.me ?? examples.Me }, ...options.handlers });
  sessionStorage.setItem('stackjobs.token', 'test-token');
  const view = render(
    <SessionProvider config={LOCAL} fetchImpl={api.fetchImpl}>
      <MemoryRouter initialEntries={[options.path]}>
        <OrgProvider>
          <Routes>
            <Route path={route} element={page} />
            {route !== '/jobs/:id' && <Route path="/jobs/:id" element={<JobStub />} />}
          </Routes>
          <Location />
        </OrgProvider>
      </MemoryRouter>
    </SessionProvider>,
  );
  return { ...view, calls: api.calls };
}
