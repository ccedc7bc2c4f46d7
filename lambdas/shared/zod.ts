/**
 * The zod API this code uses, as named re-exports. Import it as `import * as z from '../shared/zod'`:
 * `import { z } from 'zod'` hands esbuild zod's whole namespace as one value, which keeps every locale
 * (about 260 KB minified) in each Lambda bundle; named re-exports let it drop what no handler uses.
 * English messages stay: zod registers its English locale when the first schema is constructed.
 */
export {
  array,
  boolean,
  coerce,
  discriminatedUnion,
  enum,
  iso,
  literal,
  looseObject,
  NEVER,
  number,
  object,
  partialRecord,
  preprocess,
  record,
  registry,
  string,
  toJSONSchema,
  unknown,
  url,
} from 'zod';
export type { infer, input, output, ZodArray, ZodError, ZodObject, ZodType } from 'zod';
