/** Test helpers: a fetch that answers like the API, and a page rendered signed in, inside the router and org context. */
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { SessionProvider } from './auth/session';
import { OrgProvider } from './components/Layout';

export interface Recorded {
  method: string;
  url: URL;
  headers: Headers;
  body?: string;
}

export type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

/** A fetch answering `route(method, url)`; every request recorded. */
export function fakeFetch(route: (r: Recorded) => Answer | undefined): { fetch: typeof fetch; calls: Recorded[] } {
  const calls: Recorded[] = [];
  const f = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(String(input), init);
    const recorded: Recorded = { method: req.method, url: new URL(req.url), headers: req.headers, body: req.method === 'GET' ? undefined : await req.text() };
    calls.push(recorded);
    const a = route(recorded) ?? {
      status: 404,
      body: { type: 'https://stackjobs.dev/problems/not-found', title: 'Not Found', status: 404, detail: 'not found' },
    };
    const json = a.body === undefined ? null : JSON.stringify(a.body);
    return new Response(a.status === 304 || a.status === 204 ? null : json, {
      status: a.status,
      headers: { 'content-type': a.status >= 400 ? 'application/problem+json' : 'application/json', ...a.headers },
    });
  };
  return { fetch: f as typeof fetch, calls };
}

export const ME_OPERATOR = {
  subject: 'dev@acmecorp.example',
  platformAdmin: false,
  orgs: [{ org: 'acmecorp', roles: ['operator', 'viewer'], permissions: ['read', 'submit'] }],
};

/** Renders `element` at `path` (matched by `pattern`) signed in as `me`, the API answered by `route` (GET /v1/me answered from `me`). */
export function renderSignedIn(o: { element: ReactNode; path: string; pattern?: string; me?: typeof ME_OPERATOR; route: (r: Recorded) => Answer | undefined }) {
  sessionStorage.setItem('stackjobs.token', 'test-token');
  const me = o.me ?? ME_OPERATOR;
  const api = fakeFetch((r) => (r.url.pathname === '/v1/me' ? { status: 200, body: me } : o.route(r)));
  const view = render(
    <SessionProvider config={{ mode: 'local', apiUrl: 'http://api.test' }} fetchImpl={api.fetch}>
      <MemoryRouter initialEntries={[o.path]}>
        <OrgProvider>
          <Routes>
            <Route path={o.pattern ?? o.path.split('?')[0]} element={o.element} />
            <Route path="*" element={<p>navigated away</p>} />
          </Routes>
        </OrgProvider>
      </MemoryRouter>
    </SessionProvider>,
  );
  return { ...view, calls: api.calls };
}
