// The on-disk decode cache: raw size×size×3 RGB files keyed by the source file's content hash and the resize settings.

import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * Everything besides the content and the side that changes decoded pixels. Bump `v` when the pipeline
 * (src/model/preprocess.ts: EXIF orientation, flatten onto white, sRGB, shorter side → size, centre crop) changes.
 */
export const RESIZE_SETTINGS = 'v1;fit=cover;position=centre;flatten=ffffff;srgb;uchar';

/** The cache key of a file with this sha256 decoded at `size`. */
export function cacheKey(contentSha256: string, size: number): string {
  return createHash('sha256').update(`${contentSha256}\n${size}\n${RESIZE_SETTINGS}`).digest('hex');
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
