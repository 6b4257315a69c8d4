// Training augmentation on uint8 NHWC RGB batches: AutoAugment / TrivialAugment / RandAugment → random crop (zero padding) + horizontal flip → cutout.

import type { Rng } from '../util/rng.js';
import { type AugmentPolicy, applyPolicy } from './autoaugment.js';
import { type RandAugmentOptions, randAugment } from './randaugment.js';

export { applyOp, RA_FILL, RA_MAX_MAGNITUDE, RA_OPS, type RandAugmentOptions, randAugment } from './randaugment.js';

export interface AugmentOptions {
  /** Random-crop padding in pixels (0 = no shift). */
  pad: number;
  flip: boolean;
  /** Cutout square side (0 = off). */
  cutout: number;
  randAugment: null | RandAugmentOptions;
  /** AutoAugment's CIFAR-10 policy or TrivialAugmentWide, before RandAugment (absent = none). */
  policy?: AugmentPolicy | null;
}

/** Shifted copy of one image: dst(y,x) = src(y+dy, x+dx), zero outside. */
export function crop(src: Uint8Array, dst: Uint8Array, h: number, w: number, dy: number, dx: number): void {
  const row = w * 3;
  const x0 = Math.max(0, -dx);
  const x1 = Math.min(w, w - dx);
  for (let y = 0; y < h; y++) {
    const o = y * row;
    const sy = y + dy;
    if (sy < 0 || sy >= h || x1 <= x0) {
      dst.fill(0, o, o + row);
      continue;
    }
    if (x0 > 0) dst.fill(0, o, o + x0 * 3);
    dst.set(src.subarray(sy * row + (x0 + dx) * 3, sy * row + (x1 + dx) * 3), o + x0 * 3);
    if (x1 < w) dst.fill(0, o + x1 * 3, o + row);
  }
}

/** Mirror of one image left-right; src and dst may be the same buffer. */
export function hflip(src: Uint8Array, dst: Uint8Array, h: number, w: number): void {
  for (let y = 0; y < h; y++) {
    const r = y * w * 3;
    for (let x = 0, m = w - 1; x <= m; x++, m--) {
      const a = r + x * 3;
      const b = r + m * 3;
      const a0 = src[a]!,
        a1 = src[a + 1]!,
        a2 = src[a + 2]!;
      dst[a] = src[b]!;
      dst[a + 1] = src[b + 1]!;
      dst[a + 2] = src[b + 2]!;
      dst[b] = a0;
      dst[b + 1] = a1;
      dst[b + 2] = a2;
    }
  }
}

/** Crop then (optionally) flip in one pass: dst(y,x) = src(y+dy, (flip ? w-1-x : x) + dx). */
function cropFlip(src: Uint8Array, dst: Uint8Array, h: number, w: number, dy: number, dx: number, flip: boolean): void {
  if (!flip) return crop(src, dst, h, w, dy, dx);
  for (let y = 0; y < h; y++) {
    const sy = y + dy;
    for (let x = 0; x < w; x++) {
      const sx = w - 1 - x + dx;
      const o = (y * w + x) * 3;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        dst[o] = dst[o + 1] = dst[o + 2] = 0;
      } else {
        const s = (sy * w + sx) * 3;
        dst[o] = src[s]!;
        dst[o + 1] = src[s + 1]!;
        dst[o + 2] = src[s + 2]!;
      }
    }
  }
}

/** Draws (dy, dx, flip) for one image: shifts uniform in [-pad, pad], a fair coin when `flip`. */
function drawCrop(rng: Rng, pad: number, flip: boolean): [number, number, boolean] {
  const dy = rng.int(2 * pad + 1) - pad;
  const dx = rng.int(2 * pad + 1) - pad;
  return [dy, dx, flip && rng.next() < 0.5];
}

/** torchvision RandomCrop(h, padding=pad) + RandomHorizontalFlip over n images (src and dst distinct). */
export function randomCropFlip(
  src: Uint8Array,
  dst: Uint8Array,
  n: number,
  h: number,
  w: number,
  pad: number,
  rng: Rng,
  flip = true,
): void {
  const per = h * w * 3;
  for (let i = 0; i < n; i++) {
    const [dy, dx, f] = drawCrop(rng, pad, flip);
    cropFlip(src.subarray(i * per, (i + 1) * per), dst.subarray(i * per, (i + 1) * per), h, w, dy, dx, f);
  }
}

/** Zeroes a size×size square (clipped at the borders) centred at a random pixel of one image; returns its bounds. */
export function cutout(
  img: Uint8Array,
  h: number,
  w: number,
  size: number,
  rng: Rng,
): { y0: number; y1: number; x0: number; x1: number } | null {
  if (size <= 0) return null;
  const cy = rng.int(h);
  const cx = rng.int(w);
  const half = Math.floor(size / 2);
  const y0 = Math.max(0, cy - half);
  const y1 = Math.min(h, cy - half + size);
  const x0 = Math.max(0, cx - half);
  const x1 = Math.min(w, cx - half + size);
  for (let y = y0; y < y1; y++) img.fill(0, (y * w + x0) * 3, (y * w + x1) * 3);
  return { y0, y1, x0, x1 };
}

/** Per image of src: policy (if set) → randAugment (if set) → crop + flip → cutout, written to dst (src is left untouched). */
export function augmentBatch(
  src: Uint8Array,
  dst: Uint8Array,
  n: number,
  h: number,
  w: number,
  opts: AugmentOptions,
  rng: Rng,
): void {
  const per = h * w * 3;
  if (src.length < n * per || dst.length < n * per)
    throw new RangeError(`augmentBatch: buffers hold fewer than ${n} images`);
  const work = new Uint8Array(per);
  const tmp = new Uint8Array(per);
  for (let i = 0; i < n; i++) {
    let img = src.subarray(i * per, (i + 1) * per);
    if (opts.policy) {
      work.set(img);
      applyPolicy(opts.policy, work, h, w, rng, tmp);
      img = work;
    }
    if (opts.randAugment) {
      if (img !== work) work.set(img);
      randAugment(work, h, w, rng, opts.randAugment, tmp);
      img = work;
    }
    const out = dst.subarray(i * per, (i + 1) * per);
    const [dy, dx, f] = drawCrop(rng, opts.pad, opts.flip);
    cropFlip(img, out, h, w, dy, dx, f);
    if (opts.cutout > 0) cutout(out, h, w, opts.cutout, rng);
  }
}
