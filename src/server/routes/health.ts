// Liveness and readiness: GET /healthz (the process answers) and GET /readyz (models loaded and warmed as --readiness
// says, not shutting down); serverNotReady is the one readiness test of /readyz, /v2/health/ready and gRPC ServerReady.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { errorBody, RETRY_AFTER_S, replyShuttingDown } from '../errors.js';
import { errorResponses, statusResponse } from '../schemas.js';

/** Why the server is not ready (shutting down, or models not READY under --readiness), or null when it is. */
export function serverNotReady(ctx: AppContext): string | null {
  if (ctx.state.closing) return 'the service is shutting down';
  return ctx.repo.notReady(ctx.config.readiness);
}

export function healthRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    '/healthz',
    { schema: { tags: ['health'], summary: 'Liveness', response: { 200: statusResponse } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: model loaded and warmed',
        response: { 200: statusResponse, ...errorResponses },
      },
    },
    async (_req, reply) => {
      if (ctx.state.closing) return replyShuttingDown(reply);
      const why = serverNotReady(ctx);
      if (why !== null)
        return reply
          .code(503)
          .header('retry-after', RETRY_AFTER_S)
          .send(errorBody('NOT_READY', `${why} (see POST /v2/repository/index)`));
      return { status: 'ready' };
    },
  );
}
