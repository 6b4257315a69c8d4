// Deterministic, resumable mini-batch loader; augmentation runs in a worker thread, prefetching 2 batches ahead.

import type { Worker } from 'node:worker_threads';
import { mixSeed, Rng } from '../util/rng.js';
import { startWorker } from '../util/worker-script.js';
import type { AugmentOptions } from './augment.js';
import { gatherImages, type ImageDataset } from './dataset.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './loader-worker.js';
import { type MixOptions, mixBatch, mixEnabled, mixRng } from './mix.js';

export interface Batch {
  /** n*h*w*3 uint8 RGB HWC. */
  pixels: Uint8Array;
  labels: BigInt64Array;
  size: number;
  /** Index within the epoch. */
  step: number;
  /** n×K soft targets when the loader mixes (MixUp / CutMix); labels are then each image's own label. */
  targets?: Float32Array;
  /** How the batch was mixed, when mixing is on. */
  mixKind?: string;
}

export interface LoaderOptions {
  dataset: ImageDataset;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  augment: AugmentOptions | null;
  seed: number;
  /** MixUp / CutMix with soft targets (after augmentation), deterministic in (seed, epoch, step). */
  mix?: MixOptions | null;
}

type Reply = { pixels: Uint8Array; targets?: Float32Array; mixKind?: string };

const PREFETCH = 2;

/** The dataset with its images on a SharedArrayBuffer (copied once unless already shared; streamed ones stay as they are). */
export function shareDataset(ds: ImageDataset): ImageDataset {
  if (ds.files || ds.images.buffer instanceof SharedArrayBuffer) return ds;
  const images = new Uint8Array(new SharedArrayBuffer(ds.images.length));
  images.set(ds.images);
  return { ...ds, images };
}

/** One worker thread answering batch requests in order; kept ref'd only while requests are pending. */
class AugmentWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (p: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(init: WorkerInit) {
    this.worker = startWorker(import.meta.url, 'loader-worker', { workerData: init });
    this.worker.unref();
    this.worker.on('message', (m: WorkerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.settled(m.id);
      if ('error' in m) p.reject(new Error(`batch worker failed: ${m.error}`));
      else p.resolve(m);
    });
    this.worker.on('error', (err) => this.fail(new Error(`batch worker crashed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => this.fail(new Error(`batch worker exited (code ${code})`)));
  }

  request(req: Omit<WorkerRequest, 'id'>): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const promise = new Promise<Reply>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (this.pending.size === 1) this.worker.ref();
    this.worker.postMessage({ ...req, id }, [req.indices.buffer as ArrayBuffer]);
    return promise;
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const [id, p] of this.pending) {
      this.settled(id);
      p.reject(this.failure);
    }
  }

  async terminate(): Promise<void> {
    this.fail(new Error('BatchLoader closed'));
    await this.worker.terminate();
  }
}

export class BatchLoader {
  private readonly opts: LoaderOptions;
  private worker: AugmentWorker | null = null;
  private closed = false;

  constructor(opts: LoaderOptions) {
    const { dataset, batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    if (dataset.count < 1) throw new RangeError('BatchLoader: the dataset is empty');
    this.opts = opts;
  }

  stepsPerEpoch(): number {
    const { count } = this.opts.dataset;
    const bs = this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(count / bs) : Math.ceil(count / bs);
  }

  /** Sample order for an epoch: a permutation seeded by mixSeed(seed, epoch), or 0..count-1 without shuffle. */
  order(epoch: number): Int32Array {
    const idx = new Int32Array(this.opts.dataset.count);
    for (let i = 0; i < idx.length; i++) idx[i] = i;
    return this.opts.shuffle ? new Rng(mixSeed(this.opts.seed, epoch)).shuffle(idx) : idx;
  }

  /** Batches startStep.. of `epoch`; identical to the same steps of a run started at step 0. */
  async *epoch(epoch: number, startStep = 0): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new Error('BatchLoader is closed');
    const steps = this.stepsPerEpoch();
    if (!Number.isInteger(startStep) || startStep < 0 || startStep > steps) {
      throw new RangeError(`startStep must be an integer in [0, ${steps}], got ${startStep}`);
    }
    const order = this.order(epoch);
    const bs = this.opts.batchSize;
    const slice = (s: number): Int32Array => order.slice(s * bs, Math.min((s + 1) * bs, order.length));
    const labelsOf = (idx: Int32Array): BigInt64Array => {
      const out = new BigInt64Array(idx.length);
      for (let k = 0; k < idx.length; k++) out[k] = BigInt(this.opts.dataset.labels[idx[k]!]!);
      return out;
    };

    const mix = mixEnabled(this.opts.mix) ? this.opts.mix : null;
    const { height: h, width: w } = this.opts.dataset;
    if (!this.opts.augment) {
      for (let s = startStep; s < steps; s++) {
        const idx = slice(s);
        const labels = labelsOf(idx);
        const pixels = this.gather(idx);
        if (!mix) {
          yield { pixels, labels, size: idx.length, step: s };
          continue;
        }
        const out = new Uint8Array(pixels.length);
        const m = mixBatch(
          pixels,
          out,
          Int32Array.from(labels, Number),
          idx.length,
          h,
          w,
          mix,
          mixRng(this.opts.seed, epoch, s),
        );
        yield { pixels: out, labels, size: idx.length, step: s, targets: m.targets, mixKind: m.kind };
      }
      return;
    }

    const worker = this.ensureWorker(this.opts.augment);
    const queue: { labels: BigInt64Array; size: number; pixels: Promise<Reply> }[] = [];
    let next = startStep;
    for (let s = startStep; s < steps; s++) {
      while (next < steps && next <= s + PREFETCH) {
        const idx = slice(next);
        const entry = { labels: labelsOf(idx), size: idx.length };
        const req = mix
          ? { epoch, step: next, indices: idx, labels: Int32Array.from(entry.labels, Number) }
          : { epoch, step: next, indices: idx };
        const pixels = worker.request(req); // transfers (detaches) idx
        pixels.catch(() => {}); // a failure surfaces when this batch is awaited, not as an unhandled rejection
        queue.push({ ...entry, pixels });
        next++;
      }
      const head = queue.shift()!;
      const r = await head.pixels;
      yield {
        pixels: r.pixels,
        labels: head.labels,
        size: head.size,
        step: s,
        ...(r.targets ? { targets: r.targets, mixKind: r.mixKind! } : {}),
      };
    }
  }

  /** Stops the worker thread (if one was started). */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private gather(idx: Int32Array): Uint8Array {
    const { height, width } = this.opts.dataset;
    const out = new Uint8Array(idx.length * height * width * 3);
    gatherImages(this.opts.dataset, idx, out);
    return out;
  }

  private ensureWorker(augment: AugmentOptions): AugmentWorker {
    if (!this.worker) {
      const ds = shareDataset(this.opts.dataset);
      this.worker = new AugmentWorker({
        images: ds.images,
        ...(ds.files ? { files: ds.files } : {}),
        height: ds.height,
        width: ds.width,
        augment,
        seed: this.opts.seed,
        mix: mixEnabled(this.opts.mix) ? this.opts.mix : null,
      });
    }
    return this.worker;
  }
}
