// Worker thread for BatchLoader: gathers batches from the shared dataset images and augments them off the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import { mixSeed, Rng } from '../util/rng.js';
import { type AugmentOptions, augmentBatch } from './augment.js';
import { gatherImages, type ImageDataset } from './dataset.js';
import { type MixOptions, mixBatch, mixEnabled, mixRng } from './mix.js';

export interface WorkerInit {
  /** Dataset images on a SharedArrayBuffer. */
  images: Uint8Array;
  /** Streamed datasets: one raw image file per index instead of `images`. */
  files?: string[];
  height: number;
  width: number;
  augment: AugmentOptions;
  seed: number;
  /** MixUp / CutMix after augmentation (requests then carry the batch's labels). */
  mix?: MixOptions | null;
}

export interface WorkerRequest {
  id: number;
  epoch: number;
  step: number;
  indices: Int32Array;
  labels?: Int32Array;
}

export type WorkerReply =
  | { id: number; pixels: Uint8Array; targets?: Float32Array; mixKind?: string }
  | { id: number; error: string };

const init = workerData as WorkerInit;
const per = init.height * init.width * 3;
const source: ImageDataset = {
  images: init.images,
  labels: new Uint8Array(0),
  count: 0,
  height: init.height,
  width: init.width,
  classes: [],
  ...(init.files ? { files: init.files } : {}),
};
let gathered = new Uint8Array(0);
let augmented = new Uint8Array(0);

function makeBatch(req: WorkerRequest): { pixels: Uint8Array; targets?: Float32Array; mixKind?: string } {
  const n = req.indices.length;
  if (gathered.length < n * per) gathered = new Uint8Array(n * per);
  gatherImages(source, req.indices, gathered);
  const out = new Uint8Array(n * per);
  const rng = new Rng(mixSeed(init.seed, req.epoch, req.step));
  if (!mixEnabled(init.mix)) {
    augmentBatch(gathered, out, n, init.height, init.width, init.augment, rng);
    return { pixels: out };
  }
  if (!req.labels) throw new Error('mixing needs the batch labels');
  if (augmented.length < n * per) augmented = new Uint8Array(n * per);
  augmentBatch(gathered, augmented, n, init.height, init.width, init.augment, rng);
  const m = mixBatch(
    augmented,
    out,
    req.labels,
    n,
    init.height,
    init.width,
    init.mix,
    mixRng(init.seed, req.epoch, req.step),
  );
  return { pixels: out, targets: m.targets, mixKind: m.kind };
}

parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    const b = makeBatch(req);
    reply = { id: req.id, ...b };
    parentPort!.postMessage(
      reply,
      b.targets ? [b.pixels.buffer as ArrayBuffer, b.targets.buffer as ArrayBuffer] : [b.pixels.buffer as ArrayBuffer],
    );
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    parentPort!.postMessage(reply);
  }
});
