// Liveness and readiness probes, open without a key: GET /healthz (the process answers) and GET /readyz (models loaded and warmed as --readiness says, not shutting down).
import type { FastifyInstance } from 'fastify';
import type { DataPlane } from '../core/data-plane.js';
import { errorBody, RETRY_AFTER_S, replyShuttingDown } from '../errors.js';
import { errorResponses, statusResponse } from '../schemas.js';

export async function healthPlugin(app: FastifyInstance, opts: { plane: DataPlane }): Promise<void> {
  const { plane } = opts;
  app.get(
    '/healthz',
    { config: { public: true }, schema: { tags: ['health'], summary: 'Liveness', response: { 200: statusResponse } } },
    async () => ({ status: plane.live() ? 'ok' : 'down' }),
  );

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        summary: 'Readiness: model loaded and warmed',
        response: { 200: statusResponse, ...errorResponses },
      },
    },
    async (_req, reply) => {
      if (plane.closing) return replyShuttingDown(reply);
      const why = plane.notReady();
      if (why !== null)
        return reply
          .code(503)
          .header('retry-after', RETRY_AFTER_S)
          .send(errorBody('NOT_READY', `${why} (see POST /v2/repository/index)`));
      return { status: 'ready' };
    },
  );
}
