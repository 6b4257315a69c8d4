// Open Inference Protocol v2 (KServe/Triton): health, server and model metadata, readiness and infer (JSON or binary tensors).
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { RETRY_AFTER_S, ServiceError, body, echo } from '../errors.js';
import { accepts } from '../negotiate.js';
import { errorResponses, v2InferRequest, v2InferResponse, v2ModelMetadata, v2ServerMetadata } from '../schemas.js';
import { encodeInferResponse, type OutputName, parseInferRequest, responseBytesBound, splitBinaryBody } from '../v2-codec.js';

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

/** Images an infer request asks for (its first input's batch size), read before anything is converted; 1 if malformed (the parser then says why). */
function imagesAsked(json: unknown): number {
  const n = (json as { inputs?: { shape?: unknown[] }[] } | null)?.inputs?.[0]?.shape?.[0];
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

export function v2Routes(app: FastifyInstance, ctx: AppContext): void {
  const m = ctx.engine.model;
  const tags = ['v2'];

  /** 404 unless the path names the served model (and version 1, if any). */
  const checkModel = (p: ModelParams): void => {
    if (p.name !== m.name) throw new ServiceError('MODEL_NOT_FOUND', `no model ${echo(p.name)}; this server serves "${m.name}"`);
    if (p.version !== undefined && p.version !== '1') throw new ServiceError('MODEL_NOT_FOUND', `model "${m.name}" has only version "1", not ${echo(p.version)}`);
  };
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
    async (_req, reply) => (ctx.state.closing ? notReady(reply) : { ready: true }),
  );

  const metadata = async (req: FastifyRequest) => {
    checkModel(req.params as ModelParams);
    return {
      name: m.name,
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [-1, m.size, m.size, 3] }],
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: [-1, m.numClasses] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, m.numClasses] },
      ],
    };
  };
  const ready = async (req: FastifyRequest, reply: FastifyReply) => {
    checkModel(req.params as ModelParams);
    return ctx.state.closing ? notReady(reply) : { name: m.name, ready: true };
  };
  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    checkModel(req.params as ModelParams);
    if (!accepts(req.headers.accept, ['application/json', 'application/octet-stream'])) throw new ServiceError('NOT_ACCEPTABLE', 'this endpoint answers application/json or application/octet-stream');
    const binaryIn = Buffer.isBuffer(req.body);
    const { json, tail } = binaryIn ? splitBinaryBody(req.body as Buffer, req.headers['inference-header-content-length'] as string | undefined) : { json: req.body, tail: null };
    // The whole batch is admitted (or refused with 503) before its tensor is converted; released when answered.
    const release = ctx.admission.admit(imagesAsked(json));
    let out;
    let call;
    try {
      call = parseInferRequest(json, tail, m.size, ctx.config.maxQueue);
      const bound = responseBytesBound(call, m.spec.labels, m.name);
      if (bound > ctx.config.maxResponseBytes) {
        throw new ServiceError('RESPONSE_TOO_LARGE', `the requested outputs could take up to ${bound} bytes, more than the ${ctx.config.maxResponseBytes} allowed (see MAX_RESPONSE_BYTES); ask for fewer images or outputs, or binary outputs`);
      }
      out = await ctx.engine.infer(call.pixels, call.n);
    } finally {
      release();
    }
    const enc = encodeInferResponse(call, out as Record<OutputName, Float32Array>, m.spec.labels, m.name);
    if (enc.binary.length === 0) return enc.json;
    const header = Buffer.from(JSON.stringify(enc.json), 'utf8');
    return reply
      .type('application/octet-stream')
      .header('inference-header-content-length', header.length)
      .send(Buffer.concat([header, ...enc.binary]));
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
