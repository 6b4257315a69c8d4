// GET /v1/model: the default model (name, version, sha256, contract, labels, input, parameters, MACs, execution provider, batching).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { describeInstance } from '../repository/describe.js';
import { errorResponses, modelResponse } from '../schemas.js';

export function modelRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/model', { schema: { tags: ['model'], summary: 'The default model (latest loaded version)', response: { 200: modelResponse, ...errorResponses } } }, async () =>
    ctx.repo.use(undefined, undefined, async (m) => describeInstance(m, ctx.config)),
  );
}
