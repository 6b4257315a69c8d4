// GET /metrics: the Prometheus text exposition of the app's registry (behind the API key, if any).
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';

export async function metricsPlugin(app: FastifyInstance, opts: { metrics: Metrics }): Promise<void> {
  const { registry } = opts.metrics;
  app.get(
    '/metrics',
    { schema: { tags: ['metrics'], summary: 'Prometheus metrics', produces: ['text/plain'] } },
    async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
}
