// Traffic splits between the versions of a model: weights validated once, the version picked by a routing key's stable hash or at random.
import { createHash } from 'node:crypto';
import { parseVersion, VERSION_RULE } from '../repository/names.js';

/** Weights per version ("<version>": weight), as config.json's "traffic" and the repository API take them. */
export type TrafficWeights = Record<string, number>;

/**
 * Checks a "traffic" value: an object of version → weight, weights finite and non-negative, their sum above 0.
 * Returns the message of the first problem, or null when it is valid.
 */
export function trafficProblem(raw: unknown): string | null {
  const form = 'must be an object of version → weight, e.g. {"1": 90, "2": 10}';
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return form;
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) return `${form} (it is empty)`;
  let sum = 0;
  for (const [v, w] of entries) {
    if (parseVersion(v) === null) return `has the key ${JSON.stringify(v).slice(0, 40)}: ${VERSION_RULE}`;
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0)
      return `gives version ${v} the weight ${JSON.stringify(w)?.slice(0, 40)}; a weight is a finite number ≥ 0`;
    sum += w;
  }
  if (!(sum > 0)) return 'gives every version the weight 0; at least one weight must be above 0';
  return null;
}

/** A uniform number in [0, 1) fixed by the key (the first 48 bits of its SHA-256). */
export function keyPoint(key: string): number {
  return createHash('sha256').update(key, 'utf8').digest().readUIntBE(0, 6) / 2 ** 48;
}

/** The READY versions with a weight above 0, ascending, with their weights (a version not READY gets nothing). */
function live(weights: TrafficWeights, ready: readonly number[]): [number, number][] {
  return [...ready]
    .sort((a, b) => a - b)
    .map((v): [number, number] => [v, weights[String(v)] ?? 0])
    .filter(([, w]) => w > 0);
}

/**
 * The version a request without one goes to: `weights` over `ready` (the READY versions; others get nothing and the
 * rest are renormalised), cumulative in ascending version order, at the key's point or a random one. Null when no
 * READY version has a weight above 0 (the caller falls back to the latest READY version).
 */
export function pickVersion(
  weights: TrafficWeights,
  ready: readonly number[],
  key: string | null,
  random: () => number = Math.random,
): number | null {
  const l = live(weights, ready);
  if (l.length === 0) return null;
  const at = (key === null ? random() : keyPoint(key)) * l.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  for (const [v, w] of l) {
    acc += w;
    if (at < acc) return v;
  }
  return l[l.length - 1]![0];
}

/** The share (0-1) of requests without a version each READY version gets: by the weights, else all to the latest. */
export function sharesOf(weights: TrafficWeights | null, ready: readonly number[]): Record<string, number> {
  const l = weights ? live(weights, ready) : [];
  if (l.length === 0) return ready.length > 0 ? { [String(Math.max(...ready))]: 1 } : {};
  const total = l.reduce((s, [, w]) => s + w, 0);
  return Object.fromEntries(l.map(([v, w]) => [String(v), w / total]));
}

/** An inference request's version choice: the model's split applies, pinned by the routing key when there is one. */
export interface Route {
  key: string | null;
}

/** The routing key an adapter reads (X-Routing-Key header, x-routing-key gRPC metadata), or null when there is none. */
export function routingKey(value: unknown): string | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (Buffer.isBuffer(v)) return v.length > 0 ? v.toString('latin1') : null;
  return typeof v === 'string' && v !== '' ? v : null;
}
