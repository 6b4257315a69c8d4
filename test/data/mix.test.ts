// MixUp / CutMix: Beta sampling, box geometry and λ correction, pixel and target mixing, batch choice, determinism, the loader.
import t from 'tap';
import { BatchLoader } from '../../src/data/loader.js';
import { cutmixBox, type MixOptions, mixBatch, mixRng, mixTargets, sampleBeta } from '../../src/data/mix.js';
import { Rng } from '../../src/util/rng.js';

const H = 8;
const W = 8;
const PER = H * W * 3;
const K = 4;

function batch(n: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  return Uint8Array.from({ length: n * PER }, () => r.int(256));
}

const opts = (o: Partial<MixOptions>): MixOptions => ({
  mixup: 0,
  cutmix: 0,
  prob: 1,
  switchProb: 0.5,
  smoothing: 0,
  numClasses: K,
  ...o,
});

t.test('Beta(α, α) has mean 1/2 and variance 1/(4(2α+1))', async (t) => {
  for (const a of [0.2, 0.8, 1, 3]) {
    const rng = new Rng(5);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = sampleBeta(rng, a);
      if (!(x >= 0 && x <= 1)) outside++;
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    const v = s2 / n - mean * mean;
    const want = 1 / (4 * (2 * a + 1));
    t.equal(outside, 0, `α ${a}: all in [0, 1]`);
    t.ok(Math.abs(mean - 0.5) < 0.01, `α ${a}: mean ${mean.toFixed(4)}`);
    t.ok(Math.abs(v - want) < 0.06 * want, `α ${a}: variance ${v.toFixed(4)} vs ${want.toFixed(4)}`);
  }
});

t.test('cutmixBox: sides ⌊H√(1−λ)⌋ centred at a uniform pixel, clipped', async (t) => {
  const rng = new Rng(1);
  const bad: string[] = [];
  let full = 0;
  for (let i = 0; i < 200; i++) {
    const lam = rng.next();
    const b = cutmixBox(rng, 32, 32, lam);
    const half = Math.floor(32 * Math.sqrt(1 - lam)) >> 1;
    if (!(b.y0 >= 0 && b.y1 <= 32 && b.x0 >= 0 && b.x1 <= 32 && b.y0 <= b.y1 && b.x0 <= b.x1))
      bad.push(JSON.stringify(b));
    if (b.y1 - b.y0 > 2 * half || b.x1 - b.x0 > 2 * half) bad.push(`too large: λ ${lam} ${JSON.stringify(b)}`);
    if (b.y1 - b.y0 === 2 * half && b.x1 - b.x0 === 2 * half) full++;
  }
  t.same(bad, []);
  t.ok(full > 20, `unclipped boxes have the full size (${full} of 200)`);
});

t.test('CutMix pastes the partner (reversed batch) inside the box and corrects λ to the area', async (t) => {
  const n = 6;
  const src = batch(n, 2);
  const dst = new Uint8Array(src.length);
  const labels = [0, 1, 2, 3, 0, 1];
  let seen = 0;
  for (let seed = 0; seen < 5 && seed < 100; seed++) {
    const m = mixBatch(src, dst, labels, n, H, W, opts({ cutmix: 1 }), new Rng(seed));
    t.equal(m.kind, 'cutmix');
    const b = m.box!;
    const area = (b.y1 - b.y0) * (b.x1 - b.x0);
    if (area === 0) continue;
    seen++;
    t.equal(m.lam, 1 - area / (H * W), 'λ = 1 − box area');
    for (let i = 0; i < n; i++) {
      const j = n - 1 - i;
      let bad = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let c = 0; c < 3; c++) {
            const inside = y >= b.y0 && y < b.y1 && x >= b.x0 && x < b.x1;
            const o = (y * W + x) * 3 + c;
            if (dst[i * PER + o] !== src[(inside ? j : i) * PER + o]) bad++;
          }
      t.equal(bad, 0, `image ${i}: box from image ${j}, the rest its own`);
      const row = Array.from(m.targets.subarray(i * K, (i + 1) * K));
      const want = [0, 0, 0, 0];
      want[labels[i]!]! += m.lam;
      want[labels[j]!]! += 1 - m.lam;
      t.ok(
        row.every((v, k) => Math.abs(v - want[k]!) < 1e-6),
        `image ${i}: targets λ·own + (1 − λ)·partner`,
      );
    }
  }
  t.equal(seen, 5);
});

t.test('MixUp rounds λ·own + (1 − λ)·partner; targets carry label smoothing and sum to 1', async (t) => {
  const n = 5;
  const src = batch(n, 3);
  const dst = new Uint8Array(src.length);
  const labels = [3, 1, 2, 0, 1];
  const m = mixBatch(src, dst, labels, n, H, W, opts({ mixup: 0.4, smoothing: 0.2 }), new Rng(9));
  t.equal(m.kind, 'mixup');
  t.ok(m.lam > 0 && m.lam < 1);
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let k = 0; k < PER; k++)
      worst = Math.max(
        worst,
        Math.abs(dst[i * PER + k]! - (m.lam * src[i * PER + k]! + (1 - m.lam) * src[(n - 1 - i) * PER + k]!)),
      );
  t.ok(worst <= 0.5, `pixels within rounding (${worst})`);
  for (let i = 0; i < n; i++) {
    const row = m.targets.subarray(i * K, (i + 1) * K);
    t.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'row sums to 1');
    t.ok(Math.min(...row) >= 0.2 / K - 1e-7, 'smoothing floor ε/K');
  }
  const t1 = mixTargets([2], 1, { smoothing: 0.1, numClasses: K }, 1);
  t.same(Array.from(t1), [0.025, 0.025, 0.925, 0.025].map(Math.fround), '(1−ε)·onehot + ε/K');
});

t.test('both on: about half the batches CutMix; prob 0 leaves the batch alone; same stream → same batch', async (t) => {
  const n = 4;
  const src = batch(n, 4);
  const dst = new Uint8Array(src.length);
  const counts = { none: 0, mixup: 0, cutmix: 0 };
  for (let s = 0; s < 2000; s++)
    counts[
      mixBatch(src, dst, [0, 1, 2, 3], n, H, W, opts({ mixup: 0.8, cutmix: 1, prob: 0.8 }), mixRng(1, 0, s)).kind
    ]++;
  t.comment(JSON.stringify(counts));
  t.ok(Math.abs(counts.none / 2000 - 0.2) < 0.03, 'unmixed ≈ 1 − prob');
  t.ok(Math.abs(counts.cutmix / (counts.cutmix + counts.mixup) - 0.5) < 0.04, 'CutMix ≈ half of the mixed batches');
  const m = mixBatch(src, dst, [0, 1, 2, 3], n, H, W, opts({ mixup: 1, prob: 0 }), new Rng(1));
  t.equal(m.kind, 'none');
  t.same(dst, src);
  const a = new Uint8Array(src.length);
  const b = new Uint8Array(src.length);
  const ra = mixBatch(src, a, [0, 1, 2, 3], n, H, W, opts({ mixup: 0.8, cutmix: 1 }), mixRng(7, 3, 11));
  const rb = mixBatch(src, b, [0, 1, 2, 3], n, H, W, opts({ mixup: 0.8, cutmix: 1 }), mixRng(7, 3, 11));
  t.same(a, b);
  t.same(ra.targets, rb.targets);
});

t.test('BatchLoader mixes in the worker and without augmentation alike, from (seed, epoch, step)', async (t) => {
  const count = 32;
  const images = batch(count, 6).subarray(0, count * PER);
  const ds = {
    images: Uint8Array.from(batch(count, 6)),
    labels: Uint8Array.from({ length: count }, (_, i) => i % K),
    count,
    height: H,
    width: W,
    classes: ['a', 'b', 'c', 'd'],
  };
  t.equal(images.length, count * PER);
  const mix = opts({ mixup: 0.8, cutmix: 1, smoothing: 0.1 });
  const identity = { pad: 0, flip: false, cutout: 0, randAugment: null };
  const run = async (augment: typeof identity | null, start = 0) => {
    const l = new BatchLoader({ dataset: ds, batchSize: 8, shuffle: true, dropLast: true, augment, seed: 3, mix });
    const out = [];
    for await (const b of l.epoch(1, start)) out.push(b);
    await l.close();
    return out;
  };
  const worker = await run(identity);
  const main = await run(null);
  t.equal(worker.length, 4);
  for (let s = 0; s < 4; s++) {
    t.same(worker[s]!.pixels, main[s]!.pixels, `step ${s}: worker == main-thread mixing`);
    t.same(worker[s]!.targets, main[s]!.targets);
    t.equal(worker[s]!.targets!.length, 8 * K);
  }
  t.ok(
    worker.some((b) => b.mixKind !== 'none'),
    'some batches are mixed',
  );
  const resumed = await run(identity, 2);
  t.same(resumed[0]!.pixels, worker[2]!.pixels, 'a resumed epoch reproduces the batch');
  t.same(resumed[0]!.targets, worker[2]!.targets);
});
