// RandAugment on one uint8 HWC RGB image, in place: torchvision's 14 ops and magnitude scale (0..30, default n=2, m=9).

import type { Rng } from '../util/rng.js';

export interface RandAugmentOptions {
  /** Ops applied per image. */
  n: number;
  /** 0..30 as in torchvision (num_magnitude_bins = 31); 30 is the strongest. */
  magnitude: number;
}

export const RA_MAX_MAGNITUDE = 30;
/** Fill for pixels uncovered by geometric ops (mid grey, close to the dataset mean). */
export const RA_FILL = 128;

/** (img, h, w, level in [0,1], sign ±1, scratch of img's length). */
type Op = (img: Uint8Array, h: number, w: number, level: number, sign: number, tmp: Uint8Array) => void;

const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** Inverse-mapped nearest-neighbour affine warp: output pixel centre p samples src at (a·px + b·py + c, d·px + e·py + f). */
function warp(img: Uint8Array, h: number, w: number, tmp: Uint8Array, m: readonly number[]): void {
  const [a, b, c, d, e, f] = m as [number, number, number, number, number, number];
  tmp.set(img);
  for (let y = 0; y < h; y++) {
    const py = y + 0.5;
    for (let x = 0; x < w; x++) {
      const px = x + 0.5;
      const sx = Math.floor(a * px + b * py + c);
      const sy = Math.floor(d * px + e * py + f);
      const o = (y * w + x) * 3;
      if (sx >= 0 && sx < w && sy >= 0 && sy < h) {
        const s = (sy * w + sx) * 3;
        img[o] = tmp[s]!;
        img[o + 1] = tmp[s + 1]!;
        img[o + 2] = tmp[s + 2]!;
      } else {
        img[o] = img[o + 1] = img[o + 2] = RA_FILL;
      }
    }
  }
}

/** Per-pixel blend towards a degenerate image: out = deg + f·(img − deg) (PIL ImageEnhance). */
function blend(img: Uint8Array, deg: Uint8Array, f: number): void {
  for (let i = 0; i < img.length; i++) img[i] = clamp8(deg[i]! + f * (img[i]! - deg[i]!));
}

function grey(img: Uint8Array, tmp: Uint8Array): void {
  for (let i = 0; i < img.length; i += 3) {
    const l = Math.round((img[i]! * 299 + img[i + 1]! * 587 + img[i + 2]! * 114) / 1000);
    tmp[i] = tmp[i + 1] = tmp[i + 2] = l;
  }
}

const identity: Op = () => {};

const shearX: Op = (img, h, w, level, sign, tmp) => warp(img, h, w, tmp, [1, 0.3 * level * sign, 0, 0, 1, 0]);
const shearY: Op = (img, h, w, level, sign, tmp) => warp(img, h, w, tmp, [1, 0, 0, 0.3 * level * sign, 1, 0]);
const translateX: Op = (img, h, w, level, sign, tmp) =>
  warp(img, h, w, tmp, [1, 0, -Math.round((150 / 331) * w * level) * sign, 0, 1, 0]);
const translateY: Op = (img, h, w, level, sign, tmp) =>
  warp(img, h, w, tmp, [1, 0, 0, 0, 1, -Math.round((150 / 331) * h * level) * sign]);

const rotate: Op = (img, h, w, level, sign, tmp) => {
  const t = (30 * level * sign * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const cx = w / 2;
  const cy = h / 2;
  // source = R(-t)·(p − c) + c
  warp(img, h, w, tmp, [cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy]);
};

const brightness: Op = (img, _h, _w, level, sign) => {
  const f = 1 + 0.9 * level * sign;
  for (let i = 0; i < img.length; i++) img[i] = clamp8(img[i]! * f);
};

const color: Op = (img, _h, _w, level, sign, tmp) => {
  grey(img, tmp);
  blend(img, tmp, 1 + 0.9 * level * sign);
};

const contrast: Op = (img, _h, _w, level, sign, tmp) => {
  grey(img, tmp);
  let sum = 0;
  for (let i = 0; i < tmp.length; i += 3) sum += tmp[i]!;
  tmp.fill(Math.round(sum / (tmp.length / 3)));
  blend(img, tmp, 1 + 0.9 * level * sign);
};

/** Blend with PIL's SMOOTH filter ([[1,1,1],[1,5,1],[1,1,1]]/13); border pixels stay as they are. */
const sharpness: Op = (img, h, w, level, sign, tmp) => {
  tmp.set(img);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let ch = 0; ch < 3; ch++) {
        const o = (y * w + x) * 3 + ch;
        let s = 4 * img[o]!;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += img[o + (dy * w + dx) * 3]!;
        tmp[o] = Math.round(s / 13);
      }
    }
  }
  blend(img, tmp, 1 + 0.9 * level * sign);
};

const posterize: Op = (img, _h, _w, level) => {
  const bits = 8 - Math.round(4 * level);
  const mask = (0xff << (8 - bits)) & 0xff;
  for (let i = 0; i < img.length; i++) img[i] = img[i]! & mask;
};

const solarize: Op = (img, _h, _w, level) => {
  const threshold = 255 * (1 - level);
  for (let i = 0; i < img.length; i++) if (img[i]! >= threshold) img[i] = 255 - img[i]!;
};

/** Per channel, stretch [min, max] to [0, 255]. */
const autocontrast: Op = (img) => {
  for (let ch = 0; ch < 3; ch++) {
    let lo = 255;
    let hi = 0;
    for (let i = ch; i < img.length; i += 3) {
      const v = img[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (hi <= lo) continue;
    const scale = 255 / (hi - lo);
    for (let i = ch; i < img.length; i += 3) img[i] = clamp8((img[i]! - lo) * scale);
  }
};

/** Per-channel histogram equalisation (PIL ImageOps.equalize). */
const equalize: Op = (img) => {
  const hist = new Int32Array(256);
  const lut = new Uint8Array(256);
  for (let ch = 0; ch < 3; ch++) {
    hist.fill(0);
    for (let i = ch; i < img.length; i += 3) hist[img[i]!]!++;
    let last = 255;
    while (last > 0 && hist[last] === 0) last--;
    const step = Math.floor((img.length / 3 - hist[last]!) / 255);
    if (step === 0) continue;
    let n = Math.floor(step / 2);
    for (let v = 0; v < 256; v++) {
      lut[v] = Math.min(255, Math.floor(n / step));
      n += hist[v]!;
    }
    for (let i = ch; i < img.length; i += 3) img[i] = lut[img[i]!]!;
  }
};

/** Name → [op, whether its magnitude takes a random sign]. */
export const RA_OPS: Readonly<Record<string, readonly [Op, boolean]>> = {
  identity: [identity, false],
  shearX: [shearX, true],
  shearY: [shearY, true],
  translateX: [translateX, true],
  translateY: [translateY, true],
  rotate: [rotate, true],
  brightness: [brightness, true],
  color: [color, true],
  contrast: [contrast, true],
  sharpness: [sharpness, true],
  posterize: [posterize, false],
  solarize: [solarize, false],
  autocontrast: [autocontrast, false],
  equalize: [equalize, false],
};
const OP_NAMES = Object.keys(RA_OPS);

/** Applies one named op in place (magnitude on the 0..30 scale, sign ±1 for the signed ops). */
export function applyOp(
  name: string,
  img: Uint8Array,
  h: number,
  w: number,
  magnitude: number,
  sign = 1,
  tmp?: Uint8Array,
): void {
  const entry = RA_OPS[name];
  if (!entry) throw new Error(`unknown RandAugment op '${name}'`);
  const level = Math.min(Math.max(magnitude, 0), RA_MAX_MAGNITUDE) / RA_MAX_MAGNITUDE;
  entry[0](img, h, w, level, entry[1] ? sign : 1, tmp ?? new Uint8Array(img.length));
}

/** Applies `n` ops drawn uniformly (with a random sign where the op has one); deterministic given rng. */
export function randAugment(
  img: Uint8Array,
  h: number,
  w: number,
  rng: Rng,
  opts: RandAugmentOptions = { n: 2, magnitude: 9 },
  tmp?: Uint8Array,
): void {
  const scratch = tmp ?? new Uint8Array(img.length);
  for (let k = 0; k < opts.n; k++) {
    const name = OP_NAMES[rng.int(OP_NAMES.length)]!;
    const sign = RA_OPS[name]![1] && rng.next() < 0.5 ? -1 : 1;
    applyOp(name, img, h, w, opts.magnitude, sign, scratch);
  }
}
