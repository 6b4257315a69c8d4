// Triton's statistics extension: GET /v2/models[/{m}[/versions/{v}]]/stats with Triton's field names (counts and cumulative ns).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DataPlane } from '../../core/data-plane.js';
import { errorResponses } from '../../schemas.js';
import { type ModelParams, nameParams, versionParams } from './config.js';

const duration = {
  type: 'object',
  required: ['count', 'ns'],
  properties: { count: { type: 'integer' }, ns: { type: 'integer' } },
} as const;

export const statsSchema = {
  type: 'object',
  required: ['model_stats'],
  properties: {
    model_stats: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'version', 'last_inference', 'inference_count', 'execution_count', 'inference_stats'],
        properties: {
          name: { type: 'string' },
          version: { type: 'string' },
          last_inference: { type: 'integer', description: 'ms since the epoch of the last model run (0: none yet)' },
          inference_count: { type: 'integer', description: 'rows (images) inferred' },
          execution_count: { type: 'integer', description: 'model runs (batches)' },
          inference_stats: {
            type: 'object',
            properties: {
              success: duration,
              fail: duration,
              queue: duration,
              compute_input: duration,
              compute_infer: duration,
              compute_output: duration,
              cache_hit: duration,
              cache_miss: duration,
            },
          },
          batch_stats: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                batch_size: { type: 'integer' },
                compute_input: duration,
                compute_infer: duration,
                compute_output: duration,
              },
            },
          },
          memory_usage: { type: 'array', items: { type: 'object' } },
        },
      },
    },
  },
  examples: [
    {
      model_stats: [
        {
          name: 'mixer-cifar10',
          version: '1',
          last_inference: 1764489600000,
          inference_count: 96,
          execution_count: 4,
          inference_stats: {
            success: { count: 12, ns: 61000000 },
            fail: { count: 1, ns: 300000 },
            queue: { count: 12, ns: 24000000 },
            compute_input: { count: 12, ns: 9000000 },
            compute_infer: { count: 12, ns: 21000000 },
            compute_output: { count: 12, ns: 600000 },
            cache_hit: { count: 0, ns: 0 },
            cache_miss: { count: 0, ns: 0 },
          },
          batch_stats: [
            {
              batch_size: 24,
              compute_input: { count: 0, ns: 0 },
              compute_infer: { count: 4, ns: 7000000 },
              compute_output: { count: 0, ns: 0 },
            },
          ],
          memory_usage: [],
        },
      ],
    },
  ],
} as const;

export function v2StatsRoutes(app: FastifyInstance, plane: DataPlane): void {
  const schema = {
    tags: ['v2'],
    summary: "Inference statistics (Triton's statistics extension)",
    response: { 200: statsSchema, ...errorResponses },
  };
  const handler = async (req: FastifyRequest) => {
    const p = req.params as Partial<ModelParams>;
    return plane.statistics(p.name, p.version);
  };
  app.get('/models/stats', { schema }, handler);
  app.get('/models/:name/stats', { schema: { ...schema, params: nameParams } }, handler);
  app.get('/models/:name/versions/:version/stats', { schema: { ...schema, params: versionParams } }, handler);
}
