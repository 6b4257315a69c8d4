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
import { num, oneOf, parse, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, numFlag, strFlag, synopsis } from '../flags.js';

/** Flag defaults, for the parser and the help alike. */
const DEFAULTS = { tta: 'none', tileMinBatch: TILE_MIN_BATCH } as const;

const CHECKPOINT: Flag = {
  flag: 'checkpoint',
  kind: 'string',
  arg: '<ckpt.safetensors|model.onnx>',
  required: true,
  help: 'an onnx-mixer checkpoint, a timm MlpMixer state_dict (.safetensors) or an inference model',
};
const OUT: Flag = {
  flag: 'out',
  kind: 'string',
  arg: '<model.onnx|weights.safetensors>',
  required: true,
  help: 'the inference model to write, or its weights (timm names) when it ends in .safetensors',
};
const TILE_MIN: Flag = {
  flag: 'tile-min-batch',
  kind: 'int',
  arg: 'M',
  dflt: DEFAULTS.tileMinBatch,
  min: 1,
  help: 'tile only batches of M images or more (an If on the batch size picks the tiled or untiled\nblocks, which share the weights; same logits either way); 1: every batch; default {default}',
};

export const flags: readonly Flag[] = [
  CHECKPOINT,
  OUT,
  { flag: 'labels', kind: 'string', arg: 'a,b,c', help: 'class names to record in the model' },
  {
    flag: 'weights',
    kind: 'choice',
    choices: ['ema', 'raw'],
    help: 'the EMA of the weights (default when the checkpoint keeps one, from train --ema) or the raw weights',
  },
  {
    flag: 'tta',
    kind: 'choice',
    choices: TTA_MODES,
    dflt: DEFAULTS.tta,
    help: 'flip: the graph averages the logits of each image and its horizontal mirror (same inputs and\noutputs, metadata mixer.tta = flip; twice the inference cost); default {default}',
  },
  {
    flag: 'channel-tiles',
    kind: 'int',
    arg: 'N',
    min: 1,
    help: 'run each channel MLP on N row blocks, so its hidden activations stay in cache (faster at\nlarge batches, slower at small ones; must divide the token count; 1: never); default: the\nlargest divisor of the token count up to 8 (8 for cifar10-s4)',
  },
  TILE_MIN,
];

export const help = `${synopsis('export', flags)}
  Accepts onnx-mixer checkpoints and plain timm MlpMixer state_dicts (config inferred from the shapes). An inference
  model as --checkpoint gives back its weights: re-export it with the current graph, or write them (timm names,
  timm layouts, loadable by PyTorch) with an --out ending in .safetensors.
${flagsHelp(flags)}`;

/** Which weights a single-weight-set file says it holds (its `mixer.weights`); raw when it does not say. */
function statedWeights(metadata: Record<string, string>): 'ema' | 'raw' {
  return metadata['mixer.weights'] === 'ema' ? 'ema' : 'raw';
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, flagOptions(flags));
  const src = strFlag(v, CHECKPOINT);
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
  const out = strFlag(v, OUT);
  const tiles = num(v, 'channel-tiles', defaultTiling(spec.config).channelTiles, { int: true, min: 1 });
  const S = (spec.config.image_size / spec.config.patch_size) ** 2;
  if (S % tiles !== 0) throw new UsageError(`--channel-tiles ${tiles} must divide the model's ${S} tokens`);
  const tiling = {
    channelTiles: tiles,
    tileMinBatch: numFlag(v, TILE_MIN),
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
