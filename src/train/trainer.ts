// The training loop: data → augmented batches → ORT train step → AdamW → eval, checkpoint, metrics, export, report.

import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_ADAMW } from '../autodiff/index.js';
import { UsageError } from '../cli/args.js';
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
import { argmax } from '../util/rank.js';
import { loadCheckpoint, type Progress, saveCheckpoint } from './checkpoint.js';
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

export async function train(o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  await mkdir(o.outDir, { recursive: true });
  const ckptPath = path.join(o.outDir, 'checkpoint.safetensors');
  const metricsPath = path.join(o.outDir, 'metrics.jsonl');

  // Resume restores hyperparameters, weights, moments and the (epoch, step) position; the loader derives its RNG from those.
  let spec: ModelSpec;
  let state: OptimState;
  let progress: Progress = { step: 0, epoch: 0, stepInEpoch: 0, wallSeconds: 0 };
  let ema: Params | null = null;
  let overrides: RecipeDiff[] = [];
  if (o.resume && existsSync(ckptPath)) {
    const ck = await loadCheckpoint(ckptPath);
    const h = ck.hyper as Partial<TrainOptions>;
    const epochs = o.epochs;
    if (h.epochs !== undefined) o.epochs = h.epochs;
    const earlier = Array.isArray(ck.hyper['overrides']) ? (ck.hyper['overrides'] as RecipeDiff[]) : [];
    const now = applyCheckpointRecipe(
      ck.hyper,
      o as unknown as Record<string, unknown>,
      o.explicit,
      Boolean(o.override),
    );
    for (const d of now)
      log(
        `--override: ${d.key} changes from ${JSON.stringify(d.checkpoint)} to ${JSON.stringify(d.given)} at step ${ck.progress.step}`,
      );
    overrides = [...earlier, ...now.map((d) => ({ ...d, step: ck.progress.step }))];
    if (o.overrideEpochs && epochs !== o.epochs) {
      log(
        `--epochs ${epochs} replaces the checkpoint's ${o.epochs}: the learning-rate schedule is recomputed for the new length`,
      );
      o.epochs = epochs;
    }
    spec = ck.spec;
    state = {
      params: ck.params,
      expAvg: ck.expAvg ?? zerosLike(ck.params),
      expAvgSq: ck.expAvgSq ?? zerosLike(ck.params),
    };
    progress = ck.progress;
    ema = ck.ema ?? null;
    log(`resuming ${ckptPath} at epoch ${progress.epoch + 1}, step ${progress.step}`);
  } else {
    if (o.resume) log(`no checkpoint in ${o.outDir}; starting a new run`);
    spec = defaultSpec(o.config ?? preset(o.preset));
    const p = initParams(spec.config, o.seed);
    state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
    await writeFile(metricsPath, '');
  }

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
    throw new Error(
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
  const evalSet = valSet ?? testSet;
  // Metrics name the set: val_* for a held-out or folder validation split, test_* for a test set.
  const perEpochVal = valSet !== null || folder;
  const evalName = perEpochVal ? 'validation' : 'test';
  const finalName = folder ? 'validation' : 'test';
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
  // The EMA starts from the weights training starts from (after --init); frozen tensors are never averaged, so they stay exact.
  const emaDecay = o.ema ?? 0;
  if (emaDecay > 0 && !ema) {
    if (progress.step > 0) log(`starting the weight EMA from the current weights at step ${progress.step}`);
    ema = emaInit(state.params);
  }
  if (emaDecay === 0) ema = null;
  const emaSkip = frozen.size > 0 ? frozen : undefined;

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
    dataset: trainSet,
    batchSize: o.batchSize,
    shuffle: true,
    dropLast: false,
    augment: o.augment,
    seed: o.seed,
    mix,
  });
  if (o.batchSize > trainSet.count)
    log(
      `note: --batch-size ${o.batchSize} is more than the ${trainSet.count} training images: each epoch is one batch of ${trainSet.count}`,
    );
  const steps = loader.stepsPerEpoch();
  const sched: Schedule = {
    lr: o.lr,
    warmupSteps: Math.round(o.warmupEpochs * steps),
    totalSteps: o.epochs * steps,
    minRatio: o.minLrRatio,
  };
  log(
    `training ${o.config ? 'a custom model' : o.preset} on ${trainSet.count} images (${steps} steps/epoch × ${o.epochs} epochs, batch ${o.batchSize}, ${o.mode} step, ${o.threads} threads)`,
  );

  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    log('interrupt: finishing this step and writing a checkpoint (press Ctrl-C again to abort)');
  };
  process.on('SIGINT', onSigint);
  const history: EpochMetrics[] = [];
  const save = () => saveCheckpoint(ckptPath, { spec, ...state, ema, progress, hyper: hyperOf(o, overrides) });
  let interrupted = false;
  let doneSteps = 0;
  const K = spec.config.num_classes;
  try {
    for (let epoch = progress.epoch; epoch < o.epochs && !interrupted; epoch++) {
      const bar = new Bar(`epoch ${epoch + 1}/${o.epochs}`, steps, log);
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = 0;
      let dataWait = 0;
      let stepTime = 0;
      let emaTime = 0;
      let tWait = performance.now();
      for await (const batch of loader.epoch(epoch, progress.stepInEpoch)) {
        const ts = performance.now();
        dataWait += ts - tWait;
        lr = learningRate(sched, progress.step + 1);
        const masks = o.dropPath
          ? dropPathFeeds(spec.config.depth, o.dropPath, batch.size, o.seed, epoch, batch.step)
          : undefined;
        const r = await stepper.step(
          state,
          batch.pixels,
          batch.labels,
          batch.size,
          lr,
          progress.step + 1,
          batch.targets,
          masks,
        );
        if (!Number.isFinite(r.loss)) throw new Error(`loss became ${r.loss} at step ${progress.step + 1}; lower --lr`);
        const te = performance.now();
        stepTime += te - ts;
        if (ema) {
          emaUpdate(ema, state.params, emaDecay, progress.step + 1, emaSkip);
          emaTime += performance.now() - te;
        }
        progress = { ...progress, step: progress.step + 1, epoch, stepInEpoch: batch.step + 1 };
        lossSum += r.loss * batch.size;
        seen += batch.size;
        for (let i = 0; i < batch.size; i++)
          if (BigInt(argmax(r.logits.subarray(i * K, (i + 1) * K))) === batch.labels[i]) correct++;
        const ms = performance.now() - ts;
        bar.update(
          batch.step + 1,
          `step ${progress.step}: loss ${r.loss.toFixed(4)} (${ms.toFixed(0)} ms) lr ${lr.toExponential(2)}`,
          seen / ((performance.now() - t0) / 1000),
        );
        doneSteps++;
        if (stop || (o.stopAfterSteps !== undefined && doneSteps >= o.stopAfterSteps)) {
          interrupted = progress.stepInEpoch < steps;
          break;
        }
        tWait = performance.now();
      }
      bar.done();
      const epochS = (performance.now() - t0) / 1000;
      progress = { ...progress, wallSeconds: progress.wallSeconds + epochS };
      if (interrupted) {
        await save();
        log(`stopped at step ${progress.step}; checkpoint written to ${ckptPath} (continue with --resume)`);
        break;
      }
      progress = { ...progress, epoch: epoch + 1, stepInEpoch: 0 };
      let test: EvalResult | null = null;
      let emaTest: EvalResult | null = null;
      if (!o.quiet) {
        test = await evalWeights(spec, state.params, evalSet, o.threads);
        if (ema) emaTest = await evalWeights(spec, ema, evalSet, o.threads);
      }
      const m: EpochMetrics = {
        epoch: epoch + 1,
        step: progress.step,
        lr,
        train_loss: lossSum / Math.max(1, seen),
        train_acc: correct / Math.max(1, seen),
        test_loss: perEpochVal ? null : (test?.loss ?? null),
        test_acc: perEpochVal ? null : (test?.accuracy ?? null),
        ...(ema && !perEpochVal
          ? { ema_test_loss: emaTest?.loss ?? null, ema_test_acc: emaTest?.accuracy ?? null }
          : {}),
        ...(perEpochVal ? { val_loss: test?.loss ?? null, val_acc: test?.accuracy ?? null } : {}),
        ...(perEpochVal && ema ? { ema_val_loss: emaTest?.loss ?? null, ema_val_acc: emaTest?.accuracy ?? null } : {}),
        images_per_s: seen / epochS,
        epoch_s: epochS,
        wall_s: progress.wallSeconds,
        data_wait_s: dataWait / 1000,
        step_s: stepTime / 1000,
        ...(ema ? { ema_s: emaTime / 1000 } : {}),
      };
      history.push(m);
      await appendFile(metricsPath, `${JSON.stringify(m)}\n`);
      await save();
      log(
        `epoch ${m.epoch}: train loss ${m.train_loss.toFixed(4)} acc ${(100 * m.train_acc).toFixed(2)}%` +
          (test ? ` | ${evalName} loss ${test.loss.toFixed(4)} acc ${(100 * test.accuracy).toFixed(2)}%` : '') +
          (emaTest ? ` | EMA ${evalName} acc ${(100 * emaTest.accuracy).toFixed(2)}%` : '') +
          ` | ${m.images_per_s.toFixed(0)} img/s, ${epochS.toFixed(0)} s (waiting for data ${m.data_wait_s!.toFixed(1)} s)`,
      );
      if (stop) {
        interrupted = epoch + 1 < o.epochs;
        break;
      }
      if (o.stopAfterSteps !== undefined && doneSteps >= o.stopAfterSteps) {
        interrupted = epoch + 1 < o.epochs;
        break;
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    await loader.close();
    await stepper.release();
  }

  let final: EvalResult | null = null;
  let finalRaw: EvalResult | null = null;
  if (!interrupted && !o.quiet) {
    // With an EMA, model.onnx carries the EMA weights (as `mixer export` does by default); both are evaluated.
    const weights = ema ? 'ema' : 'raw';
    const modelBytes = buildInferenceModel(spec, ema ?? state.params, {
      'mixer.training': JSON.stringify({
        ...hyperOf(o, overrides),
        steps: progress.step,
        wall_seconds: Math.round(progress.wallSeconds),
      }),
      'mixer.weights': weights,
    });
    const modelPath = path.join(o.outDir, 'model.onnx');
    await writeFileAtomic(modelPath, modelBytes);
    const s = await Session.create(modelBytes, { threads: o.threads });
    final = await evaluate(s, testSet, spec.labels);
    await s.release();
    if (ema) finalRaw = await evalWeights(spec, state.params, testSet, o.threads);
    await writeReport(o.outDir, {
      spec,
      hyper: hyperOf(o, overrides),
      final,
      finalRaw,
      weights,
      metricsPath,
      progress,
      command: o.command ?? '',
      finalSet: finalName,
      extra: dataReportLines(data.report),
    });
    log(throughputLine(history));
    log(
      `done: ${finalName} accuracy ${(100 * final.accuracy).toFixed(2)}%` +
        (finalRaw ? ` with the EMA weights, ${(100 * finalRaw.accuracy).toFixed(2)}% raw` : '') +
        `; wrote ${modelPath} and report.md`,
    );
  }
  return { state, progress, interrupted, final, finalRaw, history, ema };
}

async function evalWeights(spec: ModelSpec, params: Params, ds: ImageDataset, threads: number): Promise<EvalResult> {
  const s = await Session.create(buildInferenceModel(spec, params), { threads });
  try {
    return await evaluate(s, ds, spec.labels);
  } finally {
    await s.release();
  }
}
