// Stochastic depth masks for one batch: per residual branch and sample, 0 with the block's rate, else 1/(1 − rate).

import type { HostTensor } from '../runtime/session.js';
import { mixSeed, Rng } from '../util/rng.js';
import { dropPathInput, dropPathRates } from './artifacts.js';

/** The training graph's drop_path.* feeds for batch (epoch, step): a pure function of (seed, epoch, step). */
export function dropPathFeeds(
  depth: number,
  rate: number,
  n: number,
  seed: number,
  epoch: number,
  step: number,
): Record<string, HostTensor> {
  const rng = new Rng(mixSeed(seed, epoch, step, 0x44504154));
  const feeds: Record<string, HostTensor> = {};
  const rates = dropPathRates(depth, rate);
  for (let i = 0; i < depth; i++) {
    const r = rates[i]!;
    if (!(r > 0)) continue;
    for (const br of ['tokens', 'channels'] as const) {
      const m = new Float32Array(n);
      for (let k = 0; k < n; k++) m[k] = rng.next() < r ? 0 : 1 / (1 - r);
      feeds[dropPathInput(i, br)] = { dtype: 'float32', dims: [n], data: m };
    }
  }
  return feeds;
}
