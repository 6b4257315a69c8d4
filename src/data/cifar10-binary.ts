// Reader for the original CIFAR-10 binary version (data_batch_{1..5}.bin, test_batch.bin: label byte + CHW planes).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CIFAR10_LABELS } from '../model/config.js';
import { DataError, type ImageDataset } from './dataset.js';
import { fileSize } from './files.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

export const CIFAR10_TRAIN_BINS = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_BIN = 'test_batch.bin';

/** The folder holding the .bin files: `dir` itself, or its `cifar-10-batches-bin` (as the official archive unpacks). */
export async function binaryDir(dir: string): Promise<string | null> {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) {
    if ((await fileSize(join(d, 'data_batch_1.bin'))) !== null) return d;
  }
  return null;
}

/** Decodes CIFAR binary records (label + R,G,B planes) into HWC images and labels. */
export function decodeRecords(
  buf: Uint8Array,
  name: string,
): { images: Uint8Array; labels: Uint8Array; count: number } {
  if (buf.length === 0 || buf.length % RECORD !== 0) {
    throw new DataError(
      'DATA_CORRUPT',
      `${name}: ${buf.length} bytes is not a whole number of ${RECORD}-byte CIFAR-10 records`,
    );
  }
  const count = buf.length / RECORD;
  const images = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const base = r * RECORD;
    const label = buf[base]!;
    if (label >= CIFAR10_LABELS.length) {
      throw new DataError('DATA_CORRUPT', `${name}: record ${r} has label ${label}, expected 0..9`);
    }
    labels[r] = label;
    const out = r * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) {
      images[out + 3 * p] = buf[base + 1 + p]!;
      images[out + 3 * p + 1] = buf[base + 1 + PLANE + p]!;
      images[out + 3 * p + 2] = buf[base + 1 + 2 * PLANE + p]!;
    }
  }
  return { images, labels, count };
}

async function readBins(dir: string, names: string[]): Promise<ImageDataset> {
  const parts: { images: Uint8Array; labels: Uint8Array; count: number }[] = [];
  for (const name of names) {
    const file = join(dir, name);
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (cause) {
      throw new DataError('DATA_MISSING', `CIFAR-10 binary file missing or unreadable: ${file}`, { cause });
    }
    parts.push(decodeRecords(buf, file));
  }
  const count = parts.reduce((s, p) => s + p.count, 0);
  const images = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * 3 * PLANE);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { images, labels, count, height: SIDE, width: SIDE, classes: CIFAR10_LABELS.slice() };
}

/** Loads the CIFAR-10 binary version from `dir` (or `dir/cifar-10-batches-bin`). */
export async function loadCifar10Binary(dir: string): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const d = (await binaryDir(dir)) ?? dir;
  const train = await readBins(d, CIFAR10_TRAIN_BINS);
  const test = await readBins(d, [CIFAR10_TEST_BIN]);
  return { train, test };
}
