// Tests for uint8 augmentation: crop/flip/cutout invariants and RandAugment determinism.

import t from 'tap';
import {
  applyOp,
  augmentBatch,
  crop,
  cutout,
  hflip,
  RA_OPS,
  randAugment,
  randomCropFlip,
} from '../../src/data/augment.js';
import { Rng } from '../../src/util/rng.js';

const H = 8;
const W = 6;
const PER = H * W * 3;

function randomImages(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const a = new Uint8Array(n * PER);
  for (let i = 0; i < a.length; i++) a[i] = rng.int(256);
  return a;
}

const px = (img: Uint8Array, y: number, x: number): number[] =>
  Array.from(img.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));

t.test('hflip twice is the identity; one flip mirrors', async (t) => {
  const src = randomImages(1, 1);
  const once = new Uint8Array(PER);
  const twice = new Uint8Array(PER);
  hflip(src, once, H, W);
  hflip(once, twice, H, W);
  t.same(twice, src);
  t.same(px(once, 2, 0), px(src, 2, W - 1));
  const inPlace = src.slice();
  hflip(inPlace, inPlace, H, W);
  t.same(inPlace, once, 'in place gives the same result');
});

t.test('crop shifts with zero padding; zero shift is the identity', async (t) => {
  const src = randomImages(1, 2);
  const dst = new Uint8Array(PER).fill(7);
  crop(src, dst, H, W, 0, 0);
  t.same(dst, src);
  crop(src, dst, H, W, 2, -1);
  t.same(px(dst, 0, 1), px(src, 2, 0));
  t.same(px(dst, 3, 0), [0, 0, 0], 'column shifted in from the left is zero');
  t.same(px(dst, H - 1, 3), [0, 0, 0], 'rows shifted in from below are zero');
  crop(src, dst, H, W, 0, W + 3);
  t.same(dst, new Uint8Array(PER), 'a shift past the edge is all zero');
});

t.test('randomCropFlip: pad 0 without flip is the identity; shape and dtype kept', async (t) => {
  const n = 5;
  const src = randomImages(n, 3);
  const dst = new Uint8Array(n * PER);
  randomCropFlip(src, dst, n, H, W, 0, new Rng(9), false);
  t.same(dst, src);
  randomCropFlip(src, dst, n, H, W, 2, new Rng(9));
  t.ok(dst instanceof Uint8Array);
  t.equal(dst.length, n * PER);
  t.notSame(dst, src);
  const again = new Uint8Array(n * PER);
  randomCropFlip(src, again, n, H, W, 2, new Rng(9));
  t.same(again, dst, 'deterministic for a seed');
});

t.test('randomCropFlip with pad 0 and flip gives each image or its mirror', async (t) => {
  const n = 20;
  const src = randomImages(n, 4);
  const dst = new Uint8Array(n * PER);
  randomCropFlip(src, dst, n, H, W, 0, new Rng(5), true);
  let flipped = 0;
  for (let i = 0; i < n; i++) {
    const s = src.subarray(i * PER, (i + 1) * PER);
    const d = dst.subarray(i * PER, (i + 1) * PER);
    const m = new Uint8Array(PER);
    hflip(s, m, H, W);
    const same = d.every((v, k) => v === s[k]);
    const mirrored = d.every((v, k) => v === m[k]);
    t.ok(same || mirrored, `image ${i} is the original or its mirror`);
    if (mirrored && !same) flipped++;
  }
  t.ok(flipped > 0 && flipped < n, `some but not all flipped (${flipped}/${n})`);
});

t.test('cutout zeroes exactly one (clipped) square', async (t) => {
  const rng = new Rng(6);
  for (let trial = 0; trial < 50; trial++) {
    const img = new Uint8Array(PER).fill(200);
    const box = cutout(img, H, W, 4, rng);
    if (!box) throw new Error('no box');
    t.ok(box.y1 - box.y0 <= 4 && box.x1 - box.x0 <= 4 && box.y0 >= 0 && box.x0 >= 0 && box.y1 <= H && box.x1 <= W);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inside = y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1;
        if (px(img, y, x).some((v) => v !== (inside ? 0 : 200))) t.fail(`pixel ${y},${x} wrong (inside=${inside})`);
      }
    }
  }
  const img = new Uint8Array(32 * 32 * 3).fill(1);
  let full = 0;
  for (let trial = 0; trial < 20; trial++) {
    img.fill(1);
    const b = cutout(img, 32, 32, 8, rng)!;
    const zeros = img.reduce((s, v) => s + (v === 0 ? 1 : 0), 0) / 3;
    t.equal(zeros, (b.y1 - b.y0) * (b.x1 - b.x0));
    if (zeros === 64) full++;
  }
  t.ok(full > 0, 'unclipped squares are 8×8');
  t.equal(cutout(img, 32, 32, 0, rng), null, 'size 0 is off');
});

t.test('RandAugment ops keep shape; randAugment is deterministic for a seed', async (t) => {
  const src = randomImages(1, 7);
  for (const name of Object.keys(RA_OPS)) {
    for (const sign of [1, -1]) {
      const img = src.slice();
      applyOp(name, img, H, W, 9, sign);
      t.equal(img.length, PER, name);
    }
  }
  const id = src.slice();
  applyOp('identity', id, H, W, 30);
  t.same(id, src);
  const sol = src.slice();
  applyOp('solarize', sol, H, W, 30);
  t.same(
    sol,
    src.map((v) => 255 - v),
    'solarize at full magnitude inverts everything',
  );
  const tx = src.slice();
  applyOp('translateX', tx, H, W, 30, 1);
  t.same(px(tx, 1, W - 1), px(src, 1, W - 4), 'translateX by round(0.45·w) = 3 px');

  const a = src.slice();
  const b = src.slice();
  randAugment(a, H, W, new Rng(42), { n: 3, magnitude: 9 });
  randAugment(b, H, W, new Rng(42), { n: 3, magnitude: 9 });
  t.same(a, b);
  const outs = new Set<string>();
  for (let s = 0; s < 10; s++) {
    const c = src.slice();
    randAugment(c, H, W, new Rng(s));
    outs.add(Buffer.from(c).toString('hex'));
  }
  t.ok(outs.size > 5, 'different seeds give different results');
});

t.test('augmentBatch: deterministic, leaves src alone, all-off copies', async (t) => {
  const n = 4;
  const src = randomImages(n, 8);
  const keep = src.slice();
  const opts = { pad: 2, flip: true, cutout: 3, randAugment: { n: 2, magnitude: 9 } };
  const a = new Uint8Array(n * PER);
  const b = new Uint8Array(n * PER);
  augmentBatch(src, a, n, H, W, opts, new Rng(1));
  augmentBatch(src, b, n, H, W, opts, new Rng(1));
  t.same(a, b);
  t.same(src, keep);
  augmentBatch(src, a, n, H, W, { pad: 0, flip: false, cutout: 0, randAugment: null }, new Rng(1));
  t.same(a, src);
});
