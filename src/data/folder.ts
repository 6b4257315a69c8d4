// Image-folder datasets (<root>/<class>/*.png|jpg|jpeg|webp) decoded with sharp to size×size RGB, with a seeded stratified split.

import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { mixSeed, Rng } from '../util/rng.js';
import { DataError, type ImageDataset } from './dataset.js';
import { isDirectory } from './files.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];
const CONCURRENCY = 4;

export interface ImageFolderOptions {
  /** Output side: shorter side resized to `size`, then centre-cropped to size×size. */
  size: number;
  /** Fraction of each class held out for validation when there is no train/val pair (default 0.1). */
  valFraction?: number;
  seed?: number;
}

interface Listing {
  classes: string[];
  files: string[];
  labels: number[];
}

/** Decodes any supported image to size×size RGB (EXIF-rotated, alpha flattened onto white, shorter side → size, centre crop). */
export async function decodeImage(file: string, size: number): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(file)
      .rotate()
      .flatten({ background: '#ffffff' })
      .removeAlpha()
      .toColourspace('srgb')
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size || info.channels !== 3) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (cause) {
    throw new DataError('DATA_CORRUPT', `cannot decode image ${file}: ${(cause as Error).message}`, { cause });
  }
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** Lists `<dir>/<class>/<image>`; `classes` fixes the class order (else the sorted subfolders). */
async function listClasses(dir: string, classes?: string[]): Promise<Listing> {
  const found = await subdirs(dir);
  if (found.length === 0) throw new DataError('DATA_FORMAT', `no class folders in ${dir} (expected ${dir}/<class>/<image>)`);
  const names = classes ?? found;
  const unknown = found.filter((c) => !names.includes(c));
  if (unknown.length > 0) {
    throw new DataError('DATA_FORMAT', `${dir} has classes not in the training set: ${unknown.join(', ')}`);
  }
  const listing: Listing = { classes: names, files: [], labels: [] };
  for (const [label, cls] of names.entries()) {
    if (!found.includes(cls)) continue;
    const files = (await readdir(join(dir, cls), { withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    if (files.length === 0) {
      throw new DataError('DATA_FORMAT', `class folder ${join(dir, cls)} has no images (${IMAGE_EXTENSIONS.join(', ')})`);
    }
    for (const f of files) {
      listing.files.push(join(dir, cls, f));
      listing.labels.push(label);
    }
  }
  return listing;
}

/** Decodes the listed files with bounded concurrency into one dataset. */
async function decodeAll(files: string[], labels: number[], classes: string[], size: number): Promise<ImageDataset> {
  const per = size * size * 3;
  const images = new Uint8Array(files.length * per);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      images.set(await decodeImage(files[i]!, size), i * per);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  return { images, labels: Uint8Array.from(labels), count: files.length, height: size, width: size, classes: classes.slice() };
}

/** Per class, a seeded shuffle picks round(valFraction·n) validation images (≥1 if n ≥ 2, always ≥1 left to train). */
export function stratifiedSplit(labels: ArrayLike<number>, numClasses: number, valFraction: number, seed: number): { train: number[]; val: number[] } {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const isVal = new Uint8Array(labels.length);
  byClass.forEach((idx, c) => {
    const n = idx.length;
    let k = Math.round(valFraction * n);
    if (valFraction > 0 && n >= 2) k = Math.max(k, 1);
    k = Math.min(k, n - 1);
    const shuffled = new Rng(mixSeed(seed, c)).shuffle(idx.slice());
    for (let j = 0; j < k; j++) isVal[shuffled[j]!] = 1;
  });
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < labels.length; i++) (isVal[i] ? val : train).push(i);
  return { train, val };
}

/** Loads `<root>/<class>/*`, split into train/validation; a `train/` + `val/` (or `test/`) pair is used as given. */
export async function loadImageFolder(root: string, opts: ImageFolderOptions): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const { size } = opts;
  if (!Number.isInteger(size) || size < 1) throw new DataError('DATA_FORMAT', `image size must be a positive integer, got ${size}`);
  const valFraction = opts.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1)) throw new DataError('DATA_FORMAT', `valFraction must be in [0, 1), got ${valFraction}`);
  if (!(await isDirectory(root))) throw new DataError('DATA_MISSING', `image folder ${root} does not exist or is not a directory`);

  const trainDir = join(root, 'train');
  const valDir = (await isDirectory(join(root, 'val'))) ? join(root, 'val') : join(root, 'test');
  if ((await isDirectory(trainDir)) && (await isDirectory(valDir))) {
    const tr = await listClasses(trainDir);
    const va = await listClasses(valDir, tr.classes);
    return {
      train: await decodeAll(tr.files, tr.labels, tr.classes, size),
      test: await decodeAll(va.files, va.labels, tr.classes, size),
    };
  }

  const all = await listClasses(root);
  const { train, val } = stratifiedSplit(all.labels, all.classes.length, valFraction, opts.seed ?? 0);
  const pick = (idx: number[]): Promise<ImageDataset> =>
    decodeAll(idx.map((i) => all.files[i]!), idx.map((i) => all.labels[i]!), all.classes, size);
  return { train: await pick(train), test: await pick(val) };
}
