// Tests for image-folder datasets: decoding (crop, alpha, formats), seeded stratified split, train/val layout, errors.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { DataError } from '../../src/data/dataset.js';
import { loadImageFolder } from '../../src/data/folder.js';

type Fmt = 'png' | 'jpeg' | 'webp';

async function solid(file: string, w: number, h: number, rgb: [number, number, number], fmt: Fmt): Promise<void> {
  const img = sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  const enc = fmt === 'png' ? img.png() : fmt === 'jpeg' ? img.jpeg({ quality: 95 }) : img.webp({ lossless: true });
  await enc.toFile(file);
}

/** A class folder of `n` solid images cycling through PNG, JPEG (as .JPG) and WebP. */
async function makeClass(dir: string, n: number, rgb: [number, number, number]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const fmts: [Fmt, string][] = [
    ['png', 'png'],
    ['jpeg', 'JPG'],
    ['webp', 'webp'],
  ];
  for (let i = 0; i < n; i++) {
    const [fmt, ext] = fmts[i % 3]!;
    await solid(join(dir, `img${i}.${ext}`), 12 + i, 10, rgb, fmt);
  }
}

const near = (a: number, b: number): boolean => Math.abs(a - b) <= 6;
const RED: [number, number, number] = [220, 20, 20];
const BLUE: [number, number, number] = [20, 20, 220];

t.test('classes, labels, shapes and a seeded stratified split', async (t) => {
  const root = t.testdir({ 'notes.txt': 'ignored' });
  await makeClass(join(root, 'red'), 10, RED);
  await makeClass(join(root, 'blue'), 10, BLUE);
  writeFileSync(join(root, 'red', 'README.md'), 'not an image');
  const { train, test } = await loadImageFolder(root, { size: 8, valFraction: 0.2, seed: 1 });
  t.same(train.classes, ['blue', 'red']);
  t.equal(train.count, 16);
  t.equal(test.count, 4);
  t.equal(train.height, 8);
  t.equal(train.images.length, 16 * 8 * 8 * 3);
  for (const ds of [train, test]) {
    t.same(
      [0, 1].map((c) => ds.labels.filter((l) => l === c).length),
      ds === train ? [8, 8] : [2, 2],
      'stratified',
    );
    for (let i = 0; i < ds.count; i++) {
      const want = ds.labels[i] === 1 ? RED : BLUE;
      const p = ds.images.subarray(i * 192 + 99, i * 192 + 102);
      t.ok(
        want.every((v, c) => near(p[c]!, v)),
        `image ${i} colour matches its label`,
      );
    }
  }
  const again = await loadImageFolder(root, { size: 8, valFraction: 0.2, seed: 1 });
  t.same(again.test.images, test.images, 'same seed, same split');
  const other = await loadImageFolder(root, { size: 8, valFraction: 0.5, seed: 1 });
  t.equal(other.test.count, 10);
});

t.test('shorter side resized then centre-cropped; alpha flattened onto white', async (t) => {
  const root = t.testdir({ stripes: {}, clear: {} });
  // 60×20: red | green | blue thirds → an 8×8 centre crop of the 24×8 resize is green.
  const stripes = Buffer.alloc(60 * 20 * 3);
  for (let y = 0; y < 20; y++)
    for (let x = 0; x < 60; x++)
      stripes.set(x < 20 ? [255, 0, 0] : x < 40 ? [0, 255, 0] : [0, 0, 255], (y * 60 + x) * 3);
  await sharp(stripes, { raw: { width: 60, height: 20, channels: 3 } })
    .png()
    .toFile(join(root, 'stripes', 'a.png'));
  await sharp({ create: { width: 9, height: 9, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toFile(join(root, 'clear', 'b.PNG'));
  const { train } = await loadImageFolder(root, { size: 8, valFraction: 0 });
  t.same(train.classes, ['clear', 'stripes']);
  t.same(Array.from(train.images.subarray(0, 3)), [255, 255, 255], 'transparent becomes white');
  const s = train.images.subarray(192, 384);
  for (const x of [1, 4, 6])
    t.same(Array.from(s.subarray((4 * 8 + x) * 3, (4 * 8 + x) * 3 + 3)), [0, 255, 0], `column ${x} is green`);
});

t.test('a train/ + val/ pair is used as given', async (t) => {
  const root = t.testdir({});
  await makeClass(join(root, 'train', 'a'), 3, RED);
  await makeClass(join(root, 'train', 'b'), 2, BLUE);
  await makeClass(join(root, 'val', 'b'), 2, BLUE);
  const { train, test } = await loadImageFolder(root, { size: 4 });
  t.same(train.classes, ['a', 'b']);
  t.equal(train.count, 5);
  t.equal(test.count, 2);
  t.same(Array.from(test.labels), [1, 1]);
  await makeClass(join(root, 'val', 'zebra'), 1, RED);
  await t.rejects(loadImageFolder(root, { size: 4 }), {
    constructor: DataError,
    code: 'DATA_FORMAT',
    message: /zebra/,
  });
});

t.test('errors are DataErrors with clear messages', async (t) => {
  const isData = (code: string, message: RegExp) => ({ constructor: DataError, code, message });
  const root = t.testdir({ empty: {}, notes: { 'x.txt': 'hi' } });
  await t.rejects(loadImageFolder(join(root, 'nope'), { size: 8 }), isData('DATA_MISSING', /nope.*does not exist/));
  await t.rejects(loadImageFolder(join(root, 'empty'), { size: 8 }), isData('DATA_FORMAT', /no class folders/));
  await makeClass(join(root, 'set', 'ok'), 2, RED);
  mkdirSync(join(root, 'set', 'hollow'));
  await t.rejects(loadImageFolder(join(root, 'set'), { size: 8 }), isData('DATA_FORMAT', /hollow.*has no images/));
  const bad = t.testdir({ cls: { 'good.png': '' } });
  await makeClass(join(bad, 'cls2'), 2, BLUE);
  writeFileSync(join(bad, 'cls', 'broken.jpg'), 'definitely not a jpeg');
  await solid(join(bad, 'cls', 'good.png'), 5, 5, RED, 'png');
  await t.rejects(loadImageFolder(bad, { size: 8, strict: true }), isData('DATA_CORRUPT', /broken\.jpg.*\(--strict\)/));
  const skipped = await loadImageFolder(bad, { size: 8, valFraction: 0 });
  t.same(
    skipped.report.skipped.map((s) => s.file),
    [join(bad, 'cls', 'broken.jpg')],
    'skipped by default, and reported',
  );
  t.equal(skipped.train.count, 3);
  await t.rejects(loadImageFolder(bad, { size: 8 }), isData('DATA_FORMAT', /at least 2 usable images.*"cls" \(1\)/));
});
