// Worker thread for the decode pool: read a file, hash it, and return its cached pixels or decode (and cache) them.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { SHARP_MAX_PIXELS, squareTarget } from '../image/pipeline.js';
import { cacheKey, cachePath, readCached, writeCached } from './decode-cache.js';

export interface DecodeRequest {
  id: number;
  file: string;
  size: number;
  cacheDir: string;
  /** Send the pixels back (in-memory datasets); streamed datasets only need the cache path. */
  keep: boolean;
}

export type DecodeReply =
  | { id: number; ok: true; hit: boolean; cached: string; pixels: Uint8Array | null }
  | { id: number; ok: false; error: string };

async function handle(req: DecodeRequest): Promise<DecodeReply> {
  const bytes = await readFile(req.file);
  const key = cacheKey(createHash('sha256').update(bytes).digest('hex'), req.size);
  const cached = cachePath(req.cacheDir, key);
  const per = req.size * req.size * 3;
  const hit = await readCached(cached, per);
  if (hit) return { id: req.id, ok: true, hit: true, cached, pixels: req.keep ? hit : null };
  // sharp loads on the first miss only: a run served wholly from the cache never starts it.
  const { decodeImage } = await import('../image/decode.js');
  // The service's decoder and target for an onnx-mixer model of this size; local files are trusted more than uploads:
  // up to sharp's own limit instead of the service's MAX_PIXELS.
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const pixels = await decodeImage(view, squareTarget(req.size), { maxPixels: SHARP_MAX_PIXELS });
  await writeCached(cached, pixels);
  return { id: req.id, ok: true, hit: false, cached, pixels: req.keep ? pixels : null };
}

parentPort!.on('message', (req: DecodeRequest) => {
  handle(req).then(
    (r) => {
      const px = r.ok ? r.pixels : null;
      // Copy out of sharp's/readFile's pooled buffers into one we can transfer.
      const own = px ? Uint8Array.from(px) : null;
      parentPort!.postMessage({ ...r, ...(r.ok ? { pixels: own } : {}) }, own ? [own.buffer as ArrayBuffer] : []);
    },
    (e: unknown) => {
      const msg = ((e as Error).message ?? String(e)).replace(/:\s*$/, '');
      parentPort!.postMessage({ id: req.id, ok: false, error: msg } satisfies DecodeReply);
    },
  );
});
