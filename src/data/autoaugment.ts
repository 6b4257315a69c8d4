// AutoAugment's CIFAR-10 policy and TrivialAugment (wide) on one uint8 HWC RGB image, in place (torchvision semantics).
import type { Rng } from '../util/rng.js';
import { RA_OPS } from './randaugment.js';

export type AugmentPolicy = 'autoaugment' | 'trivialaugment';

/** 255 − v on every channel. */
export function invert(img: Uint8Array): void {
  for (let i = 0; i < img.length; i++) img[i] = 255 - img[i]!;
}

type SubOp = readonly [name: string, prob: number, bin: number | null];

/** torchvision AutoAugmentPolicy.CIFAR10: 25 sub-policies of two (op, probability, magnitude bin of 10). */
export const CIFAR10_POLICY: readonly (readonly [SubOp, SubOp])[] = [
  [
    ['invert', 0.1, null],
    ['contrast', 0.2, 6],
  ],
  [
    ['rotate', 0.7, 2],
    ['translateX', 0.3, 9],
  ],
  [
    ['sharpness', 0.8, 1],
    ['sharpness', 0.9, 3],
  ],
  [
    ['shearY', 0.5, 8],
    ['translateY', 0.7, 9],
  ],
  [
    ['autocontrast', 0.5, null],
    ['equalize', 0.9, null],
  ],
  [
    ['shearY', 0.2, 7],
    ['posterize', 0.3, 7],
  ],
  [
    ['color', 0.4, 3],
    ['brightness', 0.6, 7],
  ],
  [
    ['sharpness', 0.3, 9],
    ['brightness', 0.7, 9],
  ],
  [
    ['equalize', 0.6, null],
    ['equalize', 0.5, null],
  ],
  [
    ['contrast', 0.6, 7],
    ['sharpness', 0.6, 5],
  ],
  [
    ['color', 0.7, 7],
    ['translateX', 0.5, 8],
  ],
  [
    ['equalize', 0.3, null],
    ['autocontrast', 0.4, null],
  ],
  [
    ['translateY', 0.4, 3],
    ['sharpness', 0.2, 6],
  ],
  [
    ['brightness', 0.9, 6],
    ['color', 0.2, 8],
  ],
  [
    ['solarize', 0.5, 2],
    ['invert', 0.0, null],
  ],
  [
    ['equalize', 0.2, null],
    ['autocontrast', 0.6, null],
  ],
  [
    ['equalize', 0.2, null],
    ['equalize', 0.6, null],
  ],
  [
    ['color', 0.9, 9],
    ['equalize', 0.6, null],
  ],
  [
    ['autocontrast', 0.8, null],
    ['solarize', 0.2, 8],
  ],
  [
    ['brightness', 0.1, 3],
    ['color', 0.7, 0],
  ],
  [
    ['solarize', 0.4, 5],
    ['autocontrast', 0.9, null],
  ],
  [
    ['translateY', 0.9, 9],
    ['translateY', 0.7, 9],
  ],
  [
    ['autocontrast', 0.9, null],
    ['solarize', 0.2, 3],
  ],
  [
    ['equalize', 0.8, null],
    ['invert', 0.1, null],
  ],
  [
    ['translateY', 0.7, 9],
    ['autocontrast', 0.9, null],
  ],
];

/** Applies a RandAugment op at `level` (its range: 1 = RandAugment's maximum) with a random sign where it has one. */
function applyLevel(
  name: string,
  img: Uint8Array,
  h: number,
  w: number,
  level: number,
  rng: Rng,
  tmp: Uint8Array,
): void {
  if (name === 'invert') return invert(img);
  const [op, signed] = RA_OPS[name]!;
  const sign = signed && rng.next() < 0.5 ? -1 : 1;
  op(img, h, w, level, sign, tmp);
}

/** One uniformly chosen CIFAR-10 sub-policy; each of its ops runs with its probability, magnitude bin b → level b/9. */
export function autoAugment(img: Uint8Array, h: number, w: number, rng: Rng, tmp?: Uint8Array): void {
  const scratch = tmp ?? new Uint8Array(img.length);
  const sub = CIFAR10_POLICY[rng.int(CIFAR10_POLICY.length)]!;
  for (const [name, prob, bin] of sub) {
    if (rng.next() < prob) applyLevel(name, img, h, w, bin === null ? 0 : bin / 9, rng, scratch);
  }
}

/**
 * TrivialAugmentWide's maximum magnitude of each op, as a RandAugment level (RandAugment's maxima: shear 0.3,
 * translate 150/331 of the side, rotate 30°, enhance ±0.9, posterize 4 bits, solarize 255).
 */
function wideMaxLevel(name: string, w: number): number {
  switch (name) {
    case 'shearX':
    case 'shearY':
      return 0.99 / 0.3;
    case 'translateX':
    case 'translateY':
      return 32 / ((150 / 331) * w);
    case 'rotate':
      return 135 / 30;
    case 'brightness':
    case 'color':
    case 'contrast':
    case 'sharpness':
      return 0.99 / 0.9;
    case 'posterize':
      return 6 / 4;
    default:
      return 1;
  }
}

const TA_OPS = Object.keys(RA_OPS);
const TA_BINS = 31;

/** TrivialAugmentWide: one op uniformly, a magnitude bin uniformly in [0, 31), a random sign where the op has one. */
export function trivialAugment(img: Uint8Array, h: number, w: number, rng: Rng, tmp?: Uint8Array): void {
  const scratch = tmp ?? new Uint8Array(img.length);
  const name = TA_OPS[rng.int(TA_OPS.length)]!;
  const bin = rng.int(TA_BINS);
  applyLevel(name, img, h, w, (bin / (TA_BINS - 1)) * wideMaxLevel(name, w), rng, scratch);
}

export function applyPolicy(
  policy: AugmentPolicy,
  img: Uint8Array,
  h: number,
  w: number,
  rng: Rng,
  tmp?: Uint8Array,
): void {
  if (policy === 'autoaugment') autoAugment(img, h, w, rng, tmp);
  else trivialAugment(img, h, w, rng, tmp);
}
