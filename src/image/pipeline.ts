// What the image decoder produces and which build produces it, without loading sharp: the target shape, the flatten
// colour and the identity the folder decode cache keys on.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Interpolation } from './resample.js';

/** Alpha is flattened onto this colour (white). */
export const FLATTEN_BACKGROUND = { r: 255, g: 255, b: 255 } as const;

/** The largest image sharp decodes at all (16383², e.g. 50 MP phone photos). */
export const SHARP_MAX_PIXELS = 0x3fff * 0x3fff;

/**
 * The decoded image's shape and how the source is fitted to it. A model's serving contract is one (its fields have
 * these names); an onnx-mixer model's is `squareTarget(image_size)`, which is also what the trainer decodes to.
 */
export interface ImageTarget {
  height: number;
  width: number;
  /** 3: RGB; 1: one grey channel. */
  channels: 1 | 3;
  /** 'crop': shorter side to the size, centre crop; 'stretch': resize both sides to the size. */
  resize: 'crop' | 'stretch';
  /** Crop mode: resize the shorter side to this first, then centre-crop (torchvision Resize + CenterCrop). */
  resizeShorter: number | null;
  /**
   * The resize kernel: 'lanczos' (the default) is sharp's lanczos3; 'bilinear', 'bicubic', 'area' and 'nearest'
   * reproduce Pillow's Image.resize with that filter.
   */
  interpolation: Interpolation;
  /** Widen the kernel by the downscale factor (Pillow's resize always does); false samples it unscaled. */
  antialias: boolean;
}

/** size×size RGB, shorter side resized to `size` and centre-cropped. */
export const squareTarget = (size: number): ImageTarget => ({
  height: size,
  width: size,
  channels: 3,
  resize: 'crop',
  resizeShorter: null,
  interpolation: 'lanczos',
  antialias: true,
});

/**
 * Bump when decodeImage's pixels change for the same bytes and target (steps: EXIF orientation, flatten onto white,
 * sRGB or b-w, resize with sharp's default kernel, centre crop, 8-bit; plain PNGs at the size decoded without sharp).
 */
const PIPELINE_VERSION = 2;

/** The installed sharp's version (libvips comes with it), read from its package.json so that sharp is not loaded. */
function sharpVersion(): string {
  try {
    const main = createRequire(import.meta.url).resolve('sharp');
    let dir = dirname(main);
    for (let i = 0; i < 4; i++, dir = dirname(dir)) {
      try {
        const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (p.name === 'sharp' && p.version) return p.version;
      } catch {
        // not this folder: look one up
      }
    }
  } catch {
    // unresolvable: the decode itself will say so
  }
  return 'unknown';
}

/** Names the decoder's output for caches: the pipeline version, the flatten colour and the sharp (libvips) build. */
export const DECODER_ID = `decode-v${PIPELINE_VERSION};flatten=ffffff;srgb;uchar;sharp=${sharpVersion()}`;
