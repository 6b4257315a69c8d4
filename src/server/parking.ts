// Parking before Fastify: while the service is full, infer requests wait unread (up to PARK_MS) for room, or get their 503 straight from Node.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission } from './admission.js';
import type { KeyRing } from './auth.js';
import { errorBody, RETRY_AFTER_S } from './errors.js';
import { requestId } from './request-id.js';
import { corsHeaders, SECURITY_HEADERS } from './security-headers.js';

/** Infer routes: POST /classify and POST …/infer. */
const isInfer = (method: string | undefined, url: string): boolean =>
  method === 'POST' && (/^\/classify(\?|$)/.test(url) || /\/infer(\?|$)/.test(url));

/** The route label of an infer URL, as Fastify names it in the request metrics. */
export const inferRoute = (url: string): string =>
  url.startsWith('/classify')
    ? '/classify'
    : url.includes('/versions/')
      ? '/v2/models/:name/versions/:version/infer'
      : '/v2/models/:name/infer';

/** When (performance.now()) each request handed on after parking started to wait: its trace's admission wait. */
export const parkedSince = new WeakMap<IncomingMessage, number>();

/** Longest time an infer request waits, unread, for room before it is refused (clients are told to retry after 1 s). */
export const PARK_MS = 1000;

export interface FastRefusal {
  admission: Admission;
  /** Most requests waiting for room at once; beyond it they are refused at once. */
  maxParked: number;
  parkMs?: number;
  keys: KeyRing;
  /** True for a request its caller's rate limit would refuse now: it is not parked, so its 429 comes at once. */
  exhausted?: (req: IncomingMessage) => boolean;
  origins: readonly string[];
  /** Called for each request refused here (metrics). */
  onRefused: (route: string) => void;
  /** True once shutdown has started: requests then go straight on (to their 503 SHUTTING_DOWN with Connection: close). */
  closing?: () => boolean;
}

interface Parked {
  req: IncomingMessage;
  res: ServerResponse;
  until: number;
  /** Unparks the request when its connection closes while it waits. */
  gone: () => void;
}

/**
 * Wraps Node's request handler. While the service is full, an infer request (with a valid key, if keys are set) is
 * parked before Fastify sees it, its body unread (TCP holds it), for up to PARK_MS in arrival order; room freed hands
 * the oldest one on, holding a slot for it until it is admitted or answered (see Admission.hold), so a request that
 * then fails before admission (400/404/415) gives its slot back to the next one. A parked request whose client hangs
 * up leaves the queue at once. One that is still waiting at PARK_MS, or that finds maxParked waiting already, gets its
 * 503 straight from Node. Refusals thus cost no decoding, no hooks and no body parsing, and they come at most about
 * maxParked per PARK_MS instead of as fast as a flood of pipelined clients can resend: goodput holds up.
 */
export function refuseEarly(opts: FastRefusal, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const parkMs = opts.parkMs ?? PARK_MS;
  const parked: Parked[] = [];
  let timer: NodeJS.Timeout | null = null;
  const count = (): void => {
    opts.admission.parked = parked.length;
  };

  const refuse = (req: IncomingMessage, res: ServerResponse): void => {
    if (res.writableEnded || req.socket.destroyed) return;
    const url = req.url ?? '';
    const refused = opts.admission.refusal();
    // Before routing, the v2 routes are known by their prefix: there `error` is the message (what Triton clients show).
    const text = JSON.stringify(errorBody(refused.code, refused.message, url.startsWith('/v2/')));
    res.writeHead(503, {
      ...SECURITY_HEADERS,
      ...corsHeaders(opts.origins, req.headers.origin),
      'x-request-id': requestId(req),
      'retry-after': String(RETRY_AFTER_S),
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
    opts.onRefused(inferRoute(url));
  };

  /** Takes a request out of the queue (answered, handed on or gone). */
  const unpark = (p: Parked): void => {
    p.req.socket.off('close', p.gone);
    count();
  };

  /** Refuses the parked requests whose time is up, and re-arms the timer for the next one (FIFO: deadlines ascend). */
  const expire = (): void => {
    timer = null;
    const now = performance.now();
    while (parked.length > 0 && parked[0]!.until <= now) {
      const p = parked.shift()!;
      unpark(p);
      refuse(p.req, p.res);
    }
    if (parked.length > 0) timer = setTimeout(expire, parked[0]!.until - now + 1);
  };

  /** Hands the oldest parked requests on while there is room, each with a held slot given back when it ends unadmitted. */
  const drain = (): void => {
    while (parked.length > 0 && !opts.admission.full) {
      const p = parked.shift()!;
      unpark(p);
      if (p.req.socket.destroyed || p.res.writableEnded) continue;
      // The hold ends with the answer, or with the connection (a pipelined answer not yet started has no close event).
      const release = opts.admission.hold(p.req);
      const done = (): void => {
        p.res.off('close', done);
        p.req.socket.off('close', done);
        release();
      };
      p.res.once('close', done);
      p.req.socket.once('close', done);
      parkedSince.set(p.req, p.until - parkMs);
      handler(p.req, p.res);
    }
    if (parked.length === 0 && timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  };
  opts.admission.onRelease = drain;

  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    // Admission's decision (refusal), taken here before Fastify for infer URLs; while others wait, newcomers queue behind them.
    if (
      (!opts.admission.refuses(req) && parked.length === 0) ||
      opts.closing?.() ||
      !isInfer(req.method, url) ||
      (opts.keys.enabled && !opts.keys.allows(req.headers.authorization)) ||
      opts.exhausted?.(req)
    ) {
      handler(req, res);
      return;
    }
    if (parked.length >= opts.maxParked) {
      refuse(req, res);
      return;
    }
    const p: Parked = {
      req,
      res,
      until: performance.now() + parkMs,
      gone: () => {
        const i = parked.indexOf(p);
        if (i >= 0) parked.splice(i, 1);
        count();
      },
    };
    parked.push(p);
    req.socket.once('close', p.gone);
    count();
    if (timer === null) timer = setTimeout(expire, parkMs + 1);
    drain();
  };
}
