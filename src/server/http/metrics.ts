// GET /metrics: the Prometheus text exposition of the app's registry, on the app (behind the API key, if any) or on its own --metrics-port listener.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { serverTimeouts } from '../http-timeouts.js';
import type { Metrics } from '../metrics.js';
import { startMetricsListener } from '../metrics-listener.js';

export async function metricsPlugin(app: FastifyInstance, opts: { metrics: Metrics }): Promise<void> {
  const { registry } = opts.metrics;
  app.get(
    '/metrics',
    { schema: { tags: ['metrics'], summary: 'Prometheus metrics', produces: ['text/plain'] } },
    async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
}

/** With --metrics-port, /metrics lives only on its own listener (no key), started and closed with the app; otherwise on the app. */
export async function serveMetrics(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const { config, metrics } = ctx;
  if (config.metricsPort === undefined) {
    await app.register(metricsPlugin, { metrics });
    return;
  }
  let listener: Awaited<ReturnType<typeof startMetricsListener>> | null = null;
  app.addHook('onListen', async () => {
    listener = await startMetricsListener(
      metrics.registry,
      config.metricsPort!,
      config.metricsHost,
      serverTimeouts(config),
    );
    ctx.state.metricsAddress = listener.address;
    app.log.info({ address: listener.address }, 'metrics listener ready');
  });
  app.addHook('onClose', async () => {
    await listener?.close();
  });
}
