/** Parsing request parts with the domain's zod schemas; failures become a 400 naming every field's problem. */
import type { z } from 'zod';
import { ValidationError } from '../domain/errors';
import { fieldProblems } from '../http/problem';
import { storableProblems } from '../shared/storable';

export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, what: string, prefix = ''): z.infer<S> {
  if (value === undefined) throw new ValidationError(`${what} is required`, [{ path: prefix || '(body)', message: 'required' }]);
  const storable = storableProblems(value, prefix);
  if (storable.length > 0) throw new ValidationError(`${what} is invalid`, storable);
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`${what} is invalid`, fieldProblems(parsed.error, prefix, value));
  return parsed.data;
}
