// Worker thread for BatchLoader: gathers batches from the shared dataset images and augments them off the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import { mixSeed, Rng } from '../util/rng.js';
import { augmentBatch, type AugmentOptions } from './augment.js';

export interface WorkerInit {
  /** Dataset images on a SharedArrayBuffer. */
  images: Uint8Array;
  height: number;
  width: number;
  augment: AugmentOptions;
  seed: number;
}

export interface WorkerRequest {
  id: number;
  epoch: number;
  step: number;
  indices: Int32Array;
}

export type WorkerReply = { id: number; pixels: Uint8Array } | { id: number; error: string };

const init = workerData as WorkerInit;
const per = init.height * init.width * 3;
let gathered = new Uint8Array(0);

function makeBatch(req: WorkerRequest): Uint8Array {
  const n = req.indices.length;
  if (gathered.length < n * per) gathered = new Uint8Array(n * per);
  for (let k = 0; k < n; k++) {
    const i = req.indices[k]!;
    gathered.set(init.images.subarray(i * per, (i + 1) * per), k * per);
  }
  const out = new Uint8Array(n * per);
  augmentBatch(gathered, out, n, init.height, init.width, init.augment, new Rng(mixSeed(init.seed, req.epoch, req.step)));
  return out;
}

parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    const pixels = makeBatch(req);
    reply = { id: req.id, pixels };
    parentPort!.postMessage(reply, [pixels.buffer as ArrayBuffer]);
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    parentPort!.postMessage(reply);
  }
});
