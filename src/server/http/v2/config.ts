// Triton's model configuration extension: GET /v2/models/{m}[/versions/{v}]/config, the served version as a Triton model config; the v2 path parameters.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LOGITS, PIXELS, PROBABILITIES } from '../../../model/io-names.js';
import type { DataPlane } from '../../core/data-plane.js';
import { errorResponses } from '../../schemas.js';

export const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } as const;
/** The path parameters of a model route (`version` only on …/versions/:version/…). */
export interface ModelParams {
  name: string;
  version?: string;
}

export const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: { type: 'string' }, version: { type: 'string' } },
} as const;

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
    version_policy: {
      type: 'object',
      description: 'One of latest {num_versions}, all {}, specific {versions}',
      properties: {
        latest: { type: 'object', properties: { num_versions: { type: 'integer' } } },
        all: { type: 'object' },
        specific: { type: 'object', properties: { versions: { type: 'array', items: { type: 'integer' } } } },
      },
    },
    default_model_filename: { type: 'string' },
    model_transaction_policy: { type: 'object', properties: { decoupled: { type: 'boolean' } } },
    response_cache: { type: 'object', properties: { enable: { type: 'boolean' } } },
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
      version_policy: { all: {} },
      default_model_filename: 'model.onnx',
      model_transaction_policy: { decoupled: false },
      response_cache: { enable: false },
    },
  ],
} as const;

export function v2ConfigRoutes(app: FastifyInstance, plane: DataPlane): void {
  const handler = async (req: FastifyRequest) => plane.modelConfig(req.params as ModelParams);
  const schema = {
    tags: ['v2'],
    summary: "Model configuration (Triton's model configuration extension)",
    response: { 200: modelConfigSchema, ...errorResponses },
  };
  app.get('/models/:name/config', { schema: { ...schema, params: nameParams } }, handler);
  app.get('/models/:name/versions/:version/config', { schema: { ...schema, params: versionParams } }, handler);
}
