// The Fastify server options of the service: its Node server (with parking before Fastify), logger, ids, limits and router-level errors.
import http from 'node:http';
import type { FastifyReply, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Access } from '../access/gate.js';
import type { Admission } from '../admission.js';
import type { KeyRing } from '../auth.js';
import { onClientError } from '../client-errors.js';
import type { ServerConfig } from '../config.js';
import type { AppContext } from '../context.js';
import { clip, errorBody } from '../errors.js';
import { serverTimeouts } from '../http-timeouts.js';
import { RequestLog } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { refuseEarly } from '../parking.js';
import { requestId } from '../request-id.js';
import { SECURITY_HEADERS } from '../security-headers.js';
import type { InferRoutes } from './infer-routes.js';

interface Shared {
  admission: Admission;
  keys: KeyRing;
  access: Access;
  metrics: Metrics;
  state: AppContext['state'];
  /** The infer routes (config `infer`), known once the app is ready: what parking parks. */
  inferRoutes: InferRoutes;
}

export function serverOptions(
  config: ServerConfig,
  log: Logger,
  { admission, keys, access, metrics, state, inferRoutes }: Shared,
): FastifyServerOptions {
  const nodeOptions: http.ServerOptions = serverTimeouts(config);
  return {
    loggerInstance: log,
    logController: new RequestLog(config.logSuccesses),
    requestIdHeader: false,
    genReqId: requestId,
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    // Node's server, with requests refused before Fastify while the service is full.
    serverFactory: (handler) =>
      http.createServer(
        nodeOptions,
        refuseEarly(
          {
            admission,
            maxParked: 4 * config.maxQueue,
            keys,
            inferRoute: (method, url) => inferRoutes.match(method, url),
            // A caller its rate limit refuses now is not parked: its 429 comes at once.
            exhausted: (req) =>
              access.exhausted(keys.identify(req.headers.authorization), req.socket.remoteAddress ?? ''),
            origins: config.corsOrigins,
            // While draining (DRAIN_DELAY_MS), nothing is parked: a request gets its SHUTTING_DOWN answer at once.
            closing: () => state.closing,
            onRefused: (route) => {
              metrics.shed.inc();
              metrics.requests.inc({ route, method: 'POST', status: '503' });
            },
          },
          handler,
        ),
      ),
    clientErrorHandler: onClientError,
    // Router-level errors (bad URL encoding, a path segment over 100 characters) in the error catalog, without echoing the URL.
    frameworkErrors: (err, req, raw) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const reply = raw as unknown as FastifyReply;
      reply
        .headers(SECURITY_HEADERS)
        .header('x-request-id', req.id)
        .code(tooLong ? 404 : 400);
      void reply.send(
        tooLong
          ? errorBody(
              'NOT_FOUND',
              `no route ${clip(req.method, 16)} ${clip(req.url.split('?')[0]!, 256)} (a path segment is over 100 characters)`,
            )
          : errorBody('BAD_REQUEST', 'malformed URL'),
      );
    },
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, formats: { binary: true } } },
  };
}
