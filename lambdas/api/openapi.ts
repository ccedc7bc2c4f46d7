/**
 * The API's OpenAPI 3.1 document, generated from the zod schemas the handlers validate with (zod's own
 * `z.toJSONSchema`, JSON Schema 2020-12 as OpenAPI 3.1 expects): request bodies and query strings with `io: 'input'`
 * (defaulted fields optional), responses with `io: 'output'` (what the server always sends). Only the operation
 * table below is written by hand; test/openapi checks it against the router's `allRoutes` in both directions.
 */
import * as z from '../shared/zod';
import {
  catalogKinds,
  catalogSchemas,
  checkResultSchema,
  planSummarySchema,
  resourceChangeSchema,
  slackLinkSchema,
  stackJobSchema,
  type CatalogKind,
  type CheckResult,
  type ResourceChange,
  type StackJob,
} from '../domain/schemas';
import type { Method } from '../http/router';
import { MAX_BODY_BYTES } from '../http/router';
import { decisionBodySchema, forceCancelBodySchema, SLACK_INTERACTIONS_PATH, slackLinkBodySchema } from './approval-routes';
import { listJobsQuerySchema } from './job-routes';
import { logsQuerySchema } from './artifact-routes';
import { forceUnlockBodySchema, STATE_LOCK_PATH } from './state-lock-routes';
import {
  catalogListSchemas,
  fieldProblemSchema,
  gatewayErrorSchema,
  jobOutputsSchema,
  jobPageSchema,
  logPageSchema,
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

export const OPENAPI_PATH = '/v1/openapi.json';

type Json = Record<string, unknown>;
export type OpenApiDocument = Json & {
  openapi: string;
  paths: Record<string, Record<string, Json>>;
  components: Json & { schemas: Record<string, Json>; responses: Record<string, Json> };
};

const schemaRef = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const responseRef = (id: string) => ({ $ref: `#/components/responses/${id}` });

// ---------------------------------------------------------------- catalog naming

/** Component names and the levels each catalog kind exists at (the platform holds modules, policies and runners only). */
const CATALOG: Record<CatalogKind, { entity: string; plural: string; one: string; platform: boolean }> = {
  'provider-credentials': { entity: 'ProviderCredential', plural: 'ProviderCredentials', one: 'provider credential', platform: false },
  'backend-credentials': { entity: 'BackendCredential', plural: 'BackendCredentials', one: 'backend credential', platform: false },
  modules: { entity: 'IacModule', plural: 'IacModules', one: 'IaC module', platform: true },
  'org-settings': { entity: 'OrgSettings', plural: 'OrgSettingsList', one: 'org settings', platform: false },
  'flow-control-policies': { entity: 'FlowControlPolicy', plural: 'FlowControlPolicies', one: 'flow control policy', platform: true },
  runners: { entity: 'Runner', plural: 'Runners', one: 'runner', platform: true },
};

/** The catalog kinds documented under /v1/platform. */
export const PLATFORM_CATALOG_KINDS = catalogKinds.filter((k) => CATALOG[k].platform);

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

/** Fields the catalog PUT handler fills from the path (id or org, scope, org): a body may leave them out, and if it gives them they must match. */
function pathFilledFields(kind: CatalogKind, platform: boolean): string[] {
  const fields = [kind === 'org-settings' ? 'org' : 'id'];
  if (kind === 'modules' || kind === 'runners') fields.push('scope');
  if (!platform && kind !== 'flow-control-policies' && kind !== 'org-settings') fields.push('org');
  return fields;
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

// ---------------------------------------------------------------- examples (the README's StackJob)

const STACK_JOB_ID = 'sj_01jsrnmwpnnc6n62h06xafcgxv';
const STATE_KEY = 'stack-jobs/acmecorp/production/eks_01jq5xe4z7farkgenqsh47c1h0/terraform.tfstate';

const resourceChangeExample: ResourceChange = {
  resource: {
    id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
    name: 'prod-api-cluster',
    org: 'acmecorp',
    env: 'production',
    version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
  },
  kind: 'aws_eks_cluster',
  spec: { nodeGroup: { desiredSize: 5 } },
  triggerEvent: 'updated',
  createdBy: 'user@company.com',
};

const passedChecksExample: CheckResult[] = [
  {
    check: 'credential',
    passed: true,
    messages: [
      'using aws_credential awscred_prod_account',
      'STS GetCallerIdentity accepted: arn:aws:iam::123456789012:role/stackjobs-deployer (account 123456789012)',
    ],
  },
  {
    check: 'module',
    passed: true,
    messages: ['iacmod_platform_eks_terraform (terraform) by rule platform-default'],
    resolved: { id: 'iacmod_platform_eks_terraform', rule: 'platform-default' },
  },
  {
    check: 'backend',
    passed: true,
    messages: ['backend tfcred_s3_backend_prod (s3): bucket acmecorp-terraform-state reachable', `state exists at ${STATE_KEY}`],
    resolved: { id: 'tfcred_s3_backend_prod', stateKey: STATE_KEY, stateExists: true },
  },
  {
    check: 'flowControl',
    passed: true,
    messages: ['policy platform-default from the platform level'],
    resolved: { id: 'platform-default', level: 'platform' },
  },
];

/** The design's StackJob, as the API returns it right after submission. */
export const stackJobExample: StackJob = {
  apiVersion: 'infra-hub.planton.cloud/v1',
  kind: 'StackJob',
  metadata: {
    id: STACK_JOB_ID,
    name: 'eks_01jq5xe4z7farkgenqsh47c1h0',
    org: 'acmecorp',
    env: 'production',
    version: { id: 'ver-01jsrnmrwjn57drj0ekht8hb93', message: 'Scale EKS node group from 3 to 5 nodes' },
  },
  spec: {
    apiResourceInfo: {
      kind: 'aws_eks_cluster',
      id: 'eks_01jq5xe4z7farkgenqsh47c1h0',
      name: 'prod-api-cluster',
      versionId: 'ver-01jsrnmrwjn57drj0ekht8hb93',
      triggerEvent: 'updated',
      eventCreatedBy: 'user@company.com',
      spec: { nodeGroup: { desiredSize: 5 } },
    },
    essentials: {
      provisioner: 'terraform',
      iacModule: {
        id: 'iacmod_platform_eks_terraform',
        gitRepo: 'github.com/project-planton/aws-eks',
        branch: 'v2.3.0',
        path: 'terraform',
        provider: 'aws',
        rule: 'platform-default',
      },
      backendCredential: {
        kind: 'terraform_backend_credential',
        id: 'tfcred_s3_backend_prod',
        type: 's3',
        config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs' },
        stateKey: STATE_KEY,
      },
      providerCredential: { kind: 'aws_credential', id: 'awscred_prod_account', provider: 'aws', secretRef: 'stackjobs/acmecorp/awscred_prod_account' },
      stackJobRunner: { id: 'sjr_platform_runner', endpoint: 'runner.planton.cloud:443' },
      flowControlPolicy: {
        previewBeforeUpdate: true,
        pauseBetweenPreviewAndUpdate: true,
        skipRefresh: false,
        approvers: [],
        requireDistinctApprover: false,
        approvalTimeoutMinutes: 1440,
        source: { level: 'platform', id: 'platform-default' },
      },
    },
    operations: ['init', 'refresh', 'plan', 'apply'],
  },
  status: {
    phase: 'queued',
    result: 'tbd',
    createdAt: '2025-04-24T09:12:31.000Z',
    updatedAt: '2025-04-24T09:12:31.000Z',
    operations: (['init', 'refresh', 'plan', 'apply'] as const).map((name) => ({ name, status: 'pending' as const, result: 'tbd' as const, errors: [] })),
    preflight: passedChecksExample,
  },
};

/** Example values by component name; test/openapi validates each against its component. */
export const componentExamples: Record<string, unknown> = {
  ResourceChange: resourceChangeExample,
  StackJob: stackJobExample,
  PreflightResult: { passed: true, checks: passedChecksExample },
  Problem: {
    type: 'https://stackjobs.dev/problems/invalid-request',
    title: 'Invalid request',
    status: 400,
    detail: 'resource change is invalid',
    errors: [
      { path: 'triggerEvent', message: 'Invalid option: expected one of "created"|"updated"|"deleted"' },
      { path: 'resource.org', message: 'Too small: expected string to have >=1 characters' },
    ],
  },
  PreflightFailedProblem: {
    type: 'https://stackjobs.dev/problems/pre-flight-failed',
    title: 'Pre-flight failed',
    status: 422,
    detail: 'one or more pre-flight checks failed; no job was created',
    checks: [
      { check: 'credential', passed: false, messages: ['no aws credential of org acmecorp is mapped to environment staging'] },
      {
        check: 'module',
        passed: false,
        messages: ['no module for resource kind aws_rds_instance: org acmecorp has no custom module, and the platform has no default module for it'],
      },
      passedChecksExample[2],
      passedChecksExample[3],
    ],
  },
  ProviderCredential: {
    id: 'awscred_prod_account',
    org: 'acmecorp',
    provider: 'aws',
    kind: 'aws_credential',
    environments: ['production'],
    permissions: ['eks:*', 'ec2:DescribeSubnets'],
    secretRef: 'stackjobs/acmecorp/awscred_prod_account',
  },
  BackendCredential: {
    id: 'tfcred_s3_backend_prod',
    org: 'acmecorp',
    provisioner: 'terraform',
    kind: 'terraform_backend_credential',
    type: 's3',
    config: { bucket: 'acmecorp-terraform-state', region: 'us-east-1', keyPrefix: 'stack-jobs' },
  },
  IacModule: {
    id: 'iacmod_platform_eks_terraform',
    scope: 'platform',
    resourceKind: 'aws_eks_cluster',
    provisioner: 'terraform',
    provider: 'aws',
    gitRepo: 'github.com/project-planton/aws-eks',
    branch: 'v2.3.0',
    path: 'terraform',
    permissions: ['eks:CreateCluster', 'ec2:DescribeSubnets'],
    isDefault: true,
  },
};

const EXAMPLE_SUMMARIES: Record<string, string> = {
  ResourceChange: "acmecorp scales its production EKS cluster's node group from 3 to 5 nodes",
  StackJob: 'the frozen job for that change, just submitted',
  PreflightResult: 'every check passed',
  Problem: 'a change with an unknown trigger and an empty org',
  PreflightFailedProblem: 'no credential for staging and no module for the kind',
};

// ---------------------------------------------------------------- operations

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 422 | 500 | 502;
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

interface SuccessSpec {
  description: string;
  /** Component schema name; absent for an empty body. */
  schema?: string;
  location?: boolean;
}

/** One documented operation: `route` is the router's path template it is served by. */
export interface OperationSpec {
  method: Method;
  path: string;
  route: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  authenticated: boolean;
  params?: Record<string, Json>;
  query?: z.ZodObject;
  /** Optional request headers the operation reads, by name: `{description, schema}`. */
  headers?: Record<string, Json>;
  /**
   * The body's schema and the name of its example in `componentExamples`; `optional` when an empty body is accepted;
   * `contentTypes` when the body is not JSON/YAML (the Slack form post).
   */
  body?: { schema: Json; example?: string; optional?: boolean; contentTypes?: string[] };
  success: Record<number, SuccessSpec>;
  errors: ErrorStatus[];
}

const PARAMS: Record<string, Json> = {
  org: { description: 'organization', schema: { type: 'string' }, example: 'acmecorp' },
  env: { description: 'environment', schema: { type: 'string' }, example: 'production' },
  resourceId: { description: 'the cloud resource id', schema: { type: 'string' }, example: 'eks_01jq5xe4z7farkgenqsh47c1h0' },
  id: { description: 'stack job id ("sj_" + lowercase ULID)', schema: { type: 'string' }, example: STACK_JOB_ID },
};

const READ = 'needs one of the roles viewer, operator, approver, admin in the org concerned (platform-admin reads the platform catalog only)';
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const camel = (kebab: string) => kebab.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function jobOperations(): OperationSpec[] {
  const submitErrors: ErrorStatus[] = [400, 401, 403, 413, 500];
  const readErrors: ErrorStatus[] = [400, 401, 403, 404, 500];
  const jobBody = { schema: schemaRef('ResourceChange'), example: 'ResourceChange' };
  return [
    {
      method: 'POST',
      path: '/v1/preflight',
      route: '/v1/preflight',
      operationId: 'runPreflight',
      summary: 'Dry-run the pre-flight checks for a change',
      description: "Runs all four checks and returns every result, pass or fail; creates nothing. Needs the operator or admin role in the change's org.",
      tag: 'stack-jobs',
      authenticated: true,
      body: jobBody,
      success: { 200: { description: 'every check, pass or fail', schema: 'PreflightResult' } },
      errors: submitErrors,
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs',
      route: '/v1/stack-jobs',
      operationId: 'submitChange',
      summary: 'Submit a resource change: pre-flight, freeze the StackJob and start it',
      description:
        'Idempotent on (org, env, resource id, version id, trigger): a repeat answers 200 with the job the first submission created. ' +
        "If any pre-flight check fails, no job is created and the 422 lists every check. Needs the operator or admin role in the change's org.",
      tag: 'stack-jobs',
      authenticated: true,
      body: jobBody,
      success: {
        200: { description: 'a duplicate submission: the job the first one created', schema: 'StackJob', location: true },
        201: { description: 'the job was created and its execution started', schema: 'StackJob', location: true },
      },
      errors: [...submitErrors.slice(0, 3), 409, 413, 422, 500],
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs',
      route: '/v1/stack-jobs',
      operationId: 'listStackJobs',
      summary: "List an org's stack jobs, newest first",
      description: `\`org\` may be left out by a caller who belongs to exactly one org. Unknown query parameters are a 400. ${READ}.`,
      tag: 'stack-jobs',
      authenticated: true,
      query: listJobsQuerySchema,
      success: { 200: { description: 'one page', schema: 'JobPage' } },
      errors: readErrors,
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}',
      route: '/v1/stack-jobs/{id}',
      operationId: 'getStackJob',
      summary: 'Read a stack job: the frozen snapshot and its live status',
      description: `Another org's job is a 404. ${READ}.`,
      tag: 'stack-jobs',
      authenticated: true,
      success: { 200: { description: 'the job', schema: 'StackJob' } },
      errors: readErrors,
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/logs',
      route: '/v1/stack-jobs/{id}/logs',
      operationId: 'getStackJobLogs',
      summary: "Read a job's logs; follow a running job with the cursor",
      description: `\`operation\` needs \`phase\`. ${READ}.`,
      tag: 'artifacts',
      authenticated: true,
      query: logsQuerySchema,
      success: { 200: { description: 'the log text since the cursor', schema: 'LogPage' } },
      errors: readErrors,
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/plan',
      route: '/v1/stack-jobs/{id}/plan',
      operationId: 'getStackJobPlan',
      summary: "Read a job's plan summary, digest and a short-lived link to the full plan",
      description: `404 until the plan operation has saved a plan. ${READ}.`,
      tag: 'artifacts',
      authenticated: true,
      success: { 200: { description: 'the plan', schema: 'PlanView' } },
      errors: readErrors,
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/plan/changes',
      route: '/v1/stack-jobs/{id}/plan/changes',
      operationId: 'getStackJobPlanChanges',
      summary: 'Read the plan as an approver reads it: each resource, its action and the attributes that change',
      description:
        'From the masked plan the runner stored: per resource the action and each changed attribute before → after (sensitive values as ' +
        '`(sensitive)`, unknown ones as `(known after apply)`), output changes and the drift the refresh found. At most 200 resources and ' +
        `100 attributes each (\`totalResources\`, \`attributesTruncated\` say when more changed). 404 until the plan operation has saved a plan. ${READ}.`,
      tag: 'artifacts',
      authenticated: true,
      success: { 200: { description: 'the plan changes', schema: 'PlanChanges' } },
      errors: readErrors,
    },
    {
      method: 'GET',
      path: '/v1/stack-jobs/{id}/outputs',
      route: '/v1/stack-jobs/{id}/outputs',
      operationId: 'getStackJobOutputs',
      summary: "Read a job's outputs, sensitive values masked",
      description: `404 until the job has produced outputs. ${READ}.`,
      tag: 'artifacts',
      authenticated: true,
      success: { 200: { description: 'the outputs', schema: 'JobOutputs' } },
      errors: readErrors,
    },
    {
      method: 'GET',
      path: '/v1/orgs/{org}/envs/{env}/resources/{resourceId}',
      route: '/v1/orgs/{org}/envs/{env}/resources/{resourceId}',
      operationId: 'getResourceStatus',
      summary: "Read a resource's latest stack-job status and live outputs",
      description: `404 until a job for the resource has finished. ${READ}.`,
      tag: 'artifacts',
      authenticated: true,
      success: { 200: { description: 'the resource status', schema: 'ResourceStatus' } },
      errors: readErrors,
    },
    {
      method: 'GET',
      path: STATE_LOCK_PATH,
      route: STATE_LOCK_PATH,
      operationId: 'getStateLock',
      summary: "Read Terraform's own lock on a resource's state, and the stack job it was left by",
      description:
        "Where the stack's newest job keeps its state: the S3 `<key>.tflock` object or the lock table's `<bucket>/<key>` item, or a local backend's " +
        '`.terraform.tfstate.lock.info` (local mode). 404 when there is no lock, or when no job of the resource was ever submitted. ' +
        `${READ}.`,
      tag: 'artifacts',
      authenticated: true,
      success: { 200: { description: 'the lock', schema: 'StateLock' } },
      errors: [...readErrors, 502],
    },
    {
      method: 'POST',
      path: `${STATE_LOCK_PATH}/force-unlock`,
      route: `${STATE_LOCK_PATH}/force-unlock`,
      operationId: 'forceUnlockStateLock',
      summary: 'Release a Terraform state lock a killed tool left behind (terraform force-unlock)',
      description:
        'Deletes the lock only while its id is `lockId` (a conditional delete). 409 while a stack job holds the stack (its run owns the lock: cancel ' +
        "that job instead), when `lockId` is not the lock's id, or when a live process holds a local lock; 404 when there is no lock. The release is " +
        'published as a `Stack Terraform Lock Released` event with who and why. Needs the admin role in the org.',
      tag: 'artifacts',
      authenticated: true,
      body: { schema: schemaRef('ForceUnlockInput') },
      success: { 200: { description: 'released: the lock as it was, with who released it, when and why', schema: 'StateLock' } },
      errors: [400, 401, 403, 404, 409, 413, 500, 502],
    },
  ];
}

function catalogOperations(): OperationSpec[] {
  const ops: OperationSpec[] = [];
  for (const platform of [false, true]) {
    const prefix = platform ? '/v1/platform' : '/v1/orgs/{org}';
    const scope = platform ? 'Platform' : '';
    const writeRole = platform ? 'needs the platform-admin role' : 'needs the admin role in the org (platform-admin is not an org admin)';
    for (const kind of catalogKinds.filter((k) => !platform || CATALOG[k].platform)) {
      const { entity, plural, one } = CATALOG[kind];
      const noun = kind.replace(/-/g, ' ');
      const idParam = { id: { description: kind === 'org-settings' ? 'the org the settings belong to' : `${one} id`, schema: { type: 'string' } } };
      // The module example is a platform module: under an org path it would contradict its scope.
      const example = entity in componentExamples && (kind !== 'modules' || platform) ? { example: entity } : {};
      const item = `${prefix}/${kind}/{id}`;
      const base = { tag: 'catalog', authenticated: true };
      const opId = (verb: string, what: string) => `${verb}${scope}${cap(camel(what))}`;
      ops.push(
        {
          ...base,
          method: 'GET',
          path: `${prefix}/${kind}`,
          route: `${prefix}/{kind}`,
          operationId: opId('list', kind),
          summary: `List the ${platform ? 'platform' : "org's"} ${noun}`,
          description: `${READ}.`,
          success: { 200: { description: `every ${noun} entry`, schema: plural } },
          errors: [400, 401, 403, 404, 500],
        },
        {
          ...base,
          method: 'GET',
          path: item,
          route: `${prefix}/{kind}/{id}`,
          operationId: opId('get', entity),
          summary: `Read one ${platform ? 'platform ' : ''}${one}`,
          description: `${READ}.`,
          params: idParam,
          success: { 200: { description: `the ${one}`, schema: entity } },
          errors: [400, 401, 403, 404, 500],
        },
        {
          ...base,
          method: 'PUT',
          path: item,
          route: `${prefix}/{kind}/{id}`,
          operationId: opId('put', entity),
          summary: `Create or replace one ${platform ? 'platform ' : ''}${one}`,
          description:
            `Fields the path determines (${pathFilledFields(kind, platform).join(', ')}) may be left out; if given they must match the path. ` +
            `References to secrets only: any field not in the schema, such as secret material, is a 400. ${cap(writeRole)}.`,
          params: idParam,
          body: { schema: schemaRef(`${entity}Input`), ...example },
          success: {
            200: { description: 'replaced', schema: entity },
            201: { description: 'created', schema: entity },
          },
          errors: [400, 401, 403, 404, 413, 500],
        },
        {
          ...base,
          method: 'DELETE',
          path: item,
          route: `${prefix}/{kind}/{id}`,
          operationId: opId('delete', entity),
          summary: `Delete one ${platform ? 'platform ' : ''}${one}`,
          description: `${cap(writeRole)}.`,
          params: idParam,
          success: { 204: { description: 'deleted' } },
          errors: [400, 401, 403, 404, 500],
        },
      );
    }
  }
  return ops;
}

const openApiOperation: OperationSpec = {
  method: 'GET',
  path: OPENAPI_PATH,
  route: OPENAPI_PATH,
  operationId: 'getOpenApiDocument',
  summary: 'This document',
  description: 'Served without authentication, so clients and portals can fetch the contract they generate from.',
  tag: 'meta',
  authenticated: false,
  success: { 200: { description: 'the OpenAPI 3.1 document', schema: 'OpenApiDocument' } },
  // The router refuses an oversized body on every route, this one included.
  errors: [413, 500],
};

function approvalOperations(): OperationSpec[] {
  const decision = (verb: 'approve' | 'reject'): OperationSpec => ({
    method: 'POST',
    path: `/v1/stack-jobs/{id}/${verb}`,
    route: `/v1/stack-jobs/{id}/${verb}`,
    operationId: `${verb}StackJob`,
    summary: verb === 'approve' ? 'Approve the plan a job is waiting on' : 'Reject the plan a job is waiting on (the job ends cancelled)',
    description:
      "Needs the approver role in the job's org; when the job's policy names approvers, the caller must be one of them for the job's environment, " +
      'and under `requireDistinctApprover` must not be the author of the change. The first decision wins: a second one, one after the approval window, ' +
      "or one on a job that is not awaiting approval is a 409 whose detail says why. Another org's job is a 404. The decision is recorded on " +
      '`status.approval.decision` (who, when, channel `api`, plan digest, comment).',
    tag: 'approvals',
    authenticated: true,
    body: { schema: schemaRef('DecisionInput'), optional: true },
    success: { 200: { description: `${verb === 'approve' ? 'approved' : 'rejected'}: the job with its decision; the workflow resumes`, schema: 'StackJob' } },
    errors: [400, 401, 403, 404, 409, 413, 500],
  });
  return [
    decision('approve'),
    decision('reject'),
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/cancel',
      route: '/v1/stack-jobs/{id}/cancel',
      operationId: 'cancelStackJob',
      summary: 'Cancel a job',
      description:
        'Queued: it leaves the queue and ends completed/cancelled (200). Awaiting approval: the approval closes, the waiting execution is failed with ' +
        'StackJob.Cancelled, the job ends completed/cancelled (200). Running a refresh or plan: the runner task is stopped (ECS StopTask) and the workflow ' +
        'ends the job completed/cancelled (202, `status.cancelRequested` set). Running an apply or destroy: never interrupted; the request is recorded (202), ' +
        'the update finishes, nothing runs after it, and the job ends with reason `cancel_requested_during_update`. Running, but its workflow execution is ' +
        'gone (local mode restarted, an execution stopped without its cleanup): the job ends completed/failed with reason `interrupted` (200), its runner ' +
        "stopped. Completed: 409. In every case the stack lock is released and an event published. Needs the operator or admin role in the job's org.",
      tag: 'approvals',
      authenticated: true,
      success: {
        200: { description: 'the job ended now: completed/cancelled', schema: 'StackJob' },
        202: { description: 'cancellation under way (runner stopping, or the update finishes first)', schema: 'StackJob' },
      },
      errors: [401, 403, 404, 409, 413, 500],
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/force-cancel',
      route: '/v1/stack-jobs/{id}/force-cancel',
      operationId: 'forceCancelStackJob',
      summary: 'End a job in any phase and free its stack (org admins)',
      description:
        'For getting a stack back when a job is stuck: the job ends completed/cancelled with reason `force_cancelled`, `status.forceCancelled` records who, ' +
        'when and the reason given; its runner task is stopped (an apply or destroy too: unlike cancel), a waiting approval is closed, and its stack lease ' +
        "is released even if ECS does not confirm the stop (Terraform's own state lock still guards the state). Needs the admin role in the job's org; " +
        "another org's job is a 404; a completed job is a 409.",
      tag: 'approvals',
      authenticated: true,
      body: { schema: schemaRef('ForceCancelInput') },
      success: { 200: { description: 'the job, ended: completed/cancelled, reason force_cancelled', schema: 'StackJob' } },
      errors: [400, 401, 403, 404, 409, 413, 500],
    },
    {
      method: 'POST',
      path: '/v1/stack-jobs/{id}/rerun',
      route: '/v1/stack-jobs/{id}/rerun',
      operationId: 'rerunStackJob',
      summary: 'Run an ended job again for the same resource version (pre-flight runs again)',
      description:
        'A new job linked by `metadata.rerunOf`, submitted by the caller (`metadata.submittedBy`); every rerun is a new job, unless the request carries an ' +
        '`Idempotency-Key`: a retry with the same key for the same job answers 200 with the rerun that key made. 409 when the job has not ended, or when ' +
        "the resource has a newer version (the detail names it). 422 when pre-flight fails now. Needs the operator or admin role in the job's org.",
      tag: 'approvals',
      authenticated: true,
      headers: {
        'Idempotency-Key': {
          description:
            'names this rerun attempt, so that a retried request answers with the job it made instead of making another (printable ASCII, 1 to 255 characters)',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
          example: 'rerun-2026-11-27-0001',
        },
      },
      success: {
        200: { description: 'a rerun with this Idempotency-Key was made before: that rerun', schema: 'StackJob', location: true },
        201: { description: 'the rerun was created and started', schema: 'StackJob', location: true },
      },
      errors: [400, 401, 403, 404, 409, 413, 422, 500],
    },
    {
      method: 'POST',
      path: SLACK_INTERACTIONS_PATH,
      route: SLACK_INTERACTIONS_PATH,
      operationId: 'slackInteraction',
      summary: 'Slack interactivity endpoint (Approve / Reject buttons)',
      description:
        'Called by Slack, not by clients: no JWT; the request must carry a valid `X-Slack-Signature` (v0, HMAC-SHA256 with the signing secret) and an ' +
        '`X-Slack-Request-Timestamp` within 5 minutes, else 401 with no detail. A verified click is acknowledged with an empty 200; its outcome (or why it ' +
        'changed nothing) is posted to the `response_url`.',
      tag: 'approvals',
      authenticated: false,
      body: {
        schema: { type: 'object', properties: { payload: { type: 'string', description: 'the block_actions payload, JSON' } }, required: ['payload'] },
        contentTypes: ['application/x-www-form-urlencoded'],
      },
      success: { 200: { description: 'acknowledged (empty body)' } },
      errors: [400, 401, 413, 500],
    },
    ...slackLinkOperations(),
  ];
}

const SLACK_LINK_PARAMS: Record<string, Json> = {
  teamId: { description: 'the Slack workspace id (T…)', schema: { type: 'string' }, example: 'T0ACME01' },
  userId: { description: 'the Slack user id (U… or W…)', schema: { type: 'string' }, example: 'U0APPROVER1' },
};

/** Who a Slack account acts as: linked by the person themselves, or by a platform admin; never by an org admin. */
function slackLinkOperations(): OperationSpec[] {
  const own = '/v1/me/slack-links/{teamId}/{userId}';
  const platform = '/v1/platform/slack-links/{teamId}/{userId}';
  const common = { tag: 'approvals', authenticated: true, params: SLACK_LINK_PARAMS } as const;
  return [
    {
      ...common,
      method: 'PUT',
      path: own,
      route: own,
      operationId: 'linkMySlackAccount',
      summary: 'Link a Slack account to yourself',
      description:
        'Clicks on approval buttons by this Slack account then act as you (the caller). You can only link yourself; an account already linked to ' +
        "someone else is a 409 (a platform admin can change it). Clicks count only from the deployment's workspace (stackjobs:slackTeamId).",
      success: { 200: { description: 'the link', schema: 'SlackLink' } },
      errors: [400, 401, 409, 500],
    },
    {
      ...common,
      method: 'DELETE',
      path: own,
      route: own,
      operationId: 'unlinkMySlackAccount',
      summary: 'Remove your own link of a Slack account',
      success: { 204: { description: 'removed' } },
      errors: [400, 401, 404, 500],
    },
    {
      ...common,
      method: 'PUT',
      path: platform,
      route: platform,
      operationId: 'linkSlackAccount',
      summary: 'Link a Slack account to a principal (platform admin)',
      description: 'Needs the platform-admin role. Replaces any link the account had.',
      body: { schema: schemaRef('SlackLinkInput') },
      success: { 200: { description: 'the link', schema: 'SlackLink' } },
      errors: [400, 401, 403, 413, 500],
    },
    {
      ...common,
      method: 'DELETE',
      path: platform,
      route: platform,
      operationId: 'unlinkSlackAccount',
      summary: 'Remove a Slack link (platform admin)',
      success: { 204: { description: 'removed' } },
      errors: [400, 401, 403, 404, 500],
    },
  ];
}

/** Every documented operation; the test pins this list to the router's routes. */
export function operationSpecs(): OperationSpec[] {
  return [...jobOperations(), ...approvalOperations(), ...catalogOperations(), openApiOperation];
}

// ---------------------------------------------------------------- assembly

function parameters(op: OperationSpec): Json[] {
  const names = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const pathParams = names.map((name) => {
    const spec = op.params?.[name] ?? PARAMS[name];
    if (!spec) throw new Error(`no parameter spec for {${name}} in ${op.path}`);
    return { name, in: 'path', required: true, ...spec };
  });
  const headerParams = Object.entries(op.headers ?? {}).map(([name, spec]) => ({ name, in: 'header', required: false, ...spec }));
  if (!op.query) return [...pathParams, ...headerParams];
  const query = querySchemaJson(op.query);
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

function operation(op: OperationSpec): Json {
  const responses: Record<string, Json> = {};
  for (const [status, s] of Object.entries(op.success)) {
    responses[status] = {
      description: s.description,
      ...(s.location
        ? {
            headers: {
              Location: { description: 'the path of the job', required: true, schema: { type: 'string' }, example: `/v1/stack-jobs/${STACK_JOB_ID}` },
            },
          }
        : {}),
      ...(s.schema ? { content: { 'application/json': mediaType(schemaRef(s.schema), s.schema) } } : {}),
    };
  }
  for (const status of op.errors) responses[String(status)] = responseRef(ERROR_RESPONSES[status]);
  const body = op.body && mediaType(op.body.schema, op.body.example);
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [op.tag],
    ...(op.authenticated ? {} : { security: [] }),
    ...(parameters(op).length > 0 ? { parameters: parameters(op) } : {}),
    ...(body && op.body?.contentTypes
      ? {
          requestBody: {
            required: true,
            description: `At most ${MAX_BODY_BYTES} bytes.`,
            content: Object.fromEntries(op.body.contentTypes.map((t) => [t, body])),
          },
        }
      : body
        ? {
            requestBody: {
              required: !op.body?.optional,
              description: `JSON, or YAML with a YAML content type (e.g. application/yaml); at most ${MAX_BODY_BYTES} bytes.`,
              content: { 'application/json': body, 'application/yaml': body },
            },
          }
        : {}),
    responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b))),
  };
}

const problemContent = (schema = 'Problem', example?: string) => ({ 'application/problem+json': mediaType(schemaRef(schema), example) });

function errorResponses(): Record<string, Json> {
  return {
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

/** Builds the whole document. Pure and deterministic: `npm run openapi` writes it, the API serves it. */
export function buildOpenApiDocument(): OpenApiDocument {
  const outputs = toComponents(outputComponents(), 'output');
  const inputs = inputComponentsJson();
  const clash = Object.keys(inputs).filter((id) => id in outputs);
  if (clash.length > 0) throw new Error(`component names used for both request and response shapes: ${clash.join(', ')}`);
  const paths: Record<string, Record<string, Json>> = {};
  for (const op of operationSpecs()) (paths[op.path] ??= {})[op.method.toLowerCase()] = operation(op);
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
      responses: errorResponses(),
      examples: Object.fromEntries(Object.entries(componentExamples).map(([id, value]) => [id, { summary: EXAMPLE_SUMMARIES[id] ?? id, value }])),
    },
  };
}

/** The document as `docs/openapi.json` holds it (`npm run openapi`); the staleness test compares against this. */
export function renderOpenApiDocument(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}
