// Open Inference Protocol v2 (KServe/Triton): health, server and model metadata, readiness and infer (JSON or binary tensors).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { VERSION } from '../../util/version.js';
import type { AppContext } from '../context.js';
import { errorBody, RETRY_AFTER_S, replyShuttingDown, ServiceError } from '../errors.js';
import { accepts } from '../negotiate.js';
import type { ModelInstance } from '../repository/instance.js';
import { V2_TYPES, v2Shape } from '../repository/tensors.js';
import { errorResponses, v2InferRequest, v2InferResponse, v2ModelMetadata, v2ServerMetadata } from '../schemas.js';
import { cachedTensorInfer } from '../traffic/cached.js';
import { routeOf } from '../traffic/split.js';
import { splitBinaryBody } from '../v2-codec.js';
import { serverNotReady } from './health.js';
import { nameParams, versionParams } from './v2-config.js';

/** Triton's extension names for what this server answers. */
export const V2_EXTENSIONS = [
  'binary_tensor_data',
  'classification',
  'model_repository',
  'model_configuration',
  'statistics',
] as const;

interface ModelParams {
  name: string;
  version?: string;
}

const modelParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string' }, version: { type: 'string' } },
} as const;

export function v2Routes(app: FastifyInstance, ctx: AppContext): void {
  const tags = ['v2'];
  /** Runs `fn` with the model version the path names (leased until it settles); 404/503 otherwise. */
  const withModel = <T>(p: ModelParams, fn: (m: ModelInstance) => Promise<T>): Promise<T> =>
    ctx.repo.use(p.name, p.version, fn);

  const serverMetadata = async () => ({ name: 'onnx-mixer', version: VERSION, extensions: [...V2_EXTENSIONS] });
  app.get('/v2', { schema: { tags, summary: 'Server metadata', response: { 200: v2ServerMetadata } } }, serverMetadata);
  app.get(
    '/v2/',
    { schema: { tags, summary: 'Server metadata (as GET /v2)', response: { 200: v2ServerMetadata } } },
    serverMetadata,
  );
  app.get(
    '/v2/health/live',
    {
      schema: {
        tags,
        summary: 'Server live',
        response: { 200: { type: 'object', properties: { live: { type: 'boolean' } } } },
      },
    },
    async () => ({ live: true }),
  );
  app.get(
    '/v2/health/ready',
    {
      schema: {
        tags,
        summary: 'Server ready',
        response: { 200: { type: 'object', properties: { ready: { type: 'boolean' } } }, ...errorResponses },
      },
    },
    async (_req, reply) => {
      if (ctx.state.closing) return replyShuttingDown(reply);
      const why = serverNotReady(ctx);
      return why === null
        ? { ready: true }
        : reply.code(503).header('retry-after', RETRY_AFTER_S).send(errorBody('NOT_READY', why));
    },
  );

  const metadata = async (req: FastifyRequest) =>
    withModel(req.params as ModelParams, async (m) => ({
      name: m.name,
      versions: (ctx.repo.versions(m.name) ?? []).filter((v) => v.state === 'READY').map((v) => String(v.version)),
      platform: 'onnxruntime_onnx',
      inputs: m.contract.io.inputs.map((i) => ({ name: i.name, datatype: V2_TYPES[i.type], shape: v2Shape(i.shape) })),
      outputs: m.contract.io.outputs.map((o) => ({
        name: o.name,
        datatype: V2_TYPES[o.type],
        shape: v2Shape(o.shape),
      })),
    }));
  const ready = async (req: FastifyRequest, reply: FastifyReply) =>
    withModel(req.params as ModelParams, async (m) =>
      ctx.state.closing ? replyShuttingDown(reply) : { name: m.name, ready: true },
    );
  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!accepts(req.headers.accept, ['application/json', 'application/octet-stream']))
      throw new ServiceError('NOT_ACCEPTABLE', 'this endpoint answers application/json or application/octet-stream');
    const p = req.params as ModelParams;
    return ctx.repo.use(
      p.name,
      p.version,
      async (m) => {
        const t0 = performance.now();
        let ok = false;
        try {
          const r = await inferWith(m, req, reply, t0);
          ok = true;
          return r;
        } finally {
          if (!ok) ctx.stats.request(m.name, m.version, false, performance.now() - t0);
        }
      },
      routeOf(req.headers['x-routing-key']),
    );
  };
  const inferWith = async (m: ModelInstance, req: FastifyRequest, reply: FastifyReply, t0: number) => {
    {
      const binaryIn = Buffer.isBuffer(req.body);
      const { json, tail } = binaryIn
        ? splitBinaryBody(req.body as Buffer, req.headers['inference-header-content-length'] as string | undefined)
        : { json: req.body, tail: null };
      const { enc, t1, t2 } = await cachedTensorInfer(ctx, m, json, tail, req.raw);
      const done = () =>
        ctx.stats.request(m.name, m.version, true, performance.now() - t0, t1 - t0, performance.now() - t2);
      if (enc.binary.length === 0) {
        done();
        return enc.json;
      }
      const header = Buffer.from(JSON.stringify(enc.json), 'utf8');
      const bodyBytes = Buffer.concat([header, ...enc.binary]);
      done();
      return reply
        .type('application/octet-stream')
        .header('inference-header-content-length', header.length)
        .send(bodyBytes);
    }
  };

  const metaSchema = {
    tags,
    summary: 'Model metadata',
    params: modelParams,
    response: { 200: v2ModelMetadata, ...errorResponses },
  };
  const readySchema = {
    tags,
    summary: 'Model ready',
    params: modelParams,
    response: {
      200: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
      ...errorResponses,
    },
  };
  const inferSchema = {
    tags,
    summary: 'Inference (JSON, or the binary tensor extension with Inference-Header-Content-Length)',
    params: modelParams,
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
  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    // Each path declares only its own path parameters (OpenAPI).
    const params = base.endsWith(':version') ? versionParams : nameParams;
    app.get(base, { schema: { ...metaSchema, params } }, metadata);
    app.get(`${base}/ready`, { schema: { ...readySchema, params } }, ready);
    app.post(`${base}/infer`, { schema: { ...inferSchema, params } }, infer);
  }
}
