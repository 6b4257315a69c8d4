// The soft-target training graph (MixUp / CutMix) vs torch cross_entropy with probability targets, and vs the hard-label graph.
import t from 'tap';
import { DEFAULT_ADAMW } from '../../src/autodiff/index.js';
import { mixTargets } from '../../src/data/mix.js';
import { defaultSpec, paramTable, preset, randomParams } from '../../src/model/index.js';
import { serializeModel } from '../../src/onnx/index.js';
import { type HostTensor, Session } from '../../src/runtime/session.js';
import { buildArtifacts, trainStepGraph } from '../../src/train/artifacts.js';
import { Rng } from '../../src/util/rng.js';
import {
  fmt,
  maxRelError,
  normRelError,
  randomLabels,
  randomPixels,
  requirePython,
  runTorch,
  toNumbers,
} from '../fixtures/oracle/torch.js';

const BATCH = 8;
const TOL = 1e-4;
const SMOOTHING = 0.1;

if (requirePython(t)) {
  t.test('soft-target loss and gradients match torch cross_entropy with probability targets', async (t) => {
    const spec = defaultSpec(preset('tiny'));
    const c = spec.config;
    const K = c.num_classes;
    const table = paramTable(c);
    const params = randomParams(c, 310, 2);
    const rng = new Rng(311);
    const pixels = randomPixels(rng, BATCH, c.image_size);
    const labels = randomLabels(rng, BATCH, K);
    // MixUp-style targets without smoothing (torch gets ε as label_smoothing), and ours with ε folded in by the trainer.
    const lam = 0.37;
    const raw = mixTargets(Array.from(labels, Number), BATCH, { smoothing: 0, numClasses: K }, lam);
    const ours = mixTargets(Array.from(labels, Number), BATCH, { smoothing: SMOOTHING, numClasses: K }, lam);

    const feeds: Record<string, HostTensor> = {
      pixels: { dtype: 'uint8', dims: [BATCH, c.image_size, c.image_size, 3], data: pixels },
      targets: { dtype: 'float32', dims: [BATCH, K], data: ours },
    };
    for (const p of table) feeds[p.name] = { dtype: 'float32', dims: p.shape, data: params.get(p.name)! };
    const art = buildArtifacts(spec, { labelSmoothing: SMOOTHING, softTargets: true });
    const training = await Session.create(art.training, { threads: 1 });
    const out = await training.run(feeds);
    await training.release();
    const evalS = await Session.create(art.eval, { threads: 1 });
    const ev = await evalS.run(feeds);
    await evalS.release();

    const [ref] = await runTorch(t.testdir(), [
      { mode: 'grads', spec, params, pixels, targets: raw, batch: BATCH, labelSmoothing: SMOOTHING },
    ]);
    const r = ref!.out;
    const loss = (out['loss']!.data as Float32Array)[0]!;
    const refLoss = toNumbers(r.get('loss')!)[0]!;
    const lossErr = Math.abs(loss - refLoss) / Math.abs(refLoss);
    t.comment(`loss ours ${loss} torch ${refLoss}, rel error ${fmt(lossErr)}`);
    t.ok(lossErr < TOL, `loss matches torch (rel error ${fmt(lossErr)})`);
    t.ok(
      Math.abs((ev['loss']!.data as Float32Array)[0]! - loss) <= 1e-6 * Math.abs(loss),
      'eval graph loss equals training loss',
    );
    let worst = { name: '', err: 0 };
    for (const p of table) {
      const want = toNumbers(r.get(`${p.name}_grad`)!);
      let norm2 = 0;
      for (let i = 0; i < want.length; i++) norm2 += want[i]! ** 2;
      if (norm2 < 1e-20) continue; // analytically zero (see gradients.test.ts)
      const err = normRelError(out[`${p.name}_grad`]!.data as Float32Array, want);
      if (err > worst.err) worst = { name: p.name, err };
    }
    t.comment(`worst gradient ${worst.name} ‖ours − torch‖/‖torch‖ ${fmt(worst.err)}`);
    t.ok(worst.err < TOL, `every gradient matches torch within ${TOL}`);
  });
}

t.test('soft targets = smoothed one-hot reproduce the hard-label fused step', async (t) => {
  const spec = defaultSpec(preset('tiny'));
  const c = spec.config;
  const K = c.num_classes;
  const table = paramTable(c);
  const params = randomParams(c, 320, 2);
  const rng = new Rng(321);
  const pixels = randomPixels(rng, BATCH, c.image_size);
  const labels = randomLabels(rng, BATCH, K);
  const feeds: Record<string, HostTensor> = {
    pixels: { dtype: 'uint8', dims: [BATCH, c.image_size, c.image_size, 3], data: pixels },
    learning_rate: { dtype: 'float32', dims: [], data: Float32Array.of(1e-3) },
    step: { dtype: 'int64', dims: [], data: BigInt64Array.of(1n) },
  };
  for (const p of table) {
    feeds[p.name] = { dtype: 'float32', dims: p.shape, data: params.get(p.name)! };
    feeds[`${p.name}.exp_avg`] = {
      dtype: 'float32',
      dims: p.shape,
      data: new Float32Array(params.get(p.name)!.length),
    };
    feeds[`${p.name}.exp_avg_sq`] = {
      dtype: 'float32',
      dims: p.shape,
      data: new Float32Array(params.get(p.name)!.length),
    };
  }
  const run = async (soft: boolean) => {
    const s = await Session.create(
      serializeModel(trainStepGraph(spec, { labelSmoothing: SMOOTHING, adamw: DEFAULT_ADAMW, softTargets: soft })),
      { threads: 1 },
    );
    const extra: Record<string, HostTensor> = soft
      ? {
          targets: {
            dtype: 'float32',
            dims: [BATCH, K],
            data: mixTargets(Array.from(labels, Number), BATCH, { smoothing: SMOOTHING, numClasses: K }, 1),
          },
        }
      : { labels: { dtype: 'int64', dims: [BATCH], data: labels } };
    const o = await s.run({ ...feeds, ...extra });
    await s.release();
    return o;
  };
  const hard = await run(false);
  const soft = await run(true);
  t.ok(
    Math.abs((hard['loss']!.data as Float32Array)[0]! - (soft['loss']!.data as Float32Array)[0]!) < 1e-6,
    'same loss',
  );
  let worst = 0;
  for (const p of table)
    worst = Math.max(
      worst,
      maxRelError(soft[`${p.name}.updated`]!.data as Float32Array, hard[`${p.name}.updated`]!.data as Float32Array),
    );
  t.comment(`max rel difference of updated parameters ${fmt(worst)}`);
  t.ok(worst < 1e-6, 'same updated parameters');
});
