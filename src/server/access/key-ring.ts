// The API keys: kept as SHA-256 digests, compared in constant time, each with what its key-file line allows (scopes, rate, id).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeyLine } from './keys-file.js';
import { defaultBurst, type Rate } from './rate.js';
import type { Scope } from './scopes.js';

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

/** What a key may do, as its key-file line says (a key given any other way, or with no fields, has every scope). */
export interface KeyEntry {
  /** Shown in metrics and logs instead of the key: its name= or `sha256:` and the first 8 hex digits of its digest. */
  id: string;
  /** null: every scope. */
  scopes: ReadonlySet<Scope> | null;
  /** Its own rate limit (rate= / burst=), or null for the default (--rate-limit). */
  rate: Rate | null;
}

/**
 * Checks presented credentials against the configured keys. Keys are kept only as SHA-256 digests; a candidate's digest
 * is compared with every one of them with timingSafeEqual (equal-length buffers), so neither the position of a
 * mismatch nor which key matched shows in the timing.
 */
export class KeyRing {
  private readonly digests: Buffer[];
  private readonly entries: KeyEntry[];

  /**
   * `keys`: keys with every scope; `lines`: the key file's lines (their key may repeat one of `keys`: the line's
   * fields then apply); `defaultRate`: what a line with burst= but no rate= refills at.
   */
  constructor(keys: readonly string[], lines: readonly KeyLine[] = [], defaultRate: Rate | null = null) {
    const byKey = new Map<string, KeyLine>();
    for (const k of keys) byKey.set(k, { key: k, scopes: null, rate: null, burst: null, name: null });
    for (const l of lines) byKey.set(l.key, l);
    this.digests = [];
    this.entries = [];
    for (const l of byKey.values()) {
      const d = digest(l.key);
      this.digests.push(d);
      const perSecond = l.rate ?? (l.burst !== null ? (defaultRate?.perSecond ?? null) : null);
      this.entries.push({
        id: l.name ?? `sha256:${d.toString('hex').slice(0, 8)}`,
        scopes: l.scopes ? new Set(l.scopes) : null,
        rate: perSecond === null ? null : { perSecond, burst: l.burst ?? defaultBurst(perSecond) },
      });
    }
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The key `authorization` (`Bearer <key>`) presents, or null when it is none of them. */
  identify(authorization: string | undefined): KeyEntry | null {
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? '');
    const candidate = digest(m ? m[1]! : '');
    let found = -1;
    for (let i = 0; i < this.digests.length; i++) {
      const eq = timingSafeEqual(this.digests[i]!, candidate);
      found = eq ? i : found;
    }
    return m !== null && found >= 0 ? this.entries[found]! : null;
  }

  /** True when `authorization` is `Bearer <one of the keys>`. */
  allows(authorization: string | undefined): boolean {
    return this.identify(authorization) !== null;
  }
}
