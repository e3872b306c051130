/**
 * Bearer tokens. Every `/v1` request must carry one; a token acts only in its own project
 * (`/v1/{project}/…`), an admin token in any. The server-sent events URL also takes
 * `?access_token=`, because a browser's EventSource cannot set headers.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Catalog, TokenRecord } from '../catalog/index.js';
import { ApiError } from './http-errors.js';

/** The one route that may carry its token in the query string. */
const EVENTS_ROUTE = '/v1/:project/operation_logs/:id/events';

export function registerAuth(app: FastifyInstance, catalog: Catalog): void {
  app.decorateRequest('token', null);
  app.addHook('onRequest', async (request) => {
    // By the route matched, not the raw URL, so no spelling of a path slips past.
    if (!request.routeOptions.url?.startsWith('/v1/')) return;
    const token = await authenticate(request, catalog);
    request.token = token;
    const project = (request.params as { project?: string }).project;
    if (project !== undefined && project !== token.project && !token.admin) {
      throw new ApiError(
        403,
        'FORBIDDEN',
        `this token belongs to project "${token.project}", not "${project}"`,
      );
    }
  });
}

async function authenticate(request: FastifyRequest, catalog: Catalog): Promise<TokenRecord> {
  const header = request.headers.authorization;
  let secret: string | undefined;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match)
      throw new ApiError(401, 'UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
    secret = match[1];
  } else if (request.routeOptions.url === EVENTS_ROUTE) {
    secret = (request.query as { access_token?: string }).access_token;
  }
  if (!secret)
    throw new ApiError(
      401,
      'UNAUTHENTICATED',
      'no token: send "Authorization: Bearer <token>" (make one with `hoard tokens create --project P`)',
    );
  const token = await catalog.authenticate(secret);
  if (!token) throw new ApiError(401, 'UNAUTHENTICATED', 'the token is unknown or revoked');
  return token;
}

/** Admin-only routes. */
export function requireAdmin(request: FastifyRequest): void {
  if (!request.token?.admin) throw new ApiError(403, 'FORBIDDEN', 'only an admin token may do this');
}
