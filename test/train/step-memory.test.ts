// The batch-128 train step of cifar10-s4 stays well under 2 GB of RSS (its sessions run without ORT's memory pattern).
import t from 'tap';
import { defaultSpec, initParams, preset } from '../../src/model/index.js';
import { Stepper, zerosLike } from '../../src/train/stepper.js';

t.test('fused batch-128 steps of cifar10-s4 peak under 1.3 GB RSS', async (t) => {
  const spec = defaultSpec(preset('cifar10-s4'));
  const c = spec.config;
  const batch = 128;
  const st = await Stepper.create(spec, { labelSmoothing: 0.1 }, 'fused', 1);
  const p = initParams(c, 0);
  const state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
  const pixels = Uint8Array.from({ length: batch * c.image_size * c.image_size * 3 }, (_, i) => (i * 131) % 256);
  const labels = BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % c.num_classes));
  const losses: number[] = [];
  for (let step = 1; step <= 3; step++)
    losses.push((await st.step({ state, pixels, labels, size: batch, learningRate: 1e-3, step })).loss);
  await st.release();
  t.ok(
    losses.every((l) => Number.isFinite(l)),
    `losses ${losses.map((l) => l.toFixed(3)).join(', ')}`,
  );
  // With ORT's memory pattern on, this test's process peaks at about 1.6 GB; without it, at about 1.0 GB.
  const peakMb = process.resourceUsage().maxRSS / 1024;
  t.ok(peakMb < 1300, `peak RSS ${peakMb.toFixed(0)} MB`);
});
