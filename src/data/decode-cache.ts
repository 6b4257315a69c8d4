// The on-disk decode cache: raw size×size×3 RGB files keyed by the source file's content hash, the size and the decoder.

import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DECODER_ID } from '../image/pipeline.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * The cache key of a file with this sha256 decoded at `size` (square, centre-cropped RGB): it names the decoder
 * (pipeline version and sharp build), so pixels cached by another decoder are never served.
 */
export function cacheKey(contentSha256: string, size: number, decoder = DECODER_ID): string {
  return createHash('sha256').update(`${contentSha256}\n${size}\ncrop\n${decoder}`).digest('hex');
}

/** Where the decoded image with this key lives under `dir` (256 fan-out folders). */
export function cachePath(dir: string, key: string): string {
  return join(dir, key.slice(0, 2), `${key}.rgb`);
}

/** The cached pixels, or null when absent or of the wrong length (a torn or foreign file counts as a miss). */
export async function readCached(path: string, bytes: number): Promise<Uint8Array | null> {
  try {
    const b = await readFile(path);
    return b.length === bytes ? new Uint8Array(b.buffer, b.byteOffset, b.length) : null;
  } catch {
    return null;
  }
}

/** Writes atomically (a unique temporary sibling, then a rename): concurrent runs and readers never see half a file. */
export async function writeCached(path: string, pixels: Uint8Array): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFileAtomic(path, pixels);
}
