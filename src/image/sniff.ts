// Image format sniffing: the formats the decoder accepts and the one a file's signature names.

/** Formats accepted (as sharp names them); AVIF arrives as 'heif'. */
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'heif', 'avif', 'tiff'] as const;

export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** The accepted formats as users name them (in error messages). */
export const IMAGE_FORMAT_NAMES = 'JPEG, PNG, WebP, GIF, AVIF, TIFF';

const ascii = (b: Uint8Array, from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));

/** The accepted format a file's signature names, or null (unknown, or not an accepted format). */
export function sniffFormat(b: Uint8Array): ImageFormat | null {
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
