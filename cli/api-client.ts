/** A small client for the Stack Jobs HTTP API (local or deployed): JSON in, JSON or problem+json out. */
import type { StackJob } from '../lambdas/domain/schemas';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: {
      title?: string;
      detail?: string;
      errors?: { path: string; message: string }[];
      checks?: { check: string; passed: boolean; messages: string[] }[];
    },
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
  }
}

/** The API did not answer at all (nothing listens there, DNS, TLS). */
export class UnreachableError extends Error {
  constructor(
    readonly endpoint: string,
    readonly why: string,
  ) {
    super(`cannot reach the Stack Jobs API at ${endpoint} (${why})`);
    this.name = 'UnreachableError';
  }
}

export interface ApiClientOptions {
  endpoint: string;
  token?: string;
  fetchImpl?: typeof fetch;
}

export class ApiClient {
  private readonly base: string;
  constructor(private readonly options: ApiClientOptions) {
    this.base = options.endpoint.replace(/\/+$/, '');
  }

  get endpoint(): string {
    return this.base;
  }

  get hasToken(): boolean {
    return Boolean(this.options.token);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await (this.options.fetchImpl ?? fetch)(`${this.base}${path}`, {
        method,
        headers: {
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new UnreachableError(this.base, cause?.code ?? cause?.message ?? (e as Error).message);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      // Not the API (a proxy's HTML page, another service on the port): say so rather than fail on its body.
      throw new UnreachableError(this.base, `it answered ${res.status} with something that is not JSON: is this the Stack Jobs API?`);
    }
    if (!res.ok) throw new ApiError(res.status, (parsed ?? {}) as ApiError['problem']);
    return { status: res.status, body: parsed as T };
  }

  getJob(id: string) {
    return this.request<StackJob>('GET', `/v1/stack-jobs/${encodeURIComponent(id)}`).then((r) => r.body);
  }
}
