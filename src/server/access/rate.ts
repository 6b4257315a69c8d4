// Rate limits: the `R/s[:B]` form, and token buckets (one per key id, or per client address when keys are off).

/** A token bucket's refill rate (requests per second) and size (the burst it allows from full). */
export interface Rate {
  perSecond: number;
  burst: number;
}

/** The burst when none is given: one second's worth of requests, at least 1. */
export const defaultBurst = (perSecond: number): number => Math.max(1, Math.ceil(perSecond));

const NUMBER = /^\d+(\.\d+)?$/;

/** A rate `R/s` (R > 0, decimals allowed), or the reason it is not one. */
export function parseRatePerSecond(text: string): number | string {
  const m = /^(\d+(?:\.\d+)?)\/s$/.exec(text.trim());
  const n = m ? Number(m[1]) : Number.NaN;
  if (!m || !(n > 0) || n > 1e9)
    return `a rate must look like 10/s or 0.5/s (requests per second, above 0), got "${text}"`;
  return n;
}

/** A burst: an integer ≥ 1. */
export function parseBurst(text: string): number | string {
  const n = NUMBER.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1e9) return `a burst must be a whole number of requests ≥ 1, got "${text}"`;
  return n;
}

/** `R/s[:B]` (--rate-limit, RATE_LIMIT) → a Rate, or the reason it is not one. */
export function parseRate(text: string): Rate | string {
  const [r, b, ...rest] = text.split(':');
  if (rest.length > 0) return `a rate limit must look like 10/s or 10/s:20 (rate[:burst]), got "${text}"`;
  const perSecond = parseRatePerSecond(r!);
  if (typeof perSecond === 'string') return perSecond;
  const burst = b === undefined ? defaultBurst(perSecond) : parseBurst(b);
  if (typeof burst === 'string') return burst;
  return { perSecond, burst };
}

/** One take from a bucket: allowed or not, what is left and when it refills. */
export interface Taken {
  ok: boolean;
  /** Whole requests left in the bucket after this one. */
  remaining: number;
  /** Seconds until the bucket is full again (whole seconds, rounded up). */
  resetS: number;
  /** When refused: seconds until one request is allowed again (whole seconds, rounded up, at least 1). */
  retryAfterS: number;
}

interface Bucket {
  tokens: number;
  /** performance.now() of the last refill. */
  at: number;
  rate: Rate;
}

/** Buckets kept at most; beyond it, full buckets (which hold no state) are dropped first, then the oldest. */
const MAX_BUCKETS = 100_000;

/**
 * Token buckets by id: each starts full (`burst` tokens), refills continuously at `perSecond`, and each request takes
 * one token or is refused. An absent bucket and a full one behave the same, so buckets may be dropped when full,
 * which bounds memory under a flood of distinct addresses.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  get size(): number {
    return this.buckets.size;
  }

  private refill(id: string, rate: Rate, t: number): Bucket {
    let b = this.buckets.get(id);
    if (!b) {
      if (this.buckets.size >= MAX_BUCKETS) this.sweep(t);
      b = { tokens: rate.burst, at: t, rate };
      this.buckets.set(id, b);
    } else {
      b.tokens = Math.min(rate.burst, b.tokens + ((t - b.at) / 1000) * rate.perSecond);
      b.at = t;
      b.rate = rate;
    }
    return b;
  }

  private verdict(b: Bucket, rate: Rate, ok: boolean): Taken {
    const remaining = Math.floor(b.tokens);
    return {
      ok,
      remaining,
      resetS: Math.ceil((rate.burst - b.tokens) / rate.perSecond),
      retryAfterS: ok ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / rate.perSecond)),
    };
  }

  /** Takes one token from `id`'s bucket if it has one. */
  take(id: string, rate: Rate): Taken {
    const b = this.refill(id, rate, this.now());
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    return this.verdict(b, rate, ok);
  }

  /** Whether `id`'s bucket would refuse a request now (takes nothing). */
  empty(id: string, rate: Rate): boolean {
    const b = this.buckets.get(id);
    if (!b) return false;
    return Math.min(rate.burst, b.tokens + ((this.now() - b.at) / 1000) * rate.perSecond) < 1;
  }

  /** Drops full buckets; if that frees too little, the oldest half. */
  private sweep(t: number): void {
    for (const [id, b] of this.buckets)
      if (b.tokens + ((t - b.at) / 1000) * b.rate.perSecond >= b.rate.burst) this.buckets.delete(id);
    if (this.buckets.size < MAX_BUCKETS * 0.9) return;
    let n = this.buckets.size / 2;
    for (const id of this.buckets.keys()) {
      if (n-- <= 0) break;
      this.buckets.delete(id);
    }
  }
}
