// A plain timm MlpMixer state_dict saved by PyTorch as safetensors imports through loadCheckpoint and exports to ONNX with matching logits.
import { join } from 'node:path';
import t from 'tap';
import { readSafetensors } from '../../src/formats/safetensors.js';
import { buildInferenceModel, defaultSpec, type PresetName, paramTable, preset } from '../../src/model/index.js';
import { Session } from '../../src/runtime/session.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { Rng } from '../../src/util/rng.js';
import { fmt, maxRelError, randomPixels, requirePython, runTorch, toNumbers } from '../fixtures/oracle/torch.js';

const PRESETS: PresetName[] = ['tiny', 'cifar10-s4'];
const BATCH = 4;
const TOL = 1e-5;

if (requirePython(t)) {
  t.test('timm state_dict import and export', async (t) => {
    const rng = new Rng(700);
    const jobs = PRESETS.map((name, i) => ({
      mode: 'timm_state_dict' as const,
      spec: defaultSpec(preset(name)),
      pixels: randomPixels(rng, BATCH, preset(name).image_size),
      batch: BATCH,
      seed: 710 + i,
    }));
    const ref = await runTorch(t.testdir(), jobs);

    for (const [i, name] of PRESETS.entries()) {
      const file = join(ref[i]!.dir, 'state_dict.safetensors');
      const raw = await readSafetensors(file);
      t.same(raw.metadata, {}, `${name}: the torch file carries no metadata`);
      t.same(
        [...raw.tensors.keys()],
        paramTable(preset(name)).map((p) => p.name),
        `${name}: timm state_dict keys, in timm order`,
      );

      const ckpt = await loadCheckpoint(file);
      t.same(ckpt.spec.config, preset(name), `${name}: config inferred from the state_dict shapes`);
      t.equal(ckpt.expAvg, null, `${name}: no optimizer state`);
      const wrong = paramTable(ckpt.spec.config)
        .filter((p) => ckpt.params.get(p.name)?.length !== p.shape.reduce((a, b) => a * b, 1))
        .map((p) => `${p.name} has ${String(ckpt.params.get(p.name)?.length)} values for [${p.shape.join(',')}]`);
      t.same(wrong, [], `${name}: every imported parameter has exactly its shape's values`);
      if (wrong.length > 0) {
        t.fail(`${name}: not exported, the imported parameters are wrong (${wrong[0]}, …)`);
        continue;
      }

      const size = ckpt.spec.config.image_size;
      const session = await Session.create(buildInferenceModel(ckpt.spec, ckpt.params), { threads: 1 });
      const out = await session.run(
        { pixels: { dtype: 'uint8', dims: [BATCH, size, size, 3], data: jobs[i]!.pixels } },
        ['logits'],
      );
      await session.release();
      const err = maxRelError(out['logits']!.data as Float32Array, toNumbers(ref[i]!.out.get('logits')!));
      t.comment(`timm import ${name} batch ${BATCH}: logits max rel error ${fmt(err)}`);
      t.ok(err < TOL, `${name}: exported model's logits match the torch model on the same weights (${fmt(err)})`);
    }
  });
}
