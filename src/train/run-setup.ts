// Setting a training run up: options resolved against a checkpoint, fresh or resumed state, start weights and the data.
import { writeFile } from 'node:fs/promises';
import { DEFAULT_ADAMW } from '../autodiff/index.js';
import { type DataSourceOptions, loadDataSource, type Splits } from '../data/cifar10.js';
import { channelStats, type ImageDataset } from '../data/dataset.js';
import { BatchLoader } from '../data/loader.js';
import { splitTrainVal } from '../data/split.js';
import { defaultSpec, initParams, type ModelSpec, preset } from '../model/index.js';
import { UsageError } from '../util/errors.js';
import type { Checkpoint, RunPosition } from './checkpoint.js';
import { emaInit } from './ema.js';
import { loadInitParams } from './finetune.js';
import { frozenParams } from './freeze.js';
import { applyCheckpointRecipe, type RecipeDiff } from './recipe.js';
import type { Run, RunData, RunFiles, RunStart } from './run.js';
import {
  DEFAULT_EPOCHS,
  defaultEpochs,
  epochsForMinSteps,
  MAX_WARMUP_SHARE,
  MIN_STEPS,
  type Schedule,
  warmupSteps,
} from './schedule.js';
import { type OptimState, Stepper, zerosLike } from './stepper.js';
import { modelSummary } from './summary.js';
import { limitDataset, mixOptions, type TrainOptions } from './train-options.js';

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/**
 * The options the run goes by: as given for a new run; on resume the checkpoint's recipe (explicit flags that differ
 * are an error unless `override`; the differences are logged and kept) and its epoch count unless --epochs re-plans.
 */
export function resolveOptions(
  given: TrainOptions,
  ck: Checkpoint | null,
  log: (line: string) => void,
): { o: TrainOptions; overrides: RecipeDiff[] } {
  if (!ck) return { o: given, overrides: [] };
  const stored = ck.hyper['epochs'];
  const o: TrainOptions = { ...given, epochs: typeof stored === 'number' ? stored : given.epochs };
  const earlier = Array.isArray(ck.hyper['overrides']) ? (ck.hyper['overrides'] as RecipeDiff[]) : [];
  const now = applyCheckpointRecipe(ck.hyper, o, given.explicit, Boolean(given.override));
  for (const d of now)
    log(
      `--override: ${d.key} changes from ${JSON.stringify(d.checkpoint)} to ${JSON.stringify(d.given)} at step ${ck.progress.step}`,
    );
  if (given.overrideEpochs && given.epochs !== o.epochs) {
    log(
      `--epochs ${given.epochs} replaces the checkpoint's ${o.epochs}: the learning-rate schedule is recomputed for the new length`,
    );
    o.epochs = given.epochs;
  }
  return { o, overrides: [...earlier, ...now.map((d) => ({ ...d, step: ck.progress.step }))] };
}

/**
 * Everything the epochs need: the checkpoint's weights, moments and position on resume (the loader derives its RNG
 * from those), else fresh weights (or --init's); the data; the model fitted to the data's classes; the EMA; the
 * train-step graphs, the batch loader and the learning-rate schedule.
 */
export async function initOrResume(
  opts: TrainOptions,
  overrides: RecipeDiff[],
  ck: Checkpoint | null,
  files: RunFiles,
  log: (line: string) => void,
): Promise<{ run: Run; progress: RunPosition }> {
  const loaded = await startWeights(opts, ck, files, log);
  const data = await loadRunData(opts, loaded.spec, log);
  const { spec, state, progress, ema, frozen } = await fitToData(
    opts,
    loaded,
    data.train,
    log,
    data.report !== undefined,
  );
  const emaDecay = opts.ema ?? 0;
  const mix = mixOptions(opts, spec.config.num_classes);
  const stepper = await Stepper.create(
    spec,
    {
      labelSmoothing: opts.labelSmoothing,
      adamw: { ...DEFAULT_ADAMW, weight_decay: opts.weightDecay },
      softTargets: mix !== null,
      dropPath: opts.dropPath ?? 0,
      frozen,
    },
    opts.mode,
    opts.threads,
  );
  // The graphs have a dynamic batch dim: the last, smaller batch is used too, so every image is seen every epoch
  // (mixed like any other: its pairs are the reversed batch, an odd batch's middle image pairs with itself).
  const loader = new BatchLoader({
    dataset: data.train,
    batchSize: opts.batchSize,
    shuffle: true,
    dropLast: false,
    augment: opts.augment,
    seed: opts.seed,
    mix,
  });
  if (opts.batchSize > data.train.count)
    log(
      `note: --batch-size ${opts.batchSize} is more than the ${data.train.count} training images: each epoch is one batch of ${data.train.count}`,
    );
  const steps = loader.stepsPerEpoch();
  if (opts.autoEpochs && !ck) opts.epochs = defaultEpochs(steps);
  const totalSteps = opts.epochs * steps;
  // A new run (or one whose --warmup-epochs --override changes) fixes its warmup; a resumed run keeps the checkpoint's.
  const replan = overrides.some((d) => d.key === 'warmupEpochs');
  const warmup =
    typeof opts.warmupSteps === 'number' && !replan
      ? { steps: opts.warmupSteps, asked: opts.warmupSteps, cut: false }
      : opts.warmupSteps === null && !replan
        ? { steps: Math.round(opts.warmupEpochs * steps), asked: 0, cut: false }
        : warmupSteps(opts.warmupEpochs, steps, totalSteps);
  opts.warmupSteps = warmup.steps;
  const sched: Schedule = { lr: opts.lr, warmupSteps: warmup.steps, totalSteps, minRatio: opts.minLrRatio };
  log(
    `training ${opts.config ? 'a custom model' : opts.preset} on ${data.train.count} images: ${totalSteps} optimizer steps (${steps} steps/epoch × ${opts.epochs} epochs${opts.autoEpochs && !ck && opts.epochs !== DEFAULT_EPOCHS ? `, raised from ${DEFAULT_EPOCHS} so that the set gets ${MIN_STEPS} steps` : ''}, batch ${opts.batchSize}, ${opts.mode} step, ${opts.threads} threads)`,
  );
  if (warmup.cut)
    log(
      `warmup: ${plural(warmup.steps, 'step')}, cut from --warmup-epochs ${opts.warmupEpochs} (${plural(warmup.asked, 'step')}) to ${100 * MAX_WARMUP_SHARE}% of the run`,
    );
  if (totalSteps < MIN_STEPS)
    log(
      `warning: ${totalSteps} optimizer steps are too few to train on ${data.train.count} images (fewer than ${MIN_STEPS} under-train even small, easy sets); --epochs ${epochsForMinSteps(steps)} gives ${MIN_STEPS}${steps < 8 && opts.batchSize > 16 ? ', or a smaller --batch-size more steps for the same work' : ''}`,
    );
  const emaSkip = frozen.size > 0 ? frozen : undefined;
  const stop = { requested: false };
  const run: Run = {
    o: opts,
    overrides,
    files,
    log,
    spec,
    state,
    ema,
    emaDecay,
    emaSkip,
    data,
    stepper,
    loader,
    steps,
    sched,
    stop,
  };
  return { run, progress };
}

/** The checkpoint's model, weights, moments, position and EMA; or a new run's initial weights (and an empty metrics file). */
export async function startWeights(
  opts: TrainOptions,
  ck: Checkpoint | null,
  files: RunFiles,
  log: (line: string) => void,
): Promise<RunStart> {
  if (ck) {
    const state: OptimState = {
      params: ck.params,
      expAvg: ck.expAvg ?? zerosLike(ck.params),
      expAvgSq: ck.expAvgSq ?? zerosLike(ck.params),
    };
    log(`resuming ${files.checkpoint} at epoch ${ck.progress.epoch + 1}, step ${ck.progress.step}`);
    return { spec: ck.spec, state, progress: ck.progress, ema: ck.ema ?? null };
  }
  const spec = defaultSpec(opts.config ?? preset(opts.preset));
  const p = initParams(spec.config, opts.seed);
  await writeFile(files.metrics, '');
  return {
    spec,
    state: { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) },
    progress: { step: 0, epoch: 0, stepInEpoch: 0, wallSeconds: 0 },
    ema: null,
  };
}

/** The training, test and per-epoch evaluation sets (limited, and with --val-split held out), checked against the model. */
export async function loadRunData(opts: TrainOptions, spec: ModelSpec, log: (line: string) => void): Promise<RunData> {
  const data: Splits =
    opts.splits ??
    (await loadDataSource(opts.data, {
      ...(opts.dataOptions ?? {}),
      log: (m: string) => log(m),
      size: spec.config.image_size,
    } as DataSourceOptions));
  // An image folder has no test set: its held-out part (val/ or a stratified share of each class) is a validation split.
  const folder = data.report !== undefined;
  if (folder && opts.valSplit) {
    throw new UsageError(
      '--val-split is for CIFAR-10: an image folder already holds out a stratified validation split (its val/ folder, or 10% of each class), and every evaluation uses it',
    );
  }
  let trainSet = limitDataset(data.train, opts.limitTrain);
  const testSet = limitDataset(data.test, opts.limitTest);
  if (trainSet.height !== spec.config.image_size || trainSet.width !== spec.config.image_size) {
    throw new UsageError(
      `the data is ${trainSet.height}×${trainSet.width} but the model input is ${spec.config.image_size}×${spec.config.image_size} (CIFAR-10 comes at 32×32; image folders are resized to --image-size)`,
    );
  }
  let valSet: ImageDataset | null = null;
  if (opts.valSplit) {
    const sp = splitTrainVal(trainSet, opts.valSplit, opts.seed);
    trainSet = sp.train;
    valSet = sp.val;
    log(
      `holding out ${valSet.count} training images (seed ${opts.seed}) for per-epoch validation; the test set is used only for the final figures`,
    );
  }
  const perEpochVal = valSet !== null || folder;
  return {
    report: data.report,
    train: trainSet,
    test: testSet,
    evalSet: valSet ?? testSet,
    perEpochVal,
    evalName: perEpochVal ? 'validation' : 'test',
    finalName: folder ? 'validation' : 'test',
  };
}

/**
 * The model fitted to the data: its class count and labels; a new run's weights re-initialised for another class
 * count or taken from --init; an image folder's new model normalised by its training images; the frozen parameters; the EMA started from the weights training starts from (after
 * --init) when --ema asks for one. Frozen tensors are never averaged, so they stay exact.
 */
export async function fitToData(
  opts: TrainOptions,
  start: RunStart,
  trainSet: ImageDataset,
  log: (line: string) => void,
  folder = false,
): Promise<RunStart & { frozen: Set<string> }> {
  let { spec, state, ema } = start;
  const { progress } = start;
  if (trainSet.classes.length !== spec.config.num_classes) {
    spec = { ...spec, config: { ...spec.config, num_classes: trainSet.classes.length } };
    if (progress.step === 0) {
      const p = initParams(spec.config, opts.seed);
      state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
    }
  }
  spec = { ...spec, labels: [...trainSet.classes] };
  // A new model of an image folder normalises by its own training images; CIFAR-10's statistics fit only CIFAR-10.
  // (A resumed run keeps its checkpoint's; --init keeps the statistics its weights were trained with.)
  if (folder && progress.step === 0 && !opts.init) {
    spec = { ...spec, ...channelStats(trainSet) };
    log(
      `normalisation: mean ${spec.mean.join(', ')}, std ${spec.std.join(', ')} (RGB, 0–1), from the ${trainSet.count} training images`,
    );
  }
  if (opts.init && progress.step === 0) {
    const p = await loadInitParams(opts.init, spec, { resetHead: Boolean(opts.resetHead), seed: opts.seed });
    state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
    log(`initialised from ${opts.init}${opts.resetHead ? ' with a new classifier head' : ''}`);
  }
  const frozen = frozenParams(spec.config, opts.freeze);
  log(modelSummary(spec, frozen));
  const emaDecay = opts.ema ?? 0;
  if (emaDecay > 0 && !ema) {
    if (progress.step > 0) log(`starting the weight EMA from the current weights at step ${progress.step}`);
    ema = emaInit(state.params);
  }
  if (emaDecay === 0) ema = null;
  return { spec, state, progress, ema, frozen };
}
