// The routes whose config says `infer`, as URL patterns: parking tells an infer request (and its route's flags) before Fastify routes it.
import type { FastifyInstance, RouteOptions } from 'fastify';

/** An infer route as parking needs it: its pattern (the request metrics' route label) and its error-body form. */
export interface InferRoute {
  url: string;
  /** A v2 route: its error bodies carry the message in `error` too. */
  triton: boolean;
}

interface Compiled extends InferRoute {
  method: string;
  re: RegExp;
}

/** A Fastify path pattern as a regular expression over a request path: `:param` is one segment, `*` the rest. */
function compile(url: string): RegExp {
  const parts = url.split('/').map((seg) => {
    if (seg === '*') return '.*';
    if (seg.startsWith(':')) return '[^/]+';
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('/')}$`);
}

export class InferRoutes {
  private readonly seen: RouteOptions[] = [];
  private compiled: Compiled[] = [];

  /**
   * Watches the routes added to `app` and its plugins from now on; once the app is ready, the ones whose config says
   * `infer` (as every onRoute hook left it, plugin flags such as `triton` included) are the infer routes.
   */
  watch(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      this.seen.push(route);
    });
    app.addHook('onReady', async () => {
      this.compiled = this.seen
        .filter((r) => r.config?.infer === true)
        .flatMap((r) =>
          (Array.isArray(r.method) ? r.method : [r.method]).map((method) => ({
            method,
            url: r.url,
            triton: r.config?.triton === true,
            re: compile(r.url),
          })),
        );
      this.seen.length = 0;
    });
  }

  /** The infer route a request's method and URL go to, or null when it goes to no infer route. */
  match(method: string | undefined, url: string): InferRoute | null {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    for (const r of this.compiled) if (r.method === method && r.re.test(path)) return r;
    return null;
  }
}
