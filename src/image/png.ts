// Fast path for the commonest upload: a plain 8-bit RGB or grey PNG already at the model size, decoded without libvips' per-call cost.

import { crc32, inflateSync } from 'node:zlib';
import { UserError } from '../util/errors.js';

/** The image data inflates to more bytes than its header allows (a decompression bomb): never handed on to another decoder. */
export class PngBombError extends UserError {
  constructor(
    readonly limit: number,
    options?: { cause?: unknown },
  ) {
    super('PNG_BOMB', `its compressed image data inflates to more than the ${limit} bytes its header allows`, options);
  }
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Chunks that change nothing in the decoded pixels here; any other ancillary chunk (gAMA, iCCP, tRNS, eXIf, …) sends the file to sharp. */
const HARMLESS = new Set(['pHYs', 'tEXt', 'zTXt', 'iTXt', 'tIME', 'sRGB', 'bKGD']);

/**
 * RGB uint8 HWC of a PNG that is size×size, 8-bit RGB or grey, not interlaced, with valid CRCs and no chunk that
 * would change its colours; null for anything else (the caller then decodes with sharp, which gives the same pixels).
 * Inflating stops at the size the header promises, height·(stride+1) bytes: more throws PngBombError at once.
 */
export function decodePlainPng(b: Uint8Array, size: number): Uint8Array | null {
  if (b.length < 57 || SIGNATURE.some((v, i) => b[i] !== v)) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let channels = 0;
  const idat: Uint8Array[] = [];
  let ended = false;
  for (let off = 8; off + 12 <= b.length; ) {
    const len = dv.getUint32(off);
    const data = off + 8;
    const next = data + len + 4;
    if (next > b.length) return null;
    if (crc32(b.subarray(off + 4, data + len)) !== dv.getUint32(data + len)) return null;
    const type = String.fromCharCode(b[off + 4]!, b[off + 5]!, b[off + 6]!, b[off + 7]!);
    if (off === 8) {
      if (type !== 'IHDR' || len !== 13) return null;
      const [depth, colour, compression, filter, interlace] = [
        b[data + 8],
        b[data + 9],
        b[data + 10],
        b[data + 11],
        b[data + 12],
      ];
      if (
        dv.getUint32(data) !== size ||
        dv.getUint32(data + 4) !== size ||
        depth !== 8 ||
        compression ||
        filter ||
        interlace
      )
        return null;
      if (colour === 2) channels = 3;
      else if (colour === 0) channels = 1;
      else return null;
    } else if (type === 'IDAT') idat.push(b.subarray(data, data + len));
    else if (type === 'IEND') {
      ended = true;
      break;
    } else if (!HARMLESS.has(type)) return null;
    off = next;
  }
  if (!ended || idat.length === 0) return null;
  const stride = size * channels;
  const expected = size * (stride + 1);
  let raw: Buffer;
  try {
    // One byte over the promise is enough to tell a bomb: zlib stops there instead of inflating the rest.
    raw = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), { maxOutputLength: expected + 1 });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new PngBombError(expected, { cause: e });
    return null;
  }
  if (raw.length > expected) throw new PngBombError(expected);
  if (raw.length !== expected) return null;
  const px = new Uint8Array(size * stride);
  if (!unfilter(raw, px, size, stride, channels)) return null;
  if (channels === 3) return px;
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i]!;
  return rgb;
}

/** Undoes PNG's per-row filters (None, Sub, Up, Average, Paeth) from `raw` (a filter byte, then the row) into `px`. */
function unfilter(raw: Uint8Array, px: Uint8Array, size: number, stride: number, bpp: number): boolean {
  for (let y = 0; y < size; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    // Row 0 has no row above: Up is None, Average halves the left byte, Paeth picks the left byte (as the spec's zeros give).
    if (filter === 0 || (filter === 2 && y === 0)) px.set(raw.subarray(src, src + stride), row);
    else if (filter === 1 || (filter === 4 && y === 0)) {
      for (let x = 0; x < bpp; x++) px[row + x] = raw[src + x]!;
      for (let x = bpp; x < stride; x++) px[row + x] = (raw[src + x]! + px[row + x - bpp]!) & 0xff;
    } else if (filter === 2) {
      for (let x = 0; x < stride; x++) px[row + x] = (raw[src + x]! + px[up + x]!) & 0xff;
    } else if (filter === 3) {
      for (let x = 0; x < stride; x++) {
        const a = x >= bpp ? px[row + x - bpp]! : 0;
        const u = y > 0 ? px[up + x]! : 0;
        px[row + x] = (raw[src + x]! + ((a + u) >> 1)) & 0xff;
      }
    } else if (filter === 4) {
      for (let x = 0; x < bpp; x++) px[row + x] = (raw[src + x]! + px[up + x]!) & 0xff; // Paeth with a = c = 0 picks up
      for (let x = bpp; x < stride; x++) {
        const a = px[row + x - bpp]!;
        const u = px[up + x]!;
        const c = px[up + x - bpp]!;
        const p = a + u - c;
        const pa = p > a ? p - a : a - p;
        const pb = p > u ? p - u : u - p;
        const pc = p > c ? p - c : c - p;
        px[row + x] = (raw[src + x]! + (pa <= pb && pa <= pc ? a : pb <= pc ? u : c)) & 0xff;
      }
    } else return false;
  }
  return true;
}
