// The training loop: data → augmented batches → ORT train step → AdamW → eval, checkpoint, metrics, export, report.

import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_ADAMW } from '../autodiff/index.js';
import type { AugmentOptions } from '../data/augment.js';
import { type DataSourceOptions, loadDataSource, type Splits } from '../data/cifar10.js';
import { type ImageDataset, subset } from '../data/dataset.js';
import { BatchLoader } from '../data/loader.js';
import { type MixOptions, mixEnabled } from '../data/mix.js';
import { splitTrainVal } from '../data/split.js';
import type { Params } from '../model/index.js';
import {
  buildInferenceModel,
  defaultSpec,
  initParams,
  type MixerConfig,
  type ModelSpec,
  preset,
} from '../model/index.js';
import { Session } from '../runtime/session.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError, UserError } from '../util/errors.js';
import { argmax } from '../util/rank.js';
import { type Checkpoint, loadCheckpoint, type Progress, saveCheckpoint } from './checkpoint.js';
import { dropPathFeeds } from './droppath.js';
import { emaInit, emaUpdate } from './ema.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { loadInitParams } from './finetune.js';
import { frozenParams } from './freeze.js';
import { Progress as Bar } from './progress.js';
import { ABSENT, applyCheckpointRecipe, HYPER_KEYS, type RecipeDiff } from './recipe.js';
import { writeReport } from './report.js';
import { learningRate, type Schedule } from './schedule.js';
import { type OptimState, type StepMode, Stepper, zerosLike } from './stepper.js';
import { dataReportLines, modelSummary, throughputLine } from './summary.js';

export interface TrainOptions {
  preset: string;
  outDir: string;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupEpochs: number;
  minLrRatio: number;
  labelSmoothing: number;
  seed: number;
  data: string;
  resume: boolean;
  threads: number;
  mode: StepMode;
  augment: AugmentOptions | null;
  /** Use only the first n training / test images (quick runs and tests). */
  limitTrain?: number;
  limitTest?: number;
  /** Stop (with a checkpoint) after this many steps in this invocation. */
  stopAfterSteps?: number;
  /** Skip the per-epoch test evaluation, export and report (tests). */
  quiet?: boolean;
  dataOptions?: DataSourceOptions;
  /** Use these splits instead of loading `data` (library use and tests). */
  splits?: { train: ImageDataset; test: ImageDataset };
  log?: (line: string) => void;
  /** Command line recorded in the report. */
  command?: string;
  /** On --resume, keep this run's --epochs instead of the checkpoint's (the cosine schedule is recomputed from here on). */
  overrideEpochs?: boolean;
  /** MixUp / CutMix Beta(α, α) parameters (0 = off) and the probability that a batch is mixed. */
  mixup?: number;
  cutmix?: number;
  mixProb?: number;
  /** EMA decay of the weights (0 = no EMA). */
  ema?: number;
  /** Stochastic depth rate of the last block (linear from 0; 0 = off). */
  dropPath?: number;
  /**
   * CIFAR-10: hold out this many training images (seeded) and evaluate on them per epoch instead of the test set (0 = off).
   * Image folders refuse it: they already hold out a stratified validation split, which every evaluation uses.
   */
  valSplit?: number;
  /** Recipe options set explicitly (command-line flags): on --resume they must match the checkpoint unless `override`. */
  explicit?: ReadonlySet<string>;
  /** --resume --override: explicit recipe options replace the checkpoint's; the changes are recorded in the report. */
  override?: boolean;
  /** A model shape replacing the preset's (num_classes comes from the data). */
  config?: MixerConfig;
  /** Start from these weights (our checkpoint or a timm MlpMixer state_dict as safetensors). */
  init?: string;
  /** With `init`: a fresh classifier head instead of the checkpoint's. */
  resetHead?: boolean;
  /** Parameters kept fixed: "stem", "blocks:N" or both, comma-separated. */
  freeze?: string;
}

export interface EpochMetrics {
  epoch: number;
  step: number;
  lr: number;
  train_loss: number;
  train_acc: number;
  test_loss: number | null;
  test_acc: number | null;
  /** The same for the EMA weights (null without --ema or when the epoch evaluates on the validation split). */
  ema_test_loss?: number | null;
  ema_test_acc?: number | null;
  /** With --val-split: loss and accuracy of raw and EMA weights on the held-out training images. */
  val_loss?: number | null;
  val_acc?: number | null;
  ema_val_loss?: number | null;
  ema_val_acc?: number | null;
  images_per_s: number;
  epoch_s: number;
  wall_s: number;
  /** Seconds the loop waited for the next batch (data loading / augmentation not hidden by prefetch). */
  data_wait_s?: number;
  /** Seconds in the ORT step, and in the EMA update. */
  step_s?: number;
  ema_s?: number;
}

export interface TrainResult {
  state: OptimState;
  progress: Progress;
  interrupted: boolean;
  final: EvalResult | null;
  /** Final test evaluation of the raw weights when `final` is of the EMA weights. */
  finalRaw: EvalResult | null;
  history: EpochMetrics[];
  ema: Params | null;
}

function hyperOf(o: TrainOptions, overrides: RecipeDiff[] = []): Record<string, unknown> {
  const h: Record<string, unknown> = Object.fromEntries(HYPER_KEYS.map((k) => [k, o[k] ?? ABSENT[k] ?? null]));
  if (overrides.length > 0) h['overrides'] = overrides;
  return h;
}

function mixOptions(o: TrainOptions, numClasses: number): MixOptions | null {
  const m: MixOptions = {
    mixup: o.mixup ?? 0,
    cutmix: o.cutmix ?? 0,
    prob: o.mixProb ?? 1,
    switchProb: 0.5,
    smoothing: o.labelSmoothing,
    numClasses,
  };
  return mixEnabled(m) ? m : null;
}

function take(ds: ImageDataset, n: number | undefined): ImageDataset {
  return n && n < ds.count
    ? subset(
        ds,
        Array.from({ length: n }, (_, i) => i),
      )
    : ds;
}

/** The run directory's files. */
interface RunFiles {
  dir: string;
  checkpoint: string;
  metrics: string;
}

/** The model and weights a run starts (or continues) from, and where it stands. */
interface RunStart {
  spec: ModelSpec;
  state: OptimState;
  progress: Progress;
  ema: Params | null;
}

/** The splits a run trains and evaluates on, and what its evaluations are called. */
interface RunData {
  report: Splits['report'];
  train: ImageDataset;
  test: ImageDataset;
  /** What each epoch evaluates: the held-out or folder validation split, else the test set. */
  evalSet: ImageDataset;
  /** Metrics name the set: val_* for a held-out or folder validation split, test_* for a test set. */
  perEpochVal: boolean;
  evalName: 'validation' | 'test';
  finalName: 'validation' | 'test';
}

/** Everything the epochs share, fixed once the run has started (the weights themselves change in place). */
interface Run {
  o: TrainOptions;
  overrides: RecipeDiff[];
  files: RunFiles;
  log: (line: string) => void;
  spec: ModelSpec;
  state: OptimState;
  ema: Params | null;
  emaDecay: number;
  emaSkip: Set<string> | undefined;
  data: RunData;
  stepper: Stepper;
  loader: BatchLoader;
  steps: number;
  sched: Schedule;
  /** Set by the first SIGINT: finish the step, write a checkpoint, stop. */
  stop: { requested: boolean };
}

/** Sums over one epoch's steps. */
interface EpochTally {
  progress: Progress;
  doneSteps: number;
  /** Stopped before the epoch's last step. */
  interrupted: boolean;
  lossSum: number;
  correct: number;
  seen: number;
  lr: number;
  /** Milliseconds waiting for batches, in the ORT step, in the EMA update, and in all (from t0). */
  dataWait: number;
  stepTime: number;
  emaTime: number;
  t0: number;
}

/** What one epoch did. */
interface EpochOutcome {
  progress: Progress;
  /** Steps done in this invocation so far. */
  doneSteps: number;
  /** Stopped inside the epoch (checkpoint written): no evaluation, no metrics. */
  interrupted: boolean;
  metrics: EpochMetrics | null;
}

/** Trains (or, with `resume`, continues) a run: resolve options → init or resume → epochs → finalize. */
export async function train(given: TrainOptions): Promise<TrainResult> {
  const log = given.log ?? ((l: string) => console.log(l));
  await mkdir(given.outDir, { recursive: true });
  const files: RunFiles = {
    dir: given.outDir,
    checkpoint: path.join(given.outDir, 'checkpoint.safetensors'),
    metrics: path.join(given.outDir, 'metrics.jsonl'),
  };
  const ck = given.resume && existsSync(files.checkpoint) ? await loadCheckpoint(files.checkpoint) : null;
  if (given.resume && !ck) log(`no checkpoint in ${given.outDir}; starting a new run`);
  const { o, overrides } = resolveOptions(given, ck, log);
  const { run, progress: start } = await initOrResume(o, overrides, ck, files, log);
  const onSigint = () => {
    if (run.stop.requested) process.exit(130);
    run.stop.requested = true;
    log('interrupt: finishing this step and writing a checkpoint (press Ctrl-C again to abort)');
  };
  process.on('SIGINT', onSigint);
  const history: EpochMetrics[] = [];
  let progress = start;
  let interrupted = false;
  let doneSteps = 0;
  try {
    for (let epoch = progress.epoch; epoch < o.epochs; epoch++) {
      const r = await runEpoch(run, epoch, progress, doneSteps);
      ({ progress, doneSteps } = r);
      if (r.metrics) history.push(r.metrics);
      if (r.interrupted) {
        interrupted = true;
        break;
      }
      if (run.stop.requested || (o.stopAfterSteps !== undefined && doneSteps >= o.stopAfterSteps)) {
        interrupted = epoch + 1 < o.epochs;
        break;
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    await run.loader.close();
    await run.stepper.release();
  }
  const { final, finalRaw } =
    !interrupted && !o.quiet ? await finalize(run, progress, history) : { final: null, finalRaw: null };
  return { state: run.state, progress, interrupted, final, finalRaw, history, ema: run.ema };
}

/**
 * The options the run goes by: as given for a new run; on resume the checkpoint's recipe (explicit flags that differ
 * are an error unless `override`; the differences are logged and kept) and its epoch count unless --epochs re-plans.
 */
function resolveOptions(
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
async function initOrResume(
  o: TrainOptions,
  overrides: RecipeDiff[],
  ck: Checkpoint | null,
  files: RunFiles,
  log: (line: string) => void,
): Promise<{ run: Run; progress: Progress }> {
  const loaded = await startWeights(o, ck, files, log);
  const data = await loadRunData(o, loaded.spec, log);
  const { spec, state, progress, ema, frozen } = await fitToData(o, loaded, data.train, log);
  const emaDecay = o.ema ?? 0;
  const mix = mixOptions(o, spec.config.num_classes);
  const stepper = await Stepper.create(
    spec,
    {
      labelSmoothing: o.labelSmoothing,
      adamw: { ...DEFAULT_ADAMW, weight_decay: o.weightDecay },
      softTargets: mix !== null,
      dropPath: o.dropPath ?? 0,
      frozen,
    },
    o.mode,
    o.threads,
  );
  // The graphs have a dynamic batch dim: the last, smaller batch is used too, so every image is seen every epoch
  // (mixed like any other: its pairs are the reversed batch, an odd batch's middle image pairs with itself).
  const loader = new BatchLoader({
    dataset: data.train,
    batchSize: o.batchSize,
    shuffle: true,
    dropLast: false,
    augment: o.augment,
    seed: o.seed,
    mix,
  });
  if (o.batchSize > data.train.count)
    log(
      `note: --batch-size ${o.batchSize} is more than the ${data.train.count} training images: each epoch is one batch of ${data.train.count}`,
    );
  const steps = loader.stepsPerEpoch();
  const sched: Schedule = {
    lr: o.lr,
    warmupSteps: Math.round(o.warmupEpochs * steps),
    totalSteps: o.epochs * steps,
    minRatio: o.minLrRatio,
  };
  log(
    `training ${o.config ? 'a custom model' : o.preset} on ${data.train.count} images (${steps} steps/epoch × ${o.epochs} epochs, batch ${o.batchSize}, ${o.mode} step, ${o.threads} threads)`,
  );
  const emaSkip = frozen.size > 0 ? frozen : undefined;
  const stop = { requested: false };
  const run: Run = {
    o,
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
async function startWeights(
  o: TrainOptions,
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
  const spec = defaultSpec(o.config ?? preset(o.preset));
  const p = initParams(spec.config, o.seed);
  await writeFile(files.metrics, '');
  return {
    spec,
    state: { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) },
    progress: { step: 0, epoch: 0, stepInEpoch: 0, wallSeconds: 0 },
    ema: null,
  };
}

/** The training, test and per-epoch evaluation sets (limited, and with --val-split held out), checked against the model. */
async function loadRunData(o: TrainOptions, spec: ModelSpec, log: (line: string) => void): Promise<RunData> {
  const data: Splits =
    o.splits ??
    (await loadDataSource(o.data, {
      ...(o.dataOptions ?? {}),
      log: (m: string) => log(m),
      size: spec.config.image_size,
    } as DataSourceOptions));
  // An image folder has no test set: its held-out part (val/ or a stratified share of each class) is a validation split.
  const folder = data.report !== undefined;
  if (folder && o.valSplit) {
    throw new UsageError(
      '--val-split is for CIFAR-10: an image folder already holds out a stratified validation split (its val/ folder, or 10% of each class), and every evaluation uses it',
    );
  }
  let trainSet = take(data.train, o.limitTrain);
  const testSet = take(data.test, o.limitTest);
  if (trainSet.height !== spec.config.image_size || trainSet.width !== spec.config.image_size) {
    throw new UsageError(
      `the data is ${trainSet.height}×${trainSet.width} but the model input is ${spec.config.image_size}×${spec.config.image_size} (CIFAR-10 comes at 32×32; image folders are resized to --image-size)`,
    );
  }
  let valSet: ImageDataset | null = null;
  if (o.valSplit) {
    const sp = splitTrainVal(trainSet, o.valSplit, o.seed);
    trainSet = sp.train;
    valSet = sp.val;
    log(
      `holding out ${valSet.count} training images (seed ${o.seed}) for per-epoch validation; the test set is used only for the final figures`,
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
 * count or taken from --init; the frozen parameters; the EMA started from the weights training starts from (after
 * --init) when --ema asks for one. Frozen tensors are never averaged, so they stay exact.
 */
async function fitToData(
  o: TrainOptions,
  start: RunStart,
  trainSet: ImageDataset,
  log: (line: string) => void,
): Promise<RunStart & { frozen: Set<string> }> {
  let { spec, state, ema } = start;
  const { progress } = start;
  if (trainSet.classes.length !== spec.config.num_classes) {
    spec = { ...spec, config: { ...spec.config, num_classes: trainSet.classes.length } };
    if (progress.step === 0) {
      const p = initParams(spec.config, o.seed);
      state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
    }
  }
  spec = { ...spec, labels: [...trainSet.classes] };
  if (o.init && progress.step === 0) {
    const p = await loadInitParams(o.init, spec, { resetHead: Boolean(o.resetHead), seed: o.seed });
    state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
    log(`initialised from ${o.init}${o.resetHead ? ' with a new classifier head' : ''}`);
  }
  const frozen = frozenParams(spec.config, o.freeze);
  log(modelSummary(spec, frozen));
  const emaDecay = o.ema ?? 0;
  if (emaDecay > 0 && !ema) {
    if (progress.step > 0) log(`starting the weight EMA from the current weights at step ${progress.step}`);
    ema = emaInit(state.params);
  }
  if (emaDecay === 0) ema = null;
  return { spec, state, progress, ema, frozen };
}

/** One epoch: its steps, then (unless stopped inside it) the evaluation, the metrics line and the checkpoint. */
async function runEpoch(run: Run, epoch: number, progress: Progress, doneSteps: number): Promise<EpochOutcome> {
  const tally = await trainSteps(run, epoch, progress, doneSteps);
  const epochS = (performance.now() - tally.t0) / 1000;
  const p = { ...tally.progress, wallSeconds: tally.progress.wallSeconds + epochS };
  if (tally.interrupted) {
    await saveRun(run, p);
    run.log(`stopped at step ${p.step}; checkpoint written to ${run.files.checkpoint} (continue with --resume)`);
    return { progress: p, doneSteps: tally.doneSteps, interrupted: true, metrics: null };
  }
  const next = { ...p, epoch: epoch + 1, stepInEpoch: 0 };
  const metrics = await endEpoch(run, epoch, next, tally, epochS);
  return { progress: next, doneSteps: tally.doneSteps, interrupted: false, metrics };
}

/** The epoch's steps from where `progress` stands, until the epoch ends, SIGINT or `stopAfterSteps`. */
async function trainSteps(run: Run, epoch: number, start: Progress, doneBefore: number): Promise<EpochTally> {
  const { o, spec, state, ema, steps } = run;
  const bar = new Bar(`epoch ${epoch + 1}/${o.epochs}`, steps, run.log);
  const K = spec.config.num_classes;
  const t: EpochTally = {
    progress: start,
    doneSteps: doneBefore,
    interrupted: false,
    lossSum: 0,
    correct: 0,
    seen: 0,
    lr: 0,
    dataWait: 0,
    stepTime: 0,
    emaTime: 0,
    t0: performance.now(),
  };
  let tWait = performance.now();
  for await (const batch of run.loader.epoch(epoch, start.stepInEpoch)) {
    const ts = performance.now();
    t.dataWait += ts - tWait;
    t.lr = learningRate(run.sched, t.progress.step + 1);
    const masks = o.dropPath
      ? dropPathFeeds(spec.config.depth, o.dropPath, batch.size, o.seed, epoch, batch.step)
      : undefined;
    const r = await run.stepper.step(
      state,
      batch.pixels,
      batch.labels,
      batch.size,
      t.lr,
      t.progress.step + 1,
      batch.targets,
      masks,
    );
    if (!Number.isFinite(r.loss))
      throw new UserError('TRAINING_DIVERGED', `loss became ${r.loss} at step ${t.progress.step + 1}; lower --lr`);
    const te = performance.now();
    t.stepTime += te - ts;
    if (ema) {
      emaUpdate(ema, state.params, run.emaDecay, t.progress.step + 1, run.emaSkip);
      t.emaTime += performance.now() - te;
    }
    t.progress = { ...t.progress, step: t.progress.step + 1, epoch, stepInEpoch: batch.step + 1 };
    t.lossSum += r.loss * batch.size;
    t.seen += batch.size;
    for (let i = 0; i < batch.size; i++) {
      if (BigInt(argmax(r.logits.subarray(i * K, (i + 1) * K))) === batch.labels[i]) t.correct++;
    }
    const ms = performance.now() - ts;
    bar.update(
      batch.step + 1,
      `step ${t.progress.step}: loss ${r.loss.toFixed(4)} (${ms.toFixed(0)} ms) lr ${t.lr.toExponential(2)}`,
      t.seen / ((performance.now() - t.t0) / 1000),
    );
    t.doneSteps++;
    if (run.stop.requested || (o.stopAfterSteps !== undefined && t.doneSteps >= o.stopAfterSteps)) {
      t.interrupted = t.progress.stepInEpoch < steps;
      break;
    }
    tWait = performance.now();
  }
  bar.done();
  return t;
}

/** A finished epoch: evaluate raw (and EMA) weights, append the metrics line, write the checkpoint, log the summary. */
async function endEpoch(
  run: Run,
  epoch: number,
  progress: Progress,
  t: EpochTally,
  epochS: number,
): Promise<EpochMetrics> {
  const { o, spec, state, ema, data } = run;
  let test: EvalResult | null = null;
  let emaTest: EvalResult | null = null;
  if (!o.quiet) {
    test = await evalWeights(spec, state.params, data.evalSet, o.threads);
    if (ema) emaTest = await evalWeights(spec, ema, data.evalSet, o.threads);
  }
  const val = data.perEpochVal;
  const m: EpochMetrics = {
    epoch: epoch + 1,
    step: progress.step,
    lr: t.lr,
    train_loss: t.lossSum / Math.max(1, t.seen),
    train_acc: t.correct / Math.max(1, t.seen),
    test_loss: val ? null : (test?.loss ?? null),
    test_acc: val ? null : (test?.accuracy ?? null),
    ...(ema && !val ? { ema_test_loss: emaTest?.loss ?? null, ema_test_acc: emaTest?.accuracy ?? null } : {}),
    ...(val ? { val_loss: test?.loss ?? null, val_acc: test?.accuracy ?? null } : {}),
    ...(val && ema ? { ema_val_loss: emaTest?.loss ?? null, ema_val_acc: emaTest?.accuracy ?? null } : {}),
    images_per_s: t.seen / epochS,
    epoch_s: epochS,
    wall_s: progress.wallSeconds,
    data_wait_s: t.dataWait / 1000,
    step_s: t.stepTime / 1000,
    ...(ema ? { ema_s: t.emaTime / 1000 } : {}),
  };
  await appendFile(run.files.metrics, `${JSON.stringify(m)}\n`);
  await saveRun(run, progress);
  run.log(
    `epoch ${m.epoch}: train loss ${m.train_loss.toFixed(4)} acc ${(100 * m.train_acc).toFixed(2)}%` +
      (test ? ` | ${data.evalName} loss ${test.loss.toFixed(4)} acc ${(100 * test.accuracy).toFixed(2)}%` : '') +
      (emaTest ? ` | EMA ${data.evalName} acc ${(100 * emaTest.accuracy).toFixed(2)}%` : '') +
      ` | ${m.images_per_s.toFixed(0)} img/s, ${epochS.toFixed(0)} s (waiting for data ${m.data_wait_s!.toFixed(1)} s)`,
  );
  return m;
}

function saveRun(run: Run, progress: Progress): Promise<void> {
  return saveCheckpoint(run.files.checkpoint, {
    spec: run.spec,
    ...run.state,
    ema: run.ema,
    progress,
    hyper: hyperOf(run.o, run.overrides),
  });
}

/**
 * A completed run: model.onnx (with the EMA weights when there is an EMA, as `mixer export` does by default), the
 * final evaluation of both weights on the test set (or a folder's validation split), report.md.
 */
async function finalize(
  run: Run,
  progress: Progress,
  history: EpochMetrics[],
): Promise<{ final: EvalResult; finalRaw: EvalResult | null }> {
  const { o, spec, state, ema, data, log } = run;
  const weights = ema ? 'ema' : 'raw';
  const modelBytes = buildInferenceModel(spec, ema ?? state.params, {
    'mixer.training': JSON.stringify({
      ...hyperOf(o, run.overrides),
      steps: progress.step,
      wall_seconds: Math.round(progress.wallSeconds),
    }),
    'mixer.weights': weights,
  });
  const modelPath = path.join(run.files.dir, 'model.onnx');
  await writeFileAtomic(modelPath, modelBytes);
  const s = await Session.create(modelBytes, { threads: o.threads });
  const final = await evaluate(s, data.test, spec.labels);
  await s.release();
  const finalRaw = ema ? await evalWeights(spec, state.params, data.test, o.threads) : null;
  await writeReport(run.files.dir, {
    spec,
    hyper: hyperOf(o, run.overrides),
    final,
    finalRaw,
    weights,
    metricsPath: run.files.metrics,
    progress,
    command: o.command ?? '',
    finalSet: data.finalName,
    extra: dataReportLines(data.report),
  });
  log(throughputLine(history));
  log(
    `done: ${data.finalName} accuracy ${(100 * final.accuracy).toFixed(2)}%` +
      (finalRaw ? ` with the EMA weights, ${(100 * finalRaw.accuracy).toFixed(2)}% raw` : '') +
      `; wrote ${modelPath} and report.md`,
  );
  return { final, finalRaw };
}

async function evalWeights(spec: ModelSpec, params: Params, ds: ImageDataset, threads: number): Promise<EvalResult> {
  const s = await Session.create(buildInferenceModel(spec, params), { threads });
  try {
    return await evaluate(s, ds, spec.labels);
  } finally {
    await s.release();
  }
}
