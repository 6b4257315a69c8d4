// Triton's model repository extension: POST /v2/repository/index, /v2/repository/models/{name}/load|unload under --model-control explicit, and traffic weights.
import type { FastifyInstance } from 'fastify';
import type { DataPlane } from '../../core/data-plane.js';
import { errorResponses, repositoryIndex } from '../../schemas.js';
import { trafficBody, trafficView } from '../../traffic/schemas.js';

export function v2RepositoryRoutes(app: FastifyInstance, plane: DataPlane): void {
  const tags = ['v2'];
  const params = {
    type: 'object',
    required: ['name'],
    properties: { name: { type: 'string', maxLength: 200 } },
  } as const;
  app.post(
    '/repository/index',
    {
      schema: {
        tags,
        summary: 'Every model version with its state (READY, UNAVAILABLE, LOADING, UNLOADING) and reason',
        response: { 200: repositoryIndex, ...errorResponses },
      },
    },
    async () => plane.repositoryIndex(),
  );
  app.post(
    '/repository/models/:name/load',
    {
      schema: {
        tags,
        summary: 'Load or reload a model from the repository (--model-control explicit); answers once it is ready',
        params,
        response: { 200: { type: 'object', properties: {} }, ...errorResponses },
      },
    },
    async (req) => {
      await plane.load((req.params as { name: string }).name);
      return {};
    },
  );
  app.post(
    '/repository/models/:name/unload',
    {
      schema: {
        tags,
        summary: 'Unload a model after its in-flight requests finish (--model-control explicit)',
        params,
        response: { 200: { type: 'object', properties: {} }, ...errorResponses },
      },
    },
    async (req) => {
      await plane.unload((req.params as { name: string }).name);
      return {};
    },
  );
  app.get(
    '/repository/models/:name/traffic',
    {
      schema: {
        tags,
        summary: 'The traffic weights of a model and the share of unversioned requests each READY version gets now',
        params,
        response: { 200: trafficView, ...errorResponses },
      },
    },
    async (req) => plane.traffic((req.params as { name: string }).name),
  );
  app.post(
    '/repository/models/:name/traffic',
    {
      schema: {
        tags,
        summary:
          'Set the traffic weights of a model (loaded versions, weights ≥ 0, sum > 0; null: the latest version); they hold until config.json\'s "traffic" changes',
        params,
        body: trafficBody,
        response: { 200: trafficView, ...errorResponses },
      },
    },
    async (req) => plane.setTraffic((req.params as { name: string }).name, (req.body as { traffic: unknown }).traffic),
  );
}
