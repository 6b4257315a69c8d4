// Admission control: a whole request's images are admitted or refused (503) before any decoding, from the images already in flight.
import type { FastifyInstance } from 'fastify';
import { ServiceError } from './errors.js';

/**
 * Counts the images between admission and answer (decoding, queued or running). A request reserves all of its images
 * at once, so it either runs whole or is refused whole, and a refusal costs no decoding. The capacity is MAX_QUEUE:
 * as the batcher's queue holds only admitted images, it can never refuse part of an admitted request.
 */
export class Admission {
  private inflight = 0;

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
    if (count > this.capacity) throw new ServiceError('TOO_MANY_IMAGES', `at most ${this.capacity} images per request (see MAX_QUEUE), got ${count}`);
    if (this.inflight + count > this.capacity) {
      throw new ServiceError('OVERLOADED', `the service is full (${this.inflight} images in flight, limit ${this.capacity}); retry shortly`);
    }
    this.inflight += count;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight -= count;
    };
  }
}

/** Infer routes: POST /classify and POST …/infer. */
const isInfer = (method: string, url: string): boolean => method === 'POST' && (/^\/classify(\?|$)/.test(url) || /\/infer(\?|$)/.test(url));

/** Refuses infer requests while the service is full, before their bodies are read or parsed. */
export function refuseWhenFull(app: FastifyInstance, admission: Admission): void {
  app.addHook('onRequest', async (req) => {
    if (admission.full && isInfer(req.method, req.url)) {
      throw new ServiceError('OVERLOADED', `the service is full (${admission.images} images in flight, limit ${admission.capacity}); retry shortly`);
    }
  });
}
