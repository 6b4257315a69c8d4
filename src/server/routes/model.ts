// GET /v1/model: what is being served (name, sha256, config, labels, input size, parameters, execution provider).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { modelResponse } from '../schemas.js';

export function modelRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/model', { schema: { tags: ['model'], summary: 'The served model', response: { 200: modelResponse } } }, async () => {
    const m = ctx.engine.model;
    const c = ctx.config;
    return {
      name: m.name,
      sha256: m.sha256,
      provider: ctx.engine.provider,
      config: m.spec.config,
      labels: m.spec.labels,
      inputSize: m.size,
      input: { name: 'pixels', datatype: 'uint8', shape: [-1, m.size, m.size, 3], layout: 'NHWC' },
      parameters: m.parameters,
      macsPerImage: m.macsPerImage,
      mean: m.spec.mean,
      std: m.spec.std,
      opset: m.opset,
      fileBytes: m.bytes.length,
      batching: { maxBatch: c.maxBatch, batchDelayMs: c.batchDelayMs, maxQueue: c.maxQueue, workers: c.workers, threads: c.threads },
    };
  });
}
