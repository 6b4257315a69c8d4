// buildApp(): the Fastify service (routes, error catalog, metrics, OpenAPI) around a started inference engine; listen() is the caller's.
import type { Writable } from 'node:stream';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { pino } from 'pino';
import sharp from 'sharp';
import { type ServerConfig, resolveConfig } from './config.js';
import type { AppContext } from './context.js';
import { Engine } from './engine.js';
import { RETRY_AFTER_S, body, errorSchema, toServiceError } from './errors.js';
import { Metrics } from './metrics.js';
import { RequestLog } from './logging.js';
import { loadServedModel } from './model.js';
import { classifyRoutes } from './routes/classify.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/model.js';
import { v2Routes } from './routes/v2.js';
import { uiRoutes } from './ui/routes.js';
import { classifyBodyDoc } from './schemas.js';

export interface AppOptions extends Partial<ServerConfig> {
  /** Where pino writes (default stdout); `logger: false` silences it. */
  logStream?: Writable;
  logger?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Settings and engine of this app (tests and the CLI read them). */
    mixer: AppContext;
  }
}

const RETRY_CODES = new Set(['OVERLOADED', 'NOT_READY', 'SHUTTING_DOWN']);

/**
 * Loads the model, starts and warms the inference workers, and returns the ready (not yet listening) app.
 * Fails with ModelLoadError / RuntimeError (e.g. CUDA_UNAVAILABLE) before anything listens.
 */
export async function buildApp(options: AppOptions = {}): Promise<FastifyInstance> {
  const { logStream, logger, ...given } = options;
  const config = resolveConfig(given);
  const log = pino({ level: logger === false ? 'silent' : config.logLevel, base: { service: 'mixer' } }, logStream ?? process.stdout);
  // Small images in, many requests at once: no sharp cache (steady RSS), one vips thread per image.
  sharp.cache(false);
  sharp.concurrency(1);

  const model = await loadServedModel(config.modelPath, config.modelName);
  if (config.device === 'auto') log.info('device auto: trying the CUDA execution provider');
  let engine: Engine | null = null;
  const metrics = new Metrics(() => engine?.queueDepth ?? 0, config.maxBatch);
  engine = await Engine.start(model, {
    device: config.device,
    threads: config.threads,
    workers: config.workers,
    maxBatch: config.maxBatch,
    batchDelayMs: config.batchDelayMs,
    maxQueue: config.maxQueue,
    onBatch: (s) => {
      metrics.batchSize.observe(s.size);
      metrics.images.inc(s.size);
      metrics.inferenceTime.observe(s.inferenceMs / 1000);
      for (const q of s.queueMs) metrics.queueTime.observe(q / 1000);
    },
  });
  if (config.device === 'auto' && engine.provider === 'cpu') log.warn('device auto: the CUDA execution provider is unavailable, running on the CPU');
  metrics.modelInfo.set({ name: model.name, sha256: model.sha256, provider: engine.provider }, 1);
  log.info({ model: model.name, sha256: model.sha256, provider: engine.provider, loadMs: Math.round(engine.timings.loadMs), warmupMs: Math.round(engine.timings.warmupMs) }, 'model ready');

  const fastifyOptions: FastifyServerOptions = {
    loggerInstance: log,
    logController: new RequestLog(),
    requestIdHeader: 'x-request-id',
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, formats: { binary: true } } },
  };
  try {
    return await assemble(Fastify(fastifyOptions) as unknown as FastifyInstance, { engine, config, metrics, state: { closing: false } });
  } catch (e) {
    await engine.close();
    throw e;
  }
}

/** Registers plugins, hooks and routes on `app`; `ctx` holds the started engine. */
async function assemble(app: FastifyInstance, ctx: AppContext): Promise<FastifyInstance> {
  const { engine, config, metrics } = ctx;
  app.decorate('mixer', ctx);

  app.addSchema(errorSchema);
  await app.register(swagger, {
    openapi: {
      info: { title: 'onnx-mixer', version: '1', description: 'MLP-Mixer image classification: /classify, the Open Inference Protocol v2, health and metrics' },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
    transform: ({ schema, url }) => (url === '/classify' && schema ? { schema: { ...schema, body: classifyBodyDoc } as typeof schema, url } : { schema, url }),
  });
  await app.register(multipart, {
    limits: { fileSize: config.bodyLimit, files: config.maxFiles, fields: 32, parts: config.maxFiles + 32, fieldSize: 64 * 1024, headerPairs: 64 },
  });
  app.addContentTypeParser(/^image\/[\w.+-]+$/i, { parseAs: 'buffer', bodyLimit: config.bodyLimit }, (_req, buf, done) => done(null, buf));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: config.bodyLimit }, (_req, buf, done) => done(null, buf));

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (ctx.state.closing) {
      reply.header('connection', 'close').header('retry-after', RETRY_AFTER_S).code(503).send(body('SHUTTING_DOWN', 'the service is shutting down'));
      return reply;
    }
  });
  // Server-Timing: time spent in this process on the request (the page shows it); during shutdown, in-flight answers
  // close their connection so the server can finish closing.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('server-timing', `app;dur=${reply.elapsedTime.toFixed(1)}`);
    if (ctx.state.closing) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route, method: req.method }, seconds);
  });
  app.setErrorHandler(async (err, req, reply) => {
    const se = toServiceError(err);
    if (se.statusCode >= 500 && !RETRY_CODES.has(se.code)) req.log.error({ err }, 'request failed');
    else req.log.debug({ code: se.code, message: se.message }, 'request rejected');
    if (se.code === 'OVERLOADED') metrics.shed.inc();
    if (RETRY_CODES.has(se.code)) reply.header('retry-after', RETRY_AFTER_S);
    return reply.code(se.statusCode).send(body(se.code, se.message));
  });
  app.setNotFoundHandler(async (req, reply) => reply.code(404).send(body('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  healthRoutes(app, ctx);
  modelRoutes(app, ctx);
  classifyRoutes(app, ctx);
  v2Routes(app, ctx);
  metricsRoutes(app, ctx);
  if (config.ui === 'on') uiRoutes(app, ctx);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.addHook('preClose', async () => {
    ctx.state.closing = true;
  });
  app.addHook('onClose', async () => {
    await engine.close();
  });
  await app.ready();
  return app;
}
