// The state a training run carries between its steps: files, start point, data splits, and per-epoch tallies.

import type { Splits } from '../data/cifar10.js';
import type { ImageDataset } from '../data/dataset.js';
import type { BatchLoader } from '../data/loader.js';
import type { ModelSpec, Params } from '../model/index.js';
import type { RunPosition } from './checkpoint.js';
import type { RecipeDiff } from './recipe.js';
import type { Schedule } from './schedule.js';
import type { OptimState, Stepper } from './stepper.js';
import type { EpochMetrics, TrainOptions } from './train-options.js';

/** The run directory's files. */
export interface RunFiles {
  dir: string;
  checkpoint: string;
  metrics: string;
}

/** The model and weights a run starts (or continues) from, and where it stands. */
export interface RunStart {
  spec: ModelSpec;
  state: OptimState;
  progress: RunPosition;
  ema: Params | null;
}

/** The splits a run trains and evaluates on, and what its evaluations are called. */
export interface RunData {
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
export interface Run {
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
export interface EpochTally {
  progress: RunPosition;
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
export interface EpochOutcome {
  progress: RunPosition;
  /** Steps done in this invocation so far. */
  doneSteps: number;
  /** Stopped inside the epoch (checkpoint written): no evaluation, no metrics. */
  interrupted: boolean;
  metrics: EpochMetrics | null;
}
