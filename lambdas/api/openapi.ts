/**
 * The API's OpenAPI 3.1 document, generated from the route definitions (lambdas/http/router.ts `Route`: method, path,
 * access, doc and handler, each written once) and the zod schemas the handlers validate with (zod's own
 * `z.toJSONSchema`, JSON Schema 2020-12 as OpenAPI 3.1 expects): request bodies and query strings with `io: 'input'`
 * (defaulted fields optional), responses with `io: 'output'` (what the server always sends). A schema registered below
 * becomes a named component; any other is inlined where it is used.
 */
import * as z from '../shared/zod';
import { catalogKinds, catalogSchemas, checkResultSchema, planSummarySchema, resourceChangeSchema, slackLinkSchema, stackJobSchema } from '../domain/schemas';
import { ROLE_GRANTS } from '../http/principal';
import { REVALIDATE } from '../http/conditional';
import { isAuthenticated, MAX_BODY_BYTES, type Access, type DocSchema, type ErrorStatus, type Route, type RouteDoc } from '../http/router';
import { decisionBodySchema, forceCancelBodySchema, slackLinkBodySchema } from './approval-routes';
import { CATALOG, pathFilledFields } from './catalog-routes';
import { componentExamples, EXAMPLE_SUMMARIES, STACK_JOB_ID } from './openapi-examples';
import { forceUnlockBodySchema } from './state-lock-routes';
import {
  catalogListSchemas,
  fieldProblemSchema,
  gatewayErrorSchema,
  jobOutputsSchema,
  jobPageSchema,
  logPageSchema,
  meSchema,
  openApiDocumentSchema,
  outputValueSchema,
  planChangesSchema,
  planViewSchema,
  preflightFailedProblemSchema,
  preflightResultSchema,
  problemSchema,
  resourceStatusSchema,
  stateLockViewSchema,
} from './response-schemas';

export { componentExamples, stackJobExample } from './openapi-examples';
export { PLATFORM_CATALOG_KINDS } from './catalog-routes';

export const OPENAPI_PATH = '/v1/openapi.json';

type Json = Record<string, unknown>;
export type OpenApiDocument = Json & {
  openapi: string;
  paths: Record<string, Record<string, Json>>;
  components: Json & { schemas: Record<string, Json>; responses: Record<string, Json> };
};

const schemaRef = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const responseRef = (id: string) => ({ $ref: `#/components/responses/${id}` });

// ---------------------------------------------------------------- components from zod

/** Every schema that becomes a named component; anything not listed is inlined where it is used. */
function outputComponents(): Record<string, z.ZodType> {
  const components: Record<string, z.ZodType> = {
    StackJob: stackJobSchema,
    CheckResult: checkResultSchema,
    PlanSummary: planSummarySchema,
    PreflightResult: preflightResultSchema,
    JobPage: jobPageSchema,
    LogPage: logPageSchema,
    PlanView: planViewSchema,
    PlanChanges: planChangesSchema,
    OutputValue: outputValueSchema,
    JobOutputs: jobOutputsSchema,
    ResourceStatus: resourceStatusSchema,
    StateLock: stateLockViewSchema,
    FieldProblem: fieldProblemSchema,
    Problem: problemSchema,
    PreflightFailedProblem: preflightFailedProblemSchema,
    GatewayError: gatewayErrorSchema,
    OpenApiDocument: openApiDocumentSchema,
    SlackLink: slackLinkSchema,
    Me: meSchema,
  };
  for (const kind of catalogKinds) {
    components[CATALOG[kind].entity] = catalogSchemas[kind];
    components[CATALOG[kind].plural] = catalogListSchemas[kind];
  }
  return components;
}

function inputComponents(): Record<string, z.ZodType> {
  const components: Record<string, z.ZodType> = {
    ResourceChange: resourceChangeSchema,
    DecisionInput: decisionBodySchema,
    ForceCancelInput: forceCancelBodySchema,
    ForceUnlockInput: forceUnlockBodySchema,
    SlackLinkInput: slackLinkBodySchema,
  };
  for (const kind of catalogKinds) components[`${CATALOG[kind].entity}Input`] = catalogSchemas[kind];
  return components;
}

function toComponents(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, { target: 'draft-2020-12', io, unrepresentable: 'throw', uri: (id) => `#/components/schemas/${id}` });
  // Each entry is emitted as a standalone document; inside components.schemas it is a plain schema.
  return Object.fromEntries(Object.entries(out.schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema as Json]));
}

function querySchemaJson(schema: z.ZodObject): Json {
  const { $schema: _s, ...json } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'throw' }) as Json;
  return json;
}

/**
 * Request components: the domain schemas as input (defaulted fields optional). A catalog entity's input is its PUT body,
 * so the fields the path supplies are dropped from `required`; the org level supplies a superset of what the platform does
 * and `org` is optional in every platform kind, so one input schema serves both levels.
 */
function inputComponentsJson(): Record<string, Json> {
  const json = toComponents(inputComponents(), 'input');
  for (const kind of catalogKinds) {
    const schema = json[`${CATALOG[kind].entity}Input`];
    const filled = pathFilledFields(kind, false);
    schema.required = ((schema.required as string[] | undefined) ?? []).filter((f) => !filled.includes(f));
  }
  return json;
}

// ---------------------------------------------------------------- operations

const ERROR_RESPONSES: Record<ErrorStatus, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  422: 'PreflightFailed',
  500: 'InternalError',
  502: 'BadGateway',
};

const PARAMS: Record<string, Json> = {
  org: { description: 'organization', schema: { type: 'string' }, example: 'acmecorp' },
  env: { description: 'environment', schema: { type: 'string' }, example: 'production' },
  resourceId: { description: 'the cloud resource id', schema: { type: 'string' }, example: 'eks_01jq5xe4z7farkgenqsh47c1h0' },
  id: { description: 'stack job id ("sj_" + lowercase ULID)', schema: { type: 'string' }, example: STACK_JOB_ID },
};

// ---------------------------------------------------------------- assembly

/** Finds a registered schema's component name by identity; anything else is inlined. */
class SchemaNames {
  private readonly outputs = new Map<unknown, string>();
  private readonly inputs = new Map<unknown, string>();
  constructor() {
    for (const [name, schema] of Object.entries(outputComponents())) this.outputs.set(schema, name);
    for (const [name, schema] of Object.entries(inputComponents())) this.inputs.set(schema, name);
  }
  json(schema: DocSchema, io: 'input' | 'output'): Json {
    if (!isZod(schema)) return schema;
    const name = (io === 'input' ? this.inputs : this.outputs).get(schema);
    if (name) return schemaRef(name);
    const { $schema: _s, ...json } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'throw' }) as Json;
    return json;
  }
  /** The component name, for examples (which are keyed by component). */
  nameOf(schema: DocSchema): string | undefined {
    return isZod(schema) ? this.outputs.get(schema) : undefined;
  }
}

const isZod = (schema: DocSchema): schema is z.ZodType => typeof schema === 'object' && schema !== null && '_zod' in schema;

function parameters(route: Route): Json[] {
  const doc = route.doc;
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const pathParams = names.map((name) => {
    const spec = doc.params?.[name] ?? PARAMS[name];
    if (!spec) throw new Error(`no parameter spec for {${name}} in ${route.path}`);
    return { name, in: 'path', required: true, ...spec };
  });
  const headerParams = Object.entries(doc.headers ?? {}).map(([name, spec]) => ({ name, in: 'header', required: false, ...spec }));
  if (!doc.query) return [...pathParams, ...headerParams];
  const query = querySchemaJson(doc.query);
  const required = (query.required as string[] | undefined) ?? [];
  const queryParams = Object.entries(query.properties as Record<string, Json>).map(([name, { description, ...schema }]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    ...(description ? { description } : {}),
    schema,
  }));
  return [...pathParams, ...queryParams, ...headerParams];
}

/** Examples live once in components.examples and are referenced from each media type that shows them. */
function mediaType(schema: Json, exampleOf?: string): Json {
  const example =
    exampleOf !== undefined && exampleOf in componentExamples ? { examples: { [exampleOf]: { $ref: `#/components/examples/${exampleOf}` } } } : {};
  return { schema, ...example };
}

const orList = (items: readonly string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`);

/** The sentence each operation's description ends with: who may call it, from the route's declared access. */
export function accessSentence(access: Access): string {
  switch (access.kind) {
    case 'public':
      return 'Served without authentication.';
    case 'slack-signature':
      return 'Authenticated by the Slack signature, not a JWT.';
    case 'signed-in':
      return 'Any signed-in caller; it acts on the caller only.';
    case 'platform-admin':
      return 'Needs the platform-admin role.';
    case 'any-role':
      return 'Needs a role in an org (viewer or above) or the platform-admin role.';
    case 'org-role': {
      const where = { path: 'the org in the path', query: 'the org listed', job: "the job's org", change: "the change's org" }[access.org];
      const absent = {
        path: " Another org's resources are a 404 (platform-admin included).",
        query: " Another org's jobs are a 404 (platform-admin included).",
        job: " Another org's job is a 404 (platform-admin included).",
        change: ' A caller who is not a member of that org gets a 403.',
      }[access.org];
      return `Needs the role ${orList(ROLE_GRANTS[access.permission])} in ${where}.${absent}`;
    }
  }
}

/** Machine-readable access, for clients (a console hides what a principal may not do). */
function accessExtension(access: Access): Json {
  return access.kind === 'org-role' ? { kind: access.kind, roles: ROLE_GRANTS[access.permission], org: access.org } : { kind: access.kind };
}

// ---------------------------------------------------------------- conditional GETs (http/conditional.ts)

/** The router tags every GET's 200 with a body, so each such operation documents the ETag, the 304 and If-None-Match. */
const isConditional = (route: Route): boolean => route.method === 'GET' && route.doc.success[200]?.schema !== undefined;

const ETAG_HEADER: Json = {
  description: 'a strong entity tag of the body; send it back as If-None-Match to be answered 304 while the answer is unchanged',
  required: true,
  schema: { type: 'string' },
  example: '"3q2-7wXn0kqvQ4sU8cG1mO6bH0yJ5tL2rA9dE4fK7pM"',
};

const IF_NONE_MATCH: Json = {
  name: 'If-None-Match',
  in: 'header',
  required: false,
  description: 'the ETag of the answer the client holds (a list, weak tags and `*` are accepted): 304 with no body while it is still current',
  schema: { type: 'string' },
  example: ETAG_HEADER.example,
};

function operation(route: Route, names: SchemaNames): Json {
  const doc: RouteDoc = route.doc;
  const responses: Record<string, Json> = {};
  const conditional = isConditional(route);
  for (const [status, s] of Object.entries(doc.success)) {
    const tagged = conditional && status === '200';
    const headers: Record<string, Json> = {
      ...(s.location
        ? { Location: { description: 'the path of the job', required: true, schema: { type: 'string' }, example: `/v1/stack-jobs/${STACK_JOB_ID}` } }
        : {}),
      ...(tagged
        ? {
            ETag: ETAG_HEADER,
            'Cache-Control': {
              description: `\`${REVALIDATE}\` (keep it, but revalidate with If-None-Match before each use) unless the operation says otherwise`,
              required: true,
              schema: { type: 'string' },
              example: REVALIDATE,
            },
          }
        : {}),
    };
    responses[status] = {
      description: s.description,
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      ...(s.schema ? { content: { 'application/json': mediaType(names.json(s.schema, 'output'), names.nameOf(s.schema)) } } : {}),
    };
  }
  if (conditional) responses['304'] = responseRef('NotModified');
  for (const status of doc.errors) responses[String(status)] = responseRef(ERROR_RESPONSES[status]);
  const body = doc.body && mediaType(names.json(doc.body.schema, 'input'), doc.body.example);
  const description = [doc.description, accessSentence(route.access)].filter(Boolean).join(' ');
  const params = [...parameters(route), ...(conditional ? [IF_NONE_MATCH] : [])];
  return {
    operationId: doc.operationId,
    summary: doc.summary,
    description,
    tags: [doc.tag],
    ...(isAuthenticated(route) ? {} : { security: [] }),
    'x-stackjobs-access': accessExtension(route.access),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(body && doc.body?.contentTypes
      ? {
          requestBody: {
            required: true,
            description: `At most ${MAX_BODY_BYTES} bytes.`,
            content: Object.fromEntries(doc.body.contentTypes.map((t) => [t, body])),
          },
        }
      : body
        ? {
            requestBody: {
              required: !doc.body?.optional,
              description: `JSON, or YAML with a YAML content type (e.g. application/yaml); at most ${MAX_BODY_BYTES} bytes.`,
              content: { 'application/json': body, 'application/yaml': body },
            },
          }
        : {}),
    responses: Object.fromEntries(Object.entries(responses).sort(([x], [y]) => Number(x) - Number(y))),
  };
}

const problemContent = (schema = 'Problem', example?: string) => ({ 'application/problem+json': mediaType(schemaRef(schema), example) });

function sharedResponses(): Record<string, Json> {
  return {
    NotModified: {
      description: 'The If-None-Match named the current answer: no body; use the one held. Answered only once the caller may read it.',
      headers: {
        ETag: ETAG_HEADER,
        'Cache-Control': { description: 'as the 200 would carry it', required: true, schema: { type: 'string' }, example: REVALIDATE },
      },
    },
    BadRequest: {
      description:
        'The request is malformed: `errors` names every field that is wrong (body fields by path, query parameters as `query.<name>`); a body that is not valid JSON/YAML has no `errors`.',
      content: problemContent('Problem', 'Problem'),
    },
    Unauthorized: {
      description:
        'No valid bearer token. API Gateway\'s JWT authorizer answers `{"message":"Unauthorized"}` itself; a token without a subject claim gets a problem from the API.',
      content: { ...problemContent(), 'application/json': { schema: schemaRef('GatewayError') } },
    },
    Forbidden: { description: 'The caller lacks the role this needs, or is not a member of the org it submits for.', content: problemContent() },
    NotFound: { description: "Not found. Another org's things are reported as absent, never as forbidden.", content: problemContent() },
    Conflict: { description: 'A concurrent change got there first; retrying is safe.', content: problemContent() },
    PayloadTooLarge: { description: `The body is larger than ${MAX_BODY_BYTES} bytes.`, content: problemContent() },
    PreflightFailed: {
      description: 'A pre-flight check failed: no job was created; `checks` lists every check, pass or fail.',
      content: problemContent('PreflightFailedProblem', 'PreflightFailedProblem'),
    },
    InternalError: { description: 'An unexpected failure; the body says nothing about its cause, the logs do.', content: problemContent() },
    BadGateway: {
      description: 'A state backend refused the request or lacks what it needs (access denied, no such table): the detail says which and why.',
      content: problemContent(),
    },
    MethodNotAllowed: {
      description: 'Answered by the router for a documented path with an undocumented method (no operation lists it).',
      headers: { Allow: { description: 'the methods the path supports', required: true, schema: { type: 'string' }, example: 'GET, POST' } },
      content: problemContent(),
    },
  };
}

/** Builds the whole document from the routes. Pure and deterministic: `npm run openapi` writes it, the API serves it. */
export function buildOpenApiDocument(routes: readonly Route[]): OpenApiDocument {
  const outputs = toComponents(outputComponents(), 'output');
  const inputs = inputComponentsJson();
  const clash = Object.keys(inputs).filter((id) => id in outputs);
  if (clash.length > 0) throw new Error(`component names used for both request and response shapes: ${clash.join(', ')}`);
  const names = new SchemaNames();
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    const method = route.method.toLowerCase();
    if (item[method]) throw new Error(`two routes define ${route.method} ${route.path}`);
    item[method] = operation(route, names);
  }
  return {
    openapi: '3.1.1',
    info: {
      title: 'Stack Jobs API',
      version: '0.1.0',
      summary: 'Pre-flight checked, approved, auditable Terraform/OpenTofu/Pulumi stack jobs on AWS.',
      description:
        'Submit a change to a cloud resource and get back a frozen, auditable StackJob; read its status, logs, plan and outputs; manage the catalog it resolves from. ' +
        'Errors are RFC 9457 `application/problem+json`. A path the API does not serve is a 404 problem; a served path with a method no operation lists is a 405 problem with `Allow` ' +
        '(see `components.responses.MethodNotAllowed`). Request bodies are JSON, or YAML when sent with a YAML content type.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'the HTTP API the CDK app deploys (or its custom domain)',
        variables: { apiId: { default: 'abcdef1234' }, region: { default: 'us-east-1' } },
      },
    ],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'stack-jobs', description: 'Submit changes and read stack jobs' },
      { name: 'artifacts', description: 'Logs, plans and outputs a job leaves behind, and the status of each resource' },
      { name: 'approvals', description: 'Human control: approve or reject a plan, cancel a job, rerun one; and the Slack interactivity endpoint' },
      {
        name: 'catalog',
        description: 'Credential references, state backends, modules, org settings, flow control policies and runners, per org and for the platform',
      },
      { name: 'identity', description: 'Who the caller is, and what their roles let them do in each org' },
      { name: 'meta', description: 'The API contract' },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            "A JWT the API Gateway authorizer accepts. Claims: `sub` (the caller), `custom:orgs` (the caller's orgs) and `custom:roles`: `org:role` entries grant a role in that org only (e.g. `acme:approver globex:viewer`); a bare role (viewer, operator, approver, admin) counts for a member of exactly one org; `platform-admin` governs the platform catalog only. The claim names are configurable.",
        },
      },
      schemas: { ...outputs, ...inputs },
      responses: sharedResponses(),
      examples: Object.fromEntries(Object.entries(componentExamples).map(([id, value]) => [id, { summary: EXAMPLE_SUMMARIES[id] ?? id, value }])),
    },
  };
}

/** The document as `docs/openapi.json` holds it (`npm run openapi`); the staleness test compares against this. */
export function renderOpenApiDocument(routes: readonly Route[]): string {
  return `${JSON.stringify(buildOpenApiDocument(routes), null, 2)}\n`;
}
