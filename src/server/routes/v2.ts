// Open Inference Protocol v2 (KServe/Triton): health, server and model metadata, readiness and infer (JSON or binary tensors).
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { RETRY_AFTER_S, ServiceError, body } from '../errors.js';
import { accepts } from '../negotiate.js';
import type { ModelInstance } from '../repository/instance.js';
import { encodeTensorResponse, parseTensorRequest, responseBytesBound, rowsAsked, V2_TYPES, v2Shape } from '../repository/tensors.js';
import { errorResponses, v2InferRequest, v2InferResponse, v2ModelMetadata, v2ServerMetadata } from '../schemas.js';
import { splitBinaryBody } from '../v2-codec.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

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
  const withModel = <T>(p: ModelParams, fn: (m: ModelInstance) => Promise<T>): Promise<T> => ctx.repo.use(p.name, p.version, fn);
  const notReady = (reply: FastifyReply) => reply.code(503).header('retry-after', RETRY_AFTER_S).send(body('SHUTTING_DOWN', 'the service is shutting down'));

  app.get('/v2', { schema: { tags, summary: 'Server metadata', response: { 200: v2ServerMetadata } } }, async () => ({
    name: 'onnx-mixer',
    version: VERSION,
    extensions: ['binary_tensor_data', 'classification'],
  }));
  app.get('/v2/health/live', { schema: { tags, summary: 'Server live', response: { 200: { type: 'object', properties: { live: { type: 'boolean' } } } } } }, async () => ({ live: true }));
  app.get(
    '/v2/health/ready',
    { schema: { tags, summary: 'Server ready', response: { 200: { type: 'object', properties: { ready: { type: 'boolean' } } }, ...errorResponses } } },
    async (_req, reply) => (ctx.state.closing ? notReady(reply) : ctx.repo.readyCount === 0 ? reply.code(503).header('retry-after', RETRY_AFTER_S).send(body('NOT_READY', 'no model is ready')) : { ready: true }),
  );

  const metadata = async (req: FastifyRequest) =>
    withModel(req.params as ModelParams, async (m) => ({
      name: m.name,
      versions: (ctx.repo.versions(m.name) ?? []).filter((v) => v.state === 'READY').map((v) => String(v.version)),
      platform: 'onnxruntime_onnx',
      inputs: m.contract.io.inputs.map((i) => ({ name: i.name, datatype: V2_TYPES[i.type], shape: v2Shape(i.shape) })),
      outputs: m.contract.io.outputs.map((o) => ({ name: o.name, datatype: V2_TYPES[o.type], shape: v2Shape(o.shape) })),
    }));
  const ready = async (req: FastifyRequest, reply: FastifyReply) =>
    withModel(req.params as ModelParams, async (m) => (ctx.state.closing ? notReady(reply) : { name: m.name, ready: true }));
  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!accepts(req.headers.accept, ['application/json', 'application/octet-stream'])) throw new ServiceError('NOT_ACCEPTABLE', 'this endpoint answers application/json or application/octet-stream');
    return withModel(req.params as ModelParams, async (m) => {
      const binaryIn = Buffer.isBuffer(req.body);
      const { json, tail } = binaryIn ? splitBinaryBody(req.body as Buffer, req.headers['inference-header-content-length'] as string | undefined) : { json: req.body, tail: null };
      const io = m.contract.io;
      const cap = ctx.config.maxResponseBytes;
      const tooLarge = (bytes: number, when: string) =>
        new ServiceError('RESPONSE_TOO_LARGE', `the requested outputs ${when} ${bytes} bytes, more than the ${cap} allowed (see MAX_RESPONSE_BYTES); ask for fewer rows or outputs, or binary outputs`);
      // The whole request (its rows) is admitted, or refused with 503, before its tensors are converted; released when answered.
      const release = ctx.admission.admit(rowsAsked(json, m.batchable));
      let call;
      let out;
      try {
        call = parseTensorRequest(json, tail, io.inputs, io.outputs, m.batchable, ctx.config.maxQueue);
        // Checked before inference from the graph's output shapes; outputs with other dynamic dims are checked after it.
        const bound = responseBytesBound(call, io.outputs, m.labels, m.name);
        if (bound !== null && bound > cap) throw tooLarge(bound, 'could take up to');
        out = await m.infer(call.payload, call.rows, call.layout).catch((e: unknown) => {
          // The graph's own shape and value checks (symbolic dims that disagree, out-of-range indices) are the caller's input.
          if ((e as { code?: string }).code === 'RUN_FAILED') throw new ServiceError('BAD_TENSOR', `onnxruntime rejected the inputs: ${(e as Error).message.replace(/^inference failed: /, '').split('\n')[0]!.slice(0, 300)}`);
          throw e;
        });
      } finally {
        release();
      }
      const enc = encodeTensorResponse(call, out, io.outputs, m.labels, m);
      const size = Buffer.byteLength(JSON.stringify(enc.json), 'utf8') + enc.binary.reduce((a, b) => a + b.length, 0);
      if (size > cap) throw tooLarge(size, 'take');
      if (enc.binary.length === 0) return enc.json;
      const header = Buffer.from(JSON.stringify(enc.json), 'utf8');
      return reply
        .type('application/octet-stream')
        .header('inference-header-content-length', header.length)
        .send(Buffer.concat([header, ...enc.binary]));
    });
  };

  const metaSchema = { tags, summary: 'Model metadata', params: modelParams, response: { 200: v2ModelMetadata, ...errorResponses } };
  const readySchema = {
    tags,
    summary: 'Model ready',
    params: modelParams,
    response: { 200: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } }, ...errorResponses },
  };
  const inferSchema = {
    tags,
    summary: 'Inference (JSON, or the binary tensor extension with Inference-Header-Content-Length)',
    params: modelParams,
    body: { content: { 'application/json': { schema: v2InferRequest }, 'application/octet-stream': { schema: { description: 'the JSON header (Inference-Header-Content-Length bytes) followed by the raw tensor bytes' } } } },
    response: { 200: v2InferResponse, ...errorResponses },
  };
  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(base, { schema: metaSchema }, metadata);
    app.get(`${base}/ready`, { schema: readySchema }, ready);
    app.post(`${base}/infer`, { schema: inferSchema }, infer);
  }
}
