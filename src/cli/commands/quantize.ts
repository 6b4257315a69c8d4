// `mixer quantize`: float model → int8 model (int8 MLP weights, dynamic or calibrated static activations), same I/O contract.
import { writeFile } from 'node:fs/promises';
import { loadDataSource } from '../../data/cifar10.js';
import { loadModelFile, ModelLoadError, NOT_OURS, paramsFromModel, TILE_MIN_BATCH } from '../../model/index.js';
import { calibrate, METHODS } from '../../quant/calibrate.js';
import {
  buildQuantizedModel,
  calibrationKeys,
  type QuantOptions,
  quantizationMetadata,
  quantizedLayers,
} from '../../quant/graph.js';
import { num, oneOf, parse, str, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, synopsis } from '../flags.js';

/** Flag defaults, for the parser and the help alike. */
const DEFAULTS = {
  activations: 'dynamic',
  calibration: 'cifar10',
  images: 1024,
  method: 'minmax',
  tokenMlp: 'float',
  gelu: 'float',
  channelTiles: 4,
  tileMinBatch: TILE_MIN_BATCH,
} as const;

export const flags: readonly Flag[] = [
  { flag: 'model', kind: 'string', arg: '<model.onnx>', required: true, help: 'the float model' },
  { flag: 'out', kind: 'string', arg: '<model-int8.onnx>', required: true, help: 'the int8 model to write' },
  {
    flag: 'activations',
    kind: 'choice',
    choices: ['dynamic', 'static'],
    dflt: DEFAULTS.activations,
    help: 'activation ranges per batch, or calibrated',
  },
  { flag: 'per-channel', kind: 'boolean', help: 'int8 weights per output channel' },
  {
    flag: 'calibration',
    kind: 'string',
    arg: 'cifar10|<folder>',
    dflt: DEFAULTS.calibration,
    help: 'static: the calibration data',
  },
  {
    flag: 'images',
    kind: 'int',
    arg: 'N',
    dflt: DEFAULTS.images,
    min: 1,
    max: 50000,
    help: 'static: training images calibrated on',
  },
  { flag: 'method', kind: 'choice', choices: METHODS, dflt: DEFAULTS.method, help: 'static: the range estimate' },
  {
    flag: 'token-mlp',
    kind: 'choice',
    choices: ['float', 'int8'],
    dflt: DEFAULTS.tokenMlp,
    help: 'the token-mixing MLP weights',
  },
  { flag: 'float-tokens', kind: 'boolean', help: 'the same as --token-mlp float' },
  {
    flag: 'gelu',
    kind: 'choice',
    choices: ['float', 'uint8'],
    dflt: DEFAULTS.gelu,
    help: "static: GELU in float (tanh form) or x·σ(1.702x) on uint8 between each MLP's GEMMs",
  },
  {
    flag: 'channel-tiles',
    kind: 'int',
    arg: 'N',
    dflt: DEFAULTS.channelTiles,
    min: 1,
    help: 'row blocks per channel MLP (1: off)',
  },
  {
    flag: 'tile-min-batch',
    kind: 'int',
    arg: 'M',
    dflt: DEFAULTS.tileMinBatch,
    min: 1,
    help: 'tile only batches of M images or more',
  },
];

export const help = `${synopsis('quantize', flags)}
  Writes an int8 model with the same input, outputs and metadata (plus mixer.quantization). The channel-mixing MLP
  weights become int8 (per output channel with --per-channel); so do the token-mixing ones with --token-mlp int8
  (run on transposed activations; float by default). LayerNorm, the stem, the head and softmax stay float; GELU uses
  its tanh form, or with --gelu uint8 (static only) x·σ(1.702x) computed on uint8 between each MLP's two int8 GEMMs
  (the first GEMM writes uint8, ORT runs QLinearSigmoid and QLinearMul, the second GEMM reads uint8). Dynamic activations (the default) quantize each batch on the fly, so an image's logits shift a little
  with its batch; static ones use fixed ranges calibrated on --images TRAINING images of --calibration with --method
  (as fast, and an image gets the same logits in any batch; the shipped int8 model is static, percentile, with
  --token-mlp int8). --channel-tiles runs each channel MLP on that many row blocks so its hidden activations stay in
  cache (faster at large batches, slower at batch 1; 1 = off; must divide the token count), for batches of
  --tile-min-batch images or more (an If on the batch size; smaller batches run untiled; 1 = every batch).
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, flagOptions(flags));
  const out = str(v, 'out');
  const activations = oneOf(v, 'activations', ['dynamic', 'static'] as const, DEFAULTS.activations);
  const method = oneOf(v, 'method', METHODS, DEFAULTS.method);
  const images = num(v, 'images', DEFAULTS.images, { int: true, min: 1, max: 50000 });
  if (
    activations === 'dynamic' &&
    (v['calibration'] !== undefined || v['method'] !== undefined || v['images'] !== undefined)
  ) {
    throw new UsageError(
      '--calibration, --images and --method apply to --activations static (dynamic activations need no calibration)',
    );
  }
  const tokenMlp = oneOf(v, 'token-mlp', ['float', 'int8'] as const, DEFAULTS.tokenMlp);
  if (v['float-tokens'] === true && tokenMlp !== 'float')
    throw new UsageError('--float-tokens and --token-mlp int8 contradict each other: give one');
  const geluMode = oneOf(v, 'gelu', ['float', 'uint8'] as const, DEFAULTS.gelu);
  if (geluMode === 'uint8' && activations !== 'static')
    throw new UsageError('--gelu uint8 needs --activations static (its uint8 ranges are calibrated)');
  const tiles = num(v, 'channel-tiles', DEFAULTS.channelTiles, { int: true, min: 1 });
  const m = await loadModelFile(str(v, 'model')).catch((e: unknown) => {
    if (e instanceof ModelLoadError && e.message.includes(NOT_OURS))
      throw new UsageError(
        `${str(v, 'model')} was not written by onnx-mixer, and mixer quantize only rewrites its own MLP-Mixer graphs: it needs their metadata (mixer.config, mixer.labels, mixer.mean, mixer.std) and uint8 "pixels" input, as mixer train, export and build write them. Export the weights with mixer export (from our checkpoint or a timm MlpMixer state_dict as .safetensors) and quantize that; for other models use onnxruntime's own tool (python -m onnxruntime.quantization)`,
        { cause: e },
      );
    throw e;
  });
  const S = (m.spec.config.image_size / m.spec.config.patch_size) ** 2;
  if (S % tiles !== 0) throw new UsageError(`--channel-tiles ${tiles} must divide the model's ${S} tokens`);
  if (m.parsed.metadata['mixer.quantization']) throw new UsageError(`${m.path} is already quantized`);
  const params = paramsFromModel(m);
  const o: QuantOptions = {
    activations,
    perChannel: v['per-channel'] === true,
    tokens: tokenMlp === 'int8',
    gelu: geluMode === 'uint8' ? 'uint8' : 'tanh',
    channelTiles: tiles,
    tileMinBatch: num(v, 'tile-min-batch', DEFAULTS.tileMinBatch, { int: true, min: 1 }),
  };
  let used = 0;
  if (activations === 'static') {
    const data = await loadDataSource(str(v, 'calibration', DEFAULTS.calibration), { size: m.spec.config.image_size });
    used = Math.min(images, data.train.count);
    o.ranges = await calibrate(m.spec, params, calibrationKeys(m.spec, o), data.train, { method, images: used });
  }
  // The float graph's tiling does not describe this one (mixer.quantization records the int8 graph's own).
  const { 'mixer.channel_tiles': _, ...source } = m.parsed.metadata;
  const meta = {
    ...source,
    'mixer.quantization': quantizationMetadata(activations === 'static' ? method : 'minmax', used, o),
  };
  await writeFile(out, buildQuantizedModel(m.spec, params, o, meta));
  console.log(
    `wrote ${out}: ${quantizedLayers(m.spec, o.tokens).length} int8 layers, ${activations} activations${activations === 'static' ? ` (${method}, ${used} training images)` : ''}`,
  );
  return 0;
}
