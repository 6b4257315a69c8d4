// Tests for the folder decode cache and its limits: cache hits give the same pixels, keys follow content, size and decoder,
// streamed (over --cache-mb) datasets read the same images, class counts and the imbalance warning.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { gatherImages, imageAt } from '../../src/data/dataset.js';
import { cacheKey } from '../../src/data/decode-cache.js';
import { loadImageFolder } from '../../src/data/folder.js';
import { decodeImage } from '../../src/image/decode.js';
import { DECODER_ID } from '../../src/image/pipeline.js';
import { makeImageFolder } from '../fixtures/image-folder.js';

t.test('a second load is served from the cache with identical pixels, decoded as the service decodes', async (t) => {
  const root = t.testdir();
  const cacheDir = path.join(root, '..', `${path.basename(root)}-cache`);
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(cacheDir, { recursive: true, force: true })));
  const files = await makeImageFolder(root, { perClass: 5 });
  const lines: string[] = [];
  const first = await loadImageFolder(root, { size: 24, cacheDir, seed: 2, threads: 2, log: (l) => lines.push(l) });
  t.equal(first.report.cacheHits, 0);
  t.equal(first.report.decoded, 15);
  t.equal(first.report.threads, 2);
  const second = await loadImageFolder(root, { size: 24, cacheDir, seed: 2, log: (l) => lines.push(l) });
  t.equal(second.report.cacheHits, 15);
  t.equal(second.report.decoded, 0);
  t.same(second.train.images, first.train.images);
  t.same(second.test.images, first.test.images);
  t.match(lines.join('\n'), /decoded 15 images in [\d.]+ s: 15 from the cache, 0 decoded, 0 skipped/);

  // The pixels are exactly what POST /classify feeds the model.
  const file = files.find((f) => f.endsWith(path.join('checks-blue', 'img1.jpg')))!;
  const service = await decodeImage(readFileSync(file), 24);
  const all = [first.train, first.test];
  const found = all.some((ds) =>
    Array.from({ length: ds.count }, (_, i) => i).some(
      (i) => Buffer.compare(Buffer.from(imageAt(ds, i)), Buffer.from(service)) === 0,
    ),
  );
  t.ok(found, 'one training or validation image equals the service decode of the same file');

  const at16 = await loadImageFolder(root, { size: 16, cacheDir, seed: 2 });
  t.equal(at16.report.cacheHits, 0, 'another size is another key');

  // Changing a file's bytes changes its key: it is decoded again, the rest still hit.
  writeFileSync(files[0]!, readFileSync(files[1]!));
  const third = await loadImageFolder(root, { size: 24, cacheDir, seed: 2 });
  t.equal(third.report.cacheHits, 15, "a copy of another file hits that file's entry");
  t.not(cacheKey('ab', 16), cacheKey('ab', 24));
  t.not(cacheKey('ab', 16), cacheKey('ac', 16));
  // The key names the decoder: pixels cached by another pipeline version or sharp (libvips) build are decoded again.
  t.not(cacheKey('ab', 16), cacheKey('ab', 16, DECODER_ID.replace(/sharp=[^;]*/, 'sharp=0.0.0')));
  t.match(DECODER_ID, `;sharp=${sharp.versions.sharp}`, 'the installed sharp, read without loading it');
});

t.test('over the memory budget the dataset streams from the cache and reads the same images', async (t) => {
  const root = t.testdir();
  const cacheDir = path.join(root, '..', `${path.basename(root)}-cache`);
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(cacheDir, { recursive: true, force: true })));
  await makeImageFolder(root, { perClass: 4 });
  const mem = await loadImageFolder(root, { size: 16, cacheDir, seed: 1 });
  const disk = await loadImageFolder(root, { size: 16, cacheDir, seed: 1, cacheMb: 0.001 });
  t.notOk(mem.report.streamed);
  t.ok(disk.report.streamed);
  t.equal(disk.train.images.length, 0, 'nothing held in memory');
  t.equal(disk.train.files!.length, disk.train.count);
  t.same(disk.train.labels, mem.train.labels);
  const idx = [3, 0, 5];
  const a = new Uint8Array(3 * 16 * 16 * 3);
  const b = new Uint8Array(3 * 16 * 16 * 3);
  gatherImages(mem.train, idx, a);
  gatherImages(disk.train, idx, b);
  t.same(b, a);
});

t.test('per-class counts, and a warning when the largest class is over 10× the smallest', async (t) => {
  const root = t.testdir();
  await makeImageFolder(root, { perClass: [23, 2, 4] });
  const lines: string[] = [];
  const r = await loadImageFolder(root, { size: 8, cacheDir: path.join(root, '.cache'), log: (l) => lines.push(l) });
  t.same(
    r.report.trainCounts.map((n, k) => n + r.report.valCounts[k]!),
    [4, 23, 2],
    'sorted class order: checks-blue, circle-red, stripes-green',
  );
  t.ok(
    r.report.valCounts.every((n) => n >= 1),
    'every class has a validation image',
  );
  t.match(
    lines.join('\n'),
    /warning: classes are imbalanced: "circle-red" has 23 images, "stripes-green" 2 \(more than 10×\)/,
  );
});
