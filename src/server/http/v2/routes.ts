// Open Inference Protocol v2 (KServe/Triton) over REST: health, server and model metadata, readiness and infer (JSON or binary tensors).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DataPlane } from '../../core/data-plane.js';
import { errorBody, RETRY_AFTER_S, replyShuttingDown, ServiceError } from '../../errors.js';
import { inferLogFields } from '../../logging.js';
import { accepts } from '../../negotiate.js';
import { errorResponses, v2InferRequest, v2InferResponse, v2ModelMetadata, v2ServerMetadata } from '../../schemas.js';
import { routingKey } from '../../traffic/split.js';
import { restInferRequest, restWire } from './codec.js';
import { type ModelParams, nameParams, versionParams } from './config.js';

/** Triton's extension names for what this server answers. */
export const V2_EXTENSIONS = [
  'binary_tensor_data',
  'classification',
  'model_repository',
  'model_configuration',
  'statistics',
  'logging',
  'trace',
] as const;

const tags = ['v2'];

/** GET /v2, /v2/ and the health probes (open without a key). */
function serverRoutes(app: FastifyInstance, plane: DataPlane): void {
  const serverMetadata = async () => plane.serverMetadata(V2_EXTENSIONS);
  app.get(
    '/',
    {
      prefixTrailingSlash: 'no-slash',
      schema: { tags, summary: 'Server metadata', response: { 200: v2ServerMetadata } },
    },
    serverMetadata,
  );
  app.get(
    '/',
    {
      prefixTrailingSlash: 'slash',
      schema: { tags, summary: 'Server metadata (as GET /v2)', response: { 200: v2ServerMetadata } },
    },
    serverMetadata,
  );
  app.get(
    '/health/live',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Server live',
        response: { 200: { type: 'object', properties: { live: { type: 'boolean' } } } },
      },
    },
    async () => ({ live: plane.live() }),
  );
  app.get(
    '/health/ready',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Server ready',
        response: { 200: { type: 'object', properties: { ready: { type: 'boolean' } } }, ...errorResponses },
      },
    },
    async (_req, reply) => {
      if (plane.closing) return replyShuttingDown(reply);
      const why = plane.notReady();
      return why === null
        ? { ready: true }
        : reply
            .code(503)
            .header('retry-after', RETRY_AFTER_S)
            .send(errorBody('NOT_READY', why, true));
    },
  );
}

const inferSchema = {
  tags,
  summary: 'Inference (JSON, or the binary tensor extension with Inference-Header-Content-Length)',
  body: {
    content: {
      'application/json': { schema: v2InferRequest },
      'application/octet-stream': {
        schema: {
          description: 'the JSON header (Inference-Header-Content-Length bytes) followed by the raw tensor bytes',
        },
      },
    },
  },
  response: { 200: v2InferResponse, ...errorResponses },
};

/** Model metadata, readiness and infer, for the model's policy version and for a named one. */
export function v2Routes(app: FastifyInstance, plane: DataPlane): void {
  serverRoutes(app, plane);
  const metadata = async (req: FastifyRequest) => plane.modelMetadata(req.params as ModelParams);
  const ready = async (req: FastifyRequest, reply: FastifyReply) =>
    plane.modelReady(req.params as ModelParams).then((r) => (r.ready ? r : replyShuttingDown(reply)));
  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!accepts(req.headers.accept, ['application/json', 'application/octet-stream']))
      throw new ServiceError('NOT_ACCEPTABLE', 'this endpoint answers application/json or application/octet-stream');
    const a = await plane.infer(
      {
        ...(req.params as ModelParams),
        routingKey: routingKey(req.headers['x-routing-key']),
        log: inferLogFields(req),
        trace: req.trace,
      },
      () => restInferRequest(req.body, req.headers['inference-header-content-length'] as string | undefined),
      restWire,
      req.raw,
    );
    if (!a.binary) return a.json;
    return reply
      .type('application/octet-stream')
      .header('inference-header-content-length', a.binary.headerLength)
      .send(a.binary.body);
  };
  const readyResponse = { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } };
  for (const base of ['/models/:name', '/models/:name/versions/:version']) {
    // Each path declares only its own path parameters (OpenAPI).
    const params = base.endsWith(':version') ? versionParams : nameParams;
    app.get(
      base,
      { schema: { tags, summary: 'Model metadata', params, response: { 200: v2ModelMetadata, ...errorResponses } } },
      metadata,
    );
    app.get(
      `${base}/ready`,
      { schema: { tags, summary: 'Model ready', params, response: { 200: readyResponse, ...errorResponses } } },
      ready,
    );
    app.post(`${base}/infer`, { config: { infer: true }, schema: { ...inferSchema, params } }, infer);
  }
}
