// GET /v1/model[?model=&version=] (one version described) and /v1/models[/{name}] (every model with its versions and states).
import type { FastifyInstance } from 'fastify';
import type { DataPlane } from '../../core/data-plane.js';
import { errorResponses, modelResponse, modelsResponse, oneModelResponse } from '../../schemas.js';

export function modelsRoutes(app: FastifyInstance, plane: DataPlane): void {
  app.get(
    '/v1/model',
    {
      schema: {
        tags: ['model'],
        summary: 'The default model (latest loaded version), or the one ?model=&version= names',
        querystring: {
          type: 'object',
          properties: { model: { type: 'string', maxLength: 200 }, version: { type: 'string', maxLength: 20 } },
        },
        response: { 200: modelResponse, ...errorResponses },
      },
    },
    async (req) => {
      const q = req.query as { model?: string; version?: string };
      return plane.describe({ name: q.model, version: q.version });
    },
  );
  app.get(
    '/v1/models',
    {
      schema: { tags: ['model'], summary: 'Every model and version with its state', response: { 200: modelsResponse } },
    },
    async () => plane.models(),
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
    async (req) => plane.model((req.params as { name: string }).name),
  );
}
