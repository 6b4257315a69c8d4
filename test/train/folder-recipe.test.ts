// Folder training combined with the recipe: frozen layers + CutMix/MixUp + drop path + EMA on a real image folder with a partial last batch, resumed exactly.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { defaultSpec, initParams, paramTable, preset } from '../../src/model/index.js';
import { trainingGraph, trainStepGraph } from '../../src/train/artifacts.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { frozenParams } from '../../src/train/freeze.js';
import { applyCheckpointRecipe } from '../../src/train/recipe.js';
import { type TrainOptions, train } from '../../src/train/trainer.js';
import { makeImageFolder } from '../fixtures/image-folder.js';

const spec = defaultSpec(preset('tiny'));

t.test(
  'training and fused graphs with frozen params, soft targets and drop path: the right inputs and outputs',
  async (t) => {
    const frozen = frozenParams(spec.config, 'stem,blocks:1');
    const o = { labelSmoothing: 0.1, frozen, softTargets: true, dropPath: 0.2 };
    const trainable = paramTable(spec.config).filter((p) => !frozen.has(p.name));
    for (const g of [trainingGraph(spec, o), trainStepGraph(spec, o)]) {
      const ins = g.inputs.map((v) => v.name);
      const outs = g.outputs.map((v) => v.name);
      t.ok(ins.includes('targets') && !ins.includes('labels'), `${g.name}: soft targets replace labels`);
      // tiny has 2 blocks: rates 0 and 0.2, so only block 1 has mask inputs (a frozen block 0 has none anyway).
      t.same(
        ins.filter((n) => n.startsWith('drop_path.')).sort(),
        ['drop_path.1.channels', 'drop_path.1.tokens'],
        `${g.name}: drop-path masks`,
      );
      t.ok(
        ins.includes('stem.proj.weight') && ins.includes('blocks.0.norm1.weight'),
        `${g.name}: frozen weights still feed the forward pass`,
      );
      t.notOk(
        outs.some((n) => /^(stem\.|blocks\.0\.)/.test(n)),
        `${g.name}: no gradient or update for frozen weights`,
      );
      t.notOk(
        ins.some((n) => /^(stem\.|blocks\.0\.).*\.exp_avg/.test(n)),
        `${g.name}: no optimizer state for frozen weights`,
      );
    }
    const fused = trainStepGraph(spec, o);
    t.equal(
      fused.outputs.filter((v) => v.name.endsWith('.updated')).length,
      3 * trainable.length,
      'fused: updates for the trainable ones only',
    );
    t.equal(trainingGraph(spec, o).outputs.filter((v) => v.name.endsWith('_grad')).length, trainable.length);
  },
);

t.test(
  'a folder run with --freeze, CutMix + MixUp, drop path and EMA resumes bit for bit; validation is named as such',
  async (t) => {
    const dir = t.testdir({ a: {}, b: {}, cache: {} });
    const root = path.join(dir, 'photos');
    // 7 images per class: the stratified split keeps 1 per class for validation, 18 train at batch 5 = 4 steps, the last of 3 (odd).
    await makeImageFolder(root, { perClass: 7 });
    const base = (outDir: string): TrainOptions => ({
      preset: 'tiny',
      outDir,
      epochs: 2,
      batchSize: 5,
      lr: 3e-3,
      weightDecay: 0.05,
      warmupEpochs: 0.5,
      minLrRatio: 0.1,
      labelSmoothing: 0.1,
      seed: 3,
      data: root,
      dataOptions: { cacheDir: path.join(dir, 'cache') },
      resume: false,
      threads: 1,
      mode: 'fused',
      augment: { pad: 4, flip: true, cutout: 0, randAugment: null, policy: null },
      mixup: 0.8,
      cutmix: 1.0,
      mixProb: 1,
      ema: 0.9,
      dropPath: 0.2,
      freeze: 'stem,blocks:1',
      log: () => {},
    });
    const lines: string[] = [];
    const straight = await train({ ...base(path.join(dir, 'a')), log: (l) => lines.push(l) });
    t.equal(straight.progress.step, 8, '18 images at batch 5: 4 steps per epoch including the partial one');
    const out = lines.join('\n');
    t.match(out, /\| validation loss [\d.]+ acc [\d.]+% \| EMA validation acc/);
    t.match(out, /done: validation accuracy [\d.]+% with the EMA weights/);
    t.notMatch(out, /test (accuracy|loss)/);
    const m = readFileSync(path.join(dir, 'a', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    t.equal(m.length, 2);
    t.equal(m[1]!['test_acc'], null);
    t.type(m[1]!['val_acc'], 'number');
    t.type(m[1]!['ema_val_acc'], 'number');
    t.equal(straight.final!.count, 3, 'final figures on the folder validation split');
    t.match(readFileSync(path.join(dir, 'a', 'report.md'), 'utf8'), /\*\*Validation accuracy: [\d.]+%\*\* on 3 images/);

    // Frozen tensors: exactly the initial weights, in the parameters and in the EMA, with all-zero moments.
    const frozen = frozenParams(spec.config, 'stem,blocks:1');
    const init = initParams({ ...spec.config, num_classes: 3 }, 3);
    for (const name of frozen) {
      t.same(straight.state.params.get(name), init.get(name), `${name} unchanged`);
      t.same(straight.ema!.get(name), init.get(name), `${name} EMA unchanged`);
      t.ok(
        straight.state.expAvgSq.get(name)!.every((x) => x === 0),
        `${name} has no optimizer state`,
      );
    }
    t.notSame(straight.state.params.get('head.weight'), init.get('head.weight'), 'trainable weights moved');

    const half = await train({ ...base(path.join(dir, 'b')), stopAfterSteps: 6 });
    t.equal(half.interrupted, true);
    const ck = await loadCheckpoint(path.join(dir, 'b', 'checkpoint.safetensors'));
    t.equal(ck.progress.stepInEpoch, 2, 'stopped inside the second epoch');
    t.equal(ck.hyper['freeze'], 'stem,blocks:1', 'the checkpoint records --freeze');
    t.equal(ck.hyper['cutmix'], 1);
    const resumed = await train({ ...base(path.join(dir, 'b')), resume: true });
    t.equal(resumed.progress.step, 8);
    for (const [name, p] of straight.state.params) {
      if (
        !Buffer.from(p.buffer, p.byteOffset, p.byteLength).equals(Buffer.from(resumed.state.params.get(name)!.buffer))
      )
        t.fail(`${name} differs after resume`);
      const e = straight.ema!.get(name)!;
      if (!Buffer.from(e.buffer, e.byteOffset, e.byteLength).equals(Buffer.from(resumed.ema!.get(name)!.buffer)))
        t.fail(`EMA ${name} differs after resume`);
    }
    t.pass('parameters and EMA bitwise equal to the straight run');

    await t.rejects(
      train({ ...base(path.join(dir, 'b')), valSplit: 4 }),
      /--val-split is for CIFAR-10/,
      'image folders refuse --val-split',
    );
  },
);

t.test('resume checks: --freeze can be overridden, the model shape and --init cannot', async (t) => {
  const hyper = { preset: 'tiny', freeze: 'stem', config: null, init: null, resetHead: null, lr: 0.001 };
  const o: Record<string, unknown> = { preset: 'tiny', freeze: 'stem,blocks:1', lr: 0.001 };
  t.throws(
    () => applyCheckpointRecipe(hyper, { ...o }, new Set(['freeze']), false),
    /freeze "stem" → "stem,blocks:1".*--override/,
  );
  const diffs = applyCheckpointRecipe(hyper, o, new Set(['freeze']), true);
  t.same(diffs, [{ key: 'freeze', checkpoint: 'stem', given: 'stem,blocks:1' }]);
  t.equal(o['freeze'], 'stem,blocks:1');
  const cfg = { ...spec.config, hidden_dim: 48 };
  t.throws(
    () => applyCheckpointRecipe(hyper, { config: cfg }, new Set(['config']), true),
    /cannot change \(config null → .*start a new run with --init/,
  );
  t.throws(
    () => applyCheckpointRecipe(hyper, { init: 'x.safetensors' }, new Set(['init']), true),
    /cannot change \(init null → "x\.safetensors"\)/,
  );
  const kept: Record<string, unknown> = {};
  applyCheckpointRecipe({ ...hyper, config: cfg }, kept, new Set(), false);
  t.same(kept['config'], cfg, 'an omitted shape flag keeps the checkpoint value');
});
