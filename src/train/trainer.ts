// The training loop: data → augmented batches → ORT train step → AdamW → eval, checkpoint, metrics, export, report.
import { mkdir, appendFile, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadDataSource, type DataSourceOptions, type Splits } from '../data/cifar10.js';
import type { AugmentOptions } from '../data/augment.js';
import { subset, type ImageDataset } from '../data/dataset.js';
import { BatchLoader } from '../data/loader.js';
import { DEFAULT_ADAMW } from '../autodiff/index.js';
import { buildInferenceModel, defaultSpec, initParams, preset, type MixerConfig, type ModelSpec } from '../model/index.js';
import { Session } from '../runtime/session.js';
import { loadCheckpoint, saveCheckpoint, type Progress } from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { learningRate, type Schedule } from './schedule.js';
import { Stepper, type StepMode, zerosLike, type OptimState } from './stepper.js';
import { Progress as Bar } from './progress.js';
import { writeReport } from './report.js';
import { loadInitParams } from './finetune.js';
import { frozenParams } from './freeze.js';
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
  images_per_s: number;
  epoch_s: number;
  wall_s: number;
}

export interface TrainResult {
  state: OptimState;
  progress: Progress;
  interrupted: boolean;
  final: EvalResult | null;
  history: EpochMetrics[];
}

const HYPER_KEYS = ['preset', 'epochs', 'batchSize', 'lr', 'weightDecay', 'warmupEpochs', 'minLrRatio', 'labelSmoothing', 'seed', 'data', 'augment', 'mode', 'limitTrain', 'config', 'init', 'resetHead', 'freeze'] as const;

function hyperOf(o: TrainOptions): Record<string, unknown> {
  return Object.fromEntries(HYPER_KEYS.map((k) => [k, o[k] ?? null]));
}

function take(ds: ImageDataset, n: number | undefined): ImageDataset {
  return n && n < ds.count ? subset(ds, Array.from({ length: n }, (_, i) => i)) : ds;
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
  if (o.resume && existsSync(ckptPath)) {
    const ck = await loadCheckpoint(ckptPath);
    const h = ck.hyper as Partial<TrainOptions>;
    const epochs = o.epochs;
    for (const k of HYPER_KEYS) if (h[k] !== undefined) (o as unknown as Record<string, unknown>)[k] = h[k];
    if (o.overrideEpochs && epochs !== o.epochs) {
      log(`--epochs ${epochs} replaces the checkpoint's ${o.epochs}: the learning-rate schedule is recomputed for the new length`);
      o.epochs = epochs;
    }
    spec = ck.spec;
    state = { params: ck.params, expAvg: ck.expAvg ?? zerosLike(ck.params), expAvgSq: ck.expAvgSq ?? zerosLike(ck.params) };
    progress = ck.progress;
    log(`resuming ${ckptPath} at epoch ${progress.epoch + 1}, step ${progress.step}`);
  } else {
    if (o.resume) log(`no checkpoint in ${o.outDir}; starting a new run`);
    spec = defaultSpec(o.config ?? preset(o.preset));
    const p = initParams(spec.config, o.seed);
    state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
    await writeFile(metricsPath, '');
  }

  const data: Splits = o.splits ?? await loadDataSource(o.data, { ...(o.dataOptions ?? {}), log: (m: string) => log(m), size: spec.config.image_size } as DataSourceOptions);
  const trainSet = take(data.train, o.limitTrain);
  const testSet = take(data.test, o.limitTest);
  if (trainSet.height !== spec.config.image_size || trainSet.width !== spec.config.image_size) {
    throw new Error(`the data is ${trainSet.height}×${trainSet.width} but the model input is ${spec.config.image_size}×${spec.config.image_size} (CIFAR-10 comes at 32×32; image folders are resized to --image-size)`);
  }
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

  const stepper = await Stepper.create(spec, { labelSmoothing: o.labelSmoothing, adamw: { ...DEFAULT_ADAMW, weight_decay: o.weightDecay }, frozen }, o.mode, o.threads);
  // The graphs have a dynamic batch dim: the last, smaller batch is used too, so every image is seen every epoch.
  const loader = new BatchLoader({ dataset: trainSet, batchSize: o.batchSize, shuffle: true, dropLast: false, augment: o.augment, seed: o.seed });
  if (o.batchSize > trainSet.count) log(`note: --batch-size ${o.batchSize} is more than the ${trainSet.count} training images: each epoch is one batch of ${trainSet.count}`);
  const steps = loader.stepsPerEpoch();
  const sched: Schedule = { lr: o.lr, warmupSteps: Math.round(o.warmupEpochs * steps), totalSteps: o.epochs * steps, minRatio: o.minLrRatio };
  log(`training ${o.config ? 'a custom model' : o.preset} on ${trainSet.count} images (${steps} steps/epoch × ${o.epochs} epochs, batch ${o.batchSize}, ${o.mode} step, ${o.threads} threads)`);

  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    log('interrupt: finishing this step and writing a checkpoint (press Ctrl-C again to abort)');
  };
  process.on('SIGINT', onSigint);
  const history: EpochMetrics[] = [];
  const save = () => saveCheckpoint(ckptPath, { spec, ...state, progress, hyper: hyperOf(o) });
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
      for await (const batch of loader.epoch(epoch, progress.stepInEpoch)) {
        const ts = performance.now();
        lr = learningRate(sched, progress.step + 1);
        const r = await stepper.step(state, batch.pixels, batch.labels, batch.size, lr, progress.step + 1);
        if (!Number.isFinite(r.loss)) throw new Error(`loss became ${r.loss} at step ${progress.step + 1}; lower --lr`);
        progress = { ...progress, step: progress.step + 1, epoch, stepInEpoch: batch.step + 1 };
        lossSum += r.loss * batch.size;
        seen += batch.size;
        for (let i = 0; i < batch.size; i++) {
          let best = 0;
          for (let k = 1; k < K; k++) if (r.logits[i * K + k]! > r.logits[i * K + best]!) best = k;
          if (BigInt(best) === batch.labels[i]) correct++;
        }
        const ms = performance.now() - ts;
        bar.update(batch.step + 1, `step ${progress.step}: loss ${r.loss.toFixed(4)} (${ms.toFixed(0)} ms) lr ${lr.toExponential(2)}`, seen / ((performance.now() - t0) / 1000));
        doneSteps++;
        if (stop || (o.stopAfterSteps !== undefined && doneSteps >= o.stopAfterSteps)) {
          interrupted = progress.stepInEpoch < steps;
          break;
        }
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
      if (!o.quiet) {
        const s = await Session.create(buildInferenceModel(spec, state.params), { threads: o.threads });
        test = await evaluate(s, testSet, spec.labels);
        await s.release();
      }
      const m: EpochMetrics = {
        epoch: epoch + 1,
        step: progress.step,
        lr,
        train_loss: lossSum / Math.max(1, seen),
        train_acc: correct / Math.max(1, seen),
        test_loss: test?.loss ?? null,
        test_acc: test?.accuracy ?? null,
        images_per_s: seen / epochS,
        epoch_s: epochS,
        wall_s: progress.wallSeconds,
      };
      history.push(m);
      await appendFile(metricsPath, JSON.stringify(m) + '\n');
      await save();
      log(
        `epoch ${m.epoch}: train loss ${m.train_loss.toFixed(4)} acc ${(100 * m.train_acc).toFixed(2)}%` +
          (test ? ` | test loss ${test.loss.toFixed(4)} acc ${(100 * test.accuracy).toFixed(2)}%` : '') +
          ` | ${m.images_per_s.toFixed(0)} img/s, ${epochS.toFixed(0)} s`,
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
  if (!interrupted && !o.quiet) {
    const modelBytes = buildInferenceModel(spec, state.params, { 'mixer.training': JSON.stringify({ ...hyperOf(o), steps: progress.step, wall_seconds: Math.round(progress.wallSeconds) }) });
    const modelPath = path.join(o.outDir, 'model.onnx');
    await writeFile(modelPath + '.tmp', modelBytes);
    await rename(modelPath + '.tmp', modelPath);
    const s = await Session.create(modelBytes, { threads: o.threads });
    final = await evaluate(s, testSet, spec.labels);
    await s.release();
    await writeReport(o.outDir, { spec, hyper: hyperOf(o), final, metricsPath, progress, command: o.command ?? '', extra: dataReportLines(data.report) });
    log(throughputLine(history));
    log(`done: test accuracy ${(100 * final.accuracy).toFixed(2)}%; wrote ${modelPath} and report.md`);
  }
  return { state, progress, interrupted, final, history };
}
