// Exponential moving average of the weights, updated in place over Float32Arrays after every optimizer step.
import type { Params } from '../model/index.js';

/** Effective decay at 1-based step t: min(decay, (1 + t)/(10 + t)), so early averages are not dominated by the init. */
export function emaDecayAt(decay: number, step: number): number {
  return Math.min(decay, (1 + step) / (10 + step));
}

/** A copy of `params` to start the average from. */
export function emaInit(params: Params): Params {
  return new Map([...params].map(([k, v]) => [k, Float32Array.from(v)]));
}

/** ema ← d·ema + (1 − d)·params with d = emaDecayAt(decay, step), except the `skip` (frozen) tensors, which keep their value; returns d. */
export function emaUpdate(
  ema: Params,
  params: Params,
  decay: number,
  step: number,
  skip?: ReadonlySet<string>,
): number {
  const d = emaDecayAt(decay, step);
  const u = 1 - d;
  for (const [name, p] of params) {
    if (skip?.has(name)) continue;
    const e = ema.get(name);
    if (!e || e.length !== p.length) throw new Error(`EMA has no tensor matching parameter '${name}'`);
    for (let i = 0; i < p.length; i++) e[i] = d * e[i]! + u * p[i]!;
  }
  return d;
}
