// A deterministic held-out validation split of a training set (for choosing recipes without touching the test set).
import { mixSeed, Rng } from '../util/rng.js';
import { DataError, type ImageDataset, subset } from './dataset.js';

/** The indices held out for validation: the first n of a permutation seeded by (seed, 'val'), in ascending order. */
export function valIndices(count: number, n: number, seed: number): Int32Array {
  if (!Number.isInteger(n) || n < 1 || n >= count)
    throw new DataError(
      'DATA_FORMAT',
      `--val-split must be an integer in [1, ${count - 1}] for ${count} training images, got ${n}`,
    );
  const idx = new Int32Array(count);
  for (let i = 0; i < count; i++) idx[i] = i;
  new Rng(mixSeed(seed, 0x76616c)).shuffle(idx);
  return idx.slice(0, n).sort();
}

/** Splits `ds` into (train = the rest, in original order; val = n held-out images). */
export function splitTrainVal(
  ds: ImageDataset,
  n: number,
  seed: number,
): { train: ImageDataset; val: ImageDataset; valIndices: Int32Array } {
  const val = valIndices(ds.count, n, seed);
  const held = new Uint8Array(ds.count);
  for (const i of val) held[i] = 1;
  const rest: number[] = [];
  for (let i = 0; i < ds.count; i++) if (!held[i]) rest.push(i);
  return { train: subset(ds, rest), val: subset(ds, val), valIndices: val };
}
