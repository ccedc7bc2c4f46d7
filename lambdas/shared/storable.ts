/** What a schema cannot say about a JSON input but storage needs (API bodies and EventBridge events alike). */

/**
 * How deep a request body may nest. DynamoDB stores at most 32 levels in an item, and a job wraps the submitted spec
 * in four more (spec.apiResourceInfo.spec, plus the idempotency record's snapshot), so a body is held well below.
 */
export const MAX_BODY_DEPTH = 24;
/**
 * DynamoDB's number range (38 digits of precision, magnitudes 1E-130 to 9.99…E+125); JavaScript's doubles go further.
 * The bound is exclusive at 1E+126: as a double, 9.99…E+125 with 38 nines *is* 1E+126, which DynamoDB refuses.
 */
const DYNAMO_LIMIT = 1e126;
const DYNAMO_MIN_MAGNITUDE = 1e-130;
/** Keys that would reach an object's prototype when copied (`{...o}`, `Object.assign`), in any JSON body. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * What a schema cannot say about a JSON body but storage needs: every problem, by field, before anything is written
 * (numbers DynamoDB cannot hold, prototype-polluting keys, nesting DynamoDB cannot store).
 */
export function storableProblems(value: unknown, prefix = ''): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const walk = (v: unknown, path: string, depth: number) => {
    if (problems.length >= 20) return;
    if (typeof v === 'number') {
      const m = Math.abs(v);
      if (!Number.isFinite(v) || m >= DYNAMO_LIMIT || (m !== 0 && m < DYNAMO_MIN_MAGNITUDE))
        problems.push({ path: path || '(body)', message: 'is outside the range a number may have (1E-130 to 9.99E+125)' });
      return;
    }
    if (!v || typeof v !== 'object') return;
    if (depth > MAX_BODY_DEPTH) {
      problems.push({ path: path || '(body)', message: `is nested deeper than ${MAX_BODY_DEPTH} levels` });
      return;
    }
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.keys(v).map((k) => [k, (v as Record<string, unknown>)[k]] as const);
    for (const [k, x] of entries) {
      const at = path ? `${path}.${k}` : k;
      if (!Array.isArray(v) && FORBIDDEN_KEYS.has(k)) problems.push({ path: at, message: `the key ${k} is not allowed` });
      else walk(x, at, depth + 1);
    }
  };
  walk(value, prefix, 1);
  return problems;
}
