// Model shape from flags: a preset, a --config file, per-dimension overrides, and one-line errors for bad shapes.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { UsageError } from '../../src/cli/args.js';
import { modelConfig } from '../../src/cli/model-flags.js';
import { preset } from '../../src/model/index.js';

t.test('flags override the preset; --config supplies a whole MixerConfig', async (t) => {
  t.same(modelConfig({}), preset('cifar10-s4'));
  t.same(modelConfig({ preset: 'tiny', 'image-size': '64', depth: '3' }), {
    ...preset('tiny'),
    image_size: 64,
    depth: 3,
  });
  const file = path.join(t.testdir(), 'model.json');
  writeFileSync(
    file,
    JSON.stringify({
      image_size: 96,
      patch_size: 12,
      hidden_dim: 64,
      depth: 4,
      tokens_mlp_dim: 32,
      channels_mlp_dim: 256,
    }),
  );
  t.same(modelConfig({ config: file }), {
    image_size: 96,
    patch_size: 12,
    in_chans: 3,
    num_classes: 10,
    hidden_dim: 64,
    depth: 4,
    tokens_mlp_dim: 32,
    channels_mlp_dim: 256,
    norm_eps: 1e-6,
  });
  t.equal(modelConfig({ config: file, hidden: '48' }).hidden_dim, 48, 'a flag wins over the file');
});

t.test('invalid shapes are UsageErrors naming the problem', async (t) => {
  t.throws(
    () => modelConfig({ 'image-size': '30' }),
    new UsageError('invalid model shape: config.image_size 30 is not divisible by patch_size 4'),
  );
  t.throws(() => modelConfig({ 'tokens-mlp': '0' }), new UsageError('--tokens-mlp must be at least 1, got 0'));
  t.throws(() => modelConfig({ 'patch-size': '2.5' }), new UsageError('--patch-size must be an integer, got "2.5"'));
  t.throws(() => modelConfig({ preset: 'huge' }), /unknown preset "huge"/);
  const dir = t.testdir();
  writeFileSync(path.join(dir, 'bad.json'), '{"image_size": 32,');
  t.throws(() => modelConfig({ config: path.join(dir, 'bad.json') }), /--config .*bad\.json: /);
  writeFileSync(path.join(dir, 'neg.json'), JSON.stringify({ ...preset('tiny'), depth: -1 }));
  t.throws(
    () => modelConfig({ config: path.join(dir, 'neg.json') }),
    new UsageError('invalid model shape: config.depth must be a positive integer, got -1'),
  );
  writeFileSync(path.join(dir, 'list.json'), '[1, 2]');
  t.throws(() => modelConfig({ config: path.join(dir, 'list.json') }), /expected a JSON object/);
});
