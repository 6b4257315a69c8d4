// `mixer export`: checkpoint (onnx-mixer or a timm MlpMixer state_dict as safetensors) → inference model; or back to weights.
import { writeFile } from 'node:fs/promises';
import { type ModelSpec, type Params, buildInferenceModel, loadModelFile, paramCount, paramTable, paramsFromModel, specMetadata } from '../../model/index.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { type StTensor, writeSafetensors } from '../../train/safetensors.js';
import { UsageError, num, parse, str } from '../args.js';

export const help = `mixer export --checkpoint <ckpt.safetensors | model.onnx> --out <model.onnx | weights.safetensors> [--labels a,b,c] [--channel-tiles 1]
  Accepts onnx-mixer checkpoints and plain timm MlpMixer state_dicts (config inferred from the shapes). An inference
  model as --checkpoint gives back its weights: re-export it with the current graph, or write them (timm names,
  timm layouts, loadable by PyTorch) with an --out ending in .safetensors. --channel-tiles N runs each channel MLP
  on N row blocks (faster at large batches, slower at batch 1; must divide the token count).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { checkpoint: { type: 'string' }, out: { type: 'string' }, labels: { type: 'string' }, 'channel-tiles': { type: 'string' } });
  const src = str(v, 'checkpoint');
  let spec: ModelSpec;
  let params: Params;
  let extra: Record<string, string> = {};
  if (src.toLowerCase().endsWith('.onnx')) {
    const m = await loadModelFile(src);
    spec = { ...m.spec };
    params = paramsFromModel(m);
    extra = m.parsed.metadata;
  } else {
    const ck = await loadCheckpoint(src);
    spec = { ...ck.spec };
    params = ck.params;
    if (ck.metadata['mixer.training']) extra = { 'mixer.training': ck.metadata['mixer.training'] };
  }
  if (typeof v['labels'] === 'string') {
    const labels = v['labels'].split(',');
    if (labels.length !== spec.config.num_classes) throw new Error(`--labels has ${labels.length} names; the model has ${spec.config.num_classes} classes`);
    spec.labels = labels;
  }
  const out = str(v, 'out');
  const tiles = num(v, 'channel-tiles', 1, { int: true, min: 1 });
  const S = (spec.config.image_size / spec.config.patch_size) ** 2;
  if (S % tiles !== 0) throw new UsageError(`--channel-tiles ${tiles} must divide the model's ${S} tokens`);
  const meta = { ...extra, ...specMetadata(spec) };
  if (out.toLowerCase().endsWith('.safetensors')) {
    const t = new Map<string, StTensor>(paramTable(spec.config).map((p) => [p.name, { dtype: 'F32', shape: p.shape, data: params.get(p.name)! }]));
    await writeSafetensors(out, t, { format: 'pt', ...meta });
  } else {
    await writeFile(out, buildInferenceModel(spec, params, meta, { channelTiles: tiles }));
  }
  console.log(`wrote ${out}: ${paramCount(spec.config).toLocaleString('en-US')} parameters, ${spec.config.num_classes} classes`);
  return 0;
}
