// buildApp(): the Fastify service (routes, error catalog, metrics, OpenAPI) around the model repository; listen() is the caller's.

import type { Writable } from 'node:stream';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import sharp from 'sharp';
import { ModelLoadError } from '../model/index.js';
import { ConfigError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { Access } from './access/gate.js';
import { readKeysFile } from './access/keys-file.js';
import { parseRate } from './access/rate.js';
import { Admission, refuseWhenFull } from './admission.js';
import { KeyRing, requireApiKeys } from './auth.js';
import type { ServerConfig } from './config.js';
import type { AppContext } from './context.js';
import { DataPlane } from './core/data-plane.js';
import { errorSchema, replyShuttingDown } from './errors.js';
import { RecentImages } from './feedback/recent.js';
import { FeedbackStore } from './feedback/store.js';
import { grpcPlugin } from './grpc/server.js';
import { serviceErrors } from './http/error-handler.js';
import { healthPlugin } from './http/health.js';
import { InferRoutes } from './http/infer-routes.js';
import { serveMetrics } from './http/metrics.js';
import { serverOptions } from './http/server-options.js';
import { feedbackBodyDoc } from './http/v1/feedback.js';
import { v1Plugin } from './http/v1/plugin.js';
import { v2Plugin } from './http/v2/plugin.js';
import { Metrics } from './metrics.js';
import { LogSettings } from './observe/log-settings.js';
import { stageRecorder } from './observe/stage-metrics.js';
import { traceHttp } from './observe/trace-http.js';
import { startTracing } from './observe/tracing.js';
import { finishOpenApi } from './openapi-doc.js';
import { ModelFileError } from './repository/config-file.js';
import { Repository } from './repository/repository.js';
import { classifyBodyDoc } from './schemas.js';
import { securityHeaders } from './security-headers.js';
import { InferenceStats } from './stats.js';
import { ResponseCache } from './traffic/response-cache.js';
import { uiPlugin } from './ui/routes.js';

/** Request bodies the routes read themselves (multipart, raw images), as the OpenAPI document shows them. */
const BODY_DOCS: Record<string, unknown> = { '/classify': classifyBodyDoc, '/v1/feedback': feedbackBodyDoc };

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
  // Keys with their scopes and rates, before any model loads (a bad key file fails the start at once).
  const rate = config.rateLimit === undefined ? null : parseRate(config.rateLimit);
  if (typeof rate === 'string') throw new ConfigError(`--rate-limit (RATE_LIMIT): ${rate}`);
  const keys = new KeyRing(config.apiKeys, config.apiKeyFile ? readKeysFile(config.apiKeyFile) : [], rate);
  const access = new Access(keys, rate, {
    onLimited: (key) => metrics.rateLimited.inc({ key }),
    onForbidden: (key, scope) => metrics.forbidden.inc({ key, scope }),
  });
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
      loadModels: config.loadModels ?? null,
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
        metrics.batchFill.observe(labels, s.size / s.maxBatch);
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

  const state: AppContext['state'] = { closing: false };
  const inferRoutes = new InferRoutes();
  const fastifyOptions = serverOptions(config, log, { admission, keys, access, metrics, state, inferRoutes });
  let tracing: AppContext['tracing'] | null = null;
  try {
    tracing = await startTracing(config, process.env, (msg) => log.warn(msg));
    if (tracing.on) log.info({ settings: tracing.settings.get() }, 'tracing on: OpenTelemetry spans over OTLP/HTTP');
    const logSettings = new LogSettings(log);
    const feedback = config.feedbackDir ? new FeedbackStore(config.feedbackDir, config.feedbackMaxBytes) : null;
    const recent = feedback && config.feedbackRecentBytes > 0 ? new RecentImages(config.feedbackRecentBytes) : null;
    const base = {
      repo,
      config,
      metrics,
      admission,
      keys,
      access,
      stats,
      cache: responseCache,
      state,
      logSettings,
      tracing,
      feedback,
      recent,
    };
    const app = Fastify(fastifyOptions) as unknown as FastifyInstance;
    // Parking (before Fastify) knows the infer routes by their config flags, as every route is added.
    inferRoutes.watch(app);
    return await assemble(app, { ...base, plane: new DataPlane({ ...base, stages: stageRecorder(metrics) }) });
  } catch (e) {
    await repo.close();
    await tracing?.shutdown();
    throw e;
  }
}

/** Registers the shared hooks, then each protocol's plugin, on `app`; `ctx` holds the opened repository and the data plane. */
async function assemble(app: FastifyInstance, ctx: AppContext): Promise<FastifyInstance> {
  const { repo, config, metrics, plane } = ctx;
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
    transform: ({ schema, url }) => {
      const body = BODY_DOCS[url];
      return body && schema ? { schema: { ...schema, body } as typeof schema, url } : { schema, url };
    },
  });

  // onRequest hooks run in this order: security headers and CORS preflight, draining, API keys (scopes, rate limits), admission.
  securityHeaders(app, config.corsOrigins);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (ctx.state.closing) {
      return replyShuttingDown(reply.header('connection', 'close'));
    }
  });
  // The server span starts before the key check, so refused requests are traced too (no hook when tracing is off).
  if (ctx.tracing.on) traceHttp(app, ctx.tracing, ctx.admission);
  requireApiKeys(app, ctx.access);
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
  serviceErrors(app, metrics, false);

  await app.register(healthPlugin, { plane });
  await app.register(v1Plugin, { ctx });
  await app.register(v2Plugin, { ctx, prefix: '/v2' });
  await serveMetrics(app, ctx);
  if (config.ui === 'on') await app.register(uiPlugin, { plane });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  grpcPlugin(app, ctx, VERSION);

  app.addHook('preClose', async () => {
    ctx.state.closing = true;
  });
  app.addHook('onClose', async () => {
    await repo.close();
    await ctx.tracing.shutdown();
  });
  await app.ready();
  return app;
}
