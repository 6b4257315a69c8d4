// `mixer train`: fit a preset or a custom shape on CIFAR-10, a CIFAR binary folder or an image folder, optionally fine-tuning.
import os from 'node:os';
import { DEFAULT_PRESET, PRESETS } from '../../model/index.js';
import { initConfig } from '../../train/finetune.js';
import { frozenParams } from '../../train/freeze.js';
import type { HyperKey } from '../../train/recipe.js';
import { DEFAULT_EPOCHS, MAX_DEFAULT_EPOCHS, MIN_STEPS } from '../../train/schedule.js';
import { STEP_MODES, type StepMode } from '../../train/stepper.js';
import { train } from '../../train/trainer.js';
import { parse, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, numFlag, optionalNumFlag, strFlag } from '../flags.js';
import { MODEL_FLAGS, MODEL_FLAGS_HELP, MODEL_SHAPE_FLAGS, modelConfig } from '../model-flags.js';

const AUGMENTS = ['crop', 'flip', 'cutout', 'randaug', 'autoaugment', 'trivialaugment', 'none'];

/**
 * A flag of `mixer train`; `recipe` names the TrainOptions key it sets when --resume compares it with the checkpoint.
 * The shape flags, --init and --reset-head must match the checkpoint even with --override; --strict, --cache-mb and
 * --cache-dir are not compared (they do not change what is trained).
 */
interface TrainFlag extends Flag {
  recipe?: HyperKey;
}

const nonNegative = { text: '[0, ∞)', ok: (x: number) => x >= 0 };

/** Before the model-shape flags in the help. */
const RUN_FLAGS = [
  {
    flag: 'preset',
    kind: 'string',
    arg: 'NAME',
    dflt: DEFAULT_PRESET,
    recipe: 'preset',
    help: `model preset (${Object.keys(PRESETS).join(', ')}; default {default})`,
  },
  {
    flag: 'out-dir',
    kind: 'string',
    arg: 'DIR',
    required: true,
    help: 'run directory: checkpoint.safetensors, metrics.jsonl, model.onnx, report.md',
  },
] as const satisfies readonly TrainFlag[];

/** After the model-shape flags in the help. */
const RECIPE = [
  {
    flag: 'data',
    kind: 'string',
    arg: 'SRC',
    dflt: 'cifar10',
    recipe: 'data',
    help: 'cifar10, a CIFAR-10 binary folder, or an image folder <root>/<class>/*\n(or <root>/train/<class>/* + <root>/val/<class>/*); labels = the class folder names; default {default}',
  },
  {
    flag: 'strict',
    kind: 'boolean',
    help: 'image folders: fail on an undecodable file (default: skip it with a warning)',
  },
  {
    flag: 'cache-mb',
    kind: 'number',
    arg: 'N',
    dflt: 2048,
    min: 0,
    help: 'image folders: keep up to N MiB of decoded images in memory (default {default}); a larger\nset streams from the decode cache on disk',
  },
  {
    flag: 'cache-dir',
    kind: 'string',
    arg: 'DIR',
    dfltText: '$MIXER_DATA_DIR/decoded, else ./data/decoded',
    help: 'decode cache',
  },
  {
    flag: 'init',
    kind: 'string',
    arg: 'FILE',
    recipe: 'init',
    help: 'start from these weights: a checkpoint.safetensors of ours or a timm MlpMixer\nstate_dict (.safetensors); without model flags the model takes its config',
  },
  {
    flag: 'reset-head',
    kind: 'boolean',
    recipe: 'resetHead',
    help: 'with --init: a new classifier head (needed when the class count differs)',
  },
  {
    flag: 'freeze',
    kind: 'string',
    arg: 'LIST',
    recipe: 'freeze',
    help: 'keep fixed while training: stem, blocks:N (the first N blocks), or both: stem,blocks:4',
  },
  {
    flag: 'epochs',
    kind: 'int',
    arg: 'N',
    dflt: DEFAULT_EPOCHS,
    min: 1,
    help: `training epochs (default {default}, or more, up to ${MAX_DEFAULT_EPOCHS}, so that a small set gets ${MIN_STEPS}\noptimizer steps; a run with fewer steps is warned about)`,
  },
  { flag: 'batch-size', kind: 'int', arg: 'N', dflt: 128, min: 1, recipe: 'batchSize', help: 'images per step' },
  { flag: 'lr', kind: 'number', arg: 'X', dflt: 1e-3, min: 0, recipe: 'lr', help: 'peak AdamW learning rate' },
  {
    flag: 'weight-decay',
    kind: 'number',
    arg: 'X',
    dflt: 0.05,
    min: 0,
    recipe: 'weightDecay',
    help: 'AdamW weight decay, default {default} (not on norms and biases)',
  },
  {
    flag: 'warmup-epochs',
    kind: 'number',
    arg: 'X',
    dflt: 3,
    min: 0,
    recipe: 'warmupEpochs',
    help: "linear warmup (default {default}), cut to 10% of the run's steps when longer (logged); then cosine\ndecay to --min-lr-ratio",
  },
  {
    flag: 'min-lr-ratio',
    kind: 'number',
    arg: 'X',
    dflt: 0.01,
    min: 0,
    max: 1,
    recipe: 'minLrRatio',
    help: 'final learning rate as a share of --lr',
  },
  {
    flag: 'label-smoothing',
    kind: 'number',
    arg: 'X',
    dflt: 0.1,
    min: 0,
    max: 0.99,
    recipe: 'labelSmoothing',
    help: 'label smoothing of the targets',
  },
  {
    flag: 'seed',
    kind: 'int',
    arg: 'N',
    dflt: 0,
    min: 0,
    recipe: 'seed',
    help: 'seed of initialisation, order and augmentation',
  },
  {
    flag: 'augment',
    kind: 'string',
    arg: 'LIST',
    dflt: 'crop,flip,randaug',
    recipe: 'augment',
    help: "comma list: crop,flip,cutout,randaug,autoaugment,trivialaugment or none\n(default {default}; autoaugment = AutoAugment's CIFAR-10 policy,\ntrivialaugment = TrivialAugmentWide, both applied before randaug and crop)",
  },
  { flag: 'randaug-n', kind: 'int', arg: 'N', dflt: 1, min: 1, recipe: 'augment', help: 'RandAugment ops per image' },
  {
    flag: 'randaug-m',
    kind: 'number',
    arg: 'M',
    dflt: 9,
    min: 0,
    max: 30,
    recipe: 'augment',
    help: 'RandAugment magnitude',
  },
  {
    flag: 'mixup',
    kind: 'number',
    arg: 'A',
    dflt: 0,
    range: nonNegative,
    recipe: 'mixup',
    help: 'MixUp with λ ~ Beta(A, A) (default {default} = off); with --cutmix too, one of the two per\nbatch (50/50); soft targets carry the label smoothing',
  },
  {
    flag: 'cutmix',
    kind: 'number',
    arg: 'A',
    dflt: 0,
    range: nonNegative,
    recipe: 'cutmix',
    help: 'CutMix with λ ~ Beta(A, A) (default {default} = off)',
  },
  {
    flag: 'mix-prob',
    kind: 'number',
    arg: 'P',
    dflt: 1,
    range: { text: '[0, 1]', ok: (x: number) => x >= 0 && x <= 1 },
    recipe: 'mixProb',
    help: 'probability that a batch is mixed',
  },
  {
    flag: 'ema',
    kind: 'number',
    arg: 'DECAY',
    range: { text: '(0, 1)', ok: (x: number) => x > 0 && x < 1 },
    recipe: 'ema',
    help: 'keep an EMA of the weights, decay in (0, 1) (e.g. 0.9999; warmup min(DECAY, (1+t)/(10+t)));\nevaluated every epoch beside the raw weights; model.onnx gets the EMA weights',
  },
  {
    flag: 'val-split',
    kind: 'int',
    arg: 'N',
    dflt: 0,
    min: 1,
    recipe: 'valSplit',
    help: 'CIFAR-10: hold out N training images (seeded) and evaluate on them per epoch instead of\nthe test set (the test set then gives only the final figures). Image folders have no test\nset: their held-out part (val/, else a stratified 10% of each class, ≥1 per class) is the\nvalidation split every evaluation reports (val_acc, "validation accuracy"); --val-split is\nrefused there (exit 2); default {default}: no hold-out',
  },
  {
    flag: 'drop-path',
    kind: 'number',
    arg: 'X',
    dflt: 0,
    range: { text: '[0, 1)', ok: (x: number) => x >= 0 && x < 1 },
    recipe: 'dropPath',
    help: 'stochastic depth: residual branches dropped per sample with rate linear from 0 (first\nblock) to X (last block), X in [0, 1) (default {default} = off)',
  },
  { flag: 'threads', kind: 'int', arg: 'N', min: 1, dfltText: 'all cores', help: 'ORT intra-op threads' },
  {
    flag: 'step',
    kind: 'choice',
    dfltText: 'parallel with 2+ threads, else fused',
    choices: STEP_MODES,
    recipe: 'mode',
    help: 'how a step runs (default {default}):\nfused = one train-step graph; separate = training + optimizer graphs; parallel = the\ntraining graph on slices of the batch, one single-threaded worker session per thread (at\nmost 8), then the optimizer graph',
  },
  {
    flag: 'limit-train',
    kind: 'int',
    arg: 'N',
    min: 1,
    recipe: 'limitTrain',
    help: 'use the first N training images (quick runs)',
  },
  { flag: 'limit-test', kind: 'int', arg: 'N', min: 1, help: 'use the first N test images (quick runs)' },
  {
    flag: 'stop-at-step',
    kind: 'int',
    arg: 'N',
    min: 1,
    help: 'stop with a checkpoint, as Ctrl-C does, once the run reaches global step N (exit 0),\nso that a staged run (e.g. one re-planned with --resume --epochs) can be replayed exactly',
  },
  {
    flag: 'resume',
    kind: 'boolean',
    help: 'continue from <out-dir>/checkpoint.safetensors exactly where it stopped\n(hyperparameters come from the checkpoint; an explicit --epochs re-plans the schedule;\nother recipe flags that differ from the checkpoint are an error unless --override;\n--preset, the shape flags, --init and --reset-head can never change on resume)',
  },
  {
    flag: 'override',
    kind: 'boolean',
    help: "with --resume: the recipe flags given replace the checkpoint's (recorded in the report),\n--freeze included (newly unfrozen weights start with zero AdamW moments)",
  },
] as const satisfies readonly TrainFlag[];

/** Every `mixer train` flag but the model-shape ones (MODEL_FLAGS). */
export const TRAIN_FLAGS: readonly TrainFlag[] = [...RUN_FLAGS, ...RECIPE];

/** Every flag, in the help's order. */
export const flags: readonly Flag[] = [...RUN_FLAGS, ...MODEL_SHAPE_FLAGS, ...RECIPE];

/** The same, by name. */
const F = Object.fromEntries([...RUN_FLAGS, ...RECIPE].map((f) => [f.flag, f])) as Record<
  (typeof RUN_FLAGS)[number]['flag'] | (typeof RECIPE)[number]['flag'],
  TrainFlag
>;

/** Command-line flag → the TrainOptions key it sets (the flags that --resume compares with the checkpoint). */
const RECIPE_FLAGS: ReadonlyMap<string, HyperKey> = new Map([
  ...[...RUN_FLAGS, ...RECIPE].flatMap((f: TrainFlag) => (f.recipe ? [[f.flag, f.recipe] as const] : [])),
  ...Object.keys(MODEL_FLAGS).map((k) => [k, 'config'] as const),
]);

export const help = `mixer train --preset <name> --out-dir <run> [options]
${flagsHelp(RUN_FLAGS)}
${MODEL_FLAGS_HELP}
${flagsHelp(RECIPE)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { ...flagOptions(RUN_FLAGS), ...flagOptions(RECIPE), ...MODEL_FLAGS });
  const init = v['init'] === undefined ? undefined : strFlag(v, F.init);
  if (v['reset-head'] && !init) throw new UsageError('--reset-head needs --init <checkpoint.safetensors>');
  const custom = Object.keys(MODEL_FLAGS).some((k) => v[k] !== undefined);
  let config = custom ? modelConfig(v) : undefined;
  if (!config && init && v['preset'] === undefined) {
    try {
      config = await initConfig(init);
    } catch (e) {
      throw new UsageError(`--init ${init}: ${(e as Error).message}`, { cause: e });
    }
  }
  const freeze = v['freeze'] === undefined ? undefined : strFlag(v, F.freeze);
  if (freeze !== undefined) frozenParams(config ?? modelConfig(v), freeze); // checks the list before any data is read
  const aug = new Set(strFlag(v, F.augment).split(',').filter(Boolean));
  for (const a of aug)
    if (!AUGMENTS.includes(a))
      throw new UsageError(`--augment: unknown "${a}". Should be a comma list of: ${AUGMENTS.join(', ')}`);
  if (aug.has('autoaugment') && aug.has('trivialaugment'))
    throw new UsageError('--augment: choose one of autoaugment and trivialaugment');
  if (v['override'] && !v['resume']) throw new UsageError('--override only applies with --resume');
  const mixup = numFlag(v, F.mixup);
  const cutmix = numFlag(v, F.cutmix);
  const mixProb = numFlag(v, F['mix-prob']);
  const ema = optionalNumFlag(v, F.ema) ?? 0;
  const dropPath = numFlag(v, F['drop-path']);
  const valSplit = numFlag(v, F['val-split']);
  const explicit = new Set(
    Object.keys(v)
      .filter((k) => v[k] !== undefined && RECIPE_FLAGS.has(k))
      .map((k) => RECIPE_FLAGS.get(k)!),
  );
  const limitTrain = optionalNumFlag(v, F['limit-train']);
  const limitTest = optionalNumFlag(v, F['limit-test']);
  const stopAtStep = optionalNumFlag(v, F['stop-at-step']);
  const threads = optionalNumFlag(v, F.threads) ?? os.availableParallelism();
  const presetName = strFlag(v, F.preset);
  if (!Object.hasOwn(PRESETS, presetName))
    throw new UsageError(`unknown preset "${presetName}". Should be one of: ${Object.keys(PRESETS).join(', ')}`);
  const cacheMb = optionalNumFlag(v, F['cache-mb']);
  const dataOptions = {
    ...(v['strict'] ? { strict: true } : {}),
    ...(cacheMb !== undefined ? { cacheMb } : {}),
    ...(v['cache-dir'] !== undefined ? { cacheDir: strFlag(v, F['cache-dir']) } : {}),
  };
  const r = await train({
    preset: presetName,
    outDir: strFlag(v, F['out-dir']),
    data: strFlag(v, F.data),
    epochs: numFlag(v, F.epochs),
    batchSize: numFlag(v, F['batch-size']),
    lr: numFlag(v, F.lr),
    weightDecay: numFlag(v, F['weight-decay']),
    warmupEpochs: numFlag(v, F['warmup-epochs']),
    minLrRatio: numFlag(v, F['min-lr-ratio']),
    labelSmoothing: numFlag(v, F['label-smoothing']),
    seed: numFlag(v, F.seed),
    resume: Boolean(v['resume']),
    threads,
    mode: (v['step'] !== undefined ? strFlag(v, F.step) : threads > 1 ? 'parallel' : 'fused') as StepMode,
    augment: aug.has('none')
      ? null
      : {
          pad: aug.has('crop') ? 4 : 0,
          flip: aug.has('flip'),
          cutout: aug.has('cutout') ? 8 : 0,
          randAugment: aug.has('randaug')
            ? { n: numFlag(v, F['randaug-n']), magnitude: numFlag(v, F['randaug-m']) }
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
    ...(stopAtStep !== undefined ? { stopAtStep } : {}),
    command: `mixer train ${argv.join(' ')}`,
    dataOptions,
    ...(config ? { config } : {}),
    ...(init ? { init, resetHead: Boolean(v['reset-head']) } : {}),
    ...(freeze ? { freeze } : {}),
    overrideEpochs: v['epochs'] !== undefined,
    autoEpochs: v['epochs'] === undefined,
  });
  return r.interrupted && !r.reachedStopStep ? 130 : 0;
}
