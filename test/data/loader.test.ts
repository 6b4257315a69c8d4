// Tests for BatchLoader: full coverage per epoch, seeded shuffles, exact resume, worker augmentation and clean shutdown.

import t from 'tap';
import { type AugmentOptions, augmentBatch } from '../../src/data/augment.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { type Batch, BatchLoader, type LoaderOptions } from '../../src/data/loader.js';
import { mixSeed, Rng } from '../../src/util/rng.js';

const S = 4;
const PER = S * S * 3;

/** Image i has every pixel = (i & 255, i >> 8, 77) so a batch can be decoded back to its indices. */
function indexedDataset(count: number): ImageDataset {
  const images = new Uint8Array(count * PER);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < S * S; p++) images.set([i & 255, i >> 8, 77], i * PER + p * 3);
    labels[i] = i % 10;
  }
  return { images, labels, count, height: S, width: S, classes: 'abcdefghij'.split('') };
}

const indicesOf = (b: Batch): number[] =>
  Array.from({ length: b.size }, (_, k) => b.pixels[k * PER]! + 256 * b.pixels[k * PER + 1]!);

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

const ds = indexedDataset(103);
const base: LoaderOptions = { dataset: ds, batchSize: 10, shuffle: true, dropLast: false, augment: null, seed: 5 };
const noop: AugmentOptions = { pad: 0, flip: false, cutout: 0, randAugment: null };

t.test('each index exactly once per epoch; labels match; epochs differ', async (t) => {
  const loader = new BatchLoader(base);
  t.equal(loader.stepsPerEpoch(), 11);
  const e0 = await collect(loader.epoch(0));
  const e1 = await collect(loader.epoch(1));
  for (const batches of [e0, e1]) {
    const seen = batches.flatMap(indicesOf);
    t.same(
      seen.slice().sort((a, b) => a - b),
      Array.from({ length: 103 }, (_, i) => i),
    );
    t.same(
      batches.map((b) => b.step),
      Array.from({ length: 11 }, (_, i) => i),
    );
    t.equal(batches.at(-1)!.size, 3, 'last partial batch kept');
    for (const b of batches)
      t.same(
        Array.from(b.labels),
        indicesOf(b).map((i) => BigInt(i % 10)),
      );
  }
  t.notSame(e0.flatMap(indicesOf), e1.flatMap(indicesOf));
  t.same((await collect(loader.epoch(0))).flatMap(indicesOf), e0.flatMap(indicesOf), 'same epoch, same order');
  await loader.close();
});

t.test('no shuffle and dropLast', async (t) => {
  const loader = new BatchLoader({ ...base, shuffle: false, dropLast: true });
  const batches = await collect(loader.epoch(3));
  t.equal(batches.length, 10);
  t.same(
    batches.flatMap(indicesOf),
    Array.from({ length: 100 }, (_, i) => i),
  );
  t.ok(batches.every((b) => b.size === 10 && b.labels instanceof BigInt64Array && b.pixels.length === 10 * PER));
  await loader.close();
});

t.test('worker path: coverage, resume equals a straight run, matches documented seeding', async (t) => {
  const loader = new BatchLoader({ ...base, augment: noop });
  const plain = await collect(loader.epoch(2));
  t.same(
    plain.flatMap(indicesOf).sort((a, b) => a - b),
    Array.from({ length: 103 }, (_, i) => i),
  );
  t.same(
    plain.map((b) => b.size),
    [...new Array(10).fill(10), 3],
  );
  for (const b of plain)
    t.same(
      Array.from(b.labels),
      indicesOf(b).map((i) => BigInt(i % 10)),
    );
  await loader.close();

  const aug: AugmentOptions = { pad: 1, flip: true, cutout: 2, randAugment: { n: 2, magnitude: 9 } };
  const heavy = new BatchLoader({ ...base, dataset: randomDataset(57), augment: aug, batchSize: 8 });
  const full = await collect(heavy.epoch(4));
  const resumed = await collect(heavy.epoch(4, 3));
  t.equal(full.length, 8);
  t.same(
    resumed.map((b) => b.step),
    [3, 4, 5, 6, 7],
  );
  for (const b of resumed) {
    t.same(b.pixels, full[b.step]!.pixels, `step ${b.step} pixels`);
    t.same(b.labels, full[b.step]!.labels, `step ${b.step} labels`);
  }
  // Batch b is augmentBatch over order(epoch)[b·bs..] with Rng(mixSeed(seed, epoch, b)).
  const idx = heavy.order(4).slice(16, 24);
  const src = new Uint8Array(8 * PER);
  const data = randomDataset(57);
  idx.forEach((i, k) => src.set(data.images.subarray(i * PER, (i + 1) * PER), k * PER));
  const want = new Uint8Array(8 * PER);
  augmentBatch(src, want, 8, S, S, aug, new Rng(mixSeed(5, 4, 2)));
  t.same(full[2]!.pixels, want);
  const other = await collect(heavy.epoch(5));
  t.notSame(other[0]!.pixels, full[0]!.pixels);
  await heavy.close();
});

t.test('breaking out early and closing does not hang; closed loader refuses', async (t) => {
  const loader = new BatchLoader({ ...base, augment: noop, batchSize: 2 });
  for await (const b of loader.epoch(0)) {
    t.equal(b.step, 0);
    break;
  }
  await loader.close();
  await t.rejects(async () => {
    for await (const _ of loader.epoch(0)) break;
  }, /closed/);
  t.throws(() => new BatchLoader({ ...base, batchSize: 0 }));
});

t.test('startStep is validated', async (t) => {
  const loader = new BatchLoader(base);
  await t.rejects(collect(loader.epoch(0, 12)), RangeError);
  t.same(await collect(loader.epoch(0, 11)), [], 'resuming at the end yields nothing');
});

function randomDataset(count: number): ImageDataset {
  const rng = new Rng(11);
  const images = new Uint8Array(count * PER);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = new Uint8Array(count).map((_, i) => i % 3);
  return { images, labels, count, height: S, width: S, classes: ['a', 'b', 'c'] };
}
