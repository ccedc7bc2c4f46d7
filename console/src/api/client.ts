/**
 * The API client, typed by `schema.ts`, which openapi-typescript generates from docs/openapi.json (`npm run openapi`):
 * a route or field the API does not have is a type error here, so the console cannot drift from the API.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type StackJob = Schemas['StackJob'];
export type Problem = Schemas['Problem'];
export type Me = Schemas['Me'];
export type Api = ReturnType<typeof createApi>;

export interface ApiOptions {
  baseUrl: string;
  token: () => string | undefined;
  /** Called on any 401: the session is gone (expired token, or a token the API no longer accepts). */
  onUnauthorized: () => void;
  fetch?: typeof fetch;
}

export function createApi(options: ApiOptions) {
  const client = createClient<paths>({ baseUrl: options.baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const auth: Middleware = {
    onRequest({ request }) {
      const token = options.token();
      if (token) request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) options.onUnauthorized();
      return response;
    },
  };
  client.use(auth);
  return client;
}

/** A problem+json (or API Gateway) error as one line a person can act on, with each field's problem. */
export function problemText(error: unknown, status?: number): string {
  if (error && typeof error === 'object') {
    const p = error as Partial<Problem> & { message?: string };
    const head = p.detail ?? p.title ?? p.message;
    const fields = (p.errors ?? []).map((e) => `${e.path}: ${e.message}`);
    if (head) return [head, ...fields].join('; ');
  }
  if (typeof error === 'string' && error) return error;
  return status ? `request failed (HTTP ${status})` : 'request failed';
}

/** Thrown by `must` so a page shows the API's own words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: unknown,
  ) {
    super(problemText(problem, status));
  }
}

/** The data of an openapi-fetch answer, or an ApiError carrying the problem. */
export function must<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data === undefined || answer.error !== undefined) throw new ApiError(answer.response.status, answer.error);
  return answer.data;
}
