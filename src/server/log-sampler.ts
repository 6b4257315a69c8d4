// Caps repeated request log lines (successes; rejections: 4xx, 503) per status code and window; what it drops is counted and reported on a later line.

export interface SamplerOptions {
  /** Rejection lines per status code and window that are written. */
  perWindow: number;
  /** Success (1xx-3xx) lines per status code and window that are written (default: all). */
  successesPerWindow?: number;
  windowMs: number;
  now?: () => number;
}

/** Rejections: client errors and overload/shutdown answers. */
export const sampled = (status: number): boolean => (status >= 400 && status < 500) || status === 503;

/** Decides which rejection lines get written and keeps count of the rest. */
export class LogSampler {
  private windowStart = -Infinity;
  private readonly written = new Map<number, number>();
  private dropped = new Map<number, number>();
  /** Dropped counts of finished windows, not yet reported. */
  private unreported = new Map<number, number>();
  private readonly now: () => number;

  constructor(private readonly opts: SamplerOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** The lines per window written for `status`; null: every one (server errors other than 503). */
  private limit(status: number): number | null {
    if (sampled(status)) return this.opts.perWindow;
    if (status < 400) return this.opts.successesPerWindow ?? null;
    return null;
  }

  /** Whether a line for `status` may be written now (always, for statuses that are not sampled). */
  allow(status: number): boolean {
    this.roll();
    const limit = this.limit(status);
    if (limit === null) return true;
    const n = this.written.get(status) ?? 0;
    if (n < limit) {
      this.written.set(status, n + 1);
      return true;
    }
    this.dropped.set(status, (this.dropped.get(status) ?? 0) + 1);
    return false;
  }

  /** Lines dropped in finished windows since the last call, by status code; null when none. */
  takeDropped(): Record<string, number> | null {
    this.roll();
    if (this.unreported.size === 0) return null;
    const out = Object.fromEntries(this.unreported);
    this.unreported = new Map();
    return out;
  }

  private roll(): void {
    const t = this.now();
    if (t - this.windowStart < this.opts.windowMs) return;
    this.windowStart = t;
    this.written.clear();
    for (const [s, n] of this.dropped) this.unreported.set(s, (this.unreported.get(s) ?? 0) + n);
    this.dropped = new Map();
  }
}
