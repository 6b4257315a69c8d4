// What each HTTP plugin answers for a thrown error (its catalogued status, Retry-After, the one log line) and for an unknown route.
import type { FastifyInstance } from 'fastify';
import { clip, errorBody, RETRY_AFTER_S, toServiceError } from '../errors.js';
import type { Metrics } from '../metrics.js';

/** Installs the error and not-found handlers on `app`'s context; `triton`: the v2 body (`error` is the message). */
export function serviceErrors(app: FastifyInstance, metrics: Metrics, triton: boolean): void {
  app.setErrorHandler(async (err, req, reply) => {
    const se = toServiceError(err);
    if (se.statusCode >= 500 && se.code !== 'MODEL_UNAVAILABLE' && !se.retryable)
      req.log.error({ err }, 'request failed');
    else req.log.debug({ code: se.code, message: se.message }, 'request rejected');
    if (se.code === 'OVERLOADED') metrics.shed.inc();
    if (se.retryable) reply.header('retry-after', RETRY_AFTER_S);
    return reply.code(se.statusCode).send(errorBody(se.code, se.message, triton));
  });
  app.setNotFoundHandler(async (req, reply) =>
    reply
      .code(404)
      .send(errorBody('NOT_FOUND', `no route ${clip(req.method, 16)} ${clip(req.url.split('?')[0]!, 256)}`, triton)),
  );
}
