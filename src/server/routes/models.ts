// GET /v1/models and /v1/models/{name}: every model with its versions and states, and the latest ready version's description.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { errorResponses, modelsResponse, oneModelResponse } from '../schemas.js';
import { describeInstance } from './describe-model.js';

export function modelsRoutes(app: FastifyInstance, ctx: AppContext): void {
  const one = (name: string) => {
    const versions = ctx.repo.versions(name);
    if (!versions)
      throw new ServiceError(
        'MODEL_NOT_FOUND',
        `no model "${name}"; the models are: ${ctx.repo.names.join(', ') || 'none'}`,
      );
    const latest = [...versions].reverse().find((v) => v.instance);
    return {
      name,
      reason: ctx.repo.modelError(name),
      versions: versions.map((v) => {
        const img = v.instance?.contract.image ?? null;
        return {
          version: String(v.version),
          state: v.state,
          reason: v.reason,
          // What a model picker needs per version (the page lists every ready image classifier and version).
          ...(v.instance
            ? {
                classifier: img !== null,
                inputSize: img ? [img.height, img.width] : null,
                classes: img ? v.instance.classes : null,
              }
            : {}),
        };
      }),
      latest: latest?.instance ? describeInstance(latest.instance, ctx.config) : null,
    };
  };
  app.get(
    '/v1/models',
    {
      schema: { tags: ['model'], summary: 'Every model and version with its state', response: { 200: modelsResponse } },
    },
    async () => ({
      default: ctx.repo.defaultName,
      models: ctx.repo.names.map(one),
    }),
  );
  app.get(
    '/v1/models/:name',
    {
      schema: {
        tags: ['model'],
        summary: 'One model: its versions and states, and the latest ready version',
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 200 } } },
        response: { 200: oneModelResponse, ...errorResponses },
      },
    },
    async (req) => one((req.params as { name: string }).name),
  );
}
