// The one image decoder of training and serving: image bytes → the model's input pixels (uint8 HWC, RGB or grey).
import sharp, { type Sharp } from 'sharp';
import { UserError } from '../util/errors.js';
import { FLATTEN_BACKGROUND, type ImageTarget, squareTarget } from './pipeline.js';
import { decodePlainPng, PngBombError } from './png.js';
import { resamplePil } from './resample.js';
import { IMAGE_FORMAT_NAMES, IMAGE_FORMATS, sniffFormat } from './sniff.js';

/** Default decompression-bomb guard: width × height of the encoded image. */
export const DEFAULT_MAX_PIXELS = 25_000_000;

export type ImageErrorCode =
  | 'EMPTY_IMAGE'
  | 'NOT_AN_IMAGE'
  | 'CORRUPT_IMAGE'
  | 'UNSUPPORTED_FORMAT'
  | 'TOO_MANY_PIXELS';

/** A problem with the image itself (never with the service): `code` says which. */
export class ImageError extends UserError {
  declare readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The caller's policy; what the pixels are is the target's alone. */
export interface DecodeOptions {
  /** Reject images with more than this many pixels before decoding them (default 25 M); the service passes MAX_PIXELS. */
  maxPixels?: number;
  /** Names the image in error messages. */
  name?: string;
  /** Decode plain 8-bit RGB/grey PNGs already at the size without sharp (same pixels, much cheaper); default true. */
  fastPng?: boolean;
}

/**
 * Decodes one image to the target (a number: size×size RGB, centre-cropped), as uint8 HWC.
 * EXIF orientation is applied; alpha is flattened onto white; grey, CMYK, palette and 16-bit inputs become 8-bit sRGB
 * (or grey); animated inputs use their first frame. In crop mode the shorter side is resized to the size, then the
 * centre is cropped. Throws ImageError.
 */
export async function decodeImage(
  bytes: Uint8Array,
  target: ImageTarget | number,
  opts: DecodeOptions = {},
): Promise<Uint8Array> {
  const t = typeof target === 'number' ? squareTarget(target) : target;
  const { height, width, channels, resize, resizeShorter } = t;
  const what = opts.name ? `"${opts.name}"` : 'the image';
  if (bytes.length === 0) throw new ImageError('EMPTY_IMAGE', `${what} is empty (0 bytes)`);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const plain = height === width && channels === 3 && resize === 'crop' && resizeShorter === null;
  if (plain && opts.fastPng !== false && height * width <= maxPixels) {
    let fast: Uint8Array | null;
    try {
      fast = decodePlainPng(bytes, height);
    } catch (e) {
      if (e instanceof PngBombError)
        throw new ImageError('CORRUPT_IMAGE', `${what} is not a valid PNG: ${e.message}`, { cause: e });
      throw e;
    }
    if (fast) return fast;
  }
  const input = { limitInputPixels: maxPixels, autoOrient: true, pages: 1, failOn: 'warning' } as const;
  // Known signatures go straight to decoding; anything else is asked about first, to tell "not an image" from "unsupported".
  if (sniffFormat(bytes) === null) {
    let format: string | undefined;
    try {
      format = (await sharp(bytes, input).metadata()).format;
    } catch (e) {
      throw classify(e, what, maxPixels);
    }
    if (!(IMAGE_FORMATS as readonly string[]).includes(format ?? '')) {
      throw new ImageError(
        'UNSUPPORTED_FORMAT',
        `${what} is ${format ?? 'an unknown format'}; supported: ${IMAGE_FORMAT_NAMES}`,
      );
    }
  }
  try {
    let img = sharp(bytes, input)
      .flatten({ background: FLATTEN_BACKGROUND })
      .toColourspace(channels === 1 ? 'b-w' : 'srgb');
    if (t.interpolation !== 'lanczos') return await resizedLikePil(img, t, what);
    if (resizeShorter !== null) {
      // Shorter side first, then the centre crop from the resized image.
      const meta = await sharp(bytes, input).metadata();
      const swap = (meta.orientation ?? 1) >= 5;
      const [w0, h0] = swap ? [meta.height ?? 1, meta.width ?? 1] : [meta.width ?? 1, meta.height ?? 1];
      const k = resizeShorter / Math.min(w0, h0);
      const rw = Math.max(width, Math.round(w0 * k));
      const rh = Math.max(height, Math.round(h0 * k));
      const resized = await img
        .resize(rw, rh, { fit: 'fill' })
        .removeAlpha()
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      img = sharp(resized.data, { raw: { width: rw, height: rh, channels: resized.info.channels } }).extract({
        left: Math.floor((rw - width) / 2),
        top: Math.floor((rh - height) / 2),
        width,
        height,
      });
    } else {
      img = img.resize(width, height, { fit: resize === 'stretch' ? 'fill' : 'cover', position: 'centre' });
    }
    const { data, info } = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (
      info.width !== width ||
      info.height !== height ||
      info.channels !== channels ||
      data.length !== width * height * channels
    ) {
      throw new ImageError(
        'CORRUPT_IMAGE',
        `${what} decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x${channels}`,
      );
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (e) {
    throw classify(e, what, maxPixels);
  }
}

/**
 * The decoded image (full size) resized by Pillow's arithmetic (see resample.ts): stretched to the target, or in crop
 * mode resized so that the shorter side is `resizeShorter` (else the size) and centre-cropped.
 */
async function resizedLikePil(img: Sharp, t: ImageTarget, what: string): Promise<Uint8Array> {
  const { data, info } = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const { width: w0, height: h0, channels: ch } = info;
  if (ch !== t.channels || data.length !== w0 * h0 * ch)
    throw new ImageError('CORRUPT_IMAGE', `${what} decoded to ${w0}x${h0}x${ch}, expected ${t.channels} channel(s)`);
  const px = new Uint8Array(data.buffer, data.byteOffset, data.length);
  const interp = t.interpolation as Exclude<ImageTarget['interpolation'], 'lanczos'>;
  if (t.resize === 'stretch') return resamplePil(px, w0, h0, ch, t.width, t.height, interp, t.antialias);
  const k = t.resizeShorter !== null ? t.resizeShorter / Math.min(w0, h0) : Math.max(t.width / w0, t.height / h0);
  const rw = Math.max(t.width, Math.round(w0 * k));
  const rh = Math.max(t.height, Math.round(h0 * k));
  const resized = resamplePil(px, w0, h0, ch, rw, rh, interp, t.antialias);
  if (rw === t.width && rh === t.height) return resized;
  const left = Math.floor((rw - t.width) / 2);
  const top = Math.floor((rh - t.height) / 2);
  const out = new Uint8Array(t.width * t.height * ch);
  for (let y = 0; y < t.height; y++)
    out.set(resized.subarray(((top + y) * rw + left) * ch, ((top + y) * rw + left + t.width) * ch), y * t.width * ch);
  return out;
}

function classify(e: unknown, what: string, maxPixels: number): ImageError {
  if (e instanceof ImageError) return e;
  const msg = (e as Error).message ?? String(e);
  if (/pixel limit/i.test(msg)) return new ImageError('TOO_MANY_PIXELS', `${what} has more than ${maxPixels} pixels`);
  if (/unsupported image format/i.test(msg))
    return new ImageError('NOT_AN_IMAGE', `${what} is not an image in a supported format`);
  return new ImageError('CORRUPT_IMAGE', `${what} could not be decoded: ${msg.split('\n')[0]}`);
}
