// The service's own REST API as one Fastify plugin: POST /classify (multipart or image/* bodies), the /v1 model descriptions and /v1/feedback.
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.js';
import { classifyRoutes } from './classify.js';
import { feedbackRoutes } from './feedback.js';
import { MAX_FIELDS } from './form-parts.js';
import { modelsRoutes } from './models.js';

/** Multipart and the image body parsers are registered here, so they apply to these routes only. */
export async function v1Plugin(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { config, plane } = opts.ctx;
  await app.register(multipart, {
    limits: {
      fileSize: config.bodyLimit,
      files: config.maxFiles,
      fields: MAX_FIELDS,
      parts: config.maxFiles + MAX_FIELDS,
      fieldSize: 64 * 1024,
      headerPairs: 64,
    },
  });
  for (const type of [/^image\/[\w.+-]+$/i, 'application/octet-stream'])
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: config.bodyLimit }, (_req, buf, done) =>
      done(null, buf),
    );
  modelsRoutes(app, plane);
  classifyRoutes(app, plane, config.bodyLimit, config.maxFiles);
  feedbackRoutes(app, opts.ctx, opts.ctx.feedback);
}
