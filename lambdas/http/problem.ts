/** RFC 9457 problem+json responses, and the one place domain errors map to HTTP statuses. */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ZodError } from 'zod';
import {
  BackendUnavailableError,
  ConflictError,
  DomainError,
  ForbiddenError,
  IllegalTransitionError,
  NotFoundError,
  PreflightFailedError,
  ValidationError,
  type FieldProblem,
} from '../domain/errors';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldProblem[];
  checks?: unknown[];
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return { statusCode: status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

export function problem(
  status: number,
  title: string,
  detail: string,
  extra: Partial<Problem> = {},
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  const body: Problem = { type: `https://stackjobs.dev/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`, title, status, detail, ...extra };
  return { statusCode: status, headers: { 'content-type': 'application/problem+json', ...headers }, body: JSON.stringify(body) };
}

/** Each field's problem; a field absent from `input` (when given) is "required", whatever zod calls it. */
export function fieldProblems(error: ZodError, prefix = '', input?: unknown): FieldProblem[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(body)',
    message: isMissing(i, input) ? 'required' : i.message,
  }));
}

/** A field that is absent altogether: zod says "expected string, received undefined" or "invalid option"; people say "required". */
function isMissing(issue: ZodError['issues'][number], input: unknown): boolean {
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) return true;
  if (input === undefined || issue.path.length === 0 || (issue.code !== 'invalid_value' && issue.code !== 'invalid_type' && issue.code !== 'invalid_union'))
    return false;
  let parent: unknown = input;
  for (const key of issue.path.slice(0, -1))
    parent = parent && typeof parent === 'object' ? (parent as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  return Boolean(parent) && typeof parent === 'object' && !Array.isArray(parent) && !(String(issue.path.at(-1)) in (parent as object));
}

/** Known errors get their status; anything else is a 500 that says nothing about its cause. */
export function errorResponse(error: unknown): { response: APIGatewayProxyStructuredResultV2; unexpected: boolean } {
  if (error instanceof HttpError) return { response: problem(error.status, error.title, error.message, {}, error.headers), unexpected: false };
  if (error instanceof DomainError) {
    if (error instanceof ValidationError) return { response: problem(400, 'Invalid request', error.message, { errors: error.fields }), unexpected: false };
    if (error instanceof NotFoundError) return { response: problem(404, 'Not found', error.message), unexpected: false };
    if (error instanceof ForbiddenError) return { response: problem(403, 'Forbidden', error.message), unexpected: false };
    if (error instanceof ConflictError || error instanceof IllegalTransitionError)
      return { response: problem(409, 'Conflict', error.message), unexpected: false };
    if (error instanceof BackendUnavailableError) return { response: problem(502, 'Bad gateway', error.message), unexpected: false };
    if (error instanceof PreflightFailedError)
      return { response: problem(422, 'Pre-flight failed', error.message, { checks: error.checks }), unexpected: false };
  }
  return { response: problem(500, 'Internal error', 'the request could not be completed; it has been logged'), unexpected: true };
}
