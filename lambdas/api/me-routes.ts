/** Who the caller is: what a role-aware client reads once to offer only what the caller may do. */
import { json } from '../http/problem';
import { callerAccess } from '../http/principal';
import type { Route } from '../http/router';
import { meSchema } from './response-schemas';

export function meRoutes(): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/me',
      access: { kind: 'signed-in' },
      doc: {
        operationId: 'getMe',
        summary: 'Who you are: your orgs, your roles in each and what they let you do',
        description:
          'Computed by the rules every route is held to, so a client can hide what the caller may not do. `approve` is what the role allows; ' +
          "a job's flow control policy may narrow it further (its `approvers`), and nobody approves their own change.",
        tag: 'identity',
        success: { 200: { description: 'the caller', schema: meSchema } },
        errors: [401, 500],
      },
      async handle(req) {
        return json(200, callerAccess(req.principal));
      },
    },
  ];
}
