// Bearer API keys: every route but the health probes needs `Authorization: Bearer <key>` when keys are set; compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorBodyFor } from './errors.js';

/** The probe paths open without a key (their routes say so with `config: { public: true }`). */
export function isOpenPath(url: string): boolean {
  const p = url.split('?')[0]!;
  return p === '/healthz' || p === '/readyz' || p.startsWith('/v2/health/');
}

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

/**
 * Checks presented credentials against the configured keys. Keys are kept only as SHA-256 digests; a candidate's digest
 * is compared with every one of them with timingSafeEqual (equal-length buffers), so neither the position of a
 * mismatch nor which key matched shows in the timing.
 */
export class KeyRing {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map((k) => digest(k));
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** True when `authorization` is `Bearer <one of the keys>`. */
  allows(authorization: string | undefined): boolean {
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? '');
    const candidate = digest(m ? m[1]! : '');
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, candidate) || ok;
    return ok && m !== null;
  }
}

/** Adds the key check as an onRequest hook (before any body is read); public routes and probes pass; no-op without keys. */
export function requireApiKeys(app: FastifyInstance, ring: KeyRing): void {
  if (!ring.enabled) return;
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    // Routes marked `config: { public: true }` (the probes, the page's own files) are open.
    if (req.routeOptions.config?.public === true || ring.allows(req.headers.authorization)) return;
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
  });
}
