// uint8 image datasets (HWC, RGB) held in memory or streamed from per-image files, the data layer's error type, and helpers.

import { closeSync, openSync, readSync } from 'node:fs';
import { UserError } from '../util/errors.js';

export interface ImageDataset {
  /** count*height*width*3 bytes: RGB, HWC, row-major, one image after another (empty when `files` is set). */
  images: Uint8Array;
  /** Streamed datasets: one raw height*width*3 file per image (the decode cache), read when a batch needs it. */
  files?: string[];
  /** count class indices. */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  /** Class names, index = label. */
  classes: string[];
}

/** A user-facing data problem; `code` is 'DATA_MISSING', 'DATA_CORRUPT' or 'DATA_FORMAT'. */
export class DataError extends UserError {
  declare readonly code: 'DATA_MISSING' | 'DATA_CORRUPT' | 'DATA_FORMAT';

  constructor(code: 'DATA_MISSING' | 'DATA_CORRUPT' | 'DATA_FORMAT', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Bytes of one image. */
export function imageBytes(ds: Pick<ImageDataset, 'height' | 'width'>): number {
  return ds.height * ds.width * 3;
}

/** Reads a raw image file of exactly `out.length` bytes into `out`. */
export function readRawImage(file: string, out: Uint8Array): void {
  const fd = openSync(file, 'r');
  try {
    let got = 0;
    while (got < out.length) {
      const n = readSync(fd, out, got, out.length - got, got);
      if (n === 0) throw new DataError('DATA_CORRUPT', `${file}: cached image is ${got} bytes, expected ${out.length}`);
      got += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Image i: a view (no copy) of an in-memory dataset, or a fresh read of a streamed one. */
export function imageAt(ds: ImageDataset, i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i >= ds.count) {
    throw new RangeError(`image index ${i} out of range [0, ${ds.count})`);
  }
  const n = imageBytes(ds);
  if (ds.files) {
    const out = new Uint8Array(n);
    readRawImage(ds.files[i]!, out);
    return out;
  }
  return ds.images.subarray(i * n, (i + 1) * n);
}

/** Copies the images at `indices` one after another into `out` (which must hold indices.length images). */
export function gatherImages(ds: ImageDataset, indices: ArrayLike<number>, out: Uint8Array): void {
  const n = imageBytes(ds);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (ds.files) readRawImage(ds.files[i]!, out.subarray(k * n, (k + 1) * n));
    else out.set(ds.images.subarray(i * n, (i + 1) * n), k * n);
  }
}

/** A new dataset holding copies of the given images, in the given order. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const n = imageBytes(ds);
  const count = indices.length;
  if (ds.files) {
    const files = Array.from(indices, (i) => ds.files![i]!);
    const labels = Uint8Array.from(indices, (i) => ds.labels[i]!);
    return {
      images: new Uint8Array(0),
      files,
      labels,
      count,
      height: ds.height,
      width: ds.width,
      classes: ds.classes.slice(),
    };
  }
  const images = new Uint8Array(count * n);
  const labels = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    const i = indices[k]!;
    images.set(imageAt(ds, i), k * n);
    labels[k] = ds.labels[i]!;
  }
  return { images, labels, count, height: ds.height, width: ds.width, classes: ds.classes.slice() };
}

/** Per-channel mean and standard deviation of a dataset's [0,1]-scaled RGB pixels (rounded to 4 decimals). */
export function channelStats(ds: ImageDataset): { mean: [number, number, number]; std: [number, number, number] } {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  for (let i = 0; i < ds.count; i++) {
    const px = imageAt(ds, i);
    for (let j = 0; j < px.length; j += 3)
      for (let c = 0; c < 3; c++) {
        const v = px[j + c]! / 255;
        sum[c]! += v;
        sq[c]! += v * v;
      }
  }
  const n = Math.max(1, ds.count * ds.height * ds.width);
  const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;
  const mean = sum.map((s) => s / n);
  // A flat channel (std 0) would divide by zero in the normalisation: at least 1/255.
  const std = sq.map((s, c) => Math.max(1 / 255, Math.sqrt(Math.max(0, s / n - mean[c]! ** 2))));
  return { mean: [r4(mean[0]!), r4(mean[1]!), r4(mean[2]!)], std: [r4(std[0]!), r4(std[1]!), r4(std[2]!)] };
}
