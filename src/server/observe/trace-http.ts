// The HTTP server span: started in the first onRequest hook from the caller's traceparent/tracestate, answered in the response's traceparent, on the request's log lines (trace_id, span_id), ended with the status; installed only when tracing is on.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Admission } from '../admission.js';
import { toServiceError } from '../errors.js';
import type { RequestTrace, Tracing } from './tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's trace when tracing is on and it is sampled (the adapters hand it to the data plane). */
    trace?: RequestTrace | undefined;
  }
}

/** Longest url.path written to a span. */
const PATH_MAX = 256;

/** A header's single value (a repeated header is no valid trace context: undefined). */
const one = (v: string | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** The model a request names (route parameter or ?model=), for the trace settings' per-model scope. */
function modelOf(req: FastifyRequest): string | undefined {
  const p = (req.params as { name?: unknown } | undefined)?.name;
  if (typeof p === 'string') return p;
  const q = (req.query as { model?: unknown } | undefined)?.model;
  return typeof q === 'string' ? q : undefined;
}

/**
 * Adds the server-span hooks. The probes (`/healthz`, `/readyz`, `/v2/health/*`) and `/metrics` are not traced.
 * Attributes follow the HTTP semantic conventions (http.request.method, url.path, url.scheme, http.route,
 * server.address, server.port, client.address, user_agent.original, network.protocol.version,
 * http.response.status_code); a request that fails gets status ERROR and the service's error code as error.type.
 */
export function traceHttp(app: FastifyInstance, tracing: Tracing, admission: Admission): void {
  app.decorateRequest('trace', undefined);
  app.addHook('onRequest', (req, reply, done) => {
    const route = req.routeOptions.url;
    if (req.routeOptions.config?.public === true || route === '/metrics') return done();
    // A request parked while the service was full (parking.ts): how long it waited, as the stage histograms read it.
    const waited = admission.waitedMs(req.raw);
    const since = waited > 0 ? performance.now() - waited : undefined;
    const attrs: Record<string, string | number> = {
      'http.request.method': req.method,
      'url.path': req.url.split('?')[0]!.slice(0, PATH_MAX),
      'url.scheme': req.protocol,
      'server.address': req.hostname,
      'client.address': req.ip,
      'network.protocol.version': req.raw.httpVersion,
    };
    if (route !== undefined) attrs['http.route'] = route;
    if (req.port) attrs['server.port'] = req.port;
    const ua = one(req.headers['user-agent']);
    if (ua !== undefined) attrs['user_agent.original'] = ua.slice(0, PATH_MAX);
    const tr = tracing.server(
      'http',
      route === undefined ? req.method : `${req.method} ${route}`,
      { traceparent: one(req.headers.traceparent), tracestate: one(req.headers.tracestate) },
      attrs,
      modelOf(req),
      since,
    );
    if (tr) {
      // A request parked while the service was full: its span starts when it arrived, and the wait is its own span.
      if (since !== undefined) tr.child('mixer.admission.wait', undefined, since).end();
      req.trace = tr;
      reply.headers(tr.headers);
      req.log = req.log.child({ trace_id: tr.traceId, span_id: tr.spanId });
      reply.log = req.log;
    }
    done();
  });
  app.addHook('onError', (req, _reply, error, done) => {
    if (req.trace) {
      const se = toServiceError(error);
      req.trace.fail(se.code, se.message);
    }
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const tr = req.trace;
    if (tr) {
      if (reply.statusCode >= 400) tr.fail(errorCodeOf(reply.statusCode), `HTTP ${reply.statusCode}`);
      tr.end({ 'http.response.status_code': reply.statusCode });
    }
    done();
  });
}

/** Replies sent without a thrown error (401, 403, 429, 503 from the hooks, 404) keep the code the hook gave. */
const errorCodeOf = (status: number): string => String(status);
