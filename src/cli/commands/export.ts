// `mixer export`: checkpoint (onnx-mixer or a timm MlpMixer state_dict as safetensors) → inference model.
import { writeFile } from 'node:fs/promises';
import { buildInferenceModel, paramCount } from '../../model/index.js';
import { buildFlipTtaModel, TTA_MODES } from '../../model/tta.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { oneOf, parse, str, UsageError } from '../args.js';

export const help = `mixer export --checkpoint <ckpt.safetensors> --out <model.onnx> [--labels a,b,c] [--weights ema|raw] [--tta flip]
  Accepts onnx-mixer checkpoints and plain timm MlpMixer state_dicts (config inferred from the shapes).
  --weights ema|raw      the EMA of the weights (default when the checkpoint keeps one, from train --ema) or the raw weights
  --tta flip             the graph averages the logits of each image and its horizontal mirror (same inputs and
                         outputs, metadata mixer.tta = flip; twice the inference cost); default none`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { checkpoint: { type: 'string' }, out: { type: 'string' }, labels: { type: 'string' }, weights: { type: 'string' }, tta: { type: 'string' } });
  const tta = oneOf(v, 'tta', TTA_MODES, 'none');
  const ck = await loadCheckpoint(str(v, 'checkpoint'));
  const weights = oneOf(v, 'weights', ['ema', 'raw'] as const, ck.ema ? 'ema' : 'raw');
  if (weights === 'ema' && !ck.ema) throw new UsageError(`--weights ema: ${String(v['checkpoint'])} has no EMA weights (train with --ema); use --weights raw`);
  const spec = { ...ck.spec };
  if (typeof v['labels'] === 'string') {
    const labels = v['labels'].split(',');
    if (labels.length !== spec.config.num_classes) throw new Error(`--labels has ${labels.length} names; the model has ${spec.config.num_classes} classes`);
    spec.labels = labels;
  }
  const out = str(v, 'out');
  const params = weights === 'ema' ? ck.ema! : ck.params;
  const meta = { 'mixer.weights': weights };
  await writeFile(out, tta === 'flip' ? buildFlipTtaModel(spec, params, meta) : buildInferenceModel(spec, params, meta));
  console.log(`wrote ${out}: ${paramCount(spec.config).toLocaleString('en-US')} parameters, ${spec.config.num_classes} classes, ${weights} weights${tta === 'flip' ? ', flip TTA' : ''}`);
  return 0;
}
