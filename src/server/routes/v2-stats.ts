// Triton's statistics extension: GET /v2/models[/{m}[/versions/{v}]]/stats with Triton's field names (counts and cumulative ns).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { errorResponses } from '../schemas.js';
import type { InferenceStats } from '../stats.js';
import { nameParams, versionParams } from './v2-config.js';

/** One version's entry of model_stats. */
export function modelStats(stats: InferenceStats, name: string, version: number) {
  const s = stats.of(name, version);
  const d = s.inference_stats;
  const zero = { count: 0, ns: 0 };
  return {
    name,
    version: String(version),
    last_inference: s.last_inference,
    inference_count: s.inference_count,
    execution_count: s.execution_count,
    inference_stats: { ...d },
    batch_stats: [...s.batch_stats.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([size, run]) => ({
        batch_size: size,
        compute_input: zero,
        compute_infer: { ...run },
        compute_output: zero,
      })),
    memory_usage: [],
  };
}

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

export function v2StatsRoutes(app: FastifyInstance, ctx: AppContext): void {
  const schema = {
    tags: ['v2'],
    summary: "Inference statistics (Triton's statistics extension)",
    response: { 200: statsSchema, ...errorResponses },
  };
  const readyVersions = (name: string): number[] => {
    const versions = ctx.repo.versions(name);
    if (!versions)
      throw new ServiceError(
        'MODEL_NOT_FOUND',
        `no model "${name}"; the models are: ${ctx.repo.names.join(', ') || 'none'}`,
      );
    return versions.filter((v) => v.instance).map((v) => v.version);
  };
  app.get('/v2/models/stats', { schema }, async () => ({
    model_stats: ctx.repo
      .instances()
      .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version)
      .map((m) => modelStats(ctx.stats, m.name, m.version)),
  }));
  app.get('/v2/models/:name/stats', { schema: { ...schema, params: nameParams } }, async (req: FastifyRequest) => {
    const { name } = req.params as { name: string };
    return { model_stats: readyVersions(name).map((v) => modelStats(ctx.stats, name, v)) };
  });
  app.get(
    '/v2/models/:name/versions/:version/stats',
    { schema: { ...schema, params: versionParams } },
    async (req: FastifyRequest) => {
      const p = req.params as { name: string; version: string };
      return ctx.repo.use(p.name, p.version, async (m) => ({
        model_stats: [modelStats(ctx.stats, m.name, m.version)],
      }));
    },
  );
}
