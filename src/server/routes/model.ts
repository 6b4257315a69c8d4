// GET /v1/model[?model=&version=]: the default (or named) model version (name, version, sha256, contract, labels, input, parameters, MACs, execution provider, batching).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { errorResponses, modelResponse } from '../schemas.js';
import { describeInstance } from './describe-model.js';

export function modelRoutes(app: FastifyInstance, ctx: AppContext): void {
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
      return ctx.repo.use(q.model, q.version, async (m) => describeInstance(m, ctx.config));
    },
  );
}
