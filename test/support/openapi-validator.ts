/**
 * Checks an API exchange against the OpenAPI document: the status is documented for the operation, the declared
 * headers are there, the content type is one the response lists and the body validates (ajv, JSON Schema 2020-12).
 * For a 2xx it also checks the request: a server that accepts what its document rejects has drifted too.
 * Paths the document does not list may only answer 404 or 405; a listed path with an unlisted method answers 405.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { buildOpenApiDocument, type OpenApiDocument } from '../../lambdas/api/openapi';
import { parseBody } from '../../lambdas/http/router';
import { routeDefinitions } from '../../lambdas/api/routes';

type Json = Record<string, unknown>;

export interface Exchange {
  method: string;
  /** The path as requested, without the query string. */
  path: string;
  query?: Record<string, string>;
  request?: { contentType?: string; rawBody?: string };
  response: APIGatewayProxyStructuredResultV2;
}

export class ContractDriftError extends Error {
  constructor(
    readonly exchange: string,
    readonly violations: string[],
  ) {
    super(`${exchange} drifted from docs/openapi.json:\n  - ${violations.join('\n  - ')}`);
    this.name = 'ContractDriftError';
  }
}

const DOC_ID = 'https://stackjobs.dev/openapi.json';

interface CompiledPath {
  template: string;
  regex: RegExp;
  literalSegments: number;
}

export class OpenApiValidator {
  private readonly ajv: Ajv2020;
  /** Query strings arrive as strings: validated with type coercion, as the handlers' z.coerce does. */
  private readonly queryAjv: Ajv2020;
  private readonly paths: CompiledPath[];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(readonly document: OpenApiDocument = buildOpenApiDocument(routeDefinitions())) {
    const components = { $id: DOC_ID, components: { schemas: document.components.schemas } };
    const make = (coerceTypes: boolean) => {
      const ajv = new Ajv2020({ allErrors: true, strict: true, coerceTypes });
      addFormats(ajv);
      ajv.addKeyword('components');
      ajv.addSchema(components);
      return ajv;
    };
    this.ajv = make(false);
    this.queryAjv = make(true);
    this.paths = Object.keys(document.paths).map((template) => ({
      template,
      regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}/?$`),
      literalSegments: template.split('/').filter((s) => s && !s.startsWith('{')).length,
    }));
  }

  /** Every way the exchange departs from the document; empty when it keeps to it. */
  violations(x: Exchange): string[] {
    const method = x.method.toLowerCase();
    const status = String(x.response.statusCode ?? 200);
    const candidates = this.paths.filter((p) => p.regex.test(x.path)).sort((a, b) => b.literalSegments - a.literalSegments);
    const pathItem = candidates.map((p) => this.document.paths[p.template]).find((item) => method in item);
    if (!pathItem) {
      if (candidates.length > 0) return this.checkResponse(x, this.resolve(responseOf('MethodNotAllowed')), '405', status);
      if (status !== '404' && status !== '405') return [`${x.method} ${x.path} is not in the document, so it may only answer 404 or 405, not ${status}`];
      return this.checkResponse(x, this.resolve(responseOf(status === '404' ? 'NotFound' : 'MethodNotAllowed')), status, status);
    }
    const op = pathItem[method] as Json;
    const responses = op.responses as Record<string, Json>;
    if (!(status in responses))
      return [`status ${status} is not documented for ${x.method} ${candidates[0].template} (documented: ${Object.keys(responses).join(', ')})`];
    const problems = this.checkResponse(x, this.resolve(responses[status]), status, status);
    if (status.startsWith('2')) problems.push(...this.checkRequest(x, op));
    return problems;
  }

  /** Validates a value against one of the document's component schemas. */
  schemaViolations(component: string, value: unknown): string[] {
    if (!(component in this.document.components.schemas)) throw new Error(`no component schema ${component}`);
    return this.validate(this.ajv, { $ref: `#/components/schemas/${component}` }, value, component);
  }

  /** Throws a ContractDriftError naming every violation. */
  assert(x: Exchange): void {
    const v = this.violations(x);
    if (v.length > 0) throw new ContractDriftError(`${x.method} ${x.path} -> ${x.response.statusCode}`, v);
  }

  private checkResponse(x: Exchange, response: Json, documented: string, actual: string): string[] {
    if (documented !== actual) return [`expected status ${documented}, got ${actual}`];
    const problems: string[] = [];
    const headers = Object.fromEntries(Object.entries(x.response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
      if (header.required && !(name.toLowerCase() in headers)) problems.push(`missing required header ${name}`);
    }
    const content = response.content as Record<string, Json> | undefined;
    const body = x.response.body;
    if (!content) {
      if (body !== undefined && body !== '') problems.push(`the response documents no body, but one was sent`);
      return problems;
    }
    const contentType = (headers['content-type'] ?? '').split(';')[0].trim();
    const media = content[contentType];
    if (!media) return [...problems, `content type "${contentType}" is not one of ${Object.keys(content).join(', ')}`];
    let parsed: unknown;
    try {
      parsed = JSON.parse(body ?? '');
    } catch {
      return [...problems, `the body is not JSON`];
    }
    return [...problems, ...this.validate(this.ajv, media.schema as Json, parsed, 'response body')];
  }

  private checkRequest(x: Exchange, op: Json): string[] {
    const problems: string[] = [];
    const params = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'query');
    const query = x.query ?? {};
    if (Object.keys(query).length > 0 || params.some((p) => p.required)) {
      const schema = {
        type: 'object',
        properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
        required: params.filter((p) => p.required).map((p) => p.name),
        additionalProperties: false,
      };
      problems.push(...this.validate(this.queryAjv, schema, { ...query }, 'accepted query'));
    }
    const requestBody = op.requestBody as { content: Record<string, Json> } | undefined;
    if (requestBody && x.request?.rawBody !== undefined) {
      const contentType = (x.request.contentType ?? 'application/json').split(';')[0].trim();
      const media = requestBody.content[/yaml/i.test(contentType) ? 'application/yaml' : contentType];
      if (!media) problems.push(`accepted a request body of type ${contentType}, which the document does not list`);
      else problems.push(...this.validate(this.ajv, media.schema as Json, parseBody(x.request.rawBody, contentType), 'accepted request body'));
    }
    return problems;
  }

  private validate(ajv: Ajv2020, schema: Json, value: unknown, what: string): string[] {
    const validate = this.compile(ajv, schema);
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${what}${e.instancePath || ''}: ${e.message ?? e.keyword}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  }

  private compile(ajv: Ajv2020, schema: Json): ValidateFunction {
    const key = `${ajv === this.queryAjv ? 'q' : 'b'}:${JSON.stringify(schema)}`;
    let fn = this.compiled.get(key);
    if (!fn) {
      fn = ajv.compile(rebase(schema));
      this.compiled.set(key, fn);
    }
    return fn;
  }

  /** Follows a local `$ref` (components.responses) to the object it names. */
  private resolve(node: Json): Json {
    const ref = node.$ref;
    if (typeof ref !== 'string') return node;
    const target = ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((at, key) => (at as Json)[key.replace(/~1/g, '/').replace(/~0/g, '~')], this.document);
    if (!target) throw new Error(`unresolvable ${ref}`);
    return this.resolve(target as Json);
  }
}

const responseOf = (name: string): Json => ({ $ref: `#/components/responses/${name}` });

/** Points a schema's document-local refs at the components added to ajv under DOC_ID. */
function rebase(schema: Json): Json {
  return JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\/components\/schemas\//g, `"$ref":"${DOC_ID}#/components/schemas/`)) as Json;
}

let shared: OpenApiValidator | undefined;

/** One validator per test process: compiling the document's schemas is the slow part. */
export function openApiValidator(): OpenApiValidator {
  return (shared ??= new OpenApiValidator());
}
