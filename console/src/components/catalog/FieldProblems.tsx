/** A refused write in the API's words: the problem's detail and, for a 400, every wrong field by its path. */
import type { Schemas } from '../../api/client';

export type FieldProblem = Schemas['FieldProblem'];
export type CheckResult = Schemas['CheckResult'];

/** What a failed request said: one line, each field's problem (400), and every pre-flight check (422). */
export interface RequestProblem {
  status: number;
  detail: string;
  errors: FieldProblem[];
  checks?: CheckResult[];
}

/** Reads a problem+json (or an API Gateway `{message}`) body; anything else becomes "request failed (HTTP n)". */
export function requestProblem(error: unknown, status: number): RequestProblem {
  const p = (error && typeof error === 'object' ? error : {}) as Partial<Schemas['Problem']> & { message?: string };
  const detail = p.detail ?? p.title ?? p.message ?? (typeof error === 'string' && error ? error : `request failed (HTTP ${status})`);
  return { status, detail, errors: Array.isArray(p.errors) ? p.errors : [], ...(Array.isArray(p.checks) ? { checks: p.checks } : {}) };
}

/**
 * Sends a write and settles it: what the API answered, or what went wrong as a RequestProblem (a request that never
 * reached the API reads as status 0). Never throws.
 */
export async function outcome<T>(
  send: () => Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<{ data: T; problem?: never } | { data?: never; problem: RequestProblem }> {
  try {
    const answer = await send();
    return answer.data ? { data: answer.data } : { problem: requestProblem(answer.error, answer.response.status) };
  } catch (e) {
    return { problem: requestProblem((e as Error).message, 0) };
  }
}

/** Shown next to the editor it is about; role="alert" so a screen reader hears it as it appears. */
export function FieldProblems({ id, problem }: { id?: string; problem?: RequestProblem }) {
  if (!problem) return null;
  return (
    <div id={id} className="error" role="alert">
      <p className="problem-detail">{problem.detail}</p>
      {problem.errors.length > 0 && (
        <ul className="field-problems">
          {problem.errors.map((e, i) => (
            <li key={`${e.path}-${i}`}>
              <code>{e.path}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
