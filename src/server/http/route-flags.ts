// Route config flags the shared hooks read instead of matching URLs: public (no API key), infer (admission applies), triton (v2 error bodies), scope (what a key needs).
import type { Scope } from '../access/scopes.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without an API key: health probes, and the page's own files (which hold no data). */
    public?: boolean;
    /** An inference route: refused while the service is full, before its body is read. */
    infer?: boolean;
    /** A v2 route: its error bodies carry the message in `error` too (the one field Triton clients show). */
    triton?: boolean;
    /** The scope a key needs here; set from the route's full pattern as it is added (auth.ts), unless the route sets it. */
    scope?: Scope;
  }
}
