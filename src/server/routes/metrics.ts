// GET /metrics: the Prometheus text exposition of the app's registry.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';

export function metricsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    '/metrics',
    { schema: { tags: ['metrics'], summary: 'Prometheus metrics', produces: ['text/plain'] } },
    async (_req, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );
}
