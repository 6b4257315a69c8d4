// --init sources: a timm MlpMixer state_dict (no mixer metadata) gives its shape; --reset-head; the first mismatch is named.
import path from 'node:path';
import t from 'tap';
import { type StTensor, writeSafetensors } from '../../src/formats/safetensors.js';
import { defaultSpec, initParams, paramTable, randomParams, validateConfig } from '../../src/model/index.js';
import { initConfig, loadInitParams } from '../../src/train/finetune.js';

// A timm-shaped model: 48×48 input, patch 8 → 36 tokens, 5 classes.
const timmConfig = validateConfig({
  image_size: 48,
  patch_size: 8,
  in_chans: 3,
  num_classes: 5,
  hidden_dim: 24,
  depth: 3,
  tokens_mlp_dim: 12,
  channels_mlp_dim: 48,
  norm_eps: 1e-6,
});
const weights = randomParams(timmConfig, 4);

async function writeTimm(file: string): Promise<void> {
  const t = new Map<string, StTensor>();
  for (const p of paramTable(timmConfig)) t.set(p.name, { dtype: 'F32', shape: p.shape, data: weights.get(p.name)! });
  await writeSafetensors(file, t, { format: 'pt' }); // what safetensors.torch.save_file(model.state_dict()) writes
}

t.test('a timm state_dict: its shape is inferred, weights load, --reset-head replaces only the head', async (t) => {
  const file = path.join(t.testdir(), 'timm.safetensors');
  await writeTimm(file);
  const c = await initConfig(file);
  t.same(c, timmConfig, 'image size from the token count, widths from the tensors');

  const same = await loadInitParams(file, defaultSpec(timmConfig), { resetHead: false, seed: 1 });
  for (const p of paramTable(timmConfig)) t.same(same.get(p.name), weights.get(p.name), p.name);

  const three = { ...timmConfig, num_classes: 3 };
  const spec3 = defaultSpec(three, ['a', 'b', 'c']);
  await t.rejects(
    loadInitParams(file, spec3, { resetHead: false, seed: 1 }),
    /'head\.weight' has shape \[5, 24\] but the model needs \[3, 24\].*--reset-head/,
  );
  const reset = await loadInitParams(file, spec3, { resetHead: true, seed: 1 });
  t.same(reset.get('head.weight'), initParams(three, 1).get('head.weight'));
  t.same(reset.get('blocks.2.mlp_channels.fc2.weight'), weights.get('blocks.2.mlp_channels.fc2.weight'));

  const wider = { ...three, tokens_mlp_dim: 16 };
  await t.rejects(
    loadInitParams(file, defaultSpec(wider, ['a', 'b', 'c']), { resetHead: true, seed: 1 }),
    /'blocks\.0\.mlp_tokens\.fc1\.weight' has shape \[12, 36\] but the model needs \[16, 36\]/,
  );
  const deeper = { ...three, depth: 4 };
  await t.rejects(
    loadInitParams(file, defaultSpec(deeper, ['a', 'b', 'c']), { resetHead: true, seed: 1 }),
    /parameter 'blocks\.3\.norm1\.weight' is missing/,
  );
});
