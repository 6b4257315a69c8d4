// An accepted image's stored form: PNG, JPEG and WebP as sent (what mixer train reads); GIF, TIFF, HEIF and AVIF re-encoded as lossless PNG (first frame).
import sharp from 'sharp';
import { sniffFormat } from '../../image/sniff.js';
import type { StoredExt } from './store.js';

const KEPT: Record<string, StoredExt> = { png: 'png', jpeg: 'jpg', webp: 'webp' };

/**
 * The bytes and extension to store for an image the decoder has already accepted (so its format is one it reads and
 * its size within `maxPixels`). The folder loader reads .png, .jpg and .webp only: other formats become PNG.
 */
export async function storedForm(bytes: Uint8Array, maxPixels: number): Promise<{ bytes: Uint8Array; ext: StoredExt }> {
  const input = { limitInputPixels: maxPixels, pages: 1 } as const;
  const format = sniffFormat(bytes) ?? (await sharp(bytes, input).metadata()).format ?? '';
  const ext = KEPT[format];
  if (ext) return { bytes, ext };
  // Orientation is applied here (PNG carries no EXIF orientation the loader would apply later).
  return {
    bytes: await sharp(bytes, { ...input, autoOrient: true })
      .png()
      .toBuffer(),
    ext: 'png',
  };
}
