// Learning-rate schedule: linear warmup then cosine decay, as a pure function of the 1-based global step; and how long a run is.
export interface Schedule {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Final learning rate as a fraction of the peak. */
  minRatio: number;
}

export function learningRate(s: Schedule, step: number): number {
  if (step <= s.warmupSteps) return (s.lr * step) / Math.max(1, s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  return s.lr * (s.minRatio + (1 - s.minRatio) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** The warmup never takes more than this share of a run's steps: a short run would otherwise spend itself warming up. */
export const MAX_WARMUP_SHARE = 0.1;

/**
 * Warmup steps: --warmup-epochs × steps per epoch (rounded), at most MAX_WARMUP_SHARE of the run's steps (rounded
 * down). Under the bound the count is the one every earlier release used, so resumed runs replay exactly.
 */
export function warmupSteps(
  warmupEpochs: number,
  stepsPerEpoch: number,
  totalSteps: number,
): { steps: number; asked: number; cut: boolean } {
  const asked = Math.round(warmupEpochs * stepsPerEpoch);
  const bound = Math.floor(MAX_WARMUP_SHARE * totalSteps);
  return asked > bound ? { steps: bound, asked, cut: true } : { steps: asked, asked, cut: false };
}

/**
 * Fewer optimizer steps than this under-train even a small, easy image set: on 3 synthetic classes the held-out
 * accuracy was 58% after 12 steps and 81–86% after 48, and reached 90% only past about 150 (docs/training.md, "Your own images").
 */
export const MIN_STEPS = 400;
/** `mixer train` without --epochs: this many epochs, or more when that gives fewer than MIN_STEPS steps. */
export const DEFAULT_EPOCHS = 40;
/** The most epochs the default gives a tiny set (each of its epochs is one or two steps). */
export const MAX_DEFAULT_EPOCHS = 500;

/** Epochs of a run given no --epochs: DEFAULT_EPOCHS, or enough for MIN_STEPS steps, at most MAX_DEFAULT_EPOCHS. */
export function defaultEpochs(stepsPerEpoch: number): number {
  return Math.min(MAX_DEFAULT_EPOCHS, Math.max(DEFAULT_EPOCHS, Math.ceil(MIN_STEPS / Math.max(1, stepsPerEpoch))));
}

/** The --epochs that gives at least MIN_STEPS steps. */
export function epochsForMinSteps(stepsPerEpoch: number): number {
  return Math.ceil(MIN_STEPS / Math.max(1, stepsPerEpoch));
}
