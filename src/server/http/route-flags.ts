// Route config flags the shared hooks read instead of matching URLs: public (no API key), infer (admission applies), triton (v2 error bodies).
declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without an API key: health probes, and the page's own files (which hold no data). */
    public?: boolean;
    /** An inference route: refused while the service is full, before its body is read. */
    infer?: boolean;
    /** A v2 route: its error bodies carry the message in `error` too (the one field Triton clients show). */
    triton?: boolean;
  }
}

export {};
