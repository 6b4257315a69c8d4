// Tests for the CIFAR-10 binary-version reader on a tiny synthetic set (CHW records → HWC images).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadCifar10Binary, loadDataSource } from '../../src/data/cifar10.js';
import { DataError } from '../../src/data/dataset.js';
import { Rng } from '../../src/util/rng.js';

const PLANE = 1024;

/** Writes `count` records per file; returns the records (label + R,G,B planes) for checking. */
function writeBins(dir: string, counts: Record<string, number>, seed: number): Record<string, Uint8Array> {
  const rng = new Rng(seed);
  const out: Record<string, Uint8Array> = {};
  for (const [name, count] of Object.entries(counts)) {
    const buf = new Uint8Array(count * (1 + 3 * PLANE));
    for (let r = 0; r < count; r++) {
      const base = r * (1 + 3 * PLANE);
      buf[base] = rng.int(10);
      for (let k = 1; k <= 3 * PLANE; k++) buf[base + k] = rng.int(256);
    }
    writeFileSync(join(dir, name), buf);
    out[name] = buf;
  }
  return out;
}

const files = {
  'data_batch_1.bin': 2,
  'data_batch_2.bin': 1,
  'data_batch_3.bin': 3,
  'data_batch_4.bin': 1,
  'data_batch_5.bin': 2,
  'test_batch.bin': 3,
};

t.test('round trip CHW records to HWC images', async (t) => {
  const dir = t.testdir({});
  const recs = writeBins(dir, files, 1);
  const { train, test } = await loadCifar10Binary(dir);
  t.equal(train.count, 9);
  t.equal(test.count, 3);
  t.equal(train.height, 32);
  t.equal(train.classes[3], 'cat');
  t.equal(train.images.length, 9 * 3072);
  // train image 3 = data_batch_3.bin record 0 (after 2 + 1 records)
  const rec = recs['data_batch_3.bin']!;
  t.equal(train.labels[3], rec[0]);
  for (const p of [0, 1, 33, 1023]) {
    for (let c = 0; c < 3; c++)
      t.equal(train.images[3 * 3072 + p * 3 + c], rec[1 + c * PLANE + p], `pixel ${p} channel ${c}`);
  }
  const trec = recs['test_batch.bin']!;
  const last = 2 * (1 + 3 * PLANE);
  t.equal(test.labels[2], trec[last]);
  t.equal(test.images[2 * 3072 + 5 * 3 + 2], trec[last + 1 + 2 * PLANE + 5]);

  const viaSpec = await loadDataSource(dir);
  t.same(viaSpec.test.images, test.images, 'loadDataSource detects the binary layout');
});

t.test('the official archive folder layout is found', async (t) => {
  const dir = t.testdir({ 'cifar-10-batches-bin': {} });
  writeBins(join(dir, 'cifar-10-batches-bin'), files, 2);
  const { train } = await loadDataSource(dir);
  t.equal(train.count, 9);
});

t.test('missing and truncated files are DataErrors naming the file', async (t) => {
  const dir = t.testdir({});
  const { ['data_batch_4.bin']: _, ...partial } = files;
  writeBins(dir, partial, 3);
  await t.rejects(loadCifar10Binary(dir), {
    constructor: DataError,
    code: 'DATA_MISSING',
    message: /data_batch_4\.bin/,
  });
  writeFileSync(join(dir, 'data_batch_4.bin'), new Uint8Array(3073 + 5));
  await t.rejects(loadCifar10Binary(dir), {
    constructor: DataError,
    code: 'DATA_CORRUPT',
    message: /data_batch_4\.bin/,
  });
});
