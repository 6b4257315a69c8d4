// AutoAugment (CIFAR-10 policy) and TrivialAugmentWide: policy table, magnitude mapping, determinism, use in augmentBatch.
import t from 'tap';
import { applyOp, augmentBatch, RA_FILL, RA_OPS } from '../../src/data/augment.js';
import { autoAugment, CIFAR10_POLICY, invert, trivialAugment } from '../../src/data/autoaugment.js';
import { Rng } from '../../src/util/rng.js';

const H = 32;
const W = 32;
const PER = H * W * 3;

function image(seed: number): Uint8Array {
  const r = new Rng(seed);
  return Uint8Array.from({ length: PER }, () => r.int(256));
}

/** An Rng whose int() and next() return scripted values (to choose the op, bin and sign). */
function scripted(ints: number[], nexts: number[]): Rng {
  return { int: () => ints.shift()!, next: () => nexts.shift()! } as unknown as Rng;
}

t.test(
  'the CIFAR-10 policy: 25 sub-policies of two known ops, magnitude bins in 0..9 where the op has one',
  async (t) => {
    t.equal(CIFAR10_POLICY.length, 25);
    const noMagnitude = new Set(['invert', 'autocontrast', 'equalize']);
    for (const sub of CIFAR10_POLICY) {
      t.equal(sub.length, 2);
      for (const [name, prob, bin] of sub) {
        t.ok(name === 'invert' || Object.hasOwn(RA_OPS, name), `${name} is an op`);
        t.ok(prob >= 0 && prob <= 1);
        t.ok(
          noMagnitude.has(name) ? bin === null : Number.isInteger(bin) && bin! >= 0 && bin! <= 9,
          `${name} bin ${bin}`,
        );
      }
    }
  },
);

t.test('AutoAugment applies a sub-policy op with probability, at level bin/9', async (t) => {
  const src = image(1);
  // Sub-policy 1: rotate (p 0.7, bin 2) then translateX (p 0.3, bin 9). Draws: 0.5 < 0.7 → rotate, sign draw 0.9 → +;
  // 0.2 < 0.3 → translateX, sign draw 0.1 → −.
  const got = src.slice();
  autoAugment(got, H, W, scripted([1], [0.5, 0.9, 0.2, 0.1]));
  const want = src.slice();
  applyOp('rotate', want, H, W, (30 * 2) / 9, 1);
  applyOp('translateX', want, H, W, 30, -1);
  t.same(got, want);
  // Both probabilities missed: unchanged.
  const same = src.slice();
  autoAugment(same, H, W, scripted([1], [0.95, 0.95]));
  t.same(same, src);
  // Sub-policy 0: invert (p 0.1) fires.
  const inv = src.slice();
  autoAugment(inv, H, W, scripted([0], [0.05, 0.99]));
  t.same(
    inv,
    src.map((v) => 255 - v),
  );
  const twice = src.slice();
  invert(twice);
  invert(twice);
  t.same(twice, src);
});

t.test('TrivialAugmentWide: maximum bins reach the wide ranges (translate 32 px, solarize everything)', async (t) => {
  const ops = Object.keys(RA_OPS);
  const src = image(2);
  const tx = src.slice();
  trivialAugment(tx, H, W, scripted([ops.indexOf('translateX'), 30], [0.9]));
  t.ok(
    tx.every((v) => v === RA_FILL),
    'a 32-pixel shift empties a 32-pixel image',
  );
  const sol = src.slice();
  trivialAugment(sol, H, W, scripted([ops.indexOf('solarize'), 30], []));
  t.same(
    sol,
    src.map((v) => 255 - v),
  );
  const rot = src.slice();
  trivialAugment(rot, H, W, scripted([ops.indexOf('rotate'), 15], [0.9]));
  const want = src.slice();
  RA_OPS['rotate']![0](want, H, W, 67.5 / 30, 1, new Uint8Array(PER)); // bin 15 of 31 → 67.5° = 2.25 × RandAugment's 30°
  t.same(rot, want, 'bin 15 rotates by 67.5°');
  const rot30 = src.slice();
  applyOp('rotate', rot30, H, W, 30, 1);
  t.not(Buffer.compare(Buffer.from(rot), Buffer.from(rot30)), 0, "beyond RandAugment's 30°");
  const ident = src.slice();
  trivialAugment(ident, H, W, scripted([ops.indexOf('identity'), 7], []));
  t.same(ident, src);
});

t.test('policies are deterministic for a seed and vary across seeds; augmentBatch runs them before crop', async (t) => {
  for (const policy of ['autoaugment', 'trivialaugment'] as const) {
    const n = 4;
    const src = new Uint8Array(n * PER);
    for (let i = 0; i < n; i++) src.set(image(10 + i), i * PER);
    const opts = { pad: 0, flip: false, cutout: 0, randAugment: null, policy };
    const a = new Uint8Array(src.length);
    const b = new Uint8Array(src.length);
    augmentBatch(src, a, n, H, W, opts, new Rng(3));
    augmentBatch(src, b, n, H, W, opts, new Rng(3));
    t.same(a, b, `${policy}: same seed, same batch`);
    const outs = new Set<string>();
    for (let s = 0; s < 12; s++) {
      const c = new Uint8Array(src.length);
      augmentBatch(src, c, n, H, W, opts, new Rng(s));
      outs.add(Buffer.from(c).toString('hex'));
    }
    t.ok(outs.size > 8, `${policy}: seeds give different batches (${outs.size} of 12)`);
  }
});
