/** The generated OpenAPI document: it matches the router route for route, is committed current, and is built from the zod schemas. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { accessSentence, buildOpenApiDocument, componentExamples, PLATFORM_CATALOG_KINDS } from '../../lambdas/api/openapi';
import { openApiDocumentText, routeDefinitions } from '../../lambdas/api/routes';
import { catalogKinds, resourceChangeSchema, stackJobSchema } from '../../lambdas/domain/schemas';
import { isAuthenticated, Router } from '../../lambdas/http/router';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';
import { OpenApiValidator } from '../support/openapi-validator';

const routeTable = () => new Router(routeDefinitions()).table;
const doc = buildOpenApiDocument(routeDefinitions());
type Op = {
  operationId: string;
  description: string;
  'x-stackjobs-access': { kind: string; roles?: string[] };
  security?: unknown[];
  responses: Record<string, { $ref?: string }>;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, unknown> };
};
const op = (path: string, method: string) => doc.paths[path][method] as unknown as Op;
const sample = (template: string) => template.replace(/\{(\w+)\}/g, (_m, name: string) => `sample-${name}`);

describe('the document and the router', () => {
  it('documents every route the router serves, and no operation the router does not serve', () => {
    const router = new Router([...routeTable()]);
    const served = new Set(router.table.map((r) => `${r.method} ${r.path}`));
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        const { route } = router.match(method.toUpperCase(), sample(path));
        expect({ operation: `${method.toUpperCase()} ${path}`, servedBy: route && `${route.method} ${route.path}` }).toEqual({
          operation: `${method.toUpperCase()} ${path}`,
          servedBy: expect.any(String),
        });
        documented.add(`${route!.method} ${route!.path}`);
      }
    }
    expect([...documented].sort()).toEqual([...served].sort());
  });

  it("is built from each route's own definition: its operation, and who may call it from its declared access", () => {
    for (const route of routeTable()) {
      const o = op(route.path, route.method.toLowerCase());
      expect(o.operationId).toBe(route.doc.operationId);
      expect(o.description.endsWith(accessSentence(route.access))).toBe(true);
      expect(o['x-stackjobs-access'].kind).toBe(route.access.kind);
    }
    expect(op('/v1/stack-jobs/{id}/approve', 'post')['x-stackjobs-access']).toEqual({ kind: 'org-role', roles: ['approver'], org: 'job' });
    expect(op('/v1/stack-jobs/{id}/approve', 'post').description).toMatch(/Needs the role approver in the job's org\. Another org's job is a 404/);
    expect(op('/v1/stack-jobs', 'post').description).toMatch(/Needs the role operator or admin in the change's org\./);
    expect(op('/v1/platform/modules/{id}', 'put').description).toMatch(/Needs the platform-admin role\.$/);
  });

  it('asks for the bearer JWT on every authenticated route and for nothing on the others', () => {
    const router = new Router([...routeTable()]);
    expect(doc.components.securitySchemes).toEqual({ bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }) });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        const { route } = router.match(method.toUpperCase(), sample(path));
        expect({ path, method, open: op(path, method).security?.length === 0 }).toEqual({ path, method, open: !isAuthenticated(route!) });
      }
    }
    expect(op('/v1/openapi.json', 'get').security).toEqual([]);
  });
});

describe('the committed document', () => {
  it('is what `npm run openapi` generates now (run it and commit docs/openapi.json if this fails)', () => {
    const committed = readFileSync(join(__dirname, '../../docs/openapi.json'), 'utf8');
    expect(committed === openApiDocumentText()).toBe(true);
  });
});

describe('what the document says', () => {
  it('lists the path and query parameters, taking the query schemas from the handlers', () => {
    const list = op('/v1/stack-jobs', 'get').parameters!;
    expect(list.map((p) => `${p.in}:${p.name}`)).toEqual([
      'query:org',
      'query:env',
      'query:resourceId',
      'query:kind',
      'query:phase',
      'query:result',
      'query:limit',
      'query:cursor',
      'header:If-None-Match',
    ]);
    expect(list.find((p) => p.name === 'limit')).toMatchObject({ required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } });
    expect(op('/v1/stack-jobs/{id}/logs', 'get').parameters!.map((p) => `${p.in}:${p.name}`)).toEqual([
      'path:id',
      'query:phase',
      'query:operation',
      'query:cursor',
      'header:If-None-Match',
    ]);
    expect(op('/v1/orgs/{org}/envs/{env}/resources/{resourceId}', 'get').parameters!.map((p) => `${p.in}:${p.name}`)).toEqual([
      'path:org',
      'path:env',
      'path:resourceId',
      'header:If-None-Match',
    ]);
  });

  it('documents each error status as application/problem+json, the 422 with its checks and the 400 with per-field errors', () => {
    expect(Object.keys(op('/v1/stack-jobs', 'post').responses)).toEqual(['200', '201', '400', '401', '403', '409', '413', '422', '500']);
    const responses = doc.components.responses as Record<string, { content: Record<string, { schema: { $ref: string } }> }>;
    for (const name of [
      'BadRequest',
      'Unauthorized',
      'Forbidden',
      'NotFound',
      'Conflict',
      'PayloadTooLarge',
      'PreflightFailed',
      'InternalError',
      'MethodNotAllowed',
    ]) {
      expect(Object.keys(responses[name].content)).toContain('application/problem+json');
    }
    expect(responses.PreflightFailed.content['application/problem+json'].schema.$ref).toBe('#/components/schemas/PreflightFailedProblem');
    expect(doc.components.schemas.PreflightFailedProblem.required).toEqual(expect.arrayContaining(['checks', 'status', 'detail']));
    expect(doc.components.schemas.Problem.properties).toHaveProperty('errors.items.$ref', '#/components/schemas/FieldProblem');
  });

  it("documents the router's conditional GETs on every GET: the ETag and Cache-Control of its 200, the 304 and If-None-Match", () => {
    const gets = Object.entries(doc.paths).flatMap(([path, item]) => ('get' in item ? [path] : []));
    expect(gets).toEqual(expect.arrayContaining(['/v1/stack-jobs', '/v1/stack-jobs/{id}', '/v1/me']));
    for (const path of gets) {
      const get = doc.paths[path].get as { parameters?: { name: string; in: string }[]; responses: Record<string, { $ref?: string; headers?: object }> };
      expect({ path, notModified: get.responses['304'], ifNoneMatch: get.parameters?.some((p) => p.in === 'header' && p.name === 'If-None-Match') }).toEqual({
        path,
        notModified: { $ref: '#/components/responses/NotModified' },
        ifNoneMatch: true,
      });
      expect({ path, headers: Object.keys(get.responses['200'].headers ?? {}) }).toEqual({ path, headers: ['ETag', 'Cache-Control'] });
    }
    const notModified = (doc.components.responses as Record<string, { headers: Record<string, { required?: boolean }>; content?: unknown }>).NotModified;
    expect(notModified.content).toBeUndefined();
    expect(notModified.headers.ETag.required).toBe(true);
    expect(op('/v1/stack-jobs', 'post').responses['304']).toBeUndefined();
  });

  it('describes GET /v1/me by the Me schema, permissions named as the router names them', () => {
    const me = op('/v1/me', 'get');
    expect(me['x-stackjobs-access']).toEqual({ kind: 'signed-in' });
    expect(doc.components.schemas.Me).toMatchObject({
      required: ['subject', 'platformAdmin', 'orgs'],
      properties: { orgs: { items: { properties: { permissions: { items: { enum: ['read', 'submit', 'approve', 'admin'] } } } } } },
    });
  });

  it('accepts JSON and YAML request bodies', () => {
    expect(Object.keys(op('/v1/stack-jobs', 'post').requestBody!.content)).toEqual(['application/json', 'application/yaml']);
    expect(Object.keys(op('/v1/orgs/{org}/provider-credentials/{id}', 'put').requestBody!.content)).toEqual(['application/json', 'application/yaml']);
  });

  it('describes requests as zod parses them (defaults optional) and responses as the server sends them (defaults present)', () => {
    const s = doc.components.schemas;
    expect(s.ResourceChange.required).not.toContain('spec');
    expect(s.BackendCredential.required).toEqual(expect.arrayContaining(['id', 'org', 'kind', 'type']));
    // A PUT body may leave out what the path supplies and what has a default.
    expect(s.BackendCredentialInput.required).toEqual(['provisioner', 'config']);
    expect(s.OrgSettingsInput.required ?? []).toEqual([]);
  });

  it('documents the catalog per kind, at the platform only the kinds the platform holds', () => {
    expect(
      Object.keys(doc.paths)
        .filter((p) => p.startsWith('/v1/orgs/{org}/') && !p.includes('{id}') && !p.includes('/envs/'))
        .sort(),
    ).toEqual(catalogKinds.map((k) => `/v1/orgs/{org}/${k}`).sort());
    expect(
      Object.keys(doc.paths)
        .filter((p) => p.startsWith('/v1/platform/') && !p.includes('{id}') && !p.startsWith('/v1/platform/slack-links/'))
        .sort(),
    ).toEqual(PLATFORM_CATALOG_KINDS.map((k) => `/v1/platform/${k}`).sort());
  });

  it("shows the design's StackJob as the example, and every example validates against its schema", () => {
    expect(stackJobSchema.parse(componentExamples.StackJob)).toEqual(componentExamples.StackJob);
    expect(resourceChangeSchema.parse(componentExamples.ResourceChange)).toEqual(componentExamples.ResourceChange);
    expect(componentExamples.StackJob).toMatchObject({ metadata: { org: 'acmecorp', name: 'eks_01jq5xe4z7farkgenqsh47c1h0' } });
    const validator = new OpenApiValidator(doc);
    for (const [name, value] of Object.entries(componentExamples)) {
      expect({ name, violations: validator.schemaViolations(name, value) }).toEqual({ name, violations: [] });
      expect((doc.components.examples as Record<string, { value: unknown }>)[name].value).toEqual(value);
    }
  });
});

describe('the catalog kinds the handlers serve', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness();
  });
  afterAll(() => h.stop());

  it('are exactly the documented ones at each level', async () => {
    for (const kind of catalogKinds) {
      const org = await h.call('GET', `/v1/orgs/acmecorp/${kind}`, { principal: principals.viewer });
      expect({ kind, status: org.statusCode }).toEqual({ kind, status: 200 });
      const platform = await h.call('GET', `/v1/platform/${kind}`, { principal: principals.platformAdmin });
      expect({ kind, status: platform.statusCode }).toEqual({ kind, status: PLATFORM_CATALOG_KINDS.includes(kind) ? 200 : 404 });
    }
    for (const level of ['/v1/orgs/acmecorp', '/v1/platform']) {
      const unknown = await h.call('GET', `${level}/no-such-kind`, { principal: level === '/v1/platform' ? principals.platformAdmin : principals.viewer });
      expect(unknown.statusCode).toBe(404);
    }
  });
});
