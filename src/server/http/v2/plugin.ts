// The REST v2 protocol as one Fastify plugin (prefix /v2): its routes, body hooks and content types, and Triton's error body.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.js';
import { serviceErrors } from '../error-handler.js';
import { v2BodyHooks } from './body.js';
import { v2ConfigRoutes } from './config.js';
import { v2LoggingRoutes } from './logging.js';
import { v2RepositoryRoutes } from './repository.js';
import { v2RetrainRoutes } from './retrain.js';
import { v2Routes } from './routes.js';
import { v2StatsRoutes } from './stats.js';
import { v2TraceRoutes } from './trace.js';

/** Registered with `{ prefix: '/v2' }`; its hooks, parsers and handlers apply to its routes only. */
export async function v2Plugin(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  // Every route here answers errors in the v2 form (the hooks and handlers outside read the flag too).
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, triton: true };
  });
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: ctx.config.bodyLimit },
    (_req, buf, done) => done(null, buf),
  );
  v2BodyHooks(app, ctx.config.bodyLimit);
  serviceErrors(app, ctx.metrics, true);
  v2Routes(app, ctx.plane);
  v2ConfigRoutes(app, ctx.plane);
  v2StatsRoutes(app, ctx.plane);
  v2RepositoryRoutes(app, ctx.plane);
  v2LoggingRoutes(app, ctx.logSettings);
  v2TraceRoutes(app, ctx.plane);
  v2RetrainRoutes(app, ctx);
}
