// Security headers on every response, and CORS (off unless --cors-origin is set), including preflight answers.
import type { FastifyInstance } from 'fastify';

/** Headers every response carries (the client-error path writes them too). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

const ALLOW_METHODS = 'GET, POST, OPTIONS';
const ALLOW_HEADERS = 'authorization, content-type, accept, inference-header-content-length, x-request-id';
const EXPOSE_HEADERS = 'x-request-id, retry-after, inference-header-content-length';

/** CORS headers for a simple (non-preflight) response to `origin`; none when CORS is off or the origin is not allowed. */
export function corsHeaders(origins: readonly string[], origin: string | undefined): Record<string, string> {
  if (origins.length === 0) return { 'cross-origin-resource-policy': 'same-origin' };
  if (typeof origin !== 'string' || !(origins.includes('*') || origins.includes(origin))) return {};
  return {
    'access-control-allow-origin': origins.includes('*') ? '*' : origin,
    vary: 'Origin',
    'access-control-expose-headers': EXPOSE_HEADERS,
  };
}

/**
 * Adds the security headers and, when `origins` is not empty, CORS: allowed origins (or any, with '*') get
 * Access-Control-Allow-Origin, and their preflight OPTIONS requests a 204 before any key check. Registered first.
 */
export function securityHeaders(app: FastifyInstance, origins: readonly string[]): void {
  app.addHook('onRequest', async (req, reply) => {
    reply.headers(SECURITY_HEADERS);
    const cors = corsHeaders(origins, req.headers.origin);
    reply.headers(cors);
    if (
      cors['access-control-allow-origin'] &&
      req.method === 'OPTIONS' &&
      req.headers['access-control-request-method'] !== undefined
    ) {
      reply
        .code(204)
        .header('access-control-allow-methods', ALLOW_METHODS)
        .header('access-control-allow-headers', ALLOW_HEADERS)
        .header('access-control-max-age', '600')
        .send();
      return reply;
    }
  });
}
