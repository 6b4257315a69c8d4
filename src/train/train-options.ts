// The trainer's options, per-epoch metrics and result types, and the small helpers that read them.
import path from 'node:path';
import type { AugmentOptions } from '../data/augment.js';
import type { DataSourceOptions } from '../data/cifar10.js';
import { type ImageDataset, subset } from '../data/dataset.js';
import type { FolderReport } from '../data/folder.js';
import { type MixOptions, mixEnabled } from '../data/mix.js';
import type { MixerConfig, ModelSpec, Params } from '../model/index.js';
import type { RunPosition } from './checkpoint.js';
import type { EvalResult } from './evaluate.js';
import { ABSENT, HYPER_KEYS, type RecipeDiff } from './recipe.js';
import type { OptimState, StepMode } from './stepper.js';

export interface TrainOptions {
  preset: string;
  outDir: string;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupEpochs: number;
  /** The run's warmup in steps once fixed (see recipe.ts); unset for a new run, null for an older checkpoint's. */
  warmupSteps?: number | null;
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
  /** Stop (with a checkpoint, as on SIGINT) once the run's global step reaches this number (--stop-at-step). */
  stopAtStep?: number;
  /** Skip the per-epoch test evaluation, export and report (tests). */
  quiet?: boolean;
  dataOptions?: DataSourceOptions;
  /** Use these splits instead of loading `data` (library use and tests). */
  splits?: { train: ImageDataset; test: ImageDataset };
  log?: (line: string) => void;
  /** Command line recorded in the report. */
  command?: string;
  /** --epochs was not given: a new run takes defaultEpochs() (40, or more for a small set so that it gets MIN_STEPS steps). */
  autoEpochs?: boolean;
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
  progress: RunPosition;
  interrupted: boolean;
  /** The run stopped because it reached `stopAtStep` (a planned stop, not a failure). */
  reachedStopStep: boolean;
  final: EvalResult | null;
  /** Final test evaluation of the raw weights when `final` is of the EMA weights. */
  finalRaw: EvalResult | null;
  history: EpochMetrics[];
  ema: Params | null;
}

export function hyperOf(opts: TrainOptions, overrides: RecipeDiff[] = []): Record<string, unknown> {
  const h: Record<string, unknown> = Object.fromEntries(HYPER_KEYS.map((k) => [k, opts[k] ?? ABSENT[k] ?? null]));
  if (overrides.length > 0) h['overrides'] = overrides;
  return h;
}

/**
 * The recipe as a trained model records it (model.onnx's `mixer.training`, the report's table): the model's config as
 * trained (num_classes from the data), and no local paths: the data and --init by their base names, an image folder
 * also by the sha256 of its file list (`data_sha256`).
 */
export function recordedHyper(
  opts: TrainOptions,
  spec: ModelSpec,
  overrides: RecipeDiff[],
  folder: Pick<FolderReport, 'name' | 'sha256'> | undefined,
): Record<string, unknown> {
  const h = hyperOf(opts, overrides);
  if (h['config'] !== null) h['config'] = spec.config;
  const base = (p: string): string => path.basename(path.resolve(p));
  h['data'] = folder ? folder.name : opts.data === 'cifar10' ? opts.data : base(opts.data);
  if (folder) h['data_sha256'] = folder.sha256;
  if (typeof h['init'] === 'string') h['init'] = base(h['init']);
  return h;
}

export function mixOptions(opts: TrainOptions, numClasses: number): MixOptions | null {
  const m: MixOptions = {
    mixup: opts.mixup ?? 0,
    cutmix: opts.cutmix ?? 0,
    prob: opts.mixProb ?? 1,
    switchProb: 0.5,
    smoothing: opts.labelSmoothing,
    numClasses,
  };
  return mixEnabled(m) ? m : null;
}

/** The first `n` images of a dataset (all of it when `n` is unset or not smaller): --limit-train / --limit-test. */
export function limitDataset(ds: ImageDataset, n: number | undefined): ImageDataset {
  return n && n < ds.count
    ? subset(
        ds,
        Array.from({ length: n }, (_, i) => i),
      )
    : ds;
}
