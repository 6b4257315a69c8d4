// --freeze: which parameters it names, and the optimizer / training / fused graphs leaving frozen ones out.
import t from 'tap';
import { defaultSpec, paramTable, preset } from '../../src/model/index.js';
import { optimizerGraph, trainingGraph, trainStepGraph } from '../../src/train/artifacts.js';
import { frozenParams } from '../../src/train/freeze.js';

const spec = defaultSpec(preset('tiny'));

t.test('stem and blocks:N name the stem and the first N blocks', async (t) => {
  t.same([...frozenParams(spec.config, 'stem')], ['stem.proj.weight', 'stem.proj.bias']);
  const both = frozenParams(spec.config, 'stem,blocks:1');
  t.equal(both.size, 2 + 12);
  t.ok(both.has('blocks.0.mlp_channels.fc2.bias'));
  t.notOk(both.has('blocks.1.norm1.weight'));
  t.equal(frozenParams(spec.config, undefined).size, 0);
  t.throws(() => frozenParams(spec.config, 'head'), /--freeze: unknown part "head"/);
  t.throws(() => frozenParams(spec.config, 'blocks:3'), /only 2 blocks/);
});

t.test('the graphs skip frozen parameters: no gradient, no optimizer state, no update', async (t) => {
  const frozen = frozenParams(spec.config, 'stem,blocks:1');
  const o = { labelSmoothing: 0, frozen };
  const names = (vs: { name: string }[]) => vs.map((v) => v.name);
  const opt = optimizerGraph(spec, o);
  const optIn = names(opt.inputs);
  t.notOk(
    optIn.some((n) => n.startsWith('stem.') || n.startsWith('blocks.0.')),
    'optimizer graph has no frozen inputs',
  );
  const trainable = paramTable(spec.config).filter((p) => !frozen.has(p.name));
  t.equal(optIn.filter((n) => n.endsWith('_grad')).length, trainable.length);
  t.equal(opt.outputs.length, 3 * trainable.length);

  const tr = trainingGraph(spec, o);
  t.ok(names(tr.inputs).includes('stem.proj.weight'), 'frozen weights still feed the forward pass');
  t.notOk(names(tr.outputs).includes('stem.proj.weight_grad'));
  t.ok(names(tr.outputs).includes('head.weight_grad'));

  const fused = trainStepGraph(spec, o);
  t.notOk(names(fused.outputs).some((n) => n.startsWith('stem.') || n.startsWith('blocks.0.')));
  t.notOk(names(fused.inputs).includes('stem.proj.weight.exp_avg'));
  t.ok(names(fused.outputs).includes('head.weight.updated'));
});
