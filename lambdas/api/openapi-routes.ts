/** Serves the OpenAPI document without authentication, built once per process from the route definitions it is served beside. */
import { json } from '../http/problem';
import type { Route } from '../http/router';
import { buildOpenApiDocument, OPENAPI_PATH, type OpenApiDocument } from './openapi';
import { openApiDocumentSchema } from './response-schemas';

export function openapiRoute(routes: () => readonly Route[]): Route {
  let document: OpenApiDocument | undefined;
  return {
    method: 'GET',
    path: OPENAPI_PATH,
    access: { kind: 'public' },
    doc: {
      operationId: 'getOpenApiDocument',
      summary: 'This document',
      description:
        'Clients and portals fetch the contract they generate from here. The same for every caller, so shared caches may keep it five minutes ' +
        '(`Cache-Control: public, max-age=300`).',
      tag: 'meta',
      success: { 200: { description: 'the OpenAPI 3.1 document', schema: openApiDocumentSchema } },
      // The router refuses an oversized body on every route, this one included.
      errors: [413, 500],
    },
    async handle() {
      document ??= buildOpenApiDocument(routes());
      return json(200, document, { 'cache-control': 'public, max-age=300' });
    },
  };
}
