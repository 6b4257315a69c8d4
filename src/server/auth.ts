// Bearer API keys: every route but the health probes needs `Authorization: Bearer <key>` when keys are set; compared in constant time; then the key's scopes and rate limit (access/).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Access, rateLimitFields } from './access/gate.js';
import { httpScope } from './access/scopes.js';
import { errorBodyFor } from './errors.js';

export { type KeyEntry, KeyRing } from './access/key-ring.js';

/** The probe paths open without a key (their routes say so with `config: { public: true }`). */
export function isOpenPath(url: string): boolean {
  const p = url.split('?')[0]!;
  return p === '/healthz' || p === '/readyz' || p.startsWith('/v2/health/');
}

/**
 * Adds the access check as an onRequest hook (before any body is read): the key (401), its scope for the matched
 * route (403 FORBIDDEN) and its rate limit (429 RATE_LIMITED with Retry-After; RateLimit-Policy / RateLimit on every
 * limited answer). Routes marked `config: { public: true }` pass; no-op without keys or rate limit. Each route gets its
 * `config.scope` as it is added, from its full pattern (prefix included; access/scopes.ts httpScope), unless it sets
 * one itself; a request no route matched (a 404) needs `infer`.
 */
export function requireApiKeys(app: FastifyInstance, access: Access): void {
  if (!access.enabled) return;
  const ring = access.keys;
  app.addHook('onRoute', (route) => {
    route.config = { scope: httpScope(route.url), ...route.config };
  });
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    // Routes marked `config: { public: true }` (the probes, the page's own files) are open.
    const config = req.routeOptions.config;
    if (config?.public === true) return;
    const key = ring.enabled ? ring.identify(req.headers.authorization) : null;
    if (ring.enabled && !key) {
      reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="mixer"')
        .send(
          errorBodyFor(
            req,
            'UNAUTHORIZED',
            req.headers.authorization
              ? 'the API key is not valid'
              : 'this route needs an API key: Authorization: Bearer <key>',
          ),
        );
      return reply;
    }
    const v = access.authorize(key, req.ip, config?.scope ?? 'infer');
    if (v.limit) reply.headers(rateLimitFields(v.limit));
    if (!v.denied) return;
    if (v.denied.code === 'RATE_LIMITED') reply.header('retry-after', v.limit!.taken.retryAfterS);
    reply.code(v.denied.code === 'RATE_LIMITED' ? 429 : 403).send(errorBodyFor(req, v.denied.code, v.denied.message));
    return reply;
  });
}
