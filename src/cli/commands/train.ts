// `mixer train`: fit a preset or a custom shape on CIFAR-10, a CIFAR binary folder or an image folder, optionally fine-tuning.
import os from 'node:os';
import { DEFAULT_PRESET, PRESETS } from '../../model/index.js';
import { initConfig } from '../../train/finetune.js';
import { frozenParams } from '../../train/freeze.js';
import { STEP_MODES } from '../../train/stepper.js';
import { train } from '../../train/trainer.js';
import { UsageError, num, oneOf, parse, str } from '../args.js';
import { MODEL_FLAGS, MODEL_FLAGS_HELP, modelConfig } from '../model-flags.js';

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
  --augment LIST         comma list: crop,flip,cutout,randaug (default crop,flip,randaug)
  --randaug-n N / --randaug-m M   RandAugment ops per image (default 1) and magnitude (default 9)
  --threads N            ORT intra-op threads (default: all cores)
  --step fused|separate  fused train-step graph (default) or training + optimizer graphs
  --limit-train N / --limit-test N   use the first N images (quick runs)
  --resume               continue from <out-dir>/checkpoint.safetensors exactly where it stopped
                         (hyperparameters come from the checkpoint; an explicit --epochs re-plans the schedule)`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, {
    preset: { type: 'string' }, 'out-dir': { type: 'string' }, data: { type: 'string' }, epochs: { type: 'string' },
    'batch-size': { type: 'string' }, lr: { type: 'string' }, 'weight-decay': { type: 'string' }, 'warmup-epochs': { type: 'string' },
    'min-lr-ratio': { type: 'string' }, 'label-smoothing': { type: 'string' }, seed: { type: 'string' }, augment: { type: 'string' },
    'randaug-n': { type: 'string' }, 'randaug-m': { type: 'string' }, threads: { type: 'string' }, step: { type: 'string' },
    'limit-train': { type: 'string' }, 'limit-test': { type: 'string' }, resume: { type: 'boolean' },
    ...MODEL_FLAGS, strict: { type: 'boolean' }, 'cache-mb': { type: 'string' }, 'cache-dir': { type: 'string' },
    init: { type: 'string' }, 'reset-head': { type: 'boolean' }, freeze: { type: 'string' },
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
  for (const a of aug) if (!['crop', 'flip', 'cutout', 'randaug', 'none'].includes(a)) throw new Error(`--augment: unknown "${a}". Should be a comma list of: crop, flip, cutout, randaug, none`);
  const limitTrain = v['limit-train'] === undefined ? undefined : num(v, 'limit-train', 0, { int: true, min: 1 });
  const limitTest = v['limit-test'] === undefined ? undefined : num(v, 'limit-test', 0, { int: true, min: 1 });
  const presetName = str(v, 'preset', DEFAULT_PRESET);
  if (!Object.hasOwn(PRESETS, presetName)) throw new UsageError(`unknown preset "${presetName}". Should be one of: ${Object.keys(PRESETS).join(', ')}`);
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
          randAugment: aug.has('randaug') ? { n: num(v, 'randaug-n', 1, { int: true, min: 1 }), magnitude: num(v, 'randaug-m', 9, { min: 0, max: 30 }) } : null,
        },
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
