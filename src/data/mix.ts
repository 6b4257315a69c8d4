// MixUp and CutMix over a uint8 NHWC batch with soft targets (timm's Mixup in 'batch' mode, pairs = reversed batch).
import { mixSeed, Rng } from '../util/rng.js';

export interface MixOptions {
  /** MixUp Beta(α, α) parameter; 0 = off. */
  mixup: number;
  /** CutMix Beta(α, α) parameter; 0 = off. */
  cutmix: number;
  /** Probability that a batch is mixed at all (timm's `prob`). */
  prob: number;
  /** With both on, the probability of CutMix rather than MixUp for a batch (timm's `switch_prob`, 0.5). */
  switchProb: number;
  /** Label smoothing ε folded into the targets: (1 − ε)·onehot + ε/K. */
  smoothing: number;
  numClasses: number;
}

export interface MixResult {
  /** n×K target probabilities. */
  targets: Float32Array;
  /** Weight of each image's own label (after CutMix's area correction); 1 when the batch was not mixed. */
  lam: number;
  kind: 'none' | 'mixup' | 'cutmix';
  /** CutMix box [y0, y1) × [x0, x1), pasted from the partner image. */
  box?: { y0: number; y1: number; x0: number; x1: number };
}

/** The batch's mixing stream: separate from the augmentation stream, a function of (seed, epoch, step) only. */
export function mixRng(seed: number, epoch: number, step: number): Rng {
  return new Rng(mixSeed(seed, epoch, step, 0x4d4958));
}

/** True when the options mix anything. */
export function mixEnabled(o: MixOptions | null | undefined): o is MixOptions {
  return !!o && o.prob > 0 && (o.mixup > 0 || o.cutmix > 0);
}

/** Gamma(a, 1) by Marsaglia and Tsang (a < 1 via the a + 1 boost). */
export function sampleGamma(rng: Rng, a: number): number {
  if (a < 1) {
    let u = rng.next();
    while (u <= 0) u = rng.next();
    return sampleGamma(rng, a + 1) * u ** (1 / a);
  }
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, a) in [0, 1]. */
export function sampleBeta(rng: Rng, a: number): number {
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, a);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/** timm's rand_bbox: a box of sides ⌊H·√(1−λ)⌋, ⌊W·√(1−λ)⌋ centred at a uniform pixel, clipped to the image. */
export function cutmixBox(
  rng: Rng,
  h: number,
  w: number,
  lam: number,
): { y0: number; y1: number; x0: number; x1: number } {
  const ratio = Math.sqrt(1 - lam);
  const ch = Math.floor(h * ratio);
  const cw = Math.floor(w * ratio);
  const cy = rng.int(h);
  const cx = rng.int(w);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return {
    y0: clip(cy - (ch >> 1), h),
    y1: clip(cy + (ch >> 1), h),
    x0: clip(cx - (cw >> 1), w),
    x1: clip(cx + (cw >> 1), w),
  };
}

/** (1 − ε)·onehot + ε/K for each label, mixed as lam·own + (1 − lam)·partner (partner of i is n − 1 − i). */
export function mixTargets(
  labels: ArrayLike<number>,
  n: number,
  o: Pick<MixOptions, 'smoothing' | 'numClasses'>,
  lam: number,
): Float32Array {
  const K = o.numClasses;
  const off = o.smoothing / K;
  const on = 1 - o.smoothing + off;
  const t = new Float32Array(n * K);
  for (let i = 0; i < n; i++) {
    const row = t.subarray(i * K, (i + 1) * K);
    row.fill(off);
    row[labels[i]!]! += lam * (on - off);
    row[labels[n - 1 - i]!]! += (1 - lam) * (on - off);
  }
  return t;
}

/**
 * Mixes the batch in `src` into `dst` (distinct buffers of n·h·w·3 bytes). Per batch: mixed with probability
 * `prob`; CutMix with probability `switchProb` when both are on; λ ~ Beta(α, α); CutMix's λ is corrected to the
 * pasted box's area. MixUp rounds λ·a + (1 − λ)·b to the nearest uint8.
 */
export function mixBatch(
  src: Uint8Array,
  dst: Uint8Array,
  labels: ArrayLike<number>,
  n: number,
  h: number,
  w: number,
  o: MixOptions,
  rng: Rng,
): MixResult {
  const per = h * w * 3;
  let useCutmix = false;
  let lam = 1;
  if (o.mixup > 0 && o.cutmix > 0) {
    useCutmix = rng.next() < o.switchProb;
    lam = sampleBeta(rng, useCutmix ? o.cutmix : o.mixup);
  } else if (o.mixup > 0) {
    lam = sampleBeta(rng, o.mixup);
  } else if (o.cutmix > 0) {
    useCutmix = true;
    lam = sampleBeta(rng, o.cutmix);
  }
  if (!(rng.next() < o.prob)) lam = 1;
  if (lam === 1) {
    dst.set(src.subarray(0, n * per));
    return { targets: mixTargets(labels, n, o, 1), lam: 1, kind: 'none' };
  }
  if (useCutmix) {
    const box = cutmixBox(rng, h, w, lam);
    dst.set(src.subarray(0, n * per));
    const row = (box.x1 - box.x0) * 3;
    if (row > 0) {
      for (let i = 0; i < n; i++) {
        const j = n - 1 - i;
        for (let y = box.y0; y < box.y1; y++) {
          const off = (y * w + box.x0) * 3;
          dst.set(src.subarray(j * per + off, j * per + off + row), i * per + off);
        }
      }
    }
    lam = 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (h * w);
    return { targets: mixTargets(labels, n, o, lam), lam, kind: 'cutmix', box };
  }
  const mu = 1 - lam;
  for (let i = 0; i < n; i++) {
    const a = i * per;
    const b = (n - 1 - i) * per;
    for (let k = 0; k < per; k++) dst[a + k] = (lam * src[a + k]! + mu * src[b + k]! + 0.5) | 0; // round half up (values ≥ 0)
  }
  return { targets: mixTargets(labels, n, o, lam), lam, kind: 'mixup' };
}
