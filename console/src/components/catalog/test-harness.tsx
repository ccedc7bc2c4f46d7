/**
 * Test support for the resource, catalog and pre-flight pages (not part of the app): a stand-in API answering with the
 * shapes, and the examples, of docs/openapi.json, and a page rendered signed in behind the real session and router.
 */
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter, Route, Routes, useParams } from 'react-router';
import openapi from '../../../../docs/openapi.json';
import type { Me, Schemas } from '../../api/client';
import { SessionProvider } from '../../auth/session';
import { OrgProvider } from '../Layout';

/** The API's own examples (components.examples in docs/openapi.json). */
export const examples = Object.fromEntries(Object.entries(openapi.components.examples).map(([name, e]) => [name, (e as { value: unknown }).value])) as {
  ResourceChange: Schemas['ResourceChange'];
  StackJob: Schemas['StackJob'];
  PreflightResult: Schemas['PreflightResult'];
  Problem: Schemas['Problem'];
  PreflightFailedProblem: Schemas['PreflightFailedProblem'];
  ProviderCredential: Schemas['ProviderCredential'];
  BackendCredential: Schemas['BackendCredential'];
  IacModule: Schemas['IacModule'];
  Me: Me;
};

/** A principal with these permissions in acmecorp only. */
export function memberOf(org: string, roles: Me['orgs'][number]['roles'], permissions: Me['orgs'][number]['permissions'], platformAdmin = false): Me {
  return { subject: `${roles[0] ?? 'member'}@${org}.example`, platformAdmin, orgs: [{ org, roles, permissions }] };
}

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Answers "METHOD /path" (the query string is the handler's business); anything unanswered is a 404 problem. */
export type Handlers = Record<string, Reply | ((req: Request, url: URL) => Reply | Promise<Reply>)>;

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: unknown;
}

export function fakeApi(handlers: Handlers) {
  const calls: Call[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url);
    const text = req.method === 'GET' || req.method === 'HEAD' ? '' : await req.text();
    calls.push({ method: req.method, path: url.pathname, query: url.searchParams, ...(text ? { body: JSON.parse(text) as unknown } : {}) });
    const handler = handlers[`${req.method} ${url.pathname}`];
    const reply: Reply = !handler
      ? { status: 404, body: { type: 'https://stackjobs.dev/problems/not-found', title: 'Not found', status: 404, detail: `${url.pathname} not found` } }
      : typeof handler === 'function'
        ? await handler(req, url)
        : handler;
    const status = reply.status ?? 200;
    const json = status >= 400 ? 'application/problem+json' : 'application/json';
    return new Response(reply.body === undefined || status === 204 ? null : JSON.stringify(reply.body), {
      status,
      headers: { 'content-type': json, ...reply.headers },
    });
  };
  return { fetchImpl: fetchImpl as typeof fetch, calls };
}

/** Where a navigation landed: the job page stands in as its id. */
function JobStub() {
  const { id } = useParams();
  return <h1>Job page {id}</h1>;
}

/** Renders `page` at `path` (matched by `route`) for `me`, signed in with a token, against `handlers`. */
export function renderPage(page: ReactNode, options: { route: string; path: string; me: Me; handlers: Handlers }) {
  const api = fakeApi({ 'GET /v1/me': { body: options.me }, ...options.handlers });
  sessionStorage.setItem('stackjobs.token', 'test-token');
  const view = render(
    <SessionProvider config={{ mode: 'local', apiUrl: 'http://console.test' }} fetchImpl={api.fetchImpl}>
      <MemoryRouter initialEntries={[options.path]}>
        <OrgProvider>
          <Routes>
            <Route path={options.route} element={page} />
            <Route path="/jobs/:id" element={<JobStub />} />
          </Routes>
        </OrgProvider>
      </MemoryRouter>
    </SessionProvider>,
  );
  return { ...view, calls: api.calls };
}
