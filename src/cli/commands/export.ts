// `mixer export`: checkpoint (onnx-mixer or a timm MlpMixer state_dict as safetensors) → inference model.
import { writeFile } from 'node:fs/promises';
import { buildInferenceModel, paramCount } from '../../model/index.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { parse, str } from '../args.js';

export const help = `mixer export --checkpoint <ckpt.safetensors> --out <model.onnx> [--labels a,b,c]
  Accepts onnx-mixer checkpoints and plain timm MlpMixer state_dicts (config inferred from the shapes).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { checkpoint: { type: 'string' }, out: { type: 'string' }, labels: { type: 'string' } });
  const ck = await loadCheckpoint(str(v, 'checkpoint'));
  const spec = { ...ck.spec };
  if (typeof v['labels'] === 'string') {
    const labels = v['labels'].split(',');
    if (labels.length !== spec.config.num_classes) throw new Error(`--labels has ${labels.length} names; the model has ${spec.config.num_classes} classes`);
    spec.labels = labels;
  }
  const out = str(v, 'out');
  await writeFile(out, buildInferenceModel(spec, ck.params));
  console.log(`wrote ${out}: ${paramCount(spec.config).toLocaleString('en-US')} parameters, ${spec.config.num_classes} classes`);
  return 0;
}
