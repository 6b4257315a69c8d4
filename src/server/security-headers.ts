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

/**
 * Adds the security headers and, when `origins` is not empty, CORS: allowed origins (or any, with '*') get
 * Access-Control-Allow-Origin, and their preflight OPTIONS requests a 204 before any key check. Registered first.
 */
export function securityHeaders(app: FastifyInstance, origins: readonly string[]): void {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  app.addHook('onRequest', async (req, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (origins.length === 0) {
      reply.header('cross-origin-resource-policy', 'same-origin');
      return;
    }
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !(any || allowed.has(origin))) return;
    reply.header('access-control-allow-origin', any ? '*' : origin).header('vary', 'Origin').header('access-control-expose-headers', EXPOSE_HEADERS);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      reply.code(204).header('access-control-allow-methods', ALLOW_METHODS).header('access-control-allow-headers', ALLOW_HEADERS).header('access-control-max-age', '600').send();
      return reply;
    }
  });
}
