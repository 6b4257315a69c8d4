// Admission control: a whole request's images are admitted or refused (503) before any decoding, from the images already in flight.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { KeyRing } from './auth.js';
import { body, RETRY_AFTER_S, ServiceError } from './errors.js';
import { requestId } from './request-id.js';
import { corsHeaders, SECURITY_HEADERS } from './security-headers.js';
import { isV2 } from './v2-http.js';

/**
 * Counts the images between admission and answer (decoding, queued or running). A request reserves all of its images
 * at once, so it either runs whole or is refused whole, and a refusal costs no decoding. The capacity is MAX_QUEUE:
 * as the batcher's queue holds only admitted images, it can never refuse part of an admitted request.
 */
export class Admission {
  private inflight = 0;
  /** Called with the number of images freed, after each release. */
  onRelease: ((freed: number) => void) | null = null;

  constructor(readonly capacity: number) {}

  /** Images admitted and not yet answered. */
  get images(): number {
    return this.inflight;
  }

  get full(): boolean {
    return this.inflight >= this.capacity;
  }

  /** Reserves `count` images or throws OVERLOADED (TOO_MANY_IMAGES if it could never fit); returns the release function. */
  admit(count: number): () => void {
    if (count > this.capacity)
      throw new ServiceError(
        'TOO_MANY_IMAGES',
        `at most ${this.capacity} images per request (see MAX_QUEUE), got ${count}`,
      );
    if (this.inflight + count > this.capacity) {
      throw new ServiceError(
        'OVERLOADED',
        `the service is full (${this.inflight} images in flight, limit ${this.capacity}); retry shortly`,
      );
    }
    this.inflight += count;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight -= count;
      this.onRelease?.(count);
    };
  }
}

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

/** Longest time an infer request waits, unread, for room before it is refused (clients are told to retry after 1 s). */
export const PARK_MS = 1000;

export interface FastRefusal {
  admission: Admission;
  /** Most requests waiting for room at once; beyond it they are refused at once. */
  maxParked: number;
  parkMs?: number;
  keys: KeyRing;
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
}

/**
 * Wraps Node's request handler. While the service is full, an infer request (with a valid key, if keys are set) is
 * parked before Fastify sees it, its body unread (TCP holds it), for up to PARK_MS in arrival order; a freed image
 * slot hands the oldest one on. One that is still waiting then, or that finds maxParked waiting already, gets its
 * 503 straight from Node. Refusals thus cost no decoding, no hooks and no body parsing, and they come at most about
 * maxParked per PARK_MS instead of as fast as a flood of pipelined clients can resend: goodput holds up.
 */
export function refuseEarly(o: FastRefusal, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const parkMs = o.parkMs ?? PARK_MS;
  const parked: Parked[] = [];
  let timer: NodeJS.Timeout | null = null;

  const refuse = (req: IncomingMessage, res: ServerResponse): void => {
    if (res.writableEnded || req.socket.destroyed) return;
    const url = req.url ?? '';
    const b = body(
      'OVERLOADED',
      `the service is full (${o.admission.images} images in flight, limit ${o.admission.capacity}); retry shortly`,
    );
    // As the v2 onSend hook does for Fastify's answers: on /v2 paths `error` is the message (what Triton clients show).
    const text = JSON.stringify(isV2(url) ? { ...b, error: b.message } : b);
    res.writeHead(503, {
      ...SECURITY_HEADERS,
      ...corsHeaders(o.origins, req.headers.origin),
      'x-request-id': requestId(req),
      'retry-after': String(RETRY_AFTER_S),
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
    o.onRefused(inferRoute(url));
  };

  /** Refuses the parked requests whose time is up, and re-arms the timer for the next one (FIFO: deadlines ascend). */
  const expire = (): void => {
    timer = null;
    const now = performance.now();
    while (parked.length > 0 && parked[0]!.until <= now) {
      const p = parked.shift()!;
      refuse(p.req, p.res);
    }
    if (parked.length > 0) timer = setTimeout(expire, parked[0]!.until - now + 1);
  };

  o.admission.onRelease = (freed) => {
    for (let i = 0; i < freed && parked.length > 0 && !o.admission.full; i++) {
      const p = parked.shift()!;
      if (!p.req.socket.destroyed) handler(p.req, p.res);
    }
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    if (
      (!o.admission.full && parked.length === 0) ||
      o.closing?.() ||
      !isInfer(req.method, url) ||
      (o.keys.enabled && !o.keys.allows(req.headers.authorization))
    ) {
      handler(req, res);
      return;
    }
    if (parked.length >= o.maxParked) {
      refuse(req, res);
      return;
    }
    parked.push({ req, res, until: performance.now() + parkMs });
    if (timer === null) timer = setTimeout(expire, parkMs + 1);
  };
}

/** Refuses infer requests while the service is full, before their bodies are read or parsed. */
export function refuseWhenFull(app: FastifyInstance, admission: Admission): void {
  app.addHook('onRequest', async (req) => {
    if (admission.full && isInfer(req.method, req.url)) {
      throw new ServiceError(
        'OVERLOADED',
        `the service is full (${admission.images} images in flight, limit ${admission.capacity}); retry shortly`,
      );
    }
  });
}
