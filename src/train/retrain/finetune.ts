// The retrain's fine-tuning loop: a few epochs of AdamW from the served weights, warmup then cosine decay, bounded steps.
import { DEFAULT_ADAMW } from '../../autodiff/index.js';
import type { ImageDataset } from '../../data/dataset.js';
import { BatchLoader } from '../../data/loader.js';
import type { ModelSpec, Params } from '../../model/index.js';
import { UserError } from '../../util/errors.js';
import { learningRate } from '../schedule.js';
import { Stepper, zerosLike } from '../stepper.js';

export interface FineTuneOptions {
  epochs: number;
  /** At most this many optimizer steps in all (the epochs stop early). */
  maxSteps: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  labelSmoothing: number;
  seed: number;
  threads: number;
  onStep?: (step: number, steps: number, loss: number) => void;
}

/** Fine-tunes a copy of `params` on `train` (flips as the only augmentation) and returns it with the steps run. */
export async function fineTune(
  spec: ModelSpec,
  params: Params,
  train: ImageDataset,
  o: FineTuneOptions,
): Promise<{ params: Params; steps: number; loss: number }> {
  const p: Params = new Map([...params].map(([k, v]) => [k, Float32Array.from(v)]));
  const state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
  const stepper = await Stepper.create(
    spec,
    { labelSmoothing: o.labelSmoothing, adamw: { ...DEFAULT_ADAMW, weight_decay: o.weightDecay } },
    'fused',
    o.threads,
  );
  const loader = new BatchLoader({
    dataset: train,
    batchSize: o.batchSize,
    shuffle: true,
    dropLast: false,
    augment: { pad: 0, flip: true, cutout: 0, randAugment: null, policy: null },
    seed: o.seed,
  });
  const steps = Math.min(o.maxSteps, o.epochs * loader.stepsPerEpoch());
  const sched = { lr: o.lr, warmupSteps: Math.round(0.1 * steps), totalSteps: steps, minRatio: 0.01 };
  let step = 0;
  let loss = Number.NaN;
  try {
    for (let epoch = 0; step < steps; epoch++)
      for await (const batch of loader.epoch(epoch)) {
        const r = await stepper.step({
          state,
          pixels: batch.pixels,
          labels: batch.labels,
          size: batch.size,
          learningRate: learningRate(sched, step + 1),
          step: step + 1,
        });
        step++;
        loss = r.loss;
        if (!Number.isFinite(loss))
          throw new UserError('TRAINING_DIVERGED', `loss became ${loss} at step ${step}; lower --lr`);
        o.onStep?.(step, steps, loss);
        if (step >= steps) break;
      }
  } finally {
    await loader.close();
    await stepper.release();
  }
  return { params: state.params, steps, loss };
}
