// Admission control: a whole request's images are admitted or refused (503) before any decoding, from the images already in flight.
import type { FastifyInstance } from 'fastify';
import { overloaded, ServiceError } from './errors.js';

/**
 * Counts the images between admission and answer (decoding, queued or running). A request reserves all of its images
 * at once, so it either runs whole or is refused whole, and a refusal costs no decoding. The capacity is MAX_QUEUE:
 * as the batcher's queue holds only admitted images, it can never refuse part of an admitted request.
 *
 * A parked request handed a freed slot holds one image slot until it is admitted (its admit() takes the slot over)
 * or ends without being admitted (a 4xx before admission, a hang-up, a timeout: the hold is released then), so a
 * slot handed on is never lost, and nothing can jump ahead of it meanwhile.
 */
export class Admission {
  private inflight = 0;
  /** Owners (raw requests) of a held slot not yet taken over by admit(), with how long each was parked (ms). */
  private readonly held = new Map<object, number>();
  /** Requests parked for room right now (refuseEarly keeps it; the metrics show it). */
  parked = 0;
  /** Called after each release (of an admission or of a hold), when room may have been freed. */
  onRelease: (() => void) | null = null;

  constructor(readonly capacity: number) {}

  /** Images admitted and not yet answered, with the held slots. */
  get images(): number {
    return this.inflight;
  }

  get full(): boolean {
    return this.inflight >= this.capacity;
  }

  /**
   * The one overload decision for a request not yet admitted (before its body is read): refused while the service
   * is full and `owner` holds no slot handed to it. admit() then counts the request's images.
   */
  refuses(owner?: object): boolean {
    return this.full && !(owner !== undefined && this.held.has(owner));
  }

  /** The OVERLOADED error of a refusal, with the images in flight now. */
  refusal(): ServiceError {
    return overloaded(this.inflight, this.capacity);
  }

  /**
   * Takes one image slot for `owner` (room must be free), parked `waitedMs` for it; the returned function gives it
   * back unless admit() took it over.
   */
  hold(owner: object, waitedMs = 0): () => void {
    this.inflight += 1;
    this.held.set(owner, waitedMs);
    return () => {
      if (!this.held.delete(owner)) return;
      this.inflight -= 1;
      this.onRelease?.();
    };
  }

  /** How long `owner`, handed a held slot, was parked for it (0 for a request never parked); read before admit(). */
  waitedMs(owner?: object): number {
    return owner === undefined ? 0 : (this.held.get(owner) ?? 0);
  }

  /**
   * Reserves `count` images or throws OVERLOADED (TOO_MANY_IMAGES if it could never fit); returns the release function.
   * An `owner` holding a slot counts it towards `count`; the slot then belongs to this admission.
   */
  admit(count: number, owner?: object): () => void {
    if (count > this.capacity)
      throw new ServiceError(
        'TOO_MANY_IMAGES',
        `at most ${this.capacity} images per request (see MAX_QUEUE), got ${count}`,
      );
    const own = owner !== undefined && this.held.has(owner) ? 1 : 0;
    if (this.inflight - own + count > this.capacity) throw overloaded(this.inflight - own, this.capacity);
    if (own) this.held.delete(owner!);
    this.inflight += count - own;
    // A held slot given up for an admission of no image frees room at once.
    if (count < own) this.onRelease?.();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight -= count;
      if (count > 0) this.onRelease?.();
    };
  }
}

/** Refuses requests to infer routes (`config.infer`) while the service is full, before their bodies are read or parsed. */
export function refuseWhenFull(app: FastifyInstance, admission: Admission): void {
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.infer === true && admission.refuses(req.raw)) throw admission.refusal();
  });
}
