// `mixer export`: checkpoint (onnx-mixer or a timm MlpMixer state_dict as safetensors) → inference model; or back to weights.
import { writeFile } from 'node:fs/promises';
import { type StTensor, writeSafetensors } from '../../formats/safetensors.js';
import {
  buildInferenceModel,
  defaultTiling,
  loadModelFile,
  type ModelSpec,
  type Params,
  paramCount,
  paramsFromModel,
  paramTable,
  specMetadata,
  TILE_MIN_BATCH,
} from '../../model/index.js';
import { buildFlipTtaModel, TTA_MODES } from '../../model/tta.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { num, oneOf, parse, str, UsageError } from '../args.js';

/** Flag defaults, for the parser and the help alike. */
const DEFAULTS = { tta: 'none', tileMinBatch: TILE_MIN_BATCH } as const;

export const help = `mixer export --checkpoint <ckpt.safetensors | model.onnx> --out <model.onnx | weights.safetensors> [options]
  Accepts onnx-mixer checkpoints and plain timm MlpMixer state_dicts (config inferred from the shapes). An inference
  model as --checkpoint gives back its weights: re-export it with the current graph, or write them (timm names,
  timm layouts, loadable by PyTorch) with an --out ending in .safetensors.
  --labels a,b,c         class names to record in the model
  --weights ema|raw      the EMA of the weights (default when the checkpoint keeps one, from train --ema) or the raw weights
  --tta flip             the graph averages the logits of each image and its horizontal mirror (same inputs and
                         outputs, metadata mixer.tta = flip; twice the inference cost); default ${DEFAULTS.tta}
  --channel-tiles N      run each channel MLP on N row blocks, so its hidden activations stay in cache (faster at
                         large batches, slower at small ones; must divide the token count; 1: never); default: the
                         largest divisor of the token count up to 8 (8 for cifar10-s4)
  --tile-min-batch M     tile only batches of M images or more (an If on the batch size picks the tiled or untiled
                         blocks, which share the weights; same logits either way); 1: every batch; default ${DEFAULTS.tileMinBatch}`;

/** Which weights a single-weight-set file says it holds (its `mixer.weights`); raw when it does not say. */
function statedWeights(metadata: Record<string, string>): 'ema' | 'raw' {
  return metadata['mixer.weights'] === 'ema' ? 'ema' : 'raw';
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, {
    checkpoint: { type: 'string' },
    out: { type: 'string' },
    labels: { type: 'string' },
    weights: { type: 'string' },
    tta: { type: 'string' },
    'channel-tiles': { type: 'string' },
    'tile-min-batch': { type: 'string' },
  });
  const src = str(v, 'checkpoint');
  const tta = oneOf(v, 'tta', TTA_MODES, DEFAULTS.tta);
  let spec: ModelSpec;
  let params: Params;
  let extra: Record<string, string> = {};
  let weights: 'ema' | 'raw' = 'raw';
  if (src.toLowerCase().endsWith('.onnx')) {
    if (v['weights'] === 'ema')
      throw new UsageError(
        `--weights ema: ${src} is an inference model, which holds one set of weights; use a training checkpoint`,
      );
    const m = await loadModelFile(src);
    spec = { ...m.spec };
    params = paramsFromModel(m);
    extra = m.parsed.metadata;
    weights = statedWeights(extra);
  } else {
    const ck = await loadCheckpoint(src);
    weights = oneOf(v, 'weights', ['ema', 'raw'] as const, ck.ema ? 'ema' : 'raw');
    if (weights === 'ema' && !ck.ema)
      throw new UsageError(`--weights ema: ${src} has no EMA weights (train with --ema); use --weights raw`);
    spec = { ...ck.spec };
    params = weights === 'ema' ? ck.ema! : ck.params;
    // A file with one set of weights (no ema.* tensors) keeps the label it was written with.
    if (!ck.ema) weights = statedWeights(ck.metadata);
    if (ck.metadata['mixer.training']) extra = { 'mixer.training': ck.metadata['mixer.training'] };
  }
  if (typeof v['labels'] === 'string') {
    const labels = v['labels'].split(',');
    if (labels.length !== spec.config.num_classes)
      throw new UsageError(`--labels has ${labels.length} names; the model has ${spec.config.num_classes} classes`);
    spec.labels = labels;
  }
  const out = str(v, 'out');
  const tiles = num(v, 'channel-tiles', defaultTiling(spec.config).channelTiles, { int: true, min: 1 });
  const S = (spec.config.image_size / spec.config.patch_size) ** 2;
  if (S % tiles !== 0) throw new UsageError(`--channel-tiles ${tiles} must divide the model's ${S} tokens`);
  const tiling = {
    channelTiles: tiles,
    tileMinBatch: num(v, 'tile-min-batch', DEFAULTS.tileMinBatch, { int: true, min: 1 }),
  };
  const meta = { ...extra, ...specMetadata(spec), 'mixer.weights': weights };
  if (out.toLowerCase().endsWith('.safetensors')) {
    if (tta !== 'none') throw new UsageError('--tta applies to an .onnx output, not to weights');
    const t = new Map<string, StTensor>(
      paramTable(spec.config).map((p) => [p.name, { dtype: 'F32', shape: p.shape, data: params.get(p.name)! }]),
    );
    await writeSafetensors(out, t, { format: 'pt', ...meta });
  } else if (tta === 'flip') {
    await writeFile(out, buildFlipTtaModel(spec, params, meta, tiling));
  } else {
    await writeFile(out, buildInferenceModel(spec, params, meta, tiling));
  }
  const tiled =
    tiles > 1 ? `, ${tiles} channel tiles${tiling.tileMinBatch > 1 ? ` from batch ${tiling.tileMinBatch}` : ''}` : '';
  const what = `${weights} weights${tta === 'flip' ? ', flip TTA' : ''}${tiled}`;
  console.log(
    `wrote ${out}: ${paramCount(spec.config).toLocaleString('en-US')} parameters, ${spec.config.num_classes} classes, ${what}`,
  );
  return 0;
}
