// Liveness and readiness: GET /healthz (the process answers) and GET /readyz (model loaded, warmed, not shutting down).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { body, RETRY_AFTER_S, replyShuttingDown } from '../errors.js';
import { errorResponses, statusResponse } from '../schemas.js';

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
      if (ctx.repo.readyCount === 0)
        return reply
          .code(503)
          .header('retry-after', RETRY_AFTER_S)
          .send(body('NOT_READY', 'no model is ready (see POST /v2/repository/index)'));
      return { status: 'ready' };
    },
  );
}
