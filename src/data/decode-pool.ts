// Decodes a list of image files on worker threads through the decode cache, reporting progress; failures are per file.

import os from 'node:os';
import { startWorker } from '../util/worker-script.js';
import type { DecodeReply, DecodeRequest } from './decode-worker.js';

export interface DecodeResult {
  /** The decoded pixels (null for streamed datasets or on failure). */
  pixels: Uint8Array | null;
  /** The decode-cache file holding them (null on failure). */
  cached: string | null;
  hit: boolean;
  error: string | null;
}

export interface DecodeJob {
  files: string[];
  size: number;
  cacheDir: string;
  keep: boolean;
  /** Worker threads (default: min(4, cores)). */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Decodes every file, `threads` at a time; results are in input order. */
export async function decodeFiles(job: DecodeJob): Promise<DecodeResult[]> {
  const total = job.files.length;
  const results: DecodeResult[] = new Array(total);
  if (total === 0) return results;
  const threads = Math.max(1, Math.min(job.threads ?? Math.min(4, os.availableParallelism()), total));
  const workers = Array.from({ length: threads }, () => startWorker(import.meta.url, 'decode-worker'));
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const send = (): void => {
              if (next >= total) return resolve();
              const id = next++;
              const req: DecodeRequest = {
                id,
                file: job.files[id]!,
                size: job.size,
                cacheDir: job.cacheDir,
                keep: job.keep,
              };
              w.postMessage(req);
            };
            w.on('message', (m: DecodeReply) => {
              results[m.id] = m.ok
                ? { pixels: m.pixels, cached: m.cached, hit: m.hit, error: null }
                : { pixels: null, cached: null, hit: false, error: m.error };
              done++;
              job.onProgress?.(done, total);
              send();
            });
            w.on('error', (e) => reject(new Error(`decode worker crashed: ${e.message}`, { cause: e })));
            w.on('exit', (code) =>
              next < total || done < total ? reject(new Error(`decode worker exited (code ${code})`)) : resolve(),
            );
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
