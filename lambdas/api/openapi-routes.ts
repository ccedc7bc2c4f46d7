/** Serves the OpenAPI document without authentication, built once per process from the same schemas as the handlers. */
import { json } from '../http/problem';
import type { Route } from '../http/router';
import { buildOpenApiDocument, OPENAPI_PATH, type OpenApiDocument } from './openapi';

export function openapiRoutes(): Route[] {
  let document: OpenApiDocument | undefined;
  return [
    {
      method: 'GET',
      path: OPENAPI_PATH,
      authenticated: false,
      async handle() {
        document ??= buildOpenApiDocument();
        return json(200, document, { 'cache-control': 'public, max-age=300' });
      },
    },
  ];
}
