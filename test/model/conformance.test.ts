// Conformance: our inference model's logits vs the PyTorch timm MlpMixer reference (float64), random weights in every parameter.
import t from 'tap';
import { buildInferenceModel, defaultSpec, type PresetName, preset, randomParams } from '../../src/model/index.js';
import { Session } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';
import {
  fmt,
  maxRelError,
  randomPixels,
  requirePython,
  runTorch,
  type TorchJob,
  toNumbers,
} from '../fixtures/oracle/torch.js';

const PRESETS: PresetName[] = ['tiny', 'cifar10-s4'];
// 1 and 7 take the default graph's untiled branch, 16 its tiled one (channel tiles from batch 16).
const BATCHES = [1, 7, 16];
const TOL = 1e-5;

if (requirePython(t)) {
  t.test('logits match the torch reference', async (t) => {
    const cases: { name: PresetName; batch: number; logits: Float32Array; job: TorchJob }[] = [];
    for (const [i, name] of PRESETS.entries()) {
      const spec = defaultSpec(preset(name));
      const params = randomParams(spec.config, 100 + i);
      // The default graph (an If on the batch size between tiled and untiled blocks), checked against torch; the
      // same network with its channel MLPs always on 4 row blocks, or never tiled, must give the same logits.
      const session = await Session.create(buildInferenceModel(spec, params), { threads: 1 });
      const tiled = await Session.create(buildInferenceModel(spec, params, {}, { channelTiles: 4 }), { threads: 1 });
      const untiled = await Session.create(buildInferenceModel(spec, params, {}, { channelTiles: 1 }), { threads: 1 });
      const rng = new Rng(200 + i);
      for (const batch of BATCHES) {
        const pixels = randomPixels(rng, batch, spec.config.image_size);
        const size = spec.config.image_size;
        const out = await session.run({ pixels: { dtype: 'uint8', dims: [batch, size, size, 3], data: pixels } }, [
          'logits',
        ]);
        t.same(out['logits']!.dims, [batch, spec.config.num_classes], `${name} batch ${batch}: logits shape`);
        for (const [what, other] of [
          ['4 channel tiles', tiled],
          ['untiled blocks', untiled],
        ] as const) {
          const o = await other.run({ pixels: { dtype: 'uint8', dims: [batch, size, size, 3], data: pixels } }, [
            'logits',
          ]);
          const dt = maxRelError(o['logits']!.data as Float32Array, Array.from(out['logits']!.data as Float32Array));
          t.ok(dt < 1e-6, `${name} batch ${batch}: ${what} give the same logits (max rel diff ${fmt(dt)})`);
        }
        cases.push({
          name,
          batch,
          logits: out['logits']!.data as Float32Array,
          job: { mode: 'logits', spec, params, pixels, batch },
        });
      }
      await session.release();
      await tiled.release();
      await untiled.release();
    }

    const ref = await runTorch(
      t.testdir(),
      cases.map((c) => c.job),
    );
    for (const [i, c] of cases.entries()) {
      const err = maxRelError(c.logits, toNumbers(ref[i]!.out.get('logits')!));
      t.comment(`conformance ${c.name} batch ${c.batch}: max rel error ${fmt(err)} (max|ours − torch| / max|torch|)`);
      t.ok(err < TOL, `${c.name} batch ${c.batch}: logits match torch within ${TOL} (got ${fmt(err)})`);
    }
  });
}
