// Triton's model configuration extension: GET /v2/models/{m}[/versions/{v}]/config, the served version as a Triton model config.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LOGITS, PIXELS, PROBABILITIES } from '../../model/io-names.js';
import type { AppContext } from '../context.js';
import type { ModelInstance } from '../repository/instance.js';
import { V2_TYPES, v2Shape } from '../repository/tensors.js';
import { errorResponses } from '../schemas.js';

export const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } as const;
export const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: { type: 'string' }, version: { type: 'string' } },
} as const;

/** Triton's config data_type for a tensor element type: TYPE_ + the v2 datatype (BYTES is TYPE_STRING). */
export const tritonType = (v2: string): string => `TYPE_${v2 === 'BYTES' ? 'STRING' : v2}`;

/** A loaded version as Triton's ModelConfig JSON (dims leave out the batch dim when max_batch_size > 0). */
export function modelConfig(m: ModelInstance, batchDelayMs: number) {
  const c = m.contract;
  const maxBatch = m.batchable ? c.maxBatch : 0;
  const dims = (shape: Parameters<typeof v2Shape>[0]) => (maxBatch > 0 ? v2Shape(shape).slice(1) : v2Shape(shape));
  return {
    name: m.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: maxBatch,
    input: c.io.inputs.map((i) => ({
      name: i.name,
      data_type: tritonType(V2_TYPES[i.type]),
      format: 'FORMAT_NONE',
      dims: dims(i.shape),
    })),
    output: c.io.outputs.map((o) => ({ name: o.name, data_type: tritonType(V2_TYPES[o.type]), dims: dims(o.shape) })),
    ...(maxBatch > 0 ? { dynamic_batching: { max_queue_delay_microseconds: Math.round(batchDelayMs * 1000) } } : {}),
    instance_group: [
      { name: `${m.name}_0`, kind: m.provider === 'cuda' ? 'KIND_GPU' : 'KIND_CPU', count: c.instances },
    ],
  };
}

const tensorConfig = {
  type: 'object',
  required: ['name', 'data_type', 'dims'],
  properties: {
    name: { type: 'string' },
    data_type: { type: 'string', examples: ['TYPE_UINT8'] },
    format: { type: 'string' },
    dims: { type: 'array', items: { type: 'integer' } },
  },
} as const;

export const modelConfigSchema = {
  type: 'object',
  required: ['name', 'platform', 'max_batch_size', 'input', 'output'],
  properties: {
    name: { type: 'string' },
    platform: { type: 'string' },
    backend: { type: 'string' },
    max_batch_size: { type: 'integer' },
    input: { type: 'array', items: tensorConfig },
    output: { type: 'array', items: tensorConfig },
    dynamic_batching: { type: 'object', properties: { max_queue_delay_microseconds: { type: 'integer' } } },
    instance_group: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, kind: { type: 'string' }, count: { type: 'integer' } },
      },
    },
  },
  examples: [
    {
      name: 'mixer-cifar10',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 32,
      input: [{ name: PIXELS, data_type: 'TYPE_UINT8', format: 'FORMAT_NONE', dims: [32, 32, 3] }],
      output: [
        { name: LOGITS, data_type: 'TYPE_FP32', dims: [10] },
        { name: PROBABILITIES, data_type: 'TYPE_FP32', dims: [10] },
      ],
      dynamic_batching: { max_queue_delay_microseconds: 2000 },
      instance_group: [{ name: 'mixer-cifar10_0', kind: 'KIND_CPU', count: 1 }],
    },
  ],
} as const;

export function v2ConfigRoutes(app: FastifyInstance, ctx: AppContext): void {
  const handler = async (req: FastifyRequest) => {
    const p = req.params as { name: string; version?: string };
    return ctx.repo.use(p.name, p.version, async (m) => modelConfig(m, ctx.config.batchDelayMs));
  };
  const schema = {
    tags: ['v2'],
    summary: "Model configuration (Triton's model configuration extension)",
    response: { 200: modelConfigSchema, ...errorResponses },
  };
  app.get('/v2/models/:name/config', { schema: { ...schema, params: nameParams } }, handler);
  app.get('/v2/models/:name/versions/:version/config', { schema: { ...schema, params: versionParams } }, handler);
}
