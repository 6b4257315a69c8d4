// Starts a worker thread from a module beside the caller: the compiled .js, or the .ts source when running from sources.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The worker module `name` (no extension) next to the module at `base` (its import.meta.url): .js if built, else .ts. */
export function workerUrl(base: string, name: string): URL {
  const js = new URL(`./${name}.js`, base);
  return existsSync(fileURLToPath(js)) ? js : new URL(`./${name}.ts`, base);
}

/** A new worker thread running `name` beside `base`, with `workerData` as its init message. */
export function startWorker(base: string, name: string, workerData?: unknown): Worker {
  return new Worker(workerUrl(base, name), workerData === undefined ? {} : { workerData });
}
