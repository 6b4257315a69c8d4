// Image bytes → the model's input: sharp decodes, orients, flattens and centre-crops to RGB uint8 HWC (size×size×3).

import sharp from 'sharp';
import { UserError } from '../util/errors.js';
import { decodePlainPng, PngBombError } from './png.js';

/** Formats accepted (as sharp names them); AVIF arrives as 'heif'. */
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'heif', 'avif', 'tiff'] as const;

/** Alpha is flattened onto this colour (white). */
export const FLATTEN_BACKGROUND = { r: 255, g: 255, b: 255 } as const;

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

export interface DecodeOptions {
  /** Reject images with more than this many pixels before decoding them (default 25 M). */
  maxPixels?: number;
  /** Names the image in error messages. */
  name?: string;
  /** Decode plain 8-bit RGB/grey PNGs already at `size` without sharp (same pixels, much cheaper); default true. */
  fastPng?: boolean;
  /** Output height and width when not size×size (model repository contracts). */
  height?: number;
  width?: number;
  /** 'cover' (default): shorter side to the size, centre crop; 'fill': stretch to the size. */
  fit?: 'cover' | 'fill';
  /** Resize the shorter side to this first, then centre-crop (torchvision Resize + CenterCrop). */
  shorter?: number;
  /** One grey channel instead of RGB. */
  gray?: boolean;
}

/**
 * Decodes one image to size×size RGB uint8 HWC.
 * EXIF orientation is applied; alpha is flattened onto white; grey, CMYK, palette and 16-bit inputs become 8-bit sRGB;
 * animated inputs use their first frame. Non-square images are resized so the shorter side is `size`, then centre-cropped.
 */
export async function decodeImage(bytes: Uint8Array, size: number, opts: DecodeOptions = {}): Promise<Uint8Array> {
  const what = opts.name ? `"${opts.name}"` : 'the image';
  if (bytes.length === 0) throw new ImageError('EMPTY_IMAGE', `${what} is empty (0 bytes)`);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const height = opts.height ?? size;
  const width = opts.width ?? size;
  const channels = opts.gray ? 1 : 3;
  const plain = height === size && width === size && !opts.gray && opts.fit !== 'fill' && opts.shorter === undefined;
  if (plain && opts.fastPng !== false && size * size <= maxPixels) {
    let fast: Uint8Array | null;
    try {
      fast = decodePlainPng(bytes, size);
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
        `${what} is ${format ?? 'an unknown format'}; supported: JPEG, PNG, WebP, GIF, AVIF, TIFF`,
      );
    }
  }
  try {
    let img = sharp(bytes, input)
      .flatten({ background: FLATTEN_BACKGROUND })
      .toColourspace(opts.gray ? 'b-w' : 'srgb');
    if (opts.shorter !== undefined) {
      // Shorter side first, then the centre crop from the resized image.
      const meta = await sharp(bytes, input).metadata();
      const swap = (meta.orientation ?? 1) >= 5;
      const [w0, h0] = swap ? [meta.height ?? 1, meta.width ?? 1] : [meta.width ?? 1, meta.height ?? 1];
      const k = opts.shorter / Math.min(w0, h0);
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
      img = img.resize(width, height, { fit: opts.fit ?? 'cover', position: 'centre' });
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

const ascii = (b: Uint8Array, from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));

/** The accepted format a file's signature names, or null (unknown, or not an accepted format). */
export function sniffFormat(b: Uint8Array): (typeof IMAGE_FORMATS)[number] | null {
  if (b.length < 12) return null;
  if (b[0] === 0x89 && ascii(b, 1, 4) === 'PNG') return 'png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(b, 0, 4) === 'GIF8') return 'gif';
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  const tiff = ascii(b, 0, 4);
  if (tiff === 'II*\0' || tiff === 'MM\0*') return 'tiff';
  if (ascii(b, 4, 8) === 'ftyp' && ['avif', 'avis', 'heic', 'heix', 'mif1', 'msf1'].includes(ascii(b, 8, 12)))
    return 'heif';
  return null;
}

function classify(e: unknown, what: string, maxPixels: number): ImageError {
  if (e instanceof ImageError) return e;
  const msg = (e as Error).message ?? String(e);
  if (/pixel limit/i.test(msg)) return new ImageError('TOO_MANY_PIXELS', `${what} has more than ${maxPixels} pixels`);
  if (/unsupported image format/i.test(msg))
    return new ImageError('NOT_AN_IMAGE', `${what} is not an image in a supported format`);
  return new ImageError('CORRUPT_IMAGE', `${what} could not be decoded: ${msg.split('\n')[0]}`);
}
