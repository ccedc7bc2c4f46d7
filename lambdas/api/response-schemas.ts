/**
 * Shapes the API answers with that the domain does not define: list pages, the pre-flight dry run, artifact views and
 * problem+json errors. The OpenAPI document is generated from these and the domain schemas; the contract tests
 * check every response the handlers give against it, and test/openapi pins the handlers' TypeScript types to them.
 */
import * as z from '../shared/zod';
import {
  catalogSchemas,
  checkResultSchema,
  jobPhaseSchema,
  jobResultSchema,
  planSummarySchema,
  policyEvaluationSchema,
  roleSchema,
  stackJobSchema,
  type CatalogKind,
} from '../domain/schemas';
import { PERMISSIONS } from '../http/principal';

const isoTime = z.iso.datetime({ offset: true });

export const fieldProblemSchema = z
  .object({ path: z.string().describe('dotted path of the offending field, "(body)" for the body itself, "query" for the query string'), message: z.string() })
  .strict();

/** RFC 9457 problem details, as lambdas/http/problem.ts writes them. */
export const problemSchema = z
  .object({
    type: z.url().describe('https://stackjobs.dev/problems/<title-slug>'),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    errors: z.array(fieldProblemSchema).optional().describe('400: every field that is wrong, and why'),
    checks: z.array(checkResultSchema).optional().describe('422: every pre-flight check, pass or fail'),
  })
  .strict();

/** A failed pre-flight: no job was created; every check is listed. */
export const preflightFailedProblemSchema = problemSchema.extend({ status: z.literal(422), checks: z.array(checkResultSchema) }).strict();

/** What API Gateway itself answers when its JWT authorizer rejects the token (the request never reaches the Lambda). */
export const gatewayErrorSchema = z.object({ message: z.string() }).strict();

export const preflightResultSchema = z.object({ passed: z.boolean(), checks: z.array(checkResultSchema) }).strict();

export const jobPageSchema = z
  .object({
    items: z.array(stackJobSchema).describe('newest first'),
    cursor: z.string().optional().describe('opaque; pass it back as ?cursor= for the next page; absent on the last page'),
  })
  .strict();

export const logPageSchema = z
  .object({
    jobId: z.string(),
    phase: jobPhaseSchema.describe("the job's phase when the page was read: keep polling with the cursor until it is completed"),
    text: z.string().describe('log text in execution order (phase, operation, sequence), secrets redacted by the runner'),
    chunks: z.number().int().min(0),
    cursor: z.string().optional().describe('opaque; pass it back to read only what was written since'),
  })
  .strict();

export const planViewSchema = z
  .object({
    summary: planSummarySchema,
    hasChanges: z.boolean(),
    digest: z.string().describe('SHA-256 of the binary plan; an approval is bound to it'),
    planUrl: z.url().describe('short-lived presigned GET of the full plan JSON (sensitive values masked)'),
    planUrlExpiresAt: isoTime,
  })
  .strict();

const attributeChangeSchema = z
  .object({
    path: z.string().describe('dotted path into the attributes, e.g. tags.Name'),
    before: z.string().optional().describe('the value before, as the tool shows it; "(sensitive)" when marked sensitive; absent when new'),
    after: z.string().optional().describe('the value after; "(known after apply)" when unknown until apply; absent when removed'),
  })
  .strict();

/** What a job's refresh found changed outside Stack Jobs, attribute by attribute (GET /v1/stack-jobs/{id}/drift/changes). */
export const driftChangesSchema = z
  .object({
    jobId: z.string(),
    checkedAt: isoTime,
    total: z.number().int().min(0),
    drift: z
      .array(z.object({ address: z.string(), attributes: z.array(attributeChangeSchema) }).strict())
      .describe('each drifted resource with its attributes before → after, sensitive values masked; at most 200, 100 attributes each'),
  })
  .strict();

export const planChangesSchema = z
  .object({
    jobId: z.string(),
    digest: z.string().describe('SHA-256 of the binary plan; an approval is bound to it'),
    summary: planSummarySchema,
    provisioner: z.enum(['terraform', 'opentofu', 'pulumi']),
    resources: z
      .array(
        z
          .object({
            address: z.string(),
            action: z.enum(['create', 'update', 'replace', 'delete', 'read', 'import', 'forget', 'move', 'no-op']),
            replaceBecause: z.array(z.string()).optional(),
            attributes: z.array(attributeChangeSchema),
            attributesTruncated: z.boolean().optional(),
          })
          .strict(),
      )
      .describe('at most 200 resources, 100 attributes each'),
    totalResources: z.number().int().min(0),
    outputs: z.array(attributeChangeSchema),
    drift: z
      .array(z.object({ address: z.string(), attributes: z.array(attributeChangeSchema) }).strict())
      .describe('what the refresh found changed outside Stack Jobs'),
    policy: policyEvaluationSchema.optional().describe("the plan policies' results on this plan (the job's status.policy), once evaluated"),
  })
  .strict();

export const outputValueSchema = z
  .object({ sensitive: z.boolean(), type: z.unknown().optional(), value: z.unknown().describe('"***" when sensitive') })
  .strict();
export const outputValuesSchema = z.record(z.string(), outputValueSchema);

export const jobOutputsSchema = z.object({ jobId: z.string(), outputs: outputValuesSchema }).strict();

export const resourceStatusSchema = z
  .object({
    org: z.string(),
    env: z.string(),
    resourceId: z.string(),
    kind: z.string().optional(),
    lastJobId: z.string().optional(),
    lastResult: jobResultSchema.optional(),
    lastFinishedAt: isoTime.optional(),
    versionApplied: z.string().optional().describe('the resource version the last successful job applied'),
    outputsKey: z.string().optional(),
    lastAppliedJobId: z.string().optional(),
    drift: z
      .object({
        checkedAt: isoTime,
        jobId: z.string().describe('the drift check (or change) whose refresh found it'),
        drifted: z.boolean(),
        total: z.number().int().min(0),
        resources: z.array(z.object({ address: z.string(), actions: z.array(z.string()) }).strict()).describe('at most 100 of them'),
      })
      .strict()
      .optional()
      .describe('what the latest refresh found changed outside Stack Jobs: a drift check, or the refresh of a change'),
    outputs: outputValuesSchema.optional().describe('outputs of the last applied job, sensitive values masked'),
    lease: z
      .object({ holder: z.string(), since: isoTime.optional(), expiresAt: isoTime, fencingToken: z.number().int() })
      .strict()
      .optional()
      .describe('the stack job holding the stack now, since when, and when its lease expires (another job may then take it)'),
  })
  .strict();

/** Terraform's own lock on a resource's state (GET …/state-lock; force-unlock answers it with `released`). */
export const stateLockViewSchema = z
  .object({
    org: z.string(),
    env: z.string(),
    resourceId: z.string(),
    stateKey: z.string().describe("the state's key (S3) or path under the backend's directory (local), as the stack's newest job was frozen with"),
    backend: z.object({ id: z.string(), type: z.enum(['s3', 'local']) }).strict(),
    lock: z
      .object({
        id: z.string().describe('the id force-unlock takes'),
        operation: z.string().optional().describe('e.g. OperationTypeApply'),
        who: z.string().describe('user@host of the process that took it'),
        created: z.string().optional().describe('when it was taken (RFC 3339, as Terraform writes it)'),
        path: z.string().optional(),
        store: z
          .enum(['s3-object', 'dynamodb-item', 'local-file'])
          .describe("the S3 `<key>.tflock` object, the lock table's `<bucket>/<key>` item, or the local `.lock.info` file"),
        held: z
          .boolean()
          .optional()
          .describe(
            'whether it binds the next run: S3 and DynamoDB locks do until released; a local lock only while its process lives (false: the info a killed run left; absent: unknown)',
          ),
      })
      .strict(),
    leftBy: z
      .object({ jobId: z.string(), phase: jobPhaseSchema, result: jobResultSchema })
      .strict()
      .optional()
      .describe('the stack job whose run the lock was taken in'),
    stackHeldBy: z.string().optional().describe('the stack job holding the stack now: its run is expected to hold the lock'),
    released: z.object({ by: z.string(), at: isoTime, reason: z.string() }).strict().optional().describe('force-unlock: who released it, when and why'),
  })
  .strict();

/** GET /v1/me: the caller, and in each of their orgs the roles they hold and what those let them do (http/principal.ts callerAccess). */
export const meSchema = z
  .object({
    subject: z.string().describe("the caller (the token's subject claim)"),
    platformAdmin: z.boolean().describe('may write the platform catalog; grants nothing in any org'),
    orgs: z
      .array(
        z
          .object({
            org: z.string(),
            roles: z.array(roleSchema.exclude(['platform-admin'])).describe('the roles held in this org; empty for a member without one'),
            permissions: z
              .array(z.enum(PERMISSIONS))
              .describe(
                "what those roles allow here: read (any role), submit (operator, admin), approve (approver; a job's policy may narrow it), admin (admin)",
              ),
          })
          .strict(),
      )
      .describe('every org the caller is a member of'),
  })
  .strict();

/** The OpenAPI document itself, served at /v1/openapi.json. */
export const openApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

/** `{items}` for each catalog kind: catalogs are small and listed whole. */
export const catalogListSchemas = Object.fromEntries(
  Object.entries(catalogSchemas).map(([kind, schema]) => [kind, z.object({ items: z.array(schema) }).strict()]),
) as { [K in CatalogKind]: z.ZodObject<{ items: z.ZodArray<(typeof catalogSchemas)[K]> }> };
