/**
 * Test support for the job page: realistic API answers and a fake API (a `fetch` answering by method and path,
 * recording each request) behind the real SessionProvider and router. The shapes are the API's: the job is the
 * OpenAPI document's StackJob example (lambdas/api/openapi-examples.ts) moved on to later phases, and the plan
 * changes are what the API's planChangesOf makes of Terraform's own show-json test data
 * (../shared/fixtures/terraform/show-json/{requires-replace,basic-create,drift,sensitive-values}.json).
 */
import { render } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import type { Schemas, StackJob } from '../../api/client';
import { SessionProvider } from '../../auth/session';
import { JobPage } from '../../pages/JobPage';

export const JOB_ID = 'sj_01jsrnmwpnnc6n62h06xafcgxv';
const STATE_KEY = 'stack-jobs/acmecorp/production/eks_01jq5xe4z7farkgenqsh47c1h0/terraform.tfstate';
const DIGEST = '9f2c1e0b7a4d4f8e1c3b5a7d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f';

/** GET /v1/me: the OpenAPI example's operator and approver in acmecorp (who also reads globex). */
export const approver = {
  subject: 'pat@acmecorp.example',
  platformAdmin: false,
  orgs: [
    { org: 'acmecorp', roles: ['operator', 'approver'], permissions: ['read', 'submit', 'approve'] },
    { org: 'globex', roles: ['viewer'], permissions: ['read'] },
  ],
};
export const operatorOnly = {
  subject: 'ops@acmecorp.example',
  platformAdmin: false,
  orgs: [{ org: 'acmecorp', roles: ['operator'], permissions: ['read', 'submit'] }],
};

const passedChecks: StackJob['status']['preflight'] = [
  {
    check: 'credential',
    passed: true,
    messages: [
      'using aws_credential awscred_prod_account',
      'STS GetCallerIdentity accepted: arn:aws:iam::123456789012:role/stackjobs-deployer (account 123456789012)',
    ],
  },
  { check: 'module', passed: true, messages: ['iacmod_platform_eks_terraform (terraform) by rule platform-default'] },
  {
    check: 'backend',
    passed: true,
    messages: ['backend tfcred_s3_backend_prod (s3): bucket acmecorp-terraform-state reachable', `state exists at ${STATE_KEY}`],
  },
  { check: 'flowControl', passed: true, messages: ['policy platform-default from the platform level'] },
];

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

/** The design's job for the EKS change, waiting for approval after its plan. */
export function awaitingApproval(): StackJob {
  return {
    apiVersion: 'infra-hub.planton.cloud/v1',
    kind: 'StackJob',
    metadata: {
      id: JOB_ID,
      name: 'eks_01jq5xe4z7farkgenqsh47c1h0',
      org: 'acmecorp',
      env: 'production',
      version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
      submittedBy: 'user@company.com',
    },
    spec: {
      apiResourceInfo: {
        kind: 'aws_eks_cluster',
        id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
        name: 'prod-api-cluster',
        versionId: 'ver-01jsrnmrwjn57drj0ekht8hb93',
        triggerEvent: 'updated',
        eventCreatedBy: 'user@company.com',
        spec: { nodeGroup: { desiredSize: 5 } },
      },
      essentials: {
        provisioner: 'terraform',
        iacModule: {
          id: 'iacmod_platform_eks_terraform',
          gitRepo: 'github.com/project-planton/aws-eks',
          branch: 'v2.3.0',
          path: 'terraform',
          provider: 'aws',
          rule: 'platform-default',
        },
        backendCredential: {
          kind: 'terraform_backend_credential',
          id: 'tfcred_s3_backend_prod',
          type: 's3',
          config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs' },
          stateKey: STATE_KEY,
        },
        providerCredential: { kind: 'aws_credential', id: 'awscred_prod_account', provider: 'aws', secretRef: 'stackjobs/acmecorp/awscred_prod_account' },
        stackJobRunner: { id: 'sjr_platform_runner', endpoint: 'runner.planton.cloud:443' },
        flowControlPolicy: {
          previewBeforeUpdate: true,
          pauseBetweenPreviewAndUpdate: true,
          skipRefresh: false,
          approvers: [],
          requireDistinctApprover: false,
          approvalTimeoutMinutes: 1440,
          source: { level: 'platform', id: 'platform-default' },
        },
      },
      operations: ['init', 'refresh', 'plan', 'apply'],
    },
    status: {
      phase: 'awaiting_approval',
      result: 'tbd',
      createdAt: '2025-04-24T09:12:31.000Z',
      updatedAt: '2025-04-24T09:14:02.000Z',
      startedAt: '2025-04-24T09:12:33.000Z',
      operations: [
        { name: 'init', status: 'completed', result: 'succeeded', startedAt: '2025-04-24T09:12:35.000Z', finishedAt: '2025-04-24T09:13:05.000Z', errors: [] },
        {
          name: 'refresh',
          status: 'completed',
          result: 'succeeded',
          startedAt: '2025-04-24T09:13:05.000Z',
          finishedAt: '2025-04-24T09:13:31.000Z',
          errors: [],
        },
        {
          name: 'plan',
          status: 'completed',
          result: 'succeeded',
          startedAt: '2025-04-24T09:13:31.000Z',
          finishedAt: '2025-04-24T09:14:01.000Z',
          errors: [],
          summary,
        },
        { name: 'apply', status: 'pending', result: 'tbd', errors: [] },
      ],
      preflight: passedChecks,
      plan: { digest: DIGEST, key: `plans/${JOB_ID}/plan.bin`, summary },
      approval: {
        id: `apr_${JOB_ID}`,
        requestedAt: new Date(Date.now() - 60_000).toISOString(),
        expiresAt: new Date(Date.now() + 23 * 3600_000).toISOString(),
        planDigest: DIGEST,
      },
    },
  };
}

/** What GET …/plan/changes answers for that plan (Terraform's requires-replace, basic-create and drift cases). */
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

export function problem(status: number, title: string, detail: string) {
  return { type: `https://stackjobs.dev/problems/${title.toLowerCase().replace(/ /g, '-')}`, title, status, detail };
}

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: unknown;
  headers: Headers;
}

/** An answer: a JSON body with a status (200 by default), or no body (e.g. 304). */
export type Answer = { status?: number; body?: unknown; headers?: Record<string, string> };
export type Handler = (req: Recorded) => Answer | undefined;

/**
 * A fetch answering `"METHOD /path"` from `routes` (a handler, or a list of answers given in turn, the last repeated).
 * GET /v1/me answers `me`. Anything else is a 404 problem, as the API answers it.
 */
export function fakeApi(me: unknown, routes: Record<string, Handler | Answer | Answer[]>) {
  const requests: Recorded[] = [];
  const served: Record<string, number> = {};
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const text = request.method === 'GET' ? '' : await request.text();
    const recorded: Recorded = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      ...(text ? { body: JSON.parse(text) } : {}),
    };
    requests.push(recorded);
    const key = `${request.method} ${url.pathname}`;
    const route = key === 'GET /v1/me' ? { body: me } : routes[key];
    let answer: Answer | undefined;
    if (typeof route === 'function') answer = route(recorded);
    else if (Array.isArray(route)) {
      const n = served[key] ?? 0;
      served[key] = n + 1;
      answer = route[Math.min(n, route.length - 1)];
    } else answer = route;
    answer ??= { status: 404, body: problem(404, 'Not found', `no route for ${key}`) };
    const status = answer.status ?? 200;
    const json = answer.body === undefined ? null : JSON.stringify(answer.body);
    const type = status >= 400 ? 'application/problem+json' : 'application/json';
    return new Response(status === 304 ? null : json, { status, headers: { ...(json ? { 'content-type': type } : {}), ...answer.headers } });
  };
  return { fetchImpl: fetchImpl as typeof fetch, requests };
}

function Where() {
  const location = useLocation();
  return <p data-testid="location">{location.pathname}</p>;
}

/** The job page at /jobs/:id, signed in (a token in the session) as whoever `fetchImpl` says GET /v1/me is. */
export function renderJobPage(id: string, fetchImpl: typeof fetch) {
  sessionStorage.setItem('stackjobs.token', 'test-token');
  return render(
    <SessionProvider config={{ mode: 'local', apiUrl: 'http://api.test' }} fetchImpl={fetchImpl}>
      <MemoryRouter initialEntries={[`/jobs/${id}`]}>
        <Routes>
          <Route path="/jobs/:id" element={<JobPage />} />
        </Routes>
        <Where />
      </MemoryRouter>
    </SessionProvider>,
  );
}
