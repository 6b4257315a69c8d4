// buildApp(): the Fastify service (routes, error catalog, metrics, OpenAPI) around the model repository; listen() is the caller's.

import http from 'node:http';
import type { Writable } from 'node:stream';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { pino } from 'pino';
import sharp from 'sharp';
import { ModelLoadError } from '../model/index.js';
import { VERSION } from '../util/version.js';
import { Admission, refuseEarly, refuseWhenFull } from './admission.js';
import { KeyRing, requireApiKeys } from './auth.js';
import { onClientError } from './client-errors.js';
import type { ServerConfig } from './config.js';
import type { AppContext } from './context.js';
import { clip, errorBody, errorSchema, RETRY_AFTER_S, replyShuttingDown, toServiceError } from './errors.js';
import { grpcPlugin } from './grpc/server.js';
import { serverTimeouts } from './http-timeouts.js';
import { RequestLog } from './logging.js';
import { Metrics } from './metrics.js';
import { startMetricsListener } from './metrics-listener.js';
import { finishOpenApi } from './openapi-doc.js';
import { ModelFileError } from './repository/config-file.js';
import { Repository } from './repository/repository.js';
import { requestId } from './request-id.js';
import { classifyRoutes } from './routes/classify.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/model.js';
import { modelsRoutes } from './routes/models.js';
import { repositoryRoutes } from './routes/repository.js';
import { v2Routes } from './routes/v2.js';
import { v2ConfigRoutes } from './routes/v2-config.js';
import { v2StatsRoutes } from './routes/v2-stats.js';
import { classifyBodyDoc } from './schemas.js';
import { SECURITY_HEADERS, securityHeaders } from './security-headers.js';
import { InferenceStats } from './stats.js';
import { ResponseCache } from './traffic/response-cache.js';
import { uiRoutes } from './ui/routes.js';
import { v2HttpHooks } from './v2-http.js';

/** What buildApp takes beside the config and is no setting: where and whether it logs. */
export interface AppOptions {
  /** Where pino writes (default stdout); `logger: false` silences it. */
  logStream?: Writable;
  logger?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Settings, repository, admission and keys of this app (tests and the CLI read them). */
    mixer: AppContext;
  }
}

/**
 * Loads the model, starts and warms the inference workers, and returns the ready (not yet listening) app.
 * `config` is resolveConfig's result, used as it is (the app keeps it as `app.mixer.config`).
 * Fails with ModelLoadError / RuntimeError (e.g. CUDA_UNAVAILABLE) before anything listens.
 */
export async function buildApp(config: ServerConfig, options: AppOptions = {}): Promise<FastifyInstance> {
  const { logStream, logger } = options;
  const log = pino(
    {
      level: logger === false ? 'silent' : config.logLevel,
      base: { service: 'mixer' },
      // Keys never reach a log line, whatever a serializer or a debug call includes.
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'config.apiKeys'],
        censor: '[redacted]',
      },
    },
    logStream ?? process.stdout,
  );
  // Small images in, many requests at once: no sharp cache (steady RSS), one vips thread per image.
  sharp.cache(false);
  sharp.concurrency(1);

  if (config.device === 'auto') log.info('device auto: trying the CUDA execution provider');
  let repo: Repository | null = null;
  const admission = new Admission(config.maxQueue);
  let cache: ResponseCache | null = null;
  const metrics = new Metrics(
    () => (repo?.instances() ?? []).map((m) => ({ model: m.name, version: String(m.version), depth: m.queueDepth })),
    config.maxBatch,
    () => admission,
    () => cache?.usage() ?? [],
  );
  const stats = new InferenceStats((model, version, ok, totalMs) => {
    const labels = { model, version: String(version) };
    (ok ? metrics.success : metrics.failure).inc(labels);
    metrics.requestTime.observe(labels, totalMs / 1000);
  });
  cache = new ResponseCache(config.cacheBytes, {
    lookup: (model, version, hit, ms) => {
      (hit ? metrics.cacheHits : metrics.cacheMisses).inc({ model, version: String(version) });
      stats.cache(model, version, hit, ms);
    },
    evict: () => metrics.cacheEvictions.inc(),
  });
  const responseCache = cache;
  const refreshInfo = (): void => {
    metrics.modelInfo.reset();
    for (const m of repo?.instances() ?? [])
      metrics.modelInfo.set({ name: m.name, version: String(m.version), sha256: m.sha256, provider: m.provider }, 1);
  };
  try {
    repo = await Repository.open({
      root: config.modelRepository ?? null,
      single: config.modelRepository === undefined ? { file: config.modelPath, name: config.modelName } : null,
      defaultModel: config.defaultModel ?? null,
      control: config.modelControl,
      pollIntervalMs: config.pollIntervalMs,
      maxModelBytes: config.maxModelBytes,
      allowExternalLinks: config.allowExternalLinks === 'on',
      device: config.device,
      threads: config.threads,
      workers: config.workers,
      maxBatch: config.maxBatch,
      batchDelayMs: config.batchDelayMs,
      maxQueue: config.maxQueue,
      log,
      onChange: refreshInfo,
      onRetire: (inst) => responseCache.drop(inst),
      onBatch: (name, version, s) => {
        const labels = { model: name, version: String(version) };
        metrics.batchSize.observe(labels, s.size);
        metrics.images.inc(labels, s.size);
        metrics.inferenceTime.observe(labels, s.inferenceMs / 1000);
        // Per image: an item of k rows waited k image-waits.
        s.queueMs.forEach((q, i) => {
          for (let r = 0; r < (s.rows[i] ?? 1); r++) metrics.queueTime.observe(labels, q / 1000);
        });
        stats.batch(name, version, s.size, s.queueMs, s.inferenceMs);
      },
    });
  } catch (e) {
    // Start-up model problems keep their one-line message (the CLI exits 2 with it).
    if (e instanceof ModelFileError) throw new ModelLoadError(e.message, { cause: e });
    throw e;
  }
  refreshInfo();
  const instances = repo.instances();
  if (config.device === 'auto' && instances.some((m) => m.provider === 'cpu'))
    log.warn('device auto: the CUDA execution provider is unavailable, running on the CPU');
  if (config.modelRepository !== undefined)
    log.info(
      { repository: config.modelRepository, ready: instances.length, models: repo.index() },
      'model repository loaded',
    );

  const keys = new KeyRing(config.apiKeys);
  const state: AppContext['state'] = { closing: false };
  const serverOptions: http.ServerOptions = serverTimeouts(config);
  const fastifyOptions: FastifyServerOptions = {
    loggerInstance: log,
    logController: new RequestLog(config.logSuccesses),
    requestIdHeader: false,
    genReqId: requestId,
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    // Node's server, with requests refused before Fastify while the service is full.
    serverFactory: (handler) =>
      http.createServer(
        serverOptions,
        refuseEarly(
          {
            admission,
            maxParked: 4 * config.maxQueue,
            keys,
            origins: config.corsOrigins,
            // While draining (DRAIN_DELAY_MS), nothing is parked: a request gets its SHUTTING_DOWN answer at once.
            closing: () => state.closing,
            onRefused: (route) => {
              metrics.shed.inc();
              metrics.requests.inc({ route, method: 'POST', status: '503' });
            },
          },
          handler,
        ),
      ),
    clientErrorHandler: onClientError,
    // Router-level errors (bad URL encoding, a path segment over 100 characters) in the error catalog, without echoing the URL.
    frameworkErrors: (err, req, raw) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const reply = raw as unknown as FastifyReply;
      reply
        .headers(SECURITY_HEADERS)
        .header('x-request-id', req.id)
        .code(tooLong ? 404 : 400);
      void reply.send(
        tooLong
          ? errorBody(
              'NOT_FOUND',
              `no route ${clip(req.method, 16)} ${clip(req.url.split('?')[0]!, 256)} (a path segment is over 100 characters)`,
            )
          : errorBody('BAD_REQUEST', 'malformed URL'),
      );
    },
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, formats: { binary: true } } },
  };
  try {
    return await assemble(Fastify(fastifyOptions) as unknown as FastifyInstance, {
      repo,
      config,
      metrics,
      admission,
      keys,
      stats,
      cache: responseCache,
      state,
    });
  } catch (e) {
    await repo.close();
    throw e;
  }
}

/** Registers plugins, hooks and routes on `app`; `ctx` holds the opened repository. */
async function assemble(app: FastifyInstance, ctx: AppContext): Promise<FastifyInstance> {
  const { repo, config, metrics } = ctx;
  app.decorate('mixer', ctx);

  app.addSchema(errorSchema);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'onnx-mixer',
        version: '1',
        description: 'MLP-Mixer image classification: /classify, the Open Inference Protocol v2, health and metrics',
      },
    },
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`),
    },
    transformObject: (doc) => finishOpenApi('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
    transform: ({ schema, url }) =>
      url === '/classify' && schema
        ? { schema: { ...schema, body: classifyBodyDoc } as typeof schema, url }
        : { schema, url },
  });
  await app.register(multipart, {
    limits: {
      fileSize: config.bodyLimit,
      files: config.maxFiles,
      fields: 32,
      parts: config.maxFiles + 32,
      fieldSize: 64 * 1024,
      headerPairs: 64,
    },
  });
  app.addContentTypeParser(
    /^image\/[\w.+-]+$/i,
    { parseAs: 'buffer', bodyLimit: config.bodyLimit },
    (_req, buf, done) => done(null, buf),
  );
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: config.bodyLimit },
    (_req, buf, done) => done(null, buf),
  );

  // onRequest hooks run in this order: security headers and CORS preflight, draining, API keys, admission.
  securityHeaders(app, config.corsOrigins);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (ctx.state.closing) {
      return replyShuttingDown(reply.header('connection', 'close'));
    }
  });
  requireApiKeys(app, ctx.keys);
  refuseWhenFull(app, ctx.admission);
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
    if (se.statusCode >= 500 && se.code !== 'MODEL_UNAVAILABLE' && !se.retryable)
      req.log.error({ err }, 'request failed');
    else req.log.debug({ code: se.code, message: se.message }, 'request rejected');
    if (se.code === 'OVERLOADED') metrics.shed.inc();
    if (se.retryable) reply.header('retry-after', RETRY_AFTER_S);
    return reply.code(se.statusCode).send(errorBody(se.code, se.message));
  });
  v2HttpHooks(app, config.bodyLimit);
  app.setNotFoundHandler(async (req, reply) =>
    reply
      .code(404)
      .send(errorBody('NOT_FOUND', `no route ${clip(req.method, 16)} ${clip(req.url.split('?')[0]!, 256)}`)),
  );

  healthRoutes(app, ctx);
  modelRoutes(app, ctx);
  modelsRoutes(app, ctx);
  classifyRoutes(app, ctx);
  v2Routes(app, ctx);
  v2ConfigRoutes(app, ctx);
  v2StatsRoutes(app, ctx);
  repositoryRoutes(app, ctx);
  // With --metrics-port, /metrics lives only on its own listener (no key); otherwise here, behind the key if any.
  if (config.metricsPort === undefined) metricsRoutes(app, ctx);
  else {
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
  grpcPlugin(app, ctx, VERSION);
  if (config.ui === 'on') uiRoutes(app, ctx);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.addHook('preClose', async () => {
    ctx.state.closing = true;
  });
  app.addHook('onClose', async () => {
    await repo.close();
  });
  await app.ready();
  return app;
}
