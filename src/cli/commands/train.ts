// `mixer train`: fit a preset or a custom shape on CIFAR-10, a CIFAR binary folder or an image folder, optionally fine-tuning.
import os from 'node:os';
import { DEFAULT_PRESET, PRESETS } from '../../model/index.js';
import { initConfig } from '../../train/finetune.js';
import { frozenParams } from '../../train/freeze.js';
import { STEP_MODES } from '../../train/stepper.js';
import { train } from '../../train/trainer.js';
import { num, oneOf, parse, str, UsageError } from '../args.js';
import { MODEL_FLAGS, MODEL_FLAGS_HELP, modelConfig } from '../model-flags.js';

const AUGMENTS = ['crop', 'flip', 'cutout', 'randaug', 'autoaugment', 'trivialaugment', 'none'];

/**
 * Command-line flag → the TrainOptions key it sets (the flags that --resume compares with the checkpoint). The shape
 * flags, --init and --reset-head must match the checkpoint even with --override; --strict, --cache-mb and --cache-dir
 * are not compared (they do not change what is trained).
 */
const RECIPE_FLAGS: Record<string, string> = {
  preset: 'preset',
  data: 'data',
  'batch-size': 'batchSize',
  lr: 'lr',
  'weight-decay': 'weightDecay',
  'warmup-epochs': 'warmupEpochs',
  'min-lr-ratio': 'minLrRatio',
  'label-smoothing': 'labelSmoothing',
  seed: 'seed',
  augment: 'augment',
  'randaug-n': 'augment',
  'randaug-m': 'augment',
  step: 'mode',
  'limit-train': 'limitTrain',
  mixup: 'mixup',
  cutmix: 'cutmix',
  'mix-prob': 'mixProb',
  ema: 'ema',
  'val-split': 'valSplit',
  'drop-path': 'dropPath',
  init: 'init',
  'reset-head': 'resetHead',
  freeze: 'freeze',
  ...Object.fromEntries(Object.keys(MODEL_FLAGS).map((k) => [k, 'config'])),
};

/** A number in a range with a one-line error that names the range. */
function ranged(
  v: Record<string, unknown>,
  k: string,
  dflt: number,
  range: string,
  ok: (x: number) => boolean,
): number {
  const x = v[k];
  if (x === undefined) return dflt;
  const n = Number(x);
  if (typeof x !== 'string' || x.trim() === '' || !Number.isFinite(n) || !ok(n))
    throw new UsageError(`--${k} must be a number in ${range}, got "${String(x)}"`);
  return n;
}

export const help = `mixer train --preset <name> --out-dir <run> [options]
  --preset NAME          model preset (${Object.keys(PRESETS).join(', ')}; default ${DEFAULT_PRESET})
  --out-dir DIR          run directory: checkpoint.safetensors, metrics.jsonl, model.onnx, report.md
${MODEL_FLAGS_HELP}
  --data SRC             cifar10 (default), a CIFAR-10 binary folder, or an image folder <root>/<class>/*
                         (or <root>/train/<class>/* + <root>/val/<class>/*); labels = the class folder names
  --strict               image folders: fail on an undecodable file (default: skip it with a warning)
  --cache-mb N           image folders: keep up to N MiB of decoded images in memory (default 2048); a larger
                         set streams from the decode cache on disk
  --cache-dir DIR        decode cache (default $MIXER_DATA_DIR/decoded, else ./data/decoded)
  --init FILE            start from these weights: a checkpoint.safetensors of ours or a timm MlpMixer
                         state_dict (.safetensors); without model flags the model takes its config
  --reset-head           with --init: a new classifier head (needed when the class count differs)
  --freeze LIST          keep fixed while training: stem, blocks:N (the first N blocks), or both: stem,blocks:4
  --epochs N             default 40          --batch-size N   default 128
  --lr X                 peak AdamW learning rate, default 0.001
  --weight-decay X       default 0.05 (not on norms and biases)
  --warmup-epochs X      linear warmup, default 3; then cosine decay to --min-lr-ratio (default 0.01)
  --label-smoothing X    default 0.1       --seed N   default 0
  --augment LIST         comma list: crop,flip,cutout,randaug,autoaugment,trivialaugment or none
                         (default crop,flip,randaug; autoaugment = AutoAugment's CIFAR-10 policy,
                         trivialaugment = TrivialAugmentWide, both applied before randaug and crop)
  --randaug-n N / --randaug-m M   RandAugment ops per image (default 1) and magnitude (default 9)
  --mixup A / --cutmix A MixUp / CutMix with λ ~ Beta(A, A) (default 0 = off); with both, one of the two per
                         batch (50/50); soft targets carry the label smoothing
  --mix-prob P           probability that a batch is mixed (default 1)
  --ema DECAY            keep an EMA of the weights, decay in (0, 1) (e.g. 0.9999; warmup min(DECAY, (1+t)/(10+t)));
                         evaluated every epoch beside the raw weights; model.onnx gets the EMA weights
  --val-split N          CIFAR-10: hold out N training images (seeded) and evaluate on them per epoch instead of
                         the test set (the test set then gives only the final figures). Image folders have no test
                         set: their held-out part (val/, else a stratified 10% of each class, ≥1 per class) is the
                         validation split every evaluation reports (val_acc, "validation accuracy"); --val-split is
                         refused there (exit 2)
  --drop-path X          stochastic depth: residual branches dropped per sample with rate linear from 0 (first
                         block) to X (last block), X in [0, 1) (default 0 = off)
  --threads N            ORT intra-op threads (default: all cores)
  --step fused|separate  fused train-step graph (default) or training + optimizer graphs
  --limit-train N / --limit-test N   use the first N images (quick runs)
  --resume               continue from <out-dir>/checkpoint.safetensors exactly where it stopped
                         (hyperparameters come from the checkpoint; an explicit --epochs re-plans the schedule;
                         other recipe flags that differ from the checkpoint are an error unless --override;
                         --preset, the shape flags, --init and --reset-head can never change on resume)
  --override             with --resume: the recipe flags given replace the checkpoint's (recorded in the report),
                         --freeze included (newly unfrozen weights start with zero AdamW moments)`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, {
    preset: { type: 'string' },
    'out-dir': { type: 'string' },
    data: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    'weight-decay': { type: 'string' },
    'warmup-epochs': { type: 'string' },
    'min-lr-ratio': { type: 'string' },
    'label-smoothing': { type: 'string' },
    seed: { type: 'string' },
    augment: { type: 'string' },
    'randaug-n': { type: 'string' },
    'randaug-m': { type: 'string' },
    threads: { type: 'string' },
    step: { type: 'string' },
    'limit-train': { type: 'string' },
    'limit-test': { type: 'string' },
    resume: { type: 'boolean' },
    mixup: { type: 'string' },
    cutmix: { type: 'string' },
    'mix-prob': { type: 'string' },
    ema: { type: 'string' },
    'val-split': { type: 'string' },
    'drop-path': { type: 'string' },
    override: { type: 'boolean' },
    ...MODEL_FLAGS,
    strict: { type: 'boolean' },
    'cache-mb': { type: 'string' },
    'cache-dir': { type: 'string' },
    init: { type: 'string' },
    'reset-head': { type: 'boolean' },
    freeze: { type: 'string' },
  });
  const init = v['init'] === undefined ? undefined : str(v, 'init');
  if (v['reset-head'] && !init) throw new UsageError('--reset-head needs --init <checkpoint.safetensors>');
  const custom = Object.keys(MODEL_FLAGS).some((k) => v[k] !== undefined);
  let config = custom ? modelConfig(v) : undefined;
  if (!config && init && v['preset'] === undefined) {
    try {
      config = await initConfig(init);
    } catch (e) {
      throw new UsageError(`--init ${init}: ${(e as Error).message}`);
    }
  }
  const freeze = v['freeze'] === undefined ? undefined : str(v, 'freeze');
  if (freeze !== undefined) frozenParams(config ?? modelConfig(v), freeze); // checks the list before any data is read
  const aug = new Set(str(v, 'augment', 'crop,flip,randaug').split(',').filter(Boolean));
  for (const a of aug)
    if (!AUGMENTS.includes(a))
      throw new UsageError(`--augment: unknown "${a}". Should be a comma list of: ${AUGMENTS.join(', ')}`);
  if (aug.has('autoaugment') && aug.has('trivialaugment'))
    throw new UsageError('--augment: choose one of autoaugment and trivialaugment');
  if (v['override'] && !v['resume']) throw new UsageError('--override only applies with --resume');
  const mixup = ranged(v, 'mixup', 0, '[0, ∞)', (x) => x >= 0);
  const cutmix = ranged(v, 'cutmix', 0, '[0, ∞)', (x) => x >= 0);
  const mixProb = ranged(v, 'mix-prob', 1, '[0, 1]', (x) => x >= 0 && x <= 1);
  const ema = ranged(v, 'ema', 0, '(0, 1)', (x) => x > 0 && x < 1);
  const dropPath = ranged(v, 'drop-path', 0, '[0, 1)', (x) => x >= 0 && x < 1);
  const valSplit = v['val-split'] === undefined ? 0 : num(v, 'val-split', 0, { int: true, min: 1 });
  const explicit = new Set(
    Object.keys(v)
      .filter((k) => v[k] !== undefined && Object.hasOwn(RECIPE_FLAGS, k))
      .map((k) => RECIPE_FLAGS[k]!),
  );
  const limitTrain = v['limit-train'] === undefined ? undefined : num(v, 'limit-train', 0, { int: true, min: 1 });
  const limitTest = v['limit-test'] === undefined ? undefined : num(v, 'limit-test', 0, { int: true, min: 1 });
  const presetName = str(v, 'preset', DEFAULT_PRESET);
  if (!Object.hasOwn(PRESETS, presetName))
    throw new UsageError(`unknown preset "${presetName}". Should be one of: ${Object.keys(PRESETS).join(', ')}`);
  const dataOptions = {
    ...(v['strict'] ? { strict: true } : {}),
    ...(v['cache-mb'] !== undefined ? { cacheMb: num(v, 'cache-mb', 2048, { min: 0 }) } : {}),
    ...(v['cache-dir'] !== undefined ? { cacheDir: str(v, 'cache-dir') } : {}),
  };
  const r = await train({
    preset: presetName,
    outDir: str(v, 'out-dir'),
    data: str(v, 'data', 'cifar10'),
    epochs: num(v, 'epochs', 40, { int: true, min: 1 }),
    batchSize: num(v, 'batch-size', 128, { int: true, min: 1 }),
    lr: num(v, 'lr', 1e-3, { min: 0 }),
    weightDecay: num(v, 'weight-decay', 0.05, { min: 0 }),
    warmupEpochs: num(v, 'warmup-epochs', 3, { min: 0 }),
    minLrRatio: num(v, 'min-lr-ratio', 0.01, { min: 0, max: 1 }),
    labelSmoothing: num(v, 'label-smoothing', 0.1, { min: 0, max: 0.99 }),
    seed: num(v, 'seed', 0, { int: true, min: 0 }),
    resume: Boolean(v['resume']),
    threads: num(v, 'threads', os.availableParallelism(), { int: true, min: 1 }),
    mode: oneOf(v, 'step', STEP_MODES, 'fused'),
    augment: aug.has('none')
      ? null
      : {
          pad: aug.has('crop') ? 4 : 0,
          flip: aug.has('flip'),
          cutout: aug.has('cutout') ? 8 : 0,
          randAugment: aug.has('randaug')
            ? {
                n: num(v, 'randaug-n', 1, { int: true, min: 1 }),
                magnitude: num(v, 'randaug-m', 9, { min: 0, max: 30 }),
              }
            : null,
          policy: aug.has('autoaugment') ? 'autoaugment' : aug.has('trivialaugment') ? 'trivialaugment' : null,
        },
    mixup,
    cutmix,
    mixProb,
    ema,
    valSplit,
    dropPath,
    explicit,
    override: Boolean(v['override']),
    ...(limitTrain !== undefined ? { limitTrain } : {}),
    ...(limitTest !== undefined ? { limitTest } : {}),
    command: `mixer train ${argv.join(' ')}`,
    dataOptions,
    ...(config ? { config } : {}),
    ...(init ? { init, resetHead: Boolean(v['reset-head']) } : {}),
    ...(freeze ? { freeze } : {}),
    overrideEpochs: v['epochs'] !== undefined,
  });
  return r.interrupted ? 130 : 0;
}
