// Resampling that reproduces Pillow's Image.resize on 8-bit pixels (bilinear, bicubic, box/area, nearest), so a model
// trained on PIL-resized images sees the same pixels here. Pillow's libImaging/Resample.c, step for step: a separable
// convolution (horizontal pass, then vertical), the kernel's support widened by the downscale factor (antialias), 22-bit
// fixed-point weights and 8-bit rounding between the passes. sharp's kernels differ from it by up to ~20 levels on
// strong downscales (libvips box-shrinks first), hence this file.

/** The interpolations a model's config.json can ask for ('lanczos' is sharp's lanczos3, the default, not done here). */
export const INTERPOLATIONS = ['bilinear', 'bicubic', 'lanczos', 'nearest', 'area'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

interface Filter {
  support: number;
  at: (x: number) => number;
}

/** Pillow's filters (bicubic with a = -0.5, as Pillow). */
const FILTERS: Record<'bilinear' | 'bicubic' | 'area', Filter> = {
  area: { support: 0.5, at: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    at: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    support: 2,
    at: (x) => {
      const a = -0.5;
      const v = Math.abs(x);
      if (v < 1) return ((a + 2) * v - (a + 3)) * v * v + 1;
      if (v < 2) return (((v - 5) * v + 8) * v - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

interface Coeffs {
  /** Per output index: first source index and tap count. */
  first: Int32Array;
  taps: Int32Array;
  ksize: number;
  /** Fixed-point weights, ksize per output index. */
  k: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis (inSize → outSize). */
function coefficients(inSize: number, outSize: number, f: Filter, antialias: boolean): Coeffs {
  const scale = inSize / outSize;
  const filterscale = antialias ? Math.max(scale, 1) : 1;
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = f.at((x + xmin - center + 0.5) * ss);
      ww += w[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    first[xx] = xmin;
    taps[xx] = xmax;
  }
  return { first, taps, ksize, k };
}

const clip8 = (ss: number): number => Math.min(255, Math.max(0, Math.floor(ss / ONE)));

/**
 * Resizes uint8 HWC pixels (`channels` per pixel) from w×h to ow×oh as Pillow's Image.resize does with the same
 * filter ('area' is Pillow's BOX; 'nearest' picks the source pixel under each output pixel's centre). `antialias`
 * false keeps the kernel at its unscaled support (point sampling of the kernel, as resizers without antialias do).
 */
export function resamplePil(
  src: Uint8Array,
  w: number,
  h: number,
  channels: number,
  ow: number,
  oh: number,
  interpolation: Exclude<Interpolation, 'lanczos'>,
  antialias = true,
): Uint8Array {
  if (interpolation === 'nearest') return nearest(src, w, h, channels, ow, oh);
  const f = FILTERS[interpolation];
  // Horizontal pass (only when the width changes), into an 8-bit intermediate, as Pillow.
  let mid = src;
  if (ow !== w) {
    const c = coefficients(w, ow, f, antialias);
    mid = new Uint8Array(h * ow * channels);
    for (let y = 0; y < h; y++) {
      const row = y * w * channels;
      for (let xx = 0; xx < ow; xx++) {
        const x0 = c.first[xx]!;
        const n = c.taps[xx]!;
        const kb = xx * c.ksize;
        for (let ch = 0; ch < channels; ch++) {
          let ss = ONE / 2;
          for (let x = 0; x < n; x++) ss += src[row + (x0 + x) * channels + ch]! * c.k[kb + x]!;
          mid[(y * ow + xx) * channels + ch] = clip8(ss);
        }
      }
    }
  }
  if (oh === h) return mid;
  const c = coefficients(h, oh, f, antialias);
  const out = new Uint8Array(oh * ow * channels);
  const stride = ow * channels;
  for (let yy = 0; yy < oh; yy++) {
    const y0 = c.first[yy]!;
    const n = c.taps[yy]!;
    const kb = yy * c.ksize;
    for (let i = 0; i < stride; i++) {
      let ss = ONE / 2;
      for (let y = 0; y < n; y++) ss += mid[(y0 + y) * stride + i]! * c.k[kb + y]!;
      out[yy * stride + i] = clip8(ss);
    }
  }
  return out;
}

/** Pillow's NEAREST resize: source pixel floor((x + 0.5) · in/out) on each axis. */
function nearest(src: Uint8Array, w: number, h: number, channels: number, ow: number, oh: number): Uint8Array {
  const out = new Uint8Array(ow * oh * channels);
  const xs = Int32Array.from({ length: ow }, (_, x) => Math.min(w - 1, Math.floor(((x + 0.5) * w) / ow)));
  for (let y = 0; y < oh; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / oh));
    for (let x = 0; x < ow; x++) {
      const s = (sy * w + xs[x]!) * channels;
      const d = (y * ow + x) * channels;
      for (let ch = 0; ch < channels; ch++) out[d + ch] = src[s + ch]!;
    }
  }
  return out;
}
