// Data-parallel steps (batch slices in single-threaded worker sessions) give the one-session step: loss, logits, weights.
import t from 'tap';
import { defaultSpec, paramTable, preset, randomParams } from '../../src/model/index.js';
import { serializeModel } from '../../src/onnx/index.js';
import { artifactMetadata, trainingGraph } from '../../src/train/artifacts.js';
import { DataParallel, MAX_WORKERS, rowSlices } from '../../src/train/data-parallel.js';
import { dropPathFeeds } from '../../src/train/droppath.js';
import { type OptimState, Stepper, zerosLike } from '../../src/train/stepper.js';
import { Rng } from '../../src/util/rng.js';
import { normRelError, randomLabels, randomPixels } from '../fixtures/oracle/torch.js';

t.test('rowSlices: nearly equal, non-empty, in order, covering every row', async (t) => {
  t.same(rowSlices(128, 2), [
    [0, 64],
    [64, 128],
  ]);
  t.same(rowSlices(7, 2), [
    [0, 4],
    [4, 7],
  ]);
  t.same(rowSlices(10, 4), [
    [0, 3],
    [3, 6],
    [6, 8],
    [8, 10],
  ]);
  t.same(rowSlices(1, 4), [[0, 1]], 'fewer rows than workers: one slice per row');
  t.same(rowSlices(3, 1), [[0, 3]]);
});

const spec = defaultSpec(preset('tiny'));
const c = spec.config;

t.test('worker count: one per thread, at most MAX_WORKERS', async (t) => {
  const model = serializeModel(trainingGraph(spec, { labelSmoothing: 0 }), {
    metadata: artifactMetadata(spec, { labelSmoothing: 0 }),
  });
  for (const [threads, workers] of [
    [3, 3],
    [MAX_WORKERS + 4, MAX_WORKERS],
  ] as const) {
    const dp = await DataParallel.create(model, threads);
    t.equal(dp.workers, workers, `${threads} threads: ${workers} workers`);
    await dp.close();
  }
});

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}

const state = (seed: number): OptimState => {
  const p = randomParams(c, seed, 2);
  return { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
};

for (const [name, soft, dropPath, sizes] of [
  ['hard labels, odd and tiny batches', false, 0, [7, 8, 1]],
  ['soft targets with drop-path masks', true, 0.5, [6, 5]],
] as const) {
  t.test(`parallel = separate over 3 steps: ${name}`, async (t) => {
    const o = { labelSmoothing: 0.1, softTargets: soft, dropPath };
    const ref = await Stepper.create(spec, o, 'separate', 1);
    const par = await Stepper.create(spec, o, 'parallel', 3);
    t.teardown(async () => {
      await ref.release();
      await par.release();
    });
    const a = state(41);
    const b = state(41);
    const rng = new Rng(42);
    for (const [i, n] of sizes.entries()) {
      const pixels = randomPixels(rng, n, c.image_size);
      const labels = randomLabels(rng, n, c.num_classes);
      const targets = new Float32Array(n * c.num_classes).map(() => rng.next());
      for (let r = 0; r < n; r++) {
        const row = targets.subarray(r * c.num_classes, (r + 1) * c.num_classes);
        const sum = row.reduce((s, v) => s + v, 0);
        row.forEach((v, k) => {
          row[k] = v / sum;
        });
      }
      const masks = dropPath ? dropPathFeeds(c.depth, dropPath, n, 1, 0, i) : undefined;
      const batch = {
        pixels,
        labels,
        size: n,
        learningRate: 1e-2,
        step: i + 1,
        targets: soft ? targets : undefined,
        extraFeeds: masks,
      };
      const ra = await ref.step({ state: a, ...batch });
      const rb = await par.step({ state: b, ...batch });
      t.ok(
        Math.abs(ra.loss - rb.loss) <= 1e-5 * Math.abs(ra.loss),
        `step ${i + 1} (batch ${n}): loss ${ra.loss} vs ${rb.loss}`,
      );
      t.equal(rb.logits.length, n * c.num_classes, 'logits for every row');
      // The first step's logits come from the same weights; later ones from weights one or two Adam steps apart.
      const tol = i === 0 ? 1e-5 : 1e-3;
      t.ok(
        maxRelDiff(ra.logits, rb.logits) < tol,
        `logits in row order (${maxRelDiff(ra.logits, rb.logits).toExponential(1)})`,
      );
    }
    // Over all parameters at once: a bias whose gradient is zero up to rounding (mlp_tokens.fc2.bias, see the gradient
    // tests) has moments made of noise, and Adam moves any weight with a ~0 gradient by about ±lr either way.
    for (const m of ['params', 'expAvg', 'expAvgSq'] as const) {
      // mlp_tokens.fc2.bias has an analytically zero gradient: Adam turns its rounding noise into ±lr steps.
      const names = paramTable(c)
        .map((p) => p.name)
        .filter((n) => !n.endsWith('mlp_tokens.fc2.bias'));
      const all = (s: OptimState) => Float64Array.from(names.flatMap((n) => [...s[m].get(n)!]));
      const e = normRelError(all(b), all(a));
      t.ok(e < 1e-4, `${m} after 3 steps: norm-relative difference ${e.toExponential(2)}`);
    }
  });
}
