/** A small client for the Stack Jobs HTTP API (local or deployed): JSON in, JSON or problem+json out. */
import type { StackJob } from '../lambdas/domain/schemas';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { title?: string; detail?: string; errors?: { path: string; message: string }[]; checks?: { check: string; passed: boolean; messages: string[] }[] },
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
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

  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await (this.options.fetchImpl ?? fetch)(`${this.base}${path}`, {
      method,
      headers: { ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) throw new ApiError(res.status, (parsed ?? {}) as ApiError['problem']);
    return { status: res.status, body: parsed as T };
  }

  getJob(id: string) {
    return this.request<StackJob>('GET', `/v1/stack-jobs/${encodeURIComponent(id)}`).then((r) => r.body);
  }
}
