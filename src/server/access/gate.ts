// The access decision shared by HTTP and gRPC: does the caller's key have the scope, and is its rate limit (per key, or per client address when keys are off) not exhausted.
import type { KeyEntry, KeyRing } from './key-ring.js';
import { type Rate, type Taken, TokenBuckets } from './rate.js';
import type { Scope } from './scopes.js';

/** The limit that applied to a request: which policy, its rate, and the bucket after the request. */
export interface LimitState {
  /** "default" (--rate-limit) or "key" (the key's own rate= / burst=). */
  policy: 'default' | 'key';
  rate: Rate;
  taken: Taken;
}

export interface Denial {
  code: 'FORBIDDEN' | 'RATE_LIMITED';
  message: string;
}

export interface Verdict {
  denied: Denial | null;
  limit: LimitState | null;
}

export interface AccessHooks {
  /** A request refused for its rate (`keyId`: the key's id, "anonymous" when keys are off). */
  onLimited?: (keyId: string) => void;
  /** A request refused for a missing scope. */
  onForbidden?: (keyId: string, scope: Scope) => void;
}

/** The label metrics use for callers limited by address (keys off): addresses would make unbounded label sets. */
export const ANONYMOUS = 'anonymous';

/**
 * Scopes and rate limits for callers the edges have identified (HTTP's onRequest hook, the gRPC guard: both before
 * any body byte is read). A key's own rate= / burst= override the default rate (--rate-limit); with no key set at
 * all, the default rate applies per client address.
 */
export class Access {
  private readonly buckets: TokenBuckets;

  constructor(
    readonly keys: KeyRing,
    readonly defaultRate: Rate | null,
    readonly hooks: AccessHooks = {},
    now?: () => number,
  ) {
    this.buckets = new TokenBuckets(now);
  }

  /** Whether any check applies (keys, or a rate limit). */
  get enabled(): boolean {
    return this.keys.enabled || this.defaultRate !== null;
  }

  private limitOf(key: KeyEntry | null): { rate: Rate; policy: LimitState['policy'] } | null {
    if (key?.rate) return { rate: key.rate, policy: 'key' };
    return this.defaultRate ? { rate: this.defaultRate, policy: 'default' } : null;
  }

  private static bucketId(key: KeyEntry | null, address: string): string {
    return key ? `key ${key.id}` : `address ${address}`;
  }

  /**
   * The verdict for a request needing `scope` from `key` (null when keys are off) at `address`. A missing scope is
   * refused before the bucket is touched, so it costs the caller no token.
   */
  authorize(key: KeyEntry | null, address: string, scope: Scope): Verdict {
    const id = key?.id ?? ANONYMOUS;
    if (key?.scopes && !key.scopes.has(scope)) {
      this.hooks.onForbidden?.(id, scope);
      return {
        denied: {
          code: 'FORBIDDEN',
          message: `this API key lacks the "${scope}" scope this route needs (its scopes: ${[...key.scopes].join(', ')})`,
        },
        limit: null,
      };
    }
    const limit = this.limitOf(key);
    if (!limit) return { denied: null, limit: null };
    const taken = this.buckets.take(Access.bucketId(key, address), limit.rate);
    const state: LimitState = { ...limit, taken };
    if (taken.ok) return { denied: null, limit: state };
    this.hooks.onLimited?.(id);
    const r = limit.rate;
    return {
      denied: {
        code: 'RATE_LIMITED',
        message: `rate limit exceeded (${r.perSecond}/s, burst ${r.burst}${key ? ' for this API key' : ' for this client address'}); retry in ${taken.retryAfterS} s`,
      },
      limit: state,
    };
  }

  /** Whether the caller's bucket is empty now (takes nothing): a request that would be refused at once. */
  exhausted(key: KeyEntry | null, address: string): boolean {
    const limit = this.limitOf(key);
    return limit !== null && this.buckets.empty(Access.bucketId(key, address), limit.rate);
  }
}

/**
 * The RateLimit-Policy and RateLimit response fields of draft-ietf-httpapi-ratelimit-headers-10 (September 2025;
 * structured-field lists of items: the policy name with `q` = quota and `w` = window in seconds, and with `r` =
 * remaining quota and `t` = seconds until it resets). A token bucket of rate R and burst B is the quota B over the
 * window B/R seconds (the time it takes to refill): e.g. 10/s burst 20 → `"default";q=20;w=2`.
 */
export function rateLimitFields(s: LimitState): { 'ratelimit-policy': string; ratelimit: string } {
  const w = Math.max(1, Math.ceil(s.rate.burst / s.rate.perSecond));
  return {
    'ratelimit-policy': `"${s.policy}";q=${s.rate.burst};w=${w}`,
    ratelimit: `"${s.policy}";r=${s.taken.remaining};t=${s.taken.resetS}`,
  };
}
