// The response cache (Triton's semantics): answers by a SHA-256 key over model, loaded version and request, LRU within a byte budget across models.
import { createHash, type Hash } from 'node:crypto';
import type { ModelInstance } from '../repository/instance.js';

/** What an entry costs beside its value: the key, the map slots and the entry object (an estimate). */
export const ENTRY_OVERHEAD_BYTES = 256;

/** One part of a key: text, bytes or a number (each length-prefixed, so parts never run into each other). */
export type KeyPart = string | Uint8Array | number;

interface Entry {
  value: unknown;
  bytes: number;
  owner: ModelInstance;
}

export interface CacheHooks {
  /** Every lookup of a cached model: hit or miss, and the time spent in the cache (lookup, and insert on a miss). */
  lookup?: (model: string, version: number, hit: boolean, ms: number) => void;
  /** An answer evicted to stay within the budget. */
  evict?: () => void;
}

export class ResponseCache {
  /** Least recently used first (a hit moves its entry to the end). */
  private readonly entries = new Map<string, Entry>();
  private readonly byOwner = new Map<ModelInstance, Set<string>>();
  /** Instances replaced or unloaded: their answers are dropped and never stored again. */
  private readonly retired = new WeakSet<ModelInstance>();
  /** A serial per loaded instance: a reload of the same version never sees the answers of the one it replaced. */
  private readonly serials = new WeakMap<ModelInstance, number>();
  private nextSerial = 1;
  private used = 0;

  constructor(
    /** The byte budget across models (0: off). */
    readonly budget: number,
    private readonly hooks: CacheHooks = {},
  ) {}

  /** Bytes held now (values and per-entry overhead); never above the budget. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether answers of `m` are cached: a budget is set and its config.json has "response_cache": {"enable": true}. */
  enabledFor(m: ModelInstance): boolean {
    return this.budget > 0 && m.configFile.response_cache?.enable === true && !this.retired.has(m);
  }

  /** The key of a request to `m`: SHA-256 over the model, its loaded version and the request's parts. */
  key(m: ModelInstance, parts: readonly KeyPart[]): string {
    let serial = this.serials.get(m);
    if (serial === undefined) {
      serial = this.nextSerial++;
      this.serials.set(m, serial);
    }
    const h = createHash('sha256');
    for (const p of [m.name, m.version, serial, ...parts]) update(h, p);
    return h.digest('hex');
  }

  /**
   * The cached answer of `parts` to `m`, or the one `compute` makes (stored when it fits, the least recently used
   * answers evicted to make room). `size` gives a computed answer's bytes. Failures are not cached.
   */
  async answer<T>(
    m: ModelInstance,
    parts: readonly KeyPart[],
    compute: () => Promise<T>,
    size: (value: T) => number,
  ): Promise<{ value: T; hit: boolean }> {
    const t0 = performance.now();
    const key = this.key(m, parts);
    const found = this.entries.get(key);
    if (found) {
      this.entries.delete(key);
      this.entries.set(key, found);
      this.hooks.lookup?.(m.name, m.version, true, performance.now() - t0);
      return { value: found.value as T, hit: true };
    }
    const lookupMs = performance.now() - t0;
    let value: T;
    try {
      value = await compute();
    } catch (e) {
      // A failed request still missed (its lookup is counted); nothing is stored.
      this.hooks.lookup?.(m.name, m.version, false, lookupMs);
      throw e;
    }
    const t1 = performance.now();
    this.store(key, m, value, size(value) + key.length + ENTRY_OVERHEAD_BYTES);
    this.hooks.lookup?.(m.name, m.version, false, lookupMs + performance.now() - t1);
    return { value, hit: false };
  }

  private store(key: string, owner: ModelInstance, value: unknown, bytes: number): void {
    // A retired instance's late answers, and answers larger than the whole budget, are not kept.
    if (this.retired.has(owner) || bytes > this.budget || this.entries.has(key)) return;
    while (this.used + bytes > this.budget) {
      const oldest = this.entries.keys().next().value as string;
      this.remove(oldest);
      this.hooks.evict?.();
    }
    this.entries.set(key, { value, bytes, owner });
    this.used += bytes;
    let keys = this.byOwner.get(owner);
    if (!keys) {
      keys = new Set();
      this.byOwner.set(owner, keys);
    }
    keys.add(key);
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.used -= e.bytes;
    const keys = this.byOwner.get(e.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.byOwner.delete(e.owner);
  }

  /** Drops every answer of an instance that stops serving (replaced or unloaded); it stores none from now on. */
  drop(m: ModelInstance): void {
    this.retired.add(m);
    for (const key of [...(this.byOwner.get(m) ?? [])]) this.remove(key);
    this.byOwner.delete(m);
  }

  /** Bytes and entries held per model version (the metrics' gauges). */
  usage(): { model: string; version: string; bytes: number; entries: number }[] {
    const out = new Map<string, { model: string; version: string; bytes: number; entries: number }>();
    for (const [owner, keys] of this.byOwner) {
      const id = `${owner.name}\u0000${owner.version}`;
      const u = out.get(id) ?? { model: owner.name, version: String(owner.version), bytes: 0, entries: 0 };
      for (const k of keys) {
        u.bytes += this.entries.get(k)?.bytes ?? 0;
        u.entries++;
      }
      out.set(id, u);
    }
    return [...out.values()];
  }
}

function update(h: Hash, p: KeyPart): void {
  const len = Buffer.alloc(9);
  if (typeof p === 'number') {
    len.writeUInt8(0, 0);
    len.writeDoubleLE(p, 1);
    h.update(len);
    return;
  }
  const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
  len.writeUInt8(typeof p === 'string' ? 1 : 2, 0);
  len.writeDoubleLE(bytes.length, 1);
  h.update(len);
  h.update(bytes);
}
