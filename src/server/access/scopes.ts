// What a key may do: the scopes (infer, admin, feedback) and which HTTP route or gRPC method needs which.

export const SCOPES = ['infer', 'admin', 'feedback'] as const;
export type Scope = (typeof SCOPES)[number];

export const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);

/**
 * The scope an HTTP route needs, from its full route pattern (e.g. `/v2/repository/models/:name/load`, its plugin's
 * prefix included): auth.ts sets it as each route's `config.scope` when the route is added, and a request is checked
 * against the scope of the route the router matched (a request no route matched needs `infer`, and answers 404).
 * Classifying the pattern, not the URL, leaves no way around it by spelling the path differently (percent-encoding,
 * a query string). admin: the repository API (index, load, unload, and what
 * comes under it), trace settings (global and per model), log settings, the feedback counts
 * (/v1/feedback/{model}); feedback: /v1/feedback (POST a correction, GET whether corrections are taken); everything
 * else (inference, metadata,
 * statistics, metrics, the page): infer. The health probes need no key at all (auth.ts isOpenPath).
 */
export function httpScope(route: string): Scope {
  const p = route.split('?')[0]!;
  if (/^\/v2\/(repository|trace|logging)(\/|$)/.test(p) || p.startsWith('/v1/feedback/')) return 'admin';
  if (/^\/v2\/models\/[^/]+\/trace(\/|$)/.test(p)) return 'admin';
  if (p === '/v1/feedback') return 'feedback';
  return 'infer';
}

/**
 * The scope a gRPC method needs, from its path (`/inference.GRPCInferenceService/RepositoryModelLoad`): the
 * repository calls (index, load, unload) and Triton's trace and log settings are admin, the rest infer.
 */
export function grpcScope(path: string): Scope {
  const method = path.slice(path.lastIndexOf('/') + 1);
  return /^(Repository|TraceSetting$|LogSettings$)/.test(method) ? 'admin' : 'infer';
}
